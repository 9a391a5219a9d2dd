package provider

// EventType is the kind of a canonical stream Event.
type EventType uint8

// Canonical stream events. A decoder turns an upstream stream into these; an
// encoder turns them into a client's stream. The sequence is:
//
//	EventStart, then any of EventText / EventThinking / EventToolCall /
//	EventToolArgs / EventUsage / EventStop, then the stream ends (the
//	decoder returns io.EOF) or fails (the decoder returns an *Error).
//
// Tool calls are numbered by ToolIndex (0, 1, ...), counting tool calls only.
// EventToolCall opens call ToolIndex with its id and name; EventToolArgs
// appends a fragment of its JSON arguments. A decoder whose upstream sends
// complete calls (Gemini, Ollama) emits EventToolCall then one EventToolArgs.
const (
	EventStart    EventType = iota + 1 // ID, Model, Usage (input tokens, maybe estimated)
	EventText                          // Text
	EventThinking                      // Text (reasoning), Signature
	EventToolCall                      // ToolIndex, ToolID, ToolName
	EventToolArgs                      // ToolIndex, Text (a fragment of JSON)
	EventUsage                         // Usage: cumulative, replaces earlier values that are non-zero
	EventStop                          // StopReason, StopSequence
)

// Event is one canonical stream event. Which fields are set depends on Type.
type Event struct {
	Type EventType

	ID    string
	Model string

	Text      string
	Signature string

	ToolIndex int
	ToolID    string
	ToolName  string

	StopReason   StopReason
	StopSequence string

	Usage Usage
}

// StreamDecoder reads an upstream stream as canonical events.
type StreamDecoder interface {
	// Next returns the next event. It returns io.EOF at a clean end of
	// stream, and an *Error when the upstream reports an error in the
	// stream, the connection breaks, or the stream is garbage.
	Next() (Event, error)
}

// Releaser is a StreamDecoder that can give its buffers back for reuse
// once the caller is done with it (and with every event it returned). The
// pipeline calls Release when a stream ends; it is optional.
type Releaser interface {
	Release()
}

// StreamEncoder writes canonical events as a client's stream. It writes to
// the io.Writer it was made with and does not flush: the caller flushes after
// each Encode.
type StreamEncoder interface {
	// Encode writes one event (or nothing, when the format has no equivalent).
	Encode(ev Event) error
	// Close writes what ends a successful stream (final chunk, usage,
	// [DONE] or message_stop).
	Close() error
	// Fail ends the stream with an error in the client's format, after which
	// nothing more is written.
	Fail(err *Error) error
}

// MergeUsage folds a cumulative usage report into acc: every non-zero field
// of u replaces the one in acc. Streams repeat running totals (Anthropic
// message_delta, Gemini usageMetadata), so the last report wins and a report
// without a field never resets it.
func MergeUsage(acc *Usage, u Usage) {
	if u.InputTokens != 0 {
		acc.InputTokens = u.InputTokens
	}
	if u.OutputTokens != 0 {
		acc.OutputTokens = u.OutputTokens
	}
	if u.CachedTokens != 0 {
		acc.CachedTokens = u.CachedTokens
	}
	if u.CacheWriteTokens != 0 {
		acc.CacheWriteTokens = u.CacheWriteTokens
	}
	if u.ReasoningTokens != 0 {
		acc.ReasoningTokens = u.ReasoningTokens
	}
}
