package responses

import (
	"bytes"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

// Passthrough forwards Responses bodies between a Responses client and an
// OpenAI provider that speaks the Responses API, without decoding them.
// The zero value is ready to use; it is safe for concurrent use.
type Passthrough struct{}

var _ provider.Passthrough = Passthrough{}

// RewriteRequest sets the top-level "model" to model when it differs; all
// other bytes are left as they were. A Responses stream always reports
// usage (in response.completed), so nothing else needs asking.
func (Passthrough) RewriteRequest(body []byte, model string, stream bool) ([]byte, bool, error) {
	if model == "" {
		return body, true, nil
	}
	v, ok, err := jsonscan.Get(body, "model")
	if err != nil {
		return nil, true, &provider.Error{Kind: provider.KindBadRequest, Message: "the request body is not valid JSON: " + err.Error(), Cause: err}
	}
	if s, _ := jsonscan.String(v); ok && s == model {
		return body, true, nil
	}
	out, err := jsonscan.SetString(body, "model", model)
	if err != nil {
		return nil, true, &provider.Error{Kind: provider.KindBadRequest, Message: err.Error(), Cause: err}
	}
	return out, true, nil
}

// ResponseUsage reads the "usage" of a Response object.
func (Passthrough) ResponseUsage(body []byte) (provider.Usage, bool) {
	raw, ok, err := jsonscan.Get(body, "usage")
	if err != nil || !ok {
		return provider.Usage{}, false
	}
	return decodeUsage(raw)
}

// decodeUsage reads a Responses usage object.
func decodeUsage(raw []byte) (provider.Usage, bool) {
	if len(raw) == 0 || raw[0] != '{' {
		return provider.Usage{}, false
	}
	var u provider.Usage
	err := jsonscan.Each(raw, func(m jsonscan.Member) bool {
		switch string(m.Key) {
		case "input_tokens":
			u.InputTokens = jsonInt(m.Value)
		case "output_tokens":
			u.OutputTokens = jsonInt(m.Value)
		case "input_tokens_details":
			_ = jsonscan.Each(m.Value, func(d jsonscan.Member) bool {
				switch string(d.Key) {
				case "cached_tokens":
					u.CachedTokens = jsonInt(d.Value)
				case "cache_write_tokens":
					u.CacheWriteTokens = jsonInt(d.Value)
				}
				return true
			})
		case "output_tokens_details":
			_ = jsonscan.Each(m.Value, func(d jsonscan.Member) bool {
				if string(d.Key) == "reasoning_tokens" {
					u.ReasoningTokens = jsonInt(d.Value)
				}
				return true
			})
		}
		return true
	})
	if err != nil {
		return provider.Usage{}, false
	}
	return u, true
}

// jsonInt reads a non-negative JSON integer; anything else is 0.
func jsonInt(raw []byte) int {
	n := 0
	for _, c := range raw {
		if c < '0' || c > '9' || n > (1<<62)/10 {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// ScanEvent inspects one Responses stream event by its type: the terminal
// events end the stream and carry usage, response.failed and error report
// an upstream error, and deltas and added items are content.
func (Passthrough) ScanEvent(ev *sse.Event) provider.EventInfo {
	var info provider.EventInfo
	if ev == nil || !ev.HasData || len(ev.Data) == 0 {
		return info
	}
	typ := ev.Name
	if len(typ) == 0 || !bytes.HasPrefix(typ, []byte("response.")) && string(typ) != "error" {
		v, ok, err := jsonscan.Get(ev.Data, "type")
		if err != nil || !ok {
			return info
		}
		s, _ := jsonscan.String(v)
		typ = []byte(s)
	}
	switch string(typ) {
	case "response.output_text.delta", "response.function_call_arguments.delta", "response.refusal.delta",
		"response.custom_tool_call_input.delta", "response.output_item.added",
		"response.reasoning_summary_text.delta", "response.reasoning_text.delta":
		info.Content = true
	case "response.completed", "response.incomplete":
		info.Done = true
		if resp, ok, err := jsonscan.Get(ev.Data, "response"); err == nil && ok {
			if raw, ok, err := jsonscan.Get(resp, "usage"); err == nil && ok {
				info.Usage, info.HasUsage = decodeUsage(raw)
			}
		}
	case "response.failed":
		info.Done = true
		info.Err = failedError(ev.Data)
		if resp, ok, err := jsonscan.Get(ev.Data, "response"); err == nil && ok {
			if raw, ok, err := jsonscan.Get(resp, "usage"); err == nil && ok {
				info.Usage, info.HasUsage = decodeUsage(raw)
			}
		}
	case "error":
		info.Err = eventError(ev.Data)
	}
	return info
}

// failedError classifies response.failed's response.error {code, message}.
func failedError(data []byte) *provider.Error {
	var code, msg string
	if resp, ok, err := jsonscan.Get(data, "response"); err == nil && ok {
		if e, ok, err := jsonscan.Get(resp, "error"); err == nil && ok {
			code, msg = stringMember(e, "code"), stringMember(e, "message")
		}
	}
	return codeError(code, msg)
}

// eventError classifies an error event {code, message}.
func eventError(data []byte) *provider.Error {
	return codeError(stringMember(data, "code"), stringMember(data, "message"))
}

func codeError(code, msg string) *provider.Error {
	if msg == "" {
		msg = "the upstream reported an error in the stream"
	}
	e := &provider.Error{Kind: provider.KindServer, Code: code, Message: msg, Format: provider.FormatOpenAI}
	switch code {
	case "rate_limit_exceeded":
		e.Kind = provider.KindRateLimited
	case "context_length_exceeded":
		e.Kind = provider.KindContextLength
	case "insufficient_quota":
		e.Kind = provider.KindQuota
	case "invalid_prompt", "invalid_request_error":
		e.Kind = provider.KindBadRequest
	case "server_is_overloaded", "slow_down":
		e.Kind = provider.KindOverloaded
	}
	return e
}

func stringMember(obj []byte, key string) string {
	v, ok, err := jsonscan.Get(obj, key)
	if err != nil || !ok {
		return ""
	}
	s, _ := jsonscan.String(v)
	return s
}
