package cli

import (
	"github.com/llmgate/llmgate/internal/catalog"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/provider/anthropic"
	"github.com/llmgate/llmgate/internal/provider/gemini"
	"github.com/llmgate/llmgate/internal/provider/openai"
	"github.com/llmgate/llmgate/internal/provider/responses"
)

// wireFormat is one wire format's codecs: the one place a format is
// registered. What the pipeline needs to know about it besides codecs is
// its provider.Spec.
type wireFormat struct {
	// client decodes what clients of the format send; nil when clients
	// cannot speak it.
	client provider.ClientCodec
	// upstream sets u's codecs (and the sibling formats it also speaks
	// natively) for a provider of this type; nil when it is no provider
	// type (the Responses API is served by openai-type providers).
	upstream func(u *gateway.Upstream, p *config.Provider)
}

var wireFormats = map[provider.Format]wireFormat{
	provider.FormatOpenAI:    {client: openai.Client{}, upstream: openaiUpstream},
	provider.FormatAnthropic: {client: anthropic.Client{}, upstream: anthropicUpstream},
	provider.FormatGemini:    {client: gemini.Client{}, upstream: geminiUpstream},
	provider.FormatResponses: {client: responses.Client{}},
}

// clientCodecs are the wire formats clients speak.
func clientCodecs() map[provider.Format]provider.ClientCodec {
	m := make(map[provider.Format]provider.ClientCodec, len(wireFormats))
	for f, wf := range wireFormats {
		if wf.client != nil {
			m[f] = wf.client
		}
	}
	return m
}

// openaiUpstream: chat completions always; with api: responses the
// provider also speaks the Responses API, to which Responses clients are
// passed through.
func openaiUpstream(u *gateway.Upstream, p *config.Provider) {
	chat := openai.NewUpstream(openai.Options{
		MaxTokensField: p.MaxTokensField,
		StreamUsage:    p.StreamUsage == nil || *p.StreamUsage,
		DeveloperRole:  u.Vendor == "openai",
		Model:          catalogModel,
	})
	u.Codec, u.Pass = chat, openai.Passthrough{}
	api := p.API
	if api == "" {
		api = config.DefaultAPI(p.BaseURL)
	}
	if api == config.APIResponses {
		u.Also = map[provider.Format]*gateway.Upstream{
			provider.FormatResponses: u.WithFormat(provider.FormatResponses, &responses.Upstream{Chat: chat}, responses.Passthrough{}),
		}
	}
}

func anthropicUpstream(u *gateway.Upstream, _ *config.Provider) {
	u.Codec, u.Pass = anthropic.NewUpstream(anthropic.Options{}), anthropic.Passthrough{}
}

func geminiUpstream(u *gateway.Upstream, _ *config.Provider) {
	u.Codec, u.Pass = gemini.NewUpstream(gemini.Options{}), gemini.Passthrough{}
}

// catalogModel describes an OpenAI-format upstream model from the catalog.
func catalogModel(model string) (openai.ModelInfo, bool) {
	m, ok := catalog.Lookup(model)
	if !ok || m.Type != provider.FormatOpenAI {
		return openai.ModelInfo{}, false
	}
	return openai.ModelInfo{MaxOutput: m.MaxOutput, Reasoning: m.Reasoning}, true
}
