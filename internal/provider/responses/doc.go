// Package responses is the OpenAI Responses API (POST /v1/responses) as a
// wire format: Client decodes what Responses clients (the openai SDKs, the
// Codex CLI) send into the canonical model and encodes answers, streams and
// errors for them; Passthrough forwards Responses bodies untouched to an
// OpenAI provider that speaks the Responses API; Upstream is that
// provider's codec.
//
// The gateway keeps no state, so everything that needs stored responses
// (previous_response_id, conversation, item_reference, background) and the
// tools OpenAI's servers run (file_search, code_interpreter, ...) can only be
// served by passthrough: the decoder records them in
// provider.Request.Untranslatable, and a translated route refuses them with
// a 400 that says so. web_search is the exception: Codex sends it on every
// request, and it is dropped (the model answers without searching).
//
// Reasoning the gateway relays from a non-OpenAI upstream (Anthropic
// thinking, Gemini thoughts) is returned as a reasoning item whose
// encrypted_content is an envelope this package mints ("llmgate.1." +
// base64url JSON of the text and signature), so that a stateless client
// sending it back (Codex with store:false) replays the signed thinking.
// Envelopes minted elsewhere (OpenAI's own) are dropped when translating.
package responses
