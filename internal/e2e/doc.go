// Package e2e holds llmgate's end-to-end tests: the gateway is built the way
// llmgate serve builds it (cli.NewApp from a YAML config), served over HTTP,
// pointed at mock upstreams of every wire format, and driven by the official
// OpenAI, Anthropic and Gemini Go SDKs. The package has no non-test code.
package e2e
