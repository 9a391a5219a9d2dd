package provider

// Spec is what the pipeline needs to know about a wire format besides its
// codecs: the questions it used to answer with a switch on the format name
// in several places. A new format adds one entry to specs (and its codecs to
// the client and upstream tables in internal/cli).
type Spec struct {
	// ModelInURL is true when the model and the stream switch come from the
	// request path, not the body (Gemini's /models/{model}:generateContent).
	// The body then names no model, and a passthrough body needs no rewrite.
	ModelInURL bool
	// EndsAtEOF is true when a stream has no end event and simply closes
	// (Gemini). Otherwise a stream that closes before its end event was cut.
	EndsAtEOF bool
	// Ping is the keep-alive written on a quiet client stream; nil writes
	// none (Gemini clients have no keep-alive event to ignore).
	Ping []byte
	// Credentials is the format whose provider keys clients of this format
	// hold: a Responses client sends an OpenAI key, which an OpenAI-type
	// upstream accepts whichever API it speaks. "" means the format itself.
	Credentials Format
}

var specs = map[Format]Spec{
	FormatOpenAI:    {Ping: []byte(": keep-alive\n\n")},
	FormatAnthropic: {Ping: []byte("event: ping\ndata: {\"type\": \"ping\"}\n\n")},
	FormatGemini:    {ModelInURL: true, EndsAtEOF: true},
	// SSE comments are what OpenAI sends on a quiet Responses stream; the
	// SDKs and Codex skip them.
	FormatResponses: {Ping: []byte(": keep-alive\n\n"), Credentials: FormatOpenAI},
}

// SpecOf returns f's Spec; an unknown format gets the zero Spec (model in
// the body, an end event, no ping).
func SpecOf(f Format) Spec { return specs[f] }

// SameCredentials reports whether a key a client of format client holds is
// meant for an upstream of format upstream.
func SameCredentials(client, upstream Format) bool {
	return credentialsOf(client) == credentialsOf(upstream)
}

func credentialsOf(f Format) Format {
	if c := specs[f].Credentials; c != "" {
		return c
	}
	return f
}
