// Package provider holds llmgate's canonical request, response and stream
// model, the one error taxonomy every failure is classified into, and the
// small interfaces that each wire-format package (openai, anthropic, gemini)
// implements.
//
// A wire-format package translates; it never sends HTTP itself, retries, or
// keeps metrics. The gateway pipeline orchestrates.
package provider

import (
	"encoding/json"
)

// Format names a wire format: what clients speak and what upstreams speak.
type Format string

// The wire formats llmgate speaks. Every OpenAI-compatible vendor (DeepSeek,
// Mistral, Groq, Ollama, vLLM, OpenRouter, Azure-style URLs) is FormatOpenAI.
const (
	FormatOpenAI    Format = "openai"
	FormatAnthropic Format = "anthropic"
	FormatGemini    Format = "gemini"
	// FormatResponses is the OpenAI Responses API (POST /v1/responses).
	// Clients speak it; an OpenAI provider with api: responses speaks it
	// upstream too.
	FormatResponses Format = "responses"
)

// Role is the author of a canonical message. The system prompt is not a
// message: it lives in Request.System.
type Role string

// Message roles. Tool results travel as PartToolResult parts in a RoleUser
// message (Anthropic's shape); the OpenAI encoder splits them into "tool"
// messages.
//
// RoleSystem is system text at a position inside the conversation (what
// Claude Code sends as {"role": "system"} in messages[]); its parts are text
// only. Encoders keep it in place where the format allows (OpenAI: a system
// or developer message) and fold it into the system prompt elsewhere
// (Gemini's systemInstruction, Anthropic's system).
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleSystem    Role = "system"
)

// PartType is the kind of a content Part.
type PartType string

// Content part kinds.
const (
	PartText       PartType = "text"
	PartImage      PartType = "image"    // Image set
	PartDocument   PartType = "document" // Image set (a PDF or other file as media)
	PartToolCall   PartType = "tool_call"
	PartToolResult PartType = "tool_result"
	PartThinking   PartType = "thinking" // model reasoning; most encoders drop it
)

// Request is a chat request in canonical form. Pointer fields are nil when the
// client did not set them, so encoders can leave them out.
type Request struct {
	// Model is the model name the client asked for. Encoders write the
	// upstream model they are given instead.
	Model    string
	System   []Part // text parts, in order
	Messages []Message

	MaxTokens   *int
	Temperature *float64
	TopP        *float64
	TopK        *int
	Stop        []string
	Seed        *int64

	Stream bool
	// IncludeUsage is true when an OpenAI client asked for the usage chunk
	// (stream_options.include_usage). Other formats always carry usage.
	IncludeUsage bool

	Tools             []Tool
	ToolChoice        *ToolChoice
	ParallelToolCalls *bool

	// ResponseFormat asks for JSON output; nil means plain text.
	ResponseFormat *ResponseFormat

	// User is an opaque end-user id (OpenAI user, Anthropic metadata.user_id).
	User string

	// ReasoningEffort is "low", "medium" or "high" when the client asked
	// for reasoning; encoders map it where the upstream supports it.
	ReasoningEffort string

	// N is the number of choices asked for; 0 and 1 both mean one.
	N int

	// Dropped names what the decoder read but the canonical form cannot
	// carry (context_management, cache_control, server tools, ...), for a
	// debug log when the request is translated; nil when nothing was.
	Dropped []string
	// Untranslatable, when set, says why only an upstream speaking the
	// client's own format can serve the request (a Responses
	// previous_response_id, or a tool OpenAI's servers run). Decoders set it
	// instead of failing, so that passthrough still works; Portable returns
	// it before any translation.
	Untranslatable *Error
}

// Drop records that the decoder dropped what, once per name.
func (r *Request) Drop(what string) {
	for _, d := range r.Dropped {
		if d == what {
			return
		}
	}
	r.Dropped = append(r.Dropped, what)
}

// AllSystem returns the system prompt followed by the parts of the
// RoleSystem messages, in order: for formats with one system prompt only.
// It returns r.System itself when there are no RoleSystem messages.
func (r *Request) AllSystem() []Part {
	out := r.System
	copied := false
	for i := range r.Messages {
		if r.Messages[i].Role != RoleSystem {
			continue
		}
		if !copied {
			out = append(make([]Part, 0, len(r.System)+len(r.Messages[i].Parts)), r.System...)
			copied = true
		}
		out = append(out, r.Messages[i].Parts...)
	}
	return out
}

// Message is one turn of a conversation.
type Message struct {
	Role  Role
	Parts []Part
}

// Part is one piece of message content. Which fields are set depends on Type.
type Part struct {
	Type PartType

	// Text is set for PartText and PartThinking.
	Text string
	// Signature is an opaque thinking signature (Anthropic) or thought
	// signature (Gemini) to replay to the same provider.
	Signature string

	// Media is set for PartImage and PartDocument.
	Media *Media

	// ToolCall is set for PartToolCall.
	ToolCall *ToolCall

	// ToolResult is set for PartToolResult.
	ToolResult *ToolResult
}

// FileIDScheme prefixes Media.URL for a reference to a file uploaded to
// OpenAI (a file_id), which no other provider can read.
const FileIDScheme = "openai-file:"

// Portable reports whether req can be sent to an upstream of format f: an
// OpenAI file_id reference or audio input can only go to OpenAI-format
// upstreams. The error is a KindBadRequest saying what to change.
func (r *Request) Portable(f Format) *Error {
	if r.Untranslatable != nil {
		e := *r.Untranslatable
		return &e
	}
	if f == FormatOpenAI {
		return nil
	}
	for mi := range r.Messages {
		for pi := range r.Messages[mi].Parts {
			p := &r.Messages[mi].Parts[pi]
			if p.Media == nil {
				continue
			}
			switch {
			case len(p.Media.URL) >= len(FileIDScheme) && p.Media.URL[:len(FileIDScheme)] == FileIDScheme:
				return &Error{Kind: KindBadRequest, Param: "messages",
					Message: "an OpenAI file_id cannot be sent to a " + string(f) + " upstream: send the file's content inline (file_data) instead"}
			case len(p.Media.MediaType) >= 6 && p.Media.MediaType[:6] == "audio/":
				return &Error{Kind: KindBadRequest, Param: "messages",
					Message: "audio input cannot be sent to a " + string(f) + " upstream: route this model to an OpenAI audio model"}
			}
		}
	}
	return nil
}

// Media is inline (base64) or referenced (URL) binary content.
type Media struct {
	MediaType string // e.g. image/png, application/pdf
	Data      string // base64, without a data: prefix
	URL       string // an http(s) URL, when Data is empty
	Detail    string // OpenAI image detail hint, dropped elsewhere
}

// ToolCall is a function call the model made.
type ToolCall struct {
	ID   string
	Name string
	// Arguments is a JSON object. Decoders turn OpenAI's JSON-encoded string
	// into the object; an unparsable string becomes {}.
	Arguments json.RawMessage
}

// ToolResult is the caller's answer to a ToolCall.
type ToolResult struct {
	ToolCallID string
	// Name is the called function's name; Gemini needs it. Decoders fill it
	// from the earlier call with the same id when the format omits it.
	Name    string
	Content []Part // text and images
	IsError bool
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is a JSON Schema object; never nil after decoding.
	Parameters json.RawMessage
	// Namespace is the Responses tool namespace the function came from
	// (Codex's multi_agent_v1); other formats have none and ignore it.
	Namespace string
}

// ToolChoiceMode says whether and how the model must call tools.
type ToolChoiceMode string

// Tool choice modes.
const (
	ToolChoiceAuto     ToolChoiceMode = "auto"
	ToolChoiceNone     ToolChoiceMode = "none"
	ToolChoiceRequired ToolChoiceMode = "required" // any tool
	ToolChoiceTool     ToolChoiceMode = "tool"     // the one named in Name
)

// ToolChoice constrains tool use.
type ToolChoice struct {
	Mode ToolChoiceMode
	Name string // for ToolChoiceTool
}

// ResponseFormat asks for JSON output.
type ResponseFormat struct {
	// Type is "json_object" or "json_schema".
	Type   string
	Name   string
	Schema json.RawMessage
	Strict bool
}

// StopReason says why generation ended, in Anthropic's vocabulary (the
// richest); each encoder maps it to its own.
type StopReason string

// Stop reasons.
const (
	StopEndTurn       StopReason = "end_turn"
	StopMaxTokens     StopReason = "max_tokens"
	StopSequence      StopReason = "stop_sequence"
	StopToolUse       StopReason = "tool_use"
	StopContentFilter StopReason = "refusal"
	StopPauseTurn     StopReason = "pause_turn"
)

// Usage counts tokens. InputTokens includes cached and cache-write tokens
// (OpenAI's convention); OutputTokens includes reasoning tokens.
type Usage struct {
	InputTokens      int
	OutputTokens     int
	CachedTokens     int // cache reads, part of InputTokens
	CacheWriteTokens int // cache writes, part of InputTokens
	ReasoningTokens  int // part of OutputTokens
}

// Total is input plus output tokens.
func (u Usage) Total() int { return u.InputTokens + u.OutputTokens }

// IsZero reports whether no token was counted.
func (u Usage) IsZero() bool { return u == Usage{} }

// Response is a complete (non-streamed) chat response in canonical form.
type Response struct {
	ID         string
	Model      string
	Content    []Part // PartText, PartToolCall, PartThinking
	StopReason StopReason
	// StopSequence is the matched stop string when StopReason is StopSequence.
	StopSequence string
	Usage        Usage
}

// HasToolCalls reports whether the response contains a tool call.
func (r *Response) HasToolCalls() bool {
	for i := range r.Content {
		if r.Content[i].Type == PartToolCall {
			return true
		}
	}
	return false
}

// Text joins the response's text parts.
func (r *Response) Text() string {
	var n int
	for i := range r.Content {
		if r.Content[i].Type == PartText {
			n += len(r.Content[i].Text)
		}
	}
	b := make([]byte, 0, n)
	for i := range r.Content {
		if r.Content[i].Type == PartText {
			b = append(b, r.Content[i].Text...)
		}
	}
	return string(b)
}
