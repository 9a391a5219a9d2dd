package mock

import (
	"encoding/json"
	"net/http"
)

// OpenAI Chat Completions (protocols.md §1.4, §1.6).

type oaChatRequest struct {
	Model         string      `json:"model"`
	Messages      []oaMessage `json:"messages"`
	Stream        bool        `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           int             `json:"max_tokens"`
	MaxCompletionTokens int             `json:"max_completion_tokens"`
	Tools               []oaTool        `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
}

type oaMessage struct {
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	ToolCalls []struct {
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

type oaTool struct {
	Type     string `json:"type"`
	Function struct {
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"function"`
}

func parseChat(body []byte) (convo, bool, error) {
	var req oaChatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return convo{}, false, err
	}
	c := convo{model: req.Model, stream: req.Stream, maxTokens: req.MaxCompletionTokens}
	if c.maxTokens == 0 {
		c.maxTokens = req.MaxTokens
	}
	for i := range req.Messages {
		msg := &req.Messages[i]
		text := contentText(msg.Content)
		c.inputChars += len(text)
		for _, tc := range msg.ToolCalls {
			c.inputChars += len(tc.Function.Name) + len(tc.Function.Arguments)
		}
		switch msg.Role {
		case "user":
			c.lastUser = text
		case "tool", "function":
			c.toolResult = text
		}
		c.lastIsTool = msg.Role == "tool" || msg.Role == "function"
	}
	for _, t := range req.Tools {
		if (t.Type == "function" || t.Type == "") && t.Function.Name != "" {
			c.tools = append(c.tools, toolDef{name: t.Function.Name, schema: t.Function.Parameters})
		}
	}
	c.choice, c.choiceName = parseOpenAIChoice(req.ToolChoice)
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	return c, includeUsage, nil
}

type oaChatResponse struct {
	ID                string     `json:"id"`
	Object            string     `json:"object"`
	Created           int64      `json:"created"`
	Model             string     `json:"model"`
	SystemFingerprint string     `json:"system_fingerprint"`
	ServiceTier       string     `json:"service_tier"`
	Choices           []oaChoice `json:"choices"`
	Usage             oaUsage    `json:"usage"`
}

type oaChoice struct {
	Index        int             `json:"index"`
	Message      oaRespMessage   `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"` // always null
	FinishReason string          `json:"finish_reason"`
}

type oaRespMessage struct {
	Role        string       `json:"role"`
	Content     *string      `json:"content"`
	Refusal     *string      `json:"refusal"`
	ToolCalls   []oaToolCall `json:"tool_calls,omitempty"`
	Annotations []struct{}   `json:"annotations"`
}

type oaToolCall struct {
	ID       string     `json:"id"`
	Type     string     `json:"type"`
	Function oaFunction `json:"function"`
}

type oaFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type oaUsage struct {
	PromptTokens            int                 `json:"prompt_tokens"`
	CompletionTokens        int                 `json:"completion_tokens"`
	TotalTokens             int                 `json:"total_tokens"`
	PromptTokensDetails     oaPromptDetails     `json:"prompt_tokens_details"`
	CompletionTokensDetails oaCompletionDetails `json:"completion_tokens_details"`
}

type oaPromptDetails struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens"`
}

type oaCompletionDetails struct {
	ReasoningTokens          int `json:"reasoning_tokens"`
	AudioTokens              int `json:"audio_tokens"`
	AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
	RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
}

const oaFingerprint = "fp_mock0001"

var emptyAnnotations = []struct{}{}

func oaUsageOf(rep *reply) oaUsage {
	return oaUsage{PromptTokens: rep.inTok, CompletionTokens: rep.outTok, TotalTokens: rep.inTok + rep.outTok}
}

func (rep *reply) oaFinish() string {
	switch {
	case rep.isTool():
		return "tool_calls"
	case rep.truncated:
		return "length"
	}
	return "stop"
}

func (x *exchange) serveChat(body []byte) {
	c, includeUsage, err := parseChat(body)
	if err != nil {
		x.badJSON(err)
		return
	}
	rep := x.m.build(&c)
	x.inTok = rep.inTok
	if x.checkContext(rep.inTok) {
		return
	}
	model := x.modelOr(c.model)
	id := "chatcmpl-" + x.idSuffix()
	created := x.m.clock.Now().Unix()
	if c.stream {
		x.streamChat(&rep, id, model, created, includeUsage)
		return
	}
	msg := oaRespMessage{Role: "assistant", Annotations: emptyAnnotations}
	if rep.isTool() {
		msg.ToolCalls = []oaToolCall{{ID: "call_" + x.idSuffix(), Type: "function",
			Function: oaFunction{Name: rep.toolName, Arguments: rep.toolArgs}}}
	} else {
		msg.Content = &rep.text
	}
	x.writeJSON(http.StatusOK, mustJSON(oaChatResponse{
		ID: id, Object: "chat.completion", Created: created, Model: model,
		SystemFingerprint: oaFingerprint, ServiceTier: "default",
		Choices: []oaChoice{{Message: msg, FinishReason: rep.oaFinish()}},
		Usage:   oaUsageOf(&rep),
	}))
}

type oaChunk struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	SystemFingerprint string          `json:"system_fingerprint"`
	Choices           []oaChunkChoice `json:"choices"`
	Usage             json.RawMessage `json:"usage,omitempty"` // absent, null, or the usage
}

type oaChunkChoice struct {
	Index        int             `json:"index"`
	Delta        oaDelta         `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"` // always null
	FinishReason *string         `json:"finish_reason"`
}

type oaDelta struct {
	Role      string            `json:"role,omitempty"`
	Content   *string           `json:"content,omitempty"`
	ToolCalls []oaToolCallDelta `json:"tool_calls,omitempty"`
}

type oaToolCallDelta struct {
	Index    int             `json:"index"`
	ID       string          `json:"id,omitempty"`
	Type     string          `json:"type,omitempty"`
	Function oaFunctionDelta `json:"function"`
}

type oaFunctionDelta struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

var jsonNull = json.RawMessage("null")

func (x *exchange) streamChat(rep *reply, id, model string, created int64, includeUsage bool) {
	s := x.startStream()
	chunk := oaChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model,
		SystemFingerprint: oaFingerprint, Choices: make([]oaChunkChoice, 1)}
	if includeUsage {
		chunk.Usage = jsonNull
	}
	emit := func(d oaDelta, finish string, content bool) bool {
		chunk.Choices[0] = oaChunkChoice{Delta: d}
		if finish != "" {
			chunk.Choices[0].FinishReason = &finish
		}
		return s.emit("", mustJSON(chunk), content)
	}
	send := func(d oaDelta, finish string) bool { return emit(d, finish, false) }
	ok := true
	if rep.isTool() {
		ok = emit(oaDelta{Role: "assistant", ToolCalls: []oaToolCallDelta{{ID: "call_" + x.idSuffix(), Type: "function",
			Function: oaFunctionDelta{Name: rep.toolName}}}}, "", true)
		for _, frag := range splitArgs(rep.toolArgs) {
			ok = ok && send(oaDelta{ToolCalls: []oaToolCallDelta{{Function: oaFunctionDelta{Arguments: frag}}}}, "")
		}
	} else {
		empty := ""
		ok = send(oaDelta{Role: "assistant", Content: &empty}, "")
		for text := rep.text; ok && text != ""; {
			var tok string
			tok, text = nextToken(text)
			ok = emit(oaDelta{Content: &tok}, "", true)
		}
	}
	ok = ok && send(oaDelta{}, rep.oaFinish())
	if ok && includeUsage {
		chunk.Choices = []oaChunkChoice{}
		chunk.Usage = mustJSON(oaUsageOf(rep))
		ok = s.send("", mustJSON(chunk))
	}
	if ok {
		s.send("", []byte("[DONE]"))
	}
}

// OpenAI Embeddings (§1.8).

type oaEmbeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     int             `json:"dimensions"`
}

type oaEmbeddingResponse struct {
	Object string        `json:"object"`
	Data   []oaEmbedding `json:"data"`
	Model  string        `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

type oaEmbedding struct {
	Object    string          `json:"object"`
	Index     int             `json:"index"`
	Embedding json.RawMessage `json:"embedding"`
}

// maxEmbeddingDims bounds the dimensions a request may ask for.
const maxEmbeddingDims = 8192

func (x *exchange) serveEmbeddings(body []byte) {
	var req oaEmbeddingRequest
	if err := json.Unmarshal(body, &req); err != nil {
		x.badJSON(err)
		return
	}
	inputs, tokens, err := embeddingInputs(req.Input)
	if err != nil {
		x.writeError(http.StatusBadRequest, "'$.input' is invalid: "+err.Error())
		return
	}
	dims := req.Dimensions
	switch {
	case dims < 0 || dims > maxEmbeddingDims:
		x.writeError(http.StatusBadRequest, "dimensions must be between 1 and "+itoa(maxEmbeddingDims)+".")
		return
	case dims == 0 && req.Model == "text-embedding-3-large":
		dims = 3072
	case dims == 0:
		dims = 1536
	}
	x.inTok = tokens
	if x.checkContext(tokens) {
		return
	}
	base64 := req.EncodingFormat == "base64"
	resp := oaEmbeddingResponse{Object: "list", Model: x.modelOr(req.Model), Data: make([]oaEmbedding, len(inputs))}
	resp.Usage.PromptTokens, resp.Usage.TotalTokens = tokens, tokens
	for i, in := range inputs {
		resp.Data[i] = oaEmbedding{Object: "embedding", Index: i, Embedding: embedding(in, resp.Model, dims, base64)}
	}
	x.writeJSON(http.StatusOK, mustJSON(resp))
}

// Responses API (non-streaming and streaming), see responses.go.

// OpenAI models (§1.8).

type oaModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type oaModelList struct {
	Object string    `json:"object"`
	Data   []oaModel `json:"data"`
}

// modelCreated is the creation time the model lists report (2025-01-01).
const modelCreated = 1735689600

func oaModelFor(id string) oaModel {
	return oaModel{ID: id, Object: "model", Created: modelCreated, OwnedBy: "system"}
}
