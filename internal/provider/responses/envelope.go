package responses

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// envelopePrefix starts every encrypted_content llmgate mints.
const envelopePrefix = "llmgate.1."

type envelope struct {
	Text      string `json:"t,omitempty"`
	Signature string `json:"s,omitempty"`
}

// sealEnvelope wraps thinking text and its signature as encrypted_content.
// It is not encrypted: it carries what the upstream already sent the client
// in summary, plus the signature the upstream needs to accept it back.
func sealEnvelope(text, sig string) string {
	b, _ := json.Marshal(envelope{Text: text, Signature: sig})
	return envelopePrefix + base64.RawURLEncoding.EncodeToString(b)
}

// openEnvelope reads an encrypted_content minted by sealEnvelope; ok is
// false for anything else (OpenAI's own blobs).
func openEnvelope(s string) (text, sig string, ok bool) {
	rest, ok := strings.CutPrefix(s, envelopePrefix)
	if !ok {
		return "", "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", "", false
	}
	var e envelope
	if json.Unmarshal(b, &e) != nil || (e.Text == "" && e.Signature == "") {
		return "", "", false
	}
	return e.Text, e.Signature, true
}

// callIDPrefix starts a function_call item id that carries the upstream's
// signature of the call (Gemini's thoughtSignature, which Gemini 3 wants
// back with the call). Clients echo item ids with the call, as Codex does.
const callIDPrefix = "fc_lg1"

// callItemID mints a function_call item id, carrying sig when there is one.
func callItemID(sig string) string {
	if sig == "" {
		return newID("fc_")
	}
	return callIDPrefix + rand.Text() + "_" + base64.RawURLEncoding.EncodeToString([]byte(sig))
}

// callSignature reads the signature out of an id minted by callItemID.
func callSignature(id string) string {
	rest, ok := strings.CutPrefix(id, callIDPrefix)
	if !ok {
		return ""
	}
	_, enc, ok := strings.Cut(rest, "_")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return ""
	}
	return string(b)
}
