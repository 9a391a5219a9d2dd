package tokens

import (
	"bytes"
	"unicode/utf8"
)

// BodyBound returns an upper bound on what EstimateRequest counts for the
// request any of llmgate's client formats decodes from body (a chat
// request's JSON), for any model, without decoding it: len(body) plus
// ReplyPrimer. It reads the body once, at memory speed, and allocates
// nothing.
//
// Why it holds: a text's count is never more than its UTF-8 bytes (a BPE
// token is at least one byte, and Estimate counts at most one per byte);
// JSON escapes only make the body longer than the text it carries; and the
// fixed MessageOverhead of each message or tool result is smaller than the
// JSON syntax around it. FuzzBodyBound checks this against every client
// decoder.
//
// ok is false, and the bound is not one, when the body may hold an image,
// audio or document part (priced at a flat LowDetailImage or ImageEstimate
// however few bytes name it: any JSON string that is, ignoring ASCII case
// as encoding/json does for keys, one of the members or part types the
// decoders read media from), a \u escape of an ASCII character (which could
// spell one of those names), or invalid UTF-8 (which decodes to the
// three-byte U+FFFD). Count exactly then.
func BodyBound(body []byte) (n int, ok bool) {
	if !utf8.Valid(body) || asciiEscape(body) || mentionsMedia(body) {
		return 0, false
	}
	return len(body) + ReplyPrimer, true
}

// asciiEscape reports whether b holds a \u00XX escape of a printable ASCII
// character. Control characters (\u0000-\u001f) cannot spell a name, and
// no rune beyond ASCII folds to a letter of mediaNames.
func asciiEscape(b []byte) bool {
	for {
		i := bytes.Index(b, []byte(`\u00`))
		if i < 0 {
			return false
		}
		b = b[i+4:]
		if len(b) >= 2 && b[0] >= '2' && b[0] <= '7' && isHex(b[1]) {
			return true
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// mediaNames are the JSON member names and part types from which a client
// decoder builds an image or document part (lowercase): OpenAI chat
// (image_url, input_audio, file), Anthropic (image, document), Gemini
// (inlineData, fileData and their snake_case forms) and the Responses API
// (input_image, input_file).
var mediaNames = [...]string{
	"image_url", "input_audio", "file", "image", "document",
	"inlinedata", "inline_data", "filedata", "file_data",
	"input_image", "input_file",
}

// Shortest and longest of mediaNames, to skip other strings quickly.
const (
	mediaNameMin = 4
	mediaNameMax = 11
)

// mentionsMedia reports whether a JSON string in b (a key or a value)
// equals one of mediaNames, ignoring ASCII case. Strings with escapes are
// skipped: asciiEscape rules out escapes that could spell a name.
func mentionsMedia(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '"')
		if i < 0 {
			return false
		}
		b = b[i+1:]
		// The closing quote: the next one not escaped by an odd run of
		// backslashes.
		end, esc := -1, false
		for off := 0; ; {
			j := bytes.IndexByte(b[off:], '"')
			if j < 0 {
				return false // unterminated: the decoder refuses it
			}
			j += off
			bs := 0
			for k := j - 1; k >= 0 && b[k] == '\\'; k-- {
				bs++
			}
			if bs > 0 {
				esc = true
			}
			if bs%2 == 0 {
				end = j
				break
			}
			off = j + 1
		}
		s := b[:end]
		b = b[end+1:]
		if esc || len(s) < mediaNameMin || len(s) > mediaNameMax {
			continue
		}
		if bytes.IndexByte(s, '\\') >= 0 {
			continue
		}
		for _, name := range mediaNames {
			if len(name) == len(s) && asciiEqualFold(s, name) {
				return true
			}
		}
	}
}

// asciiEqualFold reports whether s equals the lowercase ASCII name,
// ignoring ASCII case.
func asciiEqualFold(s []byte, name string) bool {
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}
