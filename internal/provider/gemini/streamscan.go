package gemini

import (
	"github.com/llmgate/llmgate/internal/jsonscan"
)

// chunkView is what the stream decoder reads from one stream chunk (a
// GenerateContentResponse): the first candidate with index 0, the prompt
// feedback's block, the usage and the response's id and model. scanChunk
// fills it without encoding/json; fromWire fills it from the encoding/json
// decoding that scanChunk falls back to for anything outside the common
// shapes.
type chunkView struct {
	id, model    string // responseId, modelVersion
	hasUsage     bool   // usageMetadata is present and not null
	usage        usageMetadata
	blocked      bool // no candidates, and promptFeedback has a blockReason
	hasCandidate bool
	finish       string
	parts        []partView // the candidate's parts
}

// partView is one part of the candidate.
type partView struct {
	text, signature string
	thought         bool
	call            bool // a functionCall, even an empty one
	callID          string
	callName        string
	callArgs        string // the args object's JSON text, {} when absent or not an object
}

func (v *chunkView) reset() {
	parts := v.parts[:0]
	*v = chunkView{parts: parts}
}

// fromWire fills v from a chunk decoded by encoding/json.
func (v *chunkView) fromWire(w *generateContentResponse) {
	v.reset()
	v.id, v.model = w.ResponseID, w.ModelVersion
	if w.UsageMetadata != nil {
		v.hasUsage, v.usage = true, *w.UsageMetadata
	}
	v.blocked = len(w.Candidates) == 0 && w.PromptFeedback != nil && w.PromptFeedback.BlockReason != ""
	c := firstCandidate(w.Candidates)
	if c == nil {
		return
	}
	v.hasCandidate, v.finish = true, c.FinishReason
	if c.Content == nil {
		return
	}
	for i := range c.Content.Parts {
		p := &c.Content.Parts[i]
		pv := partView{text: p.Text, signature: p.ThoughtSignature, thought: p.Thought}
		if f := p.FunctionCall; f != nil {
			pv.call, pv.callID, pv.callName = true, f.ID, f.Name
			pv.callArgs = string(objectOrEmpty(f.Args))
		}
		v.parts = append(v.parts, pv)
	}
}

// The scanner below reads the chunk shapes Gemini sends and reports
// ok == false for anything where its reading could differ from
// encoding/json's: a key that matches a field only case-insensitively (or is
// not ASCII, or has an escape), a known key repeated, a value of an
// unexpected type, an error member, media and function response parts. The
// caller then decodes the chunk with encoding/json. Syntax is checked as
// strictly as encoding/json checks it, so a malformed chunk is an error
// either way.

// The JSON names of each struct's fields, in the order the switches below
// use.
var (
	responseFields = []string{"candidates", "promptFeedback", "usageMetadata", "modelVersion", "responseId", "error"}
	candFields     = []string{"content", "finishReason", "index"}
	contentFields  = []string{"role", "parts"}
	partFields     = []string{"text", "thought", "functionCall", "thoughtSignature",
		// Read only as null: anything else goes to encoding/json.
		"inlineData", "fileData", "functionResponse", "thought_signature", "inline_data", "file_data", "function_call", "function_response"}
	callFields     = []string{"id", "name", "args"}
	feedbackFields = []string{"blockReason"}
	usageFields    = []string{"promptTokenCount", "candidatesTokenCount", "totalTokenCount",
		"cachedContentTokenCount", "thoughtsTokenCount", "toolUsePromptTokenCount"}
)

// scanner is jsonscan.Scanner with the chunk's shapes; Bad means the chunk
// needs encoding/json (or is malformed).
type scanner struct{ jsonscan.Scanner }

// scanChunk fills v from data; ok is false when the caller must decode the
// chunk with encoding/json instead. v.id and v.model are read only with
// start (the decoder needs them from the first chunk alone); without it they
// are checked but left empty.
func scanChunk(data []byte, v *chunkView, start bool) (ok bool) {
	v.reset()
	s := scanner{jsonscan.Scanner{B: data}}
	i := s.WS(0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	ncand := 0
	var blockReason string
	i = s.Fields(i, responseFields, func(field, i int) int {
		if s.Null(i) {
			return i + 4 // a nil slice or pointer, an unchanged string
		}
		switch field {
		case 0:
			return s.candidates(i, v, &ncand)
		case 1:
			return s.Fields(i, feedbackFields, func(_, i int) int { return s.str(i, &blockReason) })
		case 2:
			v.hasUsage = true
			return s.usage(i, &v.usage)
		case 3:
			return s.maybeStr(i, &v.model, start)
		case 4:
			return s.maybeStr(i, &v.id, start)
		}
		return s.Fail() // an error object: decoded the slow way
	})
	if i < 0 || s.Bad || s.WS(i) != len(data) {
		return false
	}
	v.blocked = ncand == 0 && blockReason != ""
	return true
}

// candidates reads the candidates array, keeping the first candidate whose
// index is 0, as firstCandidate does; *n counts them.
func (s *scanner) candidates(i int, v *chunkView, n *int) int {
	return s.Array(i, func(i, _ int) int {
		*n++
		mark := len(v.parts)
		index := 0
		var finish string
		var end int
		if s.Null(i) {
			end = i + 4 // a zero candidate
		} else {
			end = s.Fields(i, candFields, func(field, i int) int {
				switch field {
				case 0:
					if s.Null(i) {
						return i + 4
					}
					return s.Fields(i, contentFields, func(field, i int) int {
						if s.Null(i) {
							return i + 4
						}
						if field == 0 {
							_, e := s.RawString(i) // role
							return e
						}
						return s.Array(i, func(i, _ int) int { return s.part(i, v) })
					})
				case 1:
					return s.str(i, &finish)
				}
				return s.Int(i, &index)
			})
		}
		if end < 0 {
			return -1
		}
		if index != 0 || v.hasCandidate {
			v.parts = v.parts[:mark] // not the one firstCandidate picks
			return end
		}
		v.hasCandidate, v.finish = true, finish
		return end
	})
}

// part reads one part, appending it to v.parts.
func (s *scanner) part(i int, v *chunkView) int {
	if s.Null(i) {
		v.parts = append(v.parts, partView{}) // a zero part, as encoding/json makes it
		return i + 4
	}
	var p partView
	end := s.Fields(i, partFields, func(field, i int) int {
		switch field {
		case 0:
			return s.str(i, &p.text)
		case 1:
			return s.Bool(i, &p.thought)
		case 2:
			if s.Null(i) {
				return i + 4
			}
			p.call, p.callArgs = true, "{}"
			return s.Fields(i, callFields, func(field, i int) int {
				switch field {
				case 0:
					return s.str(i, &p.callID)
				case 1:
					return s.str(i, &p.callName)
				}
				e := s.Skip(i, 0)
				if e >= 0 && s.B[i] == '{' {
					p.callArgs = string(s.B[i:e])
				}
				return e
			})
		case 3:
			return s.str(i, &p.signature)
		}
		if s.Null(i) {
			return i + 4
		}
		return s.Fail()
	})
	if end >= 0 {
		v.parts = append(v.parts, p)
	}
	return end
}

// scanUsage reads raw, a usageMetadata value, as json.Unmarshal into m
// does; ok is false when the caller must use json.Unmarshal instead.
func scanUsage(raw []byte, m *usageMetadata) (ok bool) {
	s := scanner{jsonscan.Scanner{B: raw}}
	i := s.WS(0)
	if s.Null(i) {
		return s.WS(i+4) == len(raw)
	}
	i = s.usage(i, m)
	return i >= 0 && !s.Bad && s.WS(i) == len(raw)
}

// usage reads a usageMetadata object.
func (s *scanner) usage(i int, u *usageMetadata) int {
	return s.Fields(i, usageFields, func(field, i int) int {
		var dst *int
		switch field {
		case 0:
			dst = &u.PromptTokenCount
		case 1:
			dst = &u.CandidatesTokenCount
		case 2:
			dst = &u.TotalTokenCount
		case 3:
			dst = &u.CachedContentTokenCount
		case 4:
			dst = &u.ThoughtsTokenCount
		default:
			dst = &u.ToolUsePromptTokenCount
		}
		return s.Int(i, dst)
	})
}

// str reads a string into *dst as encoding/json does; null leaves it as it
// is.
func (s *scanner) str(i int, dst *string) int {
	if s.Null(i) {
		return i + 4
	}
	return s.String(i, dst)
}

// maybeStr is str when read is set; otherwise it only checks the value is a
// string.
func (s *scanner) maybeStr(i int, dst *string, read bool) int {
	if read {
		return s.str(i, dst)
	}
	_, e := s.RawString(i)
	return e
}
