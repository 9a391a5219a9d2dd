package mock

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/fnv"
	"math"
	"strconv"
)

// maxEmbeddingInputs is OpenAI's cap on inputs per request.
const maxEmbeddingInputs = 2048

// embeddingInputs splits an embeddings "input" (a string, an array of
// strings, an array of token ids, or an array of arrays of token ids) into
// one raw JSON value per input, and estimates their tokens.
func embeddingInputs(raw json.RawMessage) ([]json.RawMessage, int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' {
		return nil, 0, errors.New("input is required")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, 0, err
		}
		return []json.RawMessage{raw}, estimateTokens(len(s)), nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, 0, err
	}
	if len(items) == 0 {
		return nil, 0, errors.New("input must not be empty")
	}
	if c := bytes.TrimSpace(items[0]); len(c) > 0 && (c[0] == '-' || (c[0] >= '0' && c[0] <= '9')) {
		// One input given as token ids.
		return []json.RawMessage{raw}, len(items), nil
	}
	if len(items) > maxEmbeddingInputs {
		return nil, 0, errors.New("at most " + strconv.Itoa(maxEmbeddingInputs) + " inputs are allowed")
	}
	tokens := 0
	for _, it := range items {
		it = bytes.TrimSpace(it)
		switch {
		case len(it) > 0 && it[0] == '"':
			var s string
			if err := json.Unmarshal(it, &s); err != nil {
				return nil, 0, err
			}
			tokens += estimateTokens(len(s))
		case len(it) > 0 && it[0] == '[':
			var ids []int64
			if err := json.Unmarshal(it, &ids); err != nil {
				return nil, 0, err
			}
			tokens += len(ids)
		default:
			return nil, 0, errors.New("each input must be a string or an array of token ids")
		}
	}
	return items, tokens, nil
}

// embedding returns a deterministic unit vector of dims float32 values for
// input and model, as a JSON array of numbers or, for base64, a JSON string
// of the little-endian float32 bytes (what the SDKs decode).
func embedding(input []byte, model string, dims int, asBase64 bool) json.RawMessage {
	h := fnv.New64a()
	_, _ = h.Write(input)
	_, _ = h.Write([]byte(model))
	seed := h.Sum64()
	vec := make([]float32, dims)
	var norm float64
	for i := range vec {
		seed += 0x9e3779b97f4a7c15 // splitmix64
		z := seed
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		v := float64(z>>11)/float64(1<<53)*2 - 1
		vec[i] = float32(v)
		norm += v * v
	}
	scale := 1 / math.Sqrt(norm)
	for i := range vec {
		vec[i] = float32(float64(vec[i]) * scale)
	}
	if asBase64 {
		raw := make([]byte, 4*dims)
		for i, v := range vec {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		out := make([]byte, 0, base64.StdEncoding.EncodedLen(len(raw))+2)
		out = append(out, '"')
		out = base64.StdEncoding.AppendEncode(out, raw)
		return append(out, '"')
	}
	out := make([]byte, 0, dims*12+2)
	out = append(out, '[')
	for i, v := range vec {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendFloat(out, float64(v), 'g', -1, 32)
	}
	return append(out, ']')
}
