package mock

import "strings"

// modelLists holds the model-list bodies, built once by New.
type modelLists struct {
	openai, anthropic, gemini []byte
}

// The models each list shows; Options.Model is added to every list.
var (
	openaiModels    = []string{"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "text-embedding-3-small", "text-embedding-3-large"}
	anthropicModels = []string{"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"}
	geminiModels    = []string{"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite"}
)

func withModel(list []string, extra string) []string {
	out := append([]string(nil), list...)
	if extra != "" && !strings.Contains(","+strings.Join(list, ",")+",", ","+extra+",") {
		out = append(out, extra)
	}
	return out
}

func buildModelLists(opts Options) modelLists {
	var l modelLists

	oa := oaModelList{Object: "list"}
	for _, id := range withModel(openaiModels, opts.Model) {
		oa.Data = append(oa.Data, oaModelFor(id))
	}
	l.openai = mustJSON(oa)

	var an anModelList
	for _, id := range withModel(anthropicModels, opts.Model) {
		an.Data = append(an.Data, anModelFor(id))
	}
	an.FirstID, an.LastID = &an.Data[0].ID, &an.Data[len(an.Data)-1].ID
	l.anthropic = mustJSON(an)

	m := &Mock{opts: opts}
	var gm gmModelList
	for _, id := range withModel(geminiModels, opts.Model) {
		gm.Models = append(gm.Models, m.gmModelFor(id))
	}
	l.gemini = mustJSON(gm)
	return l
}

type gmModel struct {
	Name                       string   `json:"name"`
	Version                    string   `json:"version"`
	DisplayName                string   `json:"displayName"`
	Description                string   `json:"description"`
	InputTokenLimit            int      `json:"inputTokenLimit"`
	OutputTokenLimit           int      `json:"outputTokenLimit"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
}

type gmModelList struct {
	Models []gmModel `json:"models"`
}

var gmMethods = []string{"generateContent", "streamGenerateContent", "countTokens"}

func (m *Mock) gmModelFor(id string) gmModel {
	limit := gmDefaultWindow
	if m.opts.ContextWindow > 0 {
		limit = m.opts.ContextWindow
	}
	return gmModel{Name: "models/" + id, Version: "001", DisplayName: id, Description: "llmgate mock model",
		InputTokenLimit: limit, OutputTokenLimit: 65536, SupportedGenerationMethods: gmMethods}
}
