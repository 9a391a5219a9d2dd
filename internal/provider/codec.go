package provider

import (
	"context"
	"io"
	"net/http"

	"github.com/llmgate/llmgate/internal/sse"
)

// Op is the operation an upstream request performs.
type Op string

// Operations.
const (
	OpChat        Op = "chat"         // chat completions / messages / generateContent
	OpCountTokens Op = "count_tokens" // Anthropic count_tokens, Gemini countTokens
	OpEmbeddings  Op = "embeddings"   // OpenAI only
	OpResponses   Op = "responses"    // OpenAI only
)

// Endpoint is where and how to reach one upstream deployment.
type Endpoint struct {
	// Provider is the configured provider name, used in errors and logs.
	Provider string
	// BaseURL follows each official SDK's convention: for openai it
	// includes /v1 (https://api.openai.com/v1); for anthropic and gemini it
	// is the root (https://api.anthropic.com).
	BaseURL string
	// APIKey is the key to send; "" sends none (Ollama, or a client key
	// passed through in ClientKey).
	APIKey string
	// Header holds extra headers from config, sent on every request.
	Header http.Header
}

// Target is one upstream request to build.
type Target struct {
	Endpoint Endpoint
	Op       Op
	Model    string // the upstream model name
	Stream   bool
	Body     []byte // already in the upstream's format
	// ClientHeader is the inbound request's header. Codecs copy from it only
	// the headers their format forwards (anthropic-beta, OpenAI-Organization,
	// ...), never credentials.
	ClientHeader http.Header
	// ClientQuery is the inbound query string for passthrough (Anthropic's
	// ?beta=true); codecs keep only parameters their format defines.
	ClientQuery string
}

// ClientCodec is a wire format as spoken by clients: it decodes what they
// send and encodes what they receive. Implementations are stateless and safe
// for concurrent use.
type ClientCodec interface {
	Format() Format
	// DecodeRequest parses a chat request body. A malformed or invalid body
	// gives an *Error of KindBadRequest whose message says where.
	DecodeRequest(body []byte) (*Request, error)
	// EncodeResponse renders a complete response.
	EncodeResponse(resp *Response) ([]byte, error)
	// NewStreamEncoder returns an encoder writing this format's stream for
	// req to w.
	NewStreamEncoder(w io.Writer, req *Request) StreamEncoder
	// EncodeError renders an error body (the status is e.HTTPStatus(),
	// possibly adjusted by StatusFor).
	EncodeError(e *Error, requestID string) []byte
	// StatusFor is the HTTP status this format sends for e (the Anthropic
	// surface keeps 529 for overload; others send 503).
	StatusFor(e *Error) int
}

// RequestEchoer is a ClientCodec whose complete responses repeat request
// settings (the Responses API echoes tools, tool_choice, temperature, ...).
// The pipeline uses it, when implemented, instead of EncodeResponse.
type RequestEchoer interface {
	EncodeResponseFor(resp *Response, req *Request) ([]byte, error)
}

// UpstreamCodec is a wire format as spoken by upstream providers.
// Implementations are stateless and safe for concurrent use.
type UpstreamCodec interface {
	Format() Format
	// EncodeRequest renders a canonical request for this format, naming the
	// upstream model.
	EncodeRequest(req *Request, model string) ([]byte, error)
	// NewHTTPRequest builds the HTTP request for t: URL, auth and headers.
	NewHTTPRequest(ctx context.Context, t *Target) (*http.Request, error)
	// DecodeResponse parses a complete 2xx response body.
	DecodeResponse(body []byte) (*Response, error)
	// NewStreamDecoder reads a 2xx streaming response body.
	NewStreamDecoder(r io.Reader) StreamDecoder
	// DecodeError classifies a non-2xx response. It never returns nil; body
	// may be anything (HTML, empty, an array-wrapped error).
	DecodeError(status int, h http.Header, body []byte) *Error
}

// Passthrough is what the gateway needs to forward a body unchanged when the
// client's format is the upstream's, without decoding it.
// Implementations are stateless and safe for concurrent use.
type Passthrough interface {
	// RewriteRequest returns body with the model replaced by model (when the
	// format carries it in the body) and, for streams, usage reporting
	// switched on where the format needs asking (OpenAI
	// stream_options.include_usage). clientWantsUsage reports whether the
	// client had asked for it itself. body must be valid JSON.
	RewriteRequest(body []byte, model string, stream bool) (out []byte, clientWantsUsage bool, err error)
	// ResponseUsage reads token usage from a complete response body.
	ResponseUsage(body []byte) (Usage, bool)
	// ScanEvent inspects one stream event: usage it carries, an error it
	// reports, and whether it exists only because RewriteRequest asked for
	// usage (so it is hidden from clients that did not).
	ScanEvent(ev *sse.Event) EventInfo
}

// EventInfo is what ScanEvent found in a passthrough stream event.
type EventInfo struct {
	Usage    Usage
	HasUsage bool
	// UsageOnly marks an event that carries only usage (OpenAI's final
	// chunk with empty choices).
	UsageOnly bool
	// Err is set when the event reports an upstream error.
	Err *Error
	// Done marks the format's end-of-stream event ([DONE], message_stop).
	Done bool
	// Content is true when the event carries output the client sees (text
	// or tool call), which marks the first token for latency figures.
	Content bool
}
