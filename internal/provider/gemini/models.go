package gemini

// ModelInfo describes one model in a GET /v1beta/models listing.
type ModelInfo struct {
	// ID is the model name clients use, without the "models/" prefix.
	ID               string
	DisplayName      string
	Description      string
	InputTokenLimit  int
	OutputTokenLimit int
}

type wireModel struct {
	Name                       string   `json:"name"`
	BaseModelID                string   `json:"baseModelId,omitempty"`
	DisplayName                string   `json:"displayName,omitempty"`
	Description                string   `json:"description,omitempty"`
	InputTokenLimit            int      `json:"inputTokenLimit,omitempty"`
	OutputTokenLimit           int      `json:"outputTokenLimit,omitempty"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
}

var generationMethods = []string{ActionGenerateContent, ActionCountTokens}

func toWireModel(m ModelInfo) wireModel {
	name := m.DisplayName
	if name == "" {
		name = m.ID
	}
	return wireModel{
		Name:                       modelPath(m.ID),
		BaseModelID:                m.ID,
		DisplayName:                name,
		Description:                m.Description,
		InputTokenLimit:            m.InputTokenLimit,
		OutputTokenLimit:           m.OutputTokenLimit,
		SupportedGenerationMethods: generationMethods,
	}
}

// EncodeModelList renders the body of GET /v1beta/models:
// {"models":[{"name":"models/<id>",...}]}. go-genai's Models.List reads it.
func EncodeModelList(models []ModelInfo) []byte {
	w := struct {
		Models []wireModel `json:"models"`
	}{Models: make([]wireModel, len(models))}
	for i := range models {
		w.Models[i] = toWireModel(models[i])
	}
	b, _ := marshal(&w) // plain strings and ints: cannot fail
	return b
}

// EncodeModel renders the body of GET /v1beta/models/{model}.
func EncodeModel(m ModelInfo) []byte {
	b, _ := marshal(toWireModel(m))
	return b
}
