package openai

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/jsonw"
	"github.com/llmgate/llmgate/internal/provider"
)

// FileIDPrefix marks a Media.URL that names a file uploaded to OpenAI
// (a file part with file_id) rather than an http(s) URL.
const FileIDPrefix = provider.FileIDScheme

// emptySchema is the parameters schema of a tool that declares none.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// emptyArgs is the arguments object of a tool call whose arguments were
// missing or unparsable.
var emptyArgs = json.RawMessage(`{}`)

// wireUsage is OpenAI's usage object, with DeepSeek's cache counters.
type wireUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens     int `json:"cached_tokens"`
		CacheWriteTokens int `json:"cache_write_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
	// DeepSeek reports cache reads here instead of prompt_tokens_details.
	PromptCacheHitTokens int `json:"prompt_cache_hit_tokens"`
}

func (w *wireUsage) usage() provider.Usage {
	u := provider.Usage{InputTokens: w.PromptTokens, OutputTokens: w.CompletionTokens}
	if d := w.PromptTokensDetails; d != nil {
		u.CachedTokens = d.CachedTokens
		u.CacheWriteTokens = d.CacheWriteTokens
	}
	if u.CachedTokens == 0 {
		u.CachedTokens = w.PromptCacheHitTokens
	}
	if d := w.CompletionTokensDetails; d != nil {
		u.ReasoningTokens = d.ReasoningTokens
	}
	return u
}

// appendUsage appends u as an OpenAI usage object.
func appendUsage(dst []byte, u provider.Usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.InputTokens), 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.OutputTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.Total()), 10)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CachedTokens), 10)
	if u.CacheWriteTokens != 0 {
		dst = append(dst, `,"cache_write_tokens":`...)
		dst = strconv.AppendInt(dst, int64(u.CacheWriteTokens), 10)
	}
	dst = append(dst, `},"completion_tokens_details":{"reasoning_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.ReasoningTokens), 10)
	return append(dst, "}}"...)
}

// finishReason maps a canonical stop reason to OpenAI's finish_reason
// (protocols.md 7.4). A response that called tools finishes with
// "tool_calls" unless it was cut short or filtered.
func finishReason(r provider.StopReason, toolCalls bool) string {
	switch r {
	case provider.StopMaxTokens:
		return "length"
	case provider.StopContentFilter:
		return "content_filter"
	case provider.StopToolUse:
		return "tool_calls"
	}
	if toolCalls {
		return "tool_calls"
	}
	return "stop"
}

// stopReason maps OpenAI's finish_reason to a canonical stop reason.
func stopReason(fr string, toolCalls bool) provider.StopReason {
	switch fr {
	case "length":
		return provider.StopMaxTokens
	case "content_filter":
		return provider.StopContentFilter
	case "tool_calls", "function_call":
		return provider.StopToolUse
	}
	if toolCalls {
		return provider.StopToolUse // a named tool_choice finishes with "stop"
	}
	return provider.StopEndTurn
}

// toolArguments turns OpenAI's arguments (a JSON-encoded string; some
// servers send the object itself) into a JSON object. Anything else becomes
// {}.
func toolArguments(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return emptyArgs
	}
	switch raw[0] {
	case '{':
		if json.Valid(raw) {
			return append(json.RawMessage(nil), raw...)
		}
	case '"':
		var s string
		if sc := (jsonscan.Scanner{B: raw}); sc.String(0, &s) != len(raw) {
			return emptyArgs
		}
		b := bytes.TrimSpace([]byte(s))
		if len(b) > 0 && b[0] == '{' && json.Valid(b) {
			return b
		}
	}
	return emptyArgs
}

// appendNullableString appends s as a JSON string, or null when s is empty.
func appendNullableString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return jsonw.AppendString(dst, s)
}

// marshal encodes v without HTML escaping and without a trailing newline.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := b.Bytes()
	return out[:len(out)-1], nil
}
