package mock

import (
	"encoding/json"
	"net/http"
)

// Gemini Developer API (protocols.md §5.3-5.6).

type gmRequest struct {
	Contents           []gmContent `json:"contents"`
	SystemInstruction  *gmContent  `json:"systemInstruction"`
	SystemInstruction2 *gmContent  `json:"system_instruction"`
	Tools              []struct {
		FunctionDeclarations []struct {
			Name                 string          `json:"name"`
			Parameters           json.RawMessage `json:"parameters"`
			ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
		} `json:"functionDeclarations"`
	} `json:"tools"`
	ToolConfig *struct {
		FunctionCallingConfig *struct {
			Mode                 string   `json:"mode"`
			AllowedFunctionNames []string `json:"allowedFunctionNames"`
		} `json:"functionCallingConfig"`
	} `json:"toolConfig"`
	GenerationConfig *struct {
		MaxOutputTokens int `json:"maxOutputTokens"`
	} `json:"generationConfig"`
	// GenerateContentRequest is countTokens' alternative to contents.
	GenerateContentRequest *gmRequest `json:"generateContentRequest"`
}

type gmContent struct {
	Role  string   `json:"role"`
	Parts []gmPart `json:"parts"`
}

type gmPart struct {
	Text         string `json:"text"`
	FunctionCall *struct {
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall"`
	FunctionResponse *struct {
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse"`
}

// read returns the text parts of c and adds the prompt bytes of all
// its parts to *chars; result holds function responses' text.
func (c *gmContent) read(chars *int) (text, result string, isResult bool) {
	for _, p := range c.Parts {
		switch {
		case p.FunctionResponse != nil:
			r := compactString(p.FunctionResponse.Response)
			*chars += len(r)
			if result != "" {
				result += "\n"
			}
			result += r
			isResult = true
		case p.FunctionCall != nil:
			*chars += len(p.FunctionCall.Name) + len(compactString(p.FunctionCall.Args))
		case p.Text != "":
			if text != "" {
				text += "\n"
			}
			text += p.Text
			*chars += len(p.Text)
		}
	}
	return text, result, isResult
}

func parseGenerate(body []byte) (convo, error) {
	var req gmRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return convo{}, err
	}
	if req.GenerateContentRequest != nil && len(req.Contents) == 0 {
		req = *req.GenerateContentRequest
	}
	var c convo
	for _, sys := range []*gmContent{req.SystemInstruction, req.SystemInstruction2} {
		if sys != nil {
			sys.read(&c.inputChars)
		}
	}
	for i := range req.Contents {
		content := &req.Contents[i]
		text, result, isResult := content.read(&c.inputChars)
		c.lastIsTool = isResult && content.Role != "model"
		if c.lastIsTool {
			c.toolResult = result
		}
		if content.Role != "model" && text != "" {
			c.lastUser = text
		}
	}
	for _, t := range req.Tools {
		for _, fd := range t.FunctionDeclarations {
			if fd.Name == "" {
				continue
			}
			schema := fd.ParametersJSONSchema
			if len(schema) == 0 {
				schema = fd.Parameters
			}
			c.tools = append(c.tools, toolDef{name: fd.Name, schema: schema})
		}
	}
	if tc := req.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		switch fc := tc.FunctionCallingConfig; fc.Mode {
		case "NONE":
			c.choice = choiceNone
		case "ANY":
			c.choice = choiceRequired
			if len(fc.AllowedFunctionNames) > 0 {
				c.choice, c.choiceName = choiceNamed, fc.AllowedFunctionNames[0]
			}
		}
	}
	if req.GenerationConfig != nil {
		c.maxTokens = req.GenerationConfig.MaxOutputTokens
	}
	return c, nil
}

type gmResponse struct {
	Candidates    []gmCandidate `json:"candidates"`
	UsageMetadata *gmUsage      `json:"usageMetadata,omitempty"`
	ModelVersion  string        `json:"modelVersion"`
	ResponseID    string        `json:"responseId"`
}

type gmCandidate struct {
	Content      gmContentOut `json:"content"`
	FinishReason string       `json:"finishReason,omitempty"`
	Index        int          `json:"index"`
}

type gmContentOut struct {
	Parts []gmPartOut `json:"parts,omitempty"`
	Role  string      `json:"role"`
}

type gmPartOut struct {
	Text         string          `json:"text,omitempty"`
	FunctionCall *gmFunctionCall `json:"functionCall,omitempty"`
}

type gmFunctionCall struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

type gmUsage struct {
	PromptTokenCount     int               `json:"promptTokenCount"`
	CandidatesTokenCount int               `json:"candidatesTokenCount"`
	TotalTokenCount      int               `json:"totalTokenCount"`
	PromptTokensDetails  []gmModalityCount `json:"promptTokensDetails"`
}

type gmModalityCount struct {
	Modality   string `json:"modality"`
	TokenCount int    `json:"tokenCount"`
}

func gmUsageOf(in, out int) *gmUsage {
	return &gmUsage{PromptTokenCount: in, CandidatesTokenCount: out, TotalTokenCount: in + out,
		PromptTokensDetails: []gmModalityCount{{Modality: "TEXT", TokenCount: in}}}
}

func (rep *reply) gmFinish() string {
	if rep.truncated {
		return "MAX_TOKENS"
	}
	return "STOP" // function calls end with STOP too
}

func (x *exchange) serveGenerate(body []byte) {
	c, err := parseGenerate(body)
	if err != nil {
		x.badJSON(err)
		return
	}
	rep := x.m.build(&c)
	x.inTok = rep.inTok
	if x.checkContext(rep.inTok) {
		return
	}
	resp := gmResponse{ModelVersion: x.modelOr(x.ep.model), ResponseID: x.idSuffix(), Candidates: make([]gmCandidate, 1)}
	if x.ep.kind == epStreamGenerate {
		x.streamGenerate(&rep, resp)
		return
	}
	cand := &resp.Candidates[0]
	cand.Content.Role = "model"
	if rep.isTool() {
		cand.Content.Parts = []gmPartOut{{FunctionCall: &gmFunctionCall{Name: rep.toolName, Args: json.RawMessage(rep.toolArgs)}}}
	} else {
		cand.Content.Parts = []gmPartOut{{Text: rep.text}}
	}
	cand.FinishReason = rep.gmFinish()
	resp.UsageMetadata = gmUsageOf(rep.inTok, rep.outTok)
	x.writeJSON(http.StatusOK, mustJSON(resp))
}

func (x *exchange) streamGenerate(rep *reply, resp gmResponse) {
	s := x.startStream()
	cand := &resp.Candidates[0]
	cand.Content.Role = "model"
	if rep.isTool() {
		cand.Content.Parts = []gmPartOut{{FunctionCall: &gmFunctionCall{Name: rep.toolName, Args: json.RawMessage(rep.toolArgs)}}}
		cand.FinishReason = rep.gmFinish()
		resp.UsageMetadata = gmUsageOf(rep.inTok, rep.outTok)
		s.sendContent("", mustJSON(resp))
		s.end()
		return
	}
	ok := true
	part := make([]gmPartOut, 1)
	n := 0
	for text := rep.text; ok && text != ""; {
		var tok string
		tok, text = nextToken(text)
		n++
		part[0].Text = tok
		cand.Content.Parts = part
		resp.UsageMetadata = gmUsageOf(rep.inTok, n)
		ok = s.sendContent("", mustJSON(resp))
	}
	if ok {
		cand.Content.Parts = nil
		cand.FinishReason = rep.gmFinish()
		resp.UsageMetadata = gmUsageOf(rep.inTok, rep.outTok)
		s.send("", mustJSON(resp))
	}
	s.end()
}

func (x *exchange) serveGMCountTokens(body []byte) {
	c, err := parseGenerate(body)
	if err != nil {
		x.badJSON(err)
		return
	}
	x.inTok = estimateTokens(c.inputChars)
	x.writeJSON(http.StatusOK, mustJSON(struct {
		TotalTokens         int               `json:"totalTokens"`
		PromptTokensDetails []gmModalityCount `json:"promptTokensDetails"`
	}{x.inTok, []gmModalityCount{{Modality: "TEXT", TokenCount: x.inTok}}}))
}
