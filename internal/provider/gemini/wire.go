package gemini

import (
	"bytes"
	"encoding/json"
)

// The Gemini REST shapes, camelCase as go-genai writes them. Fields with an
// S suffix are the snake_case spellings the REST API also accepts (Google's
// curl samples use system_instruction, inline_data, mime_type); they are only
// read, and normalize folds them into the camelCase fields.

type generateContentRequest struct {
	Model             string            `json:"model,omitempty"` // countTokens' generateContentRequest only
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction,omitempty"`
	Tools             []tool            `json:"tools,omitempty"`
	ToolConfig        *toolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *generationConfig `json:"generationConfig,omitempty"`

	SystemInstructionS *content          `json:"system_instruction,omitempty"`
	ToolConfigS        *toolConfig       `json:"tool_config,omitempty"`
	GenerationConfigS  *generationConfig `json:"generation_config,omitempty"`

	// GenerateContentRequest is countTokens' other body shape.
	GenerateContentRequest  *generateContentRequest `json:"generateContentRequest,omitempty"`
	GenerateContentRequestS *generateContentRequest `json:"generate_content_request,omitempty"`
}

func (r *generateContentRequest) normalize() {
	pick(&r.SystemInstruction, &r.SystemInstructionS)
	pick(&r.ToolConfig, &r.ToolConfigS)
	pick(&r.GenerationConfig, &r.GenerationConfigS)
	pick(&r.GenerateContentRequest, &r.GenerateContentRequestS)
	if r.ToolConfig != nil {
		pick(&r.ToolConfig.FunctionCallingConfig, &r.ToolConfig.FunctionCallingConfigS)
		if f := r.ToolConfig.FunctionCallingConfig; f != nil && f.AllowedFunctionNames == nil {
			f.AllowedFunctionNames, f.AllowedFunctionNamesS = f.AllowedFunctionNamesS, nil
		}
	}
	for i := range r.Tools {
		t := &r.Tools[i]
		if t.FunctionDeclarations == nil {
			t.FunctionDeclarations, t.FunctionDeclarationsS = t.FunctionDeclarationsS, nil
		}
		for j := range t.FunctionDeclarations {
			d := &t.FunctionDeclarations[j]
			if d.ParametersJSONSchema == nil {
				d.ParametersJSONSchema, d.ParametersJSONSchemaS = d.ParametersJSONSchemaS, nil
			}
		}
	}
	if g := r.GenerationConfig; g != nil {
		g.normalize()
	}
}

// pick moves *snake into *camel when camel is unset.
func pick[T any](camel, snake **T) {
	if *camel == nil {
		*camel = *snake
	}
	*snake = nil
}

type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts,omitempty"`
}

type part struct {
	Text             string            `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	InlineData       *blob             `json:"inlineData,omitempty"`
	FileData         *fileData         `json:"fileData,omitempty"`
	FunctionCall     *functionCall     `json:"functionCall,omitempty"`
	FunctionResponse *functionResponse `json:"functionResponse,omitempty"`
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`

	ThoughtSignatureS string            `json:"thought_signature,omitempty"`
	InlineDataS       *blob             `json:"inline_data,omitempty"`
	FileDataS         *fileData         `json:"file_data,omitempty"`
	FunctionCallS     *functionCall     `json:"function_call,omitempty"`
	FunctionResponseS *functionResponse `json:"function_response,omitempty"`
}

func (p *part) normalize() {
	if p.ThoughtSignature == "" {
		p.ThoughtSignature = p.ThoughtSignatureS
	}
	p.ThoughtSignatureS = ""
	pick(&p.InlineData, &p.InlineDataS)
	pick(&p.FileData, &p.FileDataS)
	pick(&p.FunctionCall, &p.FunctionCallS)
	pick(&p.FunctionResponse, &p.FunctionResponseS)
	if b := p.InlineData; b != nil && b.MimeType == "" {
		b.MimeType, b.MimeTypeS = b.MimeTypeS, ""
	}
	if f := p.FileData; f != nil {
		if f.MimeType == "" {
			f.MimeType, f.MimeTypeS = f.MimeTypeS, ""
		}
		if f.FileURI == "" {
			f.FileURI, f.FileURIS = f.FileURIS, ""
		}
	}
}

type blob struct {
	MimeType string `json:"mimeType,omitempty"`
	Data     string `json:"data"`

	MimeTypeS string `json:"mime_type,omitempty"`
}

type fileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`

	MimeTypeS string `json:"mime_type,omitempty"`
	FileURIS  string `json:"file_uri,omitempty"`
}

type functionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type functionResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type tool struct {
	FunctionDeclarations []functionDeclaration `json:"functionDeclarations,omitempty"`

	FunctionDeclarationsS []functionDeclaration `json:"function_declarations,omitempty"`
}

type functionDeclaration struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is Gemini's OpenAPI-subset Schema (types in upper case).
	Parameters json.RawMessage `json:"parameters,omitempty"`
	// ParametersJSONSchema is plain JSON Schema.
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`

	ParametersJSONSchemaS json.RawMessage `json:"parameters_json_schema,omitempty"`
}

type toolConfig struct {
	FunctionCallingConfig *functionCallingConfig `json:"functionCallingConfig,omitempty"`

	FunctionCallingConfigS *functionCallingConfig `json:"function_calling_config,omitempty"`
}

type functionCallingConfig struct {
	Mode                 string   `json:"mode,omitempty"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`

	AllowedFunctionNamesS []string `json:"allowed_function_names,omitempty"`
}

type generationConfig struct {
	MaxOutputTokens    *int            `json:"maxOutputTokens,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	TopK               *float64        `json:"topK,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	CandidateCount     int             `json:"candidateCount,omitempty"`
	Seed               *int64          `json:"seed,omitempty"`
	ResponseMimeType   string          `json:"responseMimeType,omitempty"`
	ResponseSchema     json.RawMessage `json:"responseSchema,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	ThinkingConfig     *thinkingConfig `json:"thinkingConfig,omitempty"`

	MaxOutputTokensS    *int            `json:"max_output_tokens,omitempty"`
	TopPS               *float64        `json:"top_p,omitempty"`
	TopKS               *float64        `json:"top_k,omitempty"`
	StopSequencesS      []string        `json:"stop_sequences,omitempty"`
	CandidateCountS     int             `json:"candidate_count,omitempty"`
	ResponseMimeTypeS   string          `json:"response_mime_type,omitempty"`
	ResponseSchemaS     json.RawMessage `json:"response_schema,omitempty"`
	ResponseJSONSchemaS json.RawMessage `json:"response_json_schema,omitempty"`
	ThinkingConfigS     *thinkingConfig `json:"thinking_config,omitempty"`
}

func (g *generationConfig) normalize() {
	pick(&g.MaxOutputTokens, &g.MaxOutputTokensS)
	pick(&g.TopP, &g.TopPS)
	pick(&g.TopK, &g.TopKS)
	pick(&g.ThinkingConfig, &g.ThinkingConfigS)
	if g.StopSequences == nil {
		g.StopSequences, g.StopSequencesS = g.StopSequencesS, nil
	}
	if g.CandidateCount == 0 {
		g.CandidateCount, g.CandidateCountS = g.CandidateCountS, 0
	}
	if g.ResponseMimeType == "" {
		g.ResponseMimeType, g.ResponseMimeTypeS = g.ResponseMimeTypeS, ""
	}
	if g.ResponseSchema == nil {
		g.ResponseSchema, g.ResponseSchemaS = g.ResponseSchemaS, nil
	}
	if g.ResponseJSONSchema == nil {
		g.ResponseJSONSchema, g.ResponseJSONSchemaS = g.ResponseJSONSchemaS, nil
	}
	if t := g.ThinkingConfig; t != nil {
		pick(&t.ThinkingBudget, &t.ThinkingBudgetS)
		if t.ThinkingLevel == "" {
			t.ThinkingLevel, t.ThinkingLevelS = t.ThinkingLevelS, ""
		}
	}
}

type thinkingConfig struct {
	IncludeThoughts bool   `json:"includeThoughts,omitempty"`
	ThinkingBudget  *int   `json:"thinkingBudget,omitempty"`
	ThinkingLevel   string `json:"thinkingLevel,omitempty"`

	ThinkingBudgetS *int   `json:"thinking_budget,omitempty"`
	ThinkingLevelS  string `json:"thinking_level,omitempty"`
}

type generateContentResponse struct {
	Candidates     []candidate     `json:"candidates"`
	PromptFeedback *promptFeedback `json:"promptFeedback,omitempty"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata,omitempty"`
	ModelVersion   string          `json:"modelVersion,omitempty"`
	ResponseID     string          `json:"responseId,omitempty"`
	// Error is set on an error chunk in a stream (or a 200 error body).
	Error json.RawMessage `json:"error,omitempty"`
}

type candidate struct {
	Content      *content `json:"content,omitempty"`
	FinishReason string   `json:"finishReason,omitempty"`
	Index        int      `json:"index"`
}

type promptFeedback struct {
	BlockReason string `json:"blockReason,omitempty"`
}

type usageMetadata struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	TotalTokenCount         int `json:"totalTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount,omitempty"`
	ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount,omitempty"`
}

// marshal encodes v without HTML escaping and without the trailing newline
// json.Encoder adds.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := b.Bytes()
	return out[:len(out)-1], nil
}
