package gemini

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

// Passthrough forwards Gemini bodies to a Gemini upstream unchanged. The
// zero value is ready to use; it is stateless and safe for concurrent use.
type Passthrough struct{}

var _ provider.Passthrough = Passthrough{}

// RewriteRequest returns body unchanged: the model is in the URL, and Gemini
// streams always carry usage. The one exception is a countTokens body that
// wraps a generateContentRequest naming its model: that name is rewritten to
// the upstream model.
func (Passthrough) RewriteRequest(body []byte, model string, stream bool) ([]byte, bool, error) {
	if !bytes.Contains(body, keyWrapped) {
		return body, true, nil
	}
	inner, ok, err := jsonscan.Get(body, "generateContentRequest")
	if err != nil {
		return nil, true, err
	}
	if !ok || len(inner) == 0 || inner[0] != '{' {
		return body, true, nil
	}
	if _, has, err := jsonscan.Get(inner, "model"); err != nil || !has {
		return body, true, err
	}
	name, _ := json.Marshal(modelPath(model))
	inner, err = jsonscan.Set(inner, "model", name)
	if err != nil {
		return nil, true, err
	}
	out, err := jsonscan.Set(body, "generateContentRequest", inner)
	return out, true, err
}

// ResponseUsage reads the top-level usageMetadata of a response body.
func (Passthrough) ResponseUsage(body []byte) (provider.Usage, bool) {
	return usageMember(body)
}

func usageMember(body []byte) (provider.Usage, bool) {
	raw, ok, err := jsonscan.Get(body, "usageMetadata")
	if err != nil || !ok {
		return provider.Usage{}, false
	}
	var m usageMetadata // on the stack: only w, given to encoding/json, escapes
	if !scanUsage(raw, &m) {
		var w usageMetadata
		if json.Unmarshal(raw, &w) != nil {
			return provider.Usage{}, false
		}
		m = w
	}
	return usageFromWire(&m), true
}

var (
	keyUsage = []byte(`"usageMetadata"`)
	keyError = []byte(`"error"`)
	keyCall  = []byte(`"functionCall"`)
	keyText  = []byte(`"text"`)

	keyWrapped = []byte(`"generateContentRequest"`)
)

// ScanEvent reads one stream event: its usageMetadata (running totals: the
// last wins), an error chunk, and whether it carries a text or functionCall
// part. Gemini streams have no end event: Done is never set.
func (Passthrough) ScanEvent(ev *sse.Event) provider.EventInfo {
	var info provider.EventInfo
	data := ev.Data
	if !ev.HasData {
		raw := bytes.TrimSpace(ev.Raw)
		if len(raw) > 0 && (raw[0] == '{' || raw[0] == '[') && bytes.Contains(raw, keyError) {
			if obj, ok := findErrorObject(raw); ok {
				info.Err = errorFromRaw(http.StatusOK, obj)
			}
		}
		return info
	}
	if bytes.Contains(data, keyUsage) {
		info.Usage, info.HasUsage = usageMember(data)
	}
	if bytes.Contains(data, keyError) {
		if raw, ok, err := jsonscan.Get(data, "error"); err == nil && ok && !isNull(raw) {
			info.Err = errorFromRaw(http.StatusOK, raw)
		}
	}
	info.Content = bytes.Contains(data, keyCall) || hasNonEmptyText(data)
	return info
}

// hasNonEmptyText reports whether data has a "text" member whose value is a
// non-empty string, without decoding it (the last chunk's empty text part is
// not content).
func hasNonEmptyText(data []byte) bool {
	for {
		i := bytes.Index(data, keyText)
		if i < 0 {
			return false
		}
		data = data[i+len(keyText):]
		j := 0
		for j < len(data) && (data[j] == ' ' || data[j] == '\t' || data[j] == '\n' || data[j] == '\r') {
			j++
		}
		if j >= len(data) || data[j] != ':' {
			continue
		}
		j++
		for j < len(data) && (data[j] == ' ' || data[j] == '\t' || data[j] == '\n' || data[j] == '\r') {
			j++
		}
		if j+1 < len(data) && data[j] == '"' && data[j+1] != '"' {
			return true
		}
	}
}
