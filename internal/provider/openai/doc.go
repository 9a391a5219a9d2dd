// Package openai is the OpenAI Chat Completions wire format, as spoken by the
// official OpenAI SDKs (Client, a provider.ClientCodec) and by every
// OpenAI-compatible upstream: OpenAI, DeepSeek, Mistral, Groq, Ollama, vLLM,
// OpenRouter and Azure-style deployments (Upstream, a provider.UpstreamCodec).
// Passthrough forwards OpenAI bodies unchanged between the two, reading only
// the few members the gateway needs.
//
// The package translates; it never sends HTTP itself. All three types are
// stateless apart from their configuration and safe for concurrent use.
//
// Decoding is lenient where vendors differ (DeepSeek's blank lines and
// keep-alive comments, Ollama's complete tool calls in one delta, vLLM's
// numeric error codes, Mistral's flat error bodies) and strict where a client
// made a mistake: a malformed request is a provider.KindBadRequest error that
// names the byte offset or the parameter at fault.
//
// Content the canonical model has no kind for is carried as documents so
// that decoding never fails on it: an input_audio part becomes a
// provider.PartDocument with an audio media type, and a file part that
// references an uploaded file becomes a PartDocument whose Media.URL is
// FileIDPrefix followed by the file id. The Upstream encoder turns both back
// into their OpenAI parts; encoders of other formats can reject them.
package openai
