// Package tokens counts and estimates prompt tokens offline.
//
// OpenAI models get a real count from the tiktoken vocabularies compiled
// into github.com/tiktoken-go/tokenizer (o200k_base, cl100k_base). Other
// models have no public offline tokenizer, so they get a character-based
// estimate. Counts feed context-window checks and token rate limits; the
// usage an upstream reports is always what is billed.
//
// The vocabularies are large: each is built on first use, or by Warm, and
// kept for the life of the process. Every function here is safe for
// concurrent use.
package tokens

import (
	"math"
	"strings"
	"sync"

	"github.com/tiktoken-go/tokenizer"
)

// Encoding names, as tiktoken spells them.
const (
	O200kBase  = "o200k_base"
	Cl100kBase = "cl100k_base"
)

// encoder is one tiktoken encoding: its codec, built on first use, and a
// memo of counts of long texts.
type encoder struct {
	// codec returns the shared codec. A tokenizer.Codec is safe for
	// concurrent Count calls: its vocabulary is read-only and its regexp2
	// matcher pools per-call state.
	codec func() tokenizer.Codec
	memo  *memo
}

var encoders = map[string]*encoder{
	O200kBase:  newEncoder(tokenizer.O200kBase),
	Cl100kBase: newEncoder(tokenizer.Cl100kBase),
}

func newEncoder(enc tokenizer.Encoding) *encoder {
	return &encoder{
		codec: sync.OnceValue(func() tokenizer.Codec { return mustCodec(enc) }),
		memo:  newMemo(memoEntries),
	}
}

// count counts s exactly, through the memo when useMemo is set and s is long
// enough to be worth it. It reports false if the codec failed.
func (e *encoder) count(s string, useMemo bool) (int, bool) {
	if !useMemo || len(s) < memoMinLen {
		return e.tokenize(s)
	}
	key := e.memo.keyString(s)
	if n, ok := e.memo.get(key); ok {
		return n, true
	}
	n, ok := e.tokenize(s)
	if ok {
		e.memo.put(key, n)
	}
	return n, ok
}

// countBytes is count for a JSON document; it converts b to a string only
// when the memo misses.
func (e *encoder) countBytes(b []byte, useMemo bool) (int, bool) {
	if !useMemo || len(b) < memoMinLen {
		return e.tokenize(string(b))
	}
	key := e.memo.keyBytes(b)
	if n, ok := e.memo.get(key); ok {
		return n, true
	}
	n, ok := e.tokenize(string(b))
	if ok {
		e.memo.put(key, n)
	}
	return n, ok
}

// tokenize runs the codec. tiktoken-go/tokenizer v0.10.0's split regexp
// skips U+007F (DEL), the one character it drops (every other rune was
// checked); tiktoken encodes it as a byte token, so each counts one.
func (e *encoder) tokenize(s string) (int, bool) {
	n, err := e.codec().Count(s)
	if err != nil {
		return 0, false
	}
	return n + strings.Count(s, "\x7f"), true
}

func mustCodec(enc tokenizer.Encoding) tokenizer.Codec {
	c, err := tokenizer.Get(enc)
	if err != nil {
		// Both encodings are compiled into the library; this cannot
		// fail unless the dependency changes under us.
		panic("tokens: " + string(enc) + ": " + err.Error())
	}
	return c
}

// Encoding returns the tiktoken encoding Count uses for model, or "" when
// the model has no offline tokenizer and Count estimates. The table follows
// tiktoken's model.py (protocols.md section 8.1) and accepts any suffix
// (gpt-5.1, gpt-4o-2024-08-06), which the library's own ForModel rejects.
func Encoding(model string) string {
	model = strings.TrimPrefix(model, "ft:")
	switch {
	case family(model, "o1"), family(model, "o3"), family(model, "o4"),
		strings.HasPrefix(model, "gpt-4o"),
		strings.HasPrefix(model, "gpt-4.1"),
		strings.HasPrefix(model, "gpt-4.5"),
		strings.HasPrefix(model, "gpt-5"),
		strings.HasPrefix(model, "chatgpt-4o"),
		// o200k_harmony is o200k_base plus special tokens that never
		// occur in counted text.
		strings.HasPrefix(model, "gpt-oss-"):
		return O200kBase
	case model == "gpt-4", strings.HasPrefix(model, "gpt-4-"),
		strings.HasPrefix(model, "gpt-3.5"),
		strings.HasPrefix(model, "gpt-35-"), // Azure deployment names
		strings.HasPrefix(model, "text-embedding-"),
		model == "davinci-002", model == "babbage-002":
		return Cl100kBase
	}
	return ""
}

// Warm builds the o200k_base and cl100k_base vocabularies now, so that the
// first request to need an exact count does not wait for them. It is
// optional and idempotent.
func Warm() {
	for _, e := range encoders {
		e.codec()
	}
}

// family reports whether model is name itself or name followed by '-'
// (o3, o3-mini, but not o300).
func family(model, name string) bool {
	rest, ok := strings.CutPrefix(model, name)
	return ok && (rest == "" || rest[0] == '-')
}

// Exact reports whether Count gives a real tokenizer count for model rather
// than an estimate.
func Exact(model string) bool { return Encoding(model) != "" }

// Count returns the number of tokens text takes for model: a real count for
// OpenAI models (see Encoding), otherwise an estimate (see Estimate). It is
// 0 only for empty text.
//
// The first exact count for each encoding builds its vocabulary (o200k:
// about 40-80 ms and 6 MB of heap; cl100k: about 10-90 ms and 3 MB); call
// Warm at startup to pay that before the first request. Exact counts run at
// about 10 MB/s, so counts of texts of memoMinLen bytes or more are
// remembered (by hash; the texts are not kept).
func Count(model, text string) int {
	if text == "" {
		return 0
	}
	if enc := Encoding(model); enc != "" {
		if n, ok := encoders[enc].count(text, true); ok {
			return n
		}
		// Count fails only on regexp errors (no timeout is set, so
		// none are expected); an estimate beats no answer.
	}
	return Estimate(model, text)
}

// Characters per token assumed by Estimate for ASCII text.
const (
	claudeCharsPerToken = 3.5
	geminiCharsPerToken = 4.0
	otherCharsPerToken  = 3.7
)

// Estimate guesses the token count of text without a tokenizer: ASCII bytes
// divided by a per-family ratio (Claude 3.5, Gemini and Gemma 4, others 3.7
// characters per token), plus one token per non-ASCII character, since
// accented, CJK and emoji text costs about a token per character or more.
// It is at least 1 for non-empty text.
func Estimate(model, text string) int {
	return estimate(charsPerToken(model), text)
}

func charsPerToken(model string) float64 {
	switch {
	case strings.HasPrefix(model, "claude"):
		return claudeCharsPerToken
	case strings.HasPrefix(model, "gemini"), strings.HasPrefix(model, "gemma"),
		strings.HasPrefix(model, "models/gemini"):
		return geminiCharsPerToken
	}
	return otherCharsPerToken
}

func estimate[T string | []byte](ratio float64, text T) int {
	if len(text) == 0 {
		return 0
	}
	ascii, other := 0, 0
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c < 0x80:
			ascii++
		case c >= 0xC0: // a UTF-8 lead byte starts a new character
			other++
		}
	}
	n := int(math.Ceil(float64(ascii)/ratio)) + other
	return max(n, 1)
}
