// Package anthropic is the Anthropic Messages wire format (POST /v1/messages)
// for llmgate: what Anthropic SDK clients and Claude Code send and receive
// (Client), how to talk to the Anthropic API or an Anthropic-compatible
// upstream (Upstream), and how to forward a body unchanged when both sides
// speak Anthropic (Passthrough).
//
// The package only translates. It never sends HTTP itself, retries, or keeps
// metrics; the gateway pipeline does. Every exported type is stateless (or,
// for stream encoders and decoders, owned by one goroutine) and documented
// where that matters.
//
// Deliberate choices, where the formats do not map one to one:
//
//   - Request decoding skips Anthropic server tools (web_search_*, bash_*,
//     text_editor_*, ... : any tool whose "type" is set and is not "custom")
//     and the history blocks only they produce (server_tool_use,
//     *_tool_result). They have no portable equivalent; an Anthropic client
//     talking to an Anthropic upstream goes through Passthrough and keeps them.
//   - {"role":"system"} messages inside messages[] (string or text blocks;
//     Claude Code sends them with the mid-conversation-system beta for model
//     names it does not know, such as gpt-4o) decode to provider.RoleSystem
//     messages at their position. The upstream encoder folds them into
//     "system", in order: in place they need that beta header, which
//     Anthropic-compatible servers do not know.
//   - Members with no canonical form (context_management, container,
//     mcp_servers, service_tier, speed, diagnostics, cache_control, tool
//     hints such as input_examples, defer_loading, strict and
//     eager_input_streaming, skipped blocks and server tools) are named in
//     Request.Dropped, which the gateway logs at debug level when it
//     translates; none of them is an error. output_config.format (and the
//     beta's output_format) json_schema becomes Request.ResponseFormat.
//   - redacted_thinking blocks are dropped on decode (they can only be replayed
//     to the same provider, which Passthrough does).
//   - thinking {"type":"enabled"|"adaptive"} becomes Request.ReasoningEffort:
//     output_config.effort when it is low/medium/high ("max" is "high"), else
//     from budget_tokens (< 4096 low, < 16384 medium, else high), else
//     "medium". thinking {"type":"disabled"} leaves it empty.
//   - The upstream encoder does not turn ReasoningEffort into "thinking":
//     clients of other formats cannot replay the signed thinking blocks that
//     Anthropic requires in tool loops once thinking is on. Thinking parts that
//     carry a Signature are sent back as thinking blocks; unsigned ones are
//     dropped.
//   - ResponseFormat has no portable Anthropic field, so the upstream encoder
//     adds a system instruction (for json_schema, one that includes the
//     schema). The model follows it well but it is not enforced.
//   - Whitespace-only stop sequences are dropped (Anthropic rejects them).
//   - Responses include thinking blocks only when they carry a signature; the
//     stream encoder emits thinking blocks only when the client enabled
//     thinking (a thinking block that the client did not ask for would shift
//     content[0] away from the text).
package anthropic
