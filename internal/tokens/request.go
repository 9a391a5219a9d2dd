package tokens

import (
	"github.com/llmgate/llmgate/internal/provider"
)

// Fixed costs EstimateRequest adds, from OpenAI's cookbook approximation
// (protocols.md section 8.1) and its image pricing.
const (
	// MessageOverhead is the role and delimiter tokens around each message
	// (the system prompt and each tool result count as messages, as in
	// OpenAI's format).
	MessageOverhead = 3
	// ReplyPrimer primes the assistant's reply.
	ReplyPrimer = 3
	// LowDetailImage is the flat cost of an image sent with detail "low".
	LowDetailImage = 85
	// ImageEstimate stands in for any other image or document. The real
	// cost depends on the size (OpenAI: 85 + 170 per 512px tile; a 1024px
	// square is 765; Claude: about width*height/750) and a PDF costs per
	// page, which this package does not decode; so it is an estimate.
	ImageEstimate = 765
)

// EstimateRequest estimates the input tokens of req for model: the system
// prompt, every message's text and thinking, tool calls (name and
// arguments), tool results, tool definitions (name, description and JSON
// schema bytes), the response-format schema, MessageOverhead per message,
// ReplyPrimer, and a flat LowDetailImage or ImageEstimate per image or
// document. Text is counted with Count's tokenizer or estimate for model.
//
// The result is for context-window and rate-limit checks, and is not
// exact even for OpenAI models: the vendor renders tools and images in
// formats of its own. Budget a margin of 5-10%. A nil req counts 0.
func EstimateRequest(model string, req *provider.Request) int {
	return estimateRequest(model, req, true)
}

// estimateRequest is EstimateRequest, with the memo of long texts' counts
// turned off for benchmarks of the cold path.
func estimateRequest(model string, req *provider.Request, useMemo bool) int {
	if req == nil {
		return 0
	}
	c := counter{ratio: charsPerToken(model), useMemo: useMemo}
	if enc := Encoding(model); enc != "" {
		c.enc = encoders[enc]
	}

	n := ReplyPrimer
	if len(req.System) > 0 {
		n += MessageOverhead + c.parts(req.System)
	}
	for i := range req.Messages {
		n += MessageOverhead + c.parts(req.Messages[i].Parts)
	}
	for i := range req.Tools {
		t := &req.Tools[i]
		n += c.text(t.Name) + c.text(t.Description) + c.json(t.Parameters)
	}
	if rf := req.ResponseFormat; rf != nil {
		n += c.text(rf.Name) + c.json(rf.Schema)
	}
	return n
}

// counter counts text for one model; enc is nil for estimated models.
type counter struct {
	enc     *encoder
	ratio   float64
	useMemo bool
}

func (c counter) text(s string) int {
	if s == "" {
		return 0
	}
	if c.enc != nil {
		if n, ok := c.enc.count(s, c.useMemo); ok {
			return n
		}
	}
	return estimate(c.ratio, s)
}

func (c counter) json(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	if c.enc != nil {
		if n, ok := c.enc.countBytes(b, c.useMemo); ok {
			return n
		}
	}
	return estimate(c.ratio, b)
}

func (c counter) parts(parts []provider.Part) int {
	n := 0
	for i := range parts {
		p := &parts[i]
		switch p.Type {
		case provider.PartText, provider.PartThinking:
			// Thinking is counted although most upstreams drop it
			// from earlier turns: overcounting is the safe side.
			n += c.text(p.Text)
		case provider.PartImage, provider.PartDocument:
			if p.Media != nil && p.Media.Detail == "low" {
				n += LowDetailImage
			} else {
				n += ImageEstimate
			}
		case provider.PartToolCall:
			if tc := p.ToolCall; tc != nil {
				n += c.text(tc.Name) + c.json(tc.Arguments)
			}
		case provider.PartToolResult:
			if tr := p.ToolResult; tr != nil {
				n += MessageOverhead + c.parts(tr.Content)
			}
		}
	}
	return n
}
