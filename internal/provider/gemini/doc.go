// Package gemini is the Google Gemini Developer API wire format
// (generativelanguage.googleapis.com: generateContent,
// streamGenerateContent?alt=sse, countTokens), both as clients speak it
// (Client, what the google.golang.org/genai SDK sends and expects back) and as
// upstreams speak it (Upstream), plus the Passthrough hooks the gateway uses
// to forward a Gemini body to a Gemini upstream unchanged.
//
// In this format the model and the stream flag live in the URL
// (/v1beta/models/{model}:streamGenerateContent), never in the body:
// ParseModelAction splits that path segment, and Client.DecodeRequest leaves
// Request.Model and Request.Stream for the server to fill.
//
// Every type here is stateless apart from the stream encoder and decoder,
// which belong to one stream each.
package gemini
