package mock

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/llmgate/llmgate/internal/jsonscan"
)

// OpenAI Responses API: enough of it for the SDK's Responses.New and
// Responses.NewStreaming, with text and function-call output.

type rsRequest struct {
	Model           string          `json:"model"`
	Input           json.RawMessage `json:"input"`
	Instructions    json.RawMessage `json:"instructions"`
	Stream          bool            `json:"stream"`
	MaxOutputTokens int             `json:"max_output_tokens"`
	Tools           []struct {
		Type       string          `json:"type"`
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
}

type rsInputItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	Output    json.RawMessage `json:"output"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
}

func parseResponses(body []byte) (convo, rsRequest, error) {
	var req rsRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return convo{}, req, err
	}
	c := convo{model: req.Model, stream: req.Stream, maxTokens: req.MaxOutputTokens}
	c.inputChars = len(contentText(req.Instructions))
	in := bytes.TrimSpace(req.Input)
	if len(in) > 0 && in[0] == '"' {
		c.lastUser = contentText(in)
		c.inputChars += len(c.lastUser)
	} else if len(in) > 0 && in[0] == '[' {
		var items []rsInputItem
		if err := json.Unmarshal(in, &items); err != nil {
			return convo{}, req, err
		}
		for _, it := range items {
			switch it.Type {
			case "function_call_output":
				c.toolResult = contentText(it.Output)
				c.inputChars += len(c.toolResult)
				c.lastIsTool = true
				continue
			case "function_call":
				c.inputChars += len(it.Name) + len(it.Arguments)
			case "", "message":
				text := contentText(it.Content)
				c.inputChars += len(text)
				if it.Role == "user" {
					c.lastUser = text
				}
			}
			c.lastIsTool = false
		}
	}
	for _, t := range req.Tools {
		if t.Type == "function" && t.Name != "" {
			c.tools = append(c.tools, toolDef{name: t.Name, schema: t.Parameters})
		}
	}
	c.choice, c.choiceName = parseOpenAIChoice(req.ToolChoice)
	return c, req, nil
}

type rsResponse struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	CreatedAt          int64             `json:"created_at"`
	Status             string            `json:"status"`
	Error              json.RawMessage   `json:"error"` // null
	IncompleteDetails  *rsIncomplete     `json:"incomplete_details"`
	Instructions       json.RawMessage   `json:"instructions"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	Model              string            `json:"model"`
	Output             []rsItem          `json:"output"`
	ParallelToolCalls  bool              `json:"parallel_tool_calls"`
	PreviousResponseID json.RawMessage   `json:"previous_response_id"` // null
	Reasoning          rsReasoning       `json:"reasoning"`
	Store              bool              `json:"store"`
	Temperature        float64           `json:"temperature"`
	Text               rsTextConfig      `json:"text"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	Tools              []json.RawMessage `json:"tools"`
	TopP               float64           `json:"top_p"`
	Truncation         string            `json:"truncation"`
	Usage              *rsUsage          `json:"usage"`
	User               json.RawMessage   `json:"user"` // null
	Metadata           map[string]string `json:"metadata"`
}

type rsIncomplete struct {
	Reason string `json:"reason"`
}

type rsReasoning struct {
	Effort  json.RawMessage `json:"effort"`  // null
	Summary json.RawMessage `json:"summary"` // null
}

type rsTextConfig struct {
	Format struct {
		Type string `json:"type"`
	} `json:"format"`
}

type rsItem struct {
	Type      string       `json:"type"`
	ID        string       `json:"id"`
	Status    string       `json:"status"`
	Role      string       `json:"role,omitempty"`
	Content   *[]rsContent `json:"content,omitempty"`
	CallID    string       `json:"call_id,omitempty"`
	Name      string       `json:"name,omitempty"`
	Arguments *string      `json:"arguments,omitempty"`
}

type rsContent struct {
	Type        string     `json:"type"`
	Text        string     `json:"text"`
	Annotations []struct{} `json:"annotations"`
	Logprobs    []struct{} `json:"logprobs"`
}

type rsUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

type rsEvent struct {
	Type           string      `json:"type"`
	SequenceNumber int         `json:"sequence_number"`
	Response       *rsResponse `json:"response,omitempty"`
	OutputIndex    *int        `json:"output_index,omitempty"`
	ItemID         string      `json:"item_id,omitempty"`
	ContentIndex   *int        `json:"content_index,omitempty"`
	Item           *rsItem     `json:"item,omitempty"`
	Part           *rsContent  `json:"part,omitempty"`
	Delta          *string     `json:"delta,omitempty"`
	Text           *string     `json:"text,omitempty"`
	Arguments      *string     `json:"arguments,omitempty"`
	Logprobs       *[]struct{} `json:"logprobs,omitempty"`
}

func (x *exchange) serveResponses(body []byte) {
	c, req, err := parseResponses(body)
	if err != nil {
		x.badJSON(err)
		return
	}
	rep := x.m.build(&c)
	x.inTok = rep.inTok
	if x.checkContext(rep.inTok) {
		return
	}
	resp := rsResponse{
		ID: "resp_" + x.idSuffix(), Object: "response", CreatedAt: x.m.clock.Now().Unix(),
		Status: "completed", Instructions: jsonNull, Model: x.modelOr(c.model),
		ParallelToolCalls: true, Store: true, Temperature: 1, TopP: 1, Truncation: "disabled",
		ToolChoice: json.RawMessage(`"auto"`), Tools: []json.RawMessage{}, Metadata: map[string]string{},
	}
	resp.Text.Format.Type = "text"
	if len(bytes.TrimSpace(req.Instructions)) > 0 {
		resp.Instructions = req.Instructions
	}
	if len(bytes.TrimSpace(req.ToolChoice)) > 0 {
		resp.ToolChoice = req.ToolChoice
	}
	if req.MaxOutputTokens > 0 {
		resp.MaxOutputTokens = &req.MaxOutputTokens
	}
	if raw, ok, _ := jsonscan.Get(body, "tools"); ok {
		_ = json.Unmarshal(raw, &resp.Tools) // echoed verbatim, as the API does
	}
	item := x.rsOutputItem(&rep)
	if c.stream {
		x.streamResponses(&rep, resp, item)
		return
	}
	resp.Output = []rsItem{item}
	finishResponse(&resp, &rep)
	x.writeJSON(http.StatusOK, mustJSON(resp))
}

// rsOutputItem is the completed output item of rep.
func (x *exchange) rsOutputItem(rep *reply) rsItem {
	if rep.isTool() {
		return rsItem{Type: "function_call", ID: "fc_" + x.idSuffix(), Status: "completed",
			CallID: "call_" + x.idSuffix(), Name: rep.toolName, Arguments: &rep.toolArgs}
	}
	content := []rsContent{{Type: "output_text", Text: rep.text, Annotations: []struct{}{}, Logprobs: []struct{}{}}}
	return rsItem{Type: "message", ID: "msg_" + x.idSuffix(), Status: "completed", Role: "assistant", Content: &content}
}

func finishResponse(resp *rsResponse, rep *reply) {
	resp.Status = "completed"
	if rep.truncated {
		resp.Status = "incomplete"
		resp.IncompleteDetails = &rsIncomplete{Reason: "max_output_tokens"}
	}
	u := rsUsage{InputTokens: rep.inTok, OutputTokens: rep.outTok, TotalTokens: rep.inTok + rep.outTok}
	resp.Usage = &u
}

func (x *exchange) streamResponses(rep *reply, resp rsResponse, done rsItem) {
	s := x.startStream()
	zero := 0
	emit := func(ev rsEvent, content bool) bool {
		ev.SequenceNumber = s.n
		return s.emit(ev.Type, mustJSON(ev), content)
	}
	send := func(ev rsEvent) bool { return emit(ev, false) }
	resp.Status = "in_progress"
	resp.Output = []rsItem{}
	ok := send(rsEvent{Type: "response.created", Response: &resp}) &&
		send(rsEvent{Type: "response.in_progress", Response: &resp})
	added := done
	added.Status = "in_progress"
	if rep.isTool() {
		empty := ""
		added.Arguments = &empty
		ok = ok && emit(rsEvent{Type: "response.output_item.added", OutputIndex: &zero, Item: &added}, true)
		for _, frag := range splitArgs(rep.toolArgs) {
			ok = ok && send(rsEvent{Type: "response.function_call_arguments.delta", ItemID: done.ID, OutputIndex: &zero, Delta: &frag})
		}
		ok = ok && send(rsEvent{Type: "response.function_call_arguments.done", ItemID: done.ID, OutputIndex: &zero, Arguments: &rep.toolArgs})
	} else {
		noParts := []rsContent{}
		added.Content = &noParts
		part := rsContent{Type: "output_text", Annotations: []struct{}{}, Logprobs: []struct{}{}}
		noLogprobs := []struct{}{}
		ok = ok && send(rsEvent{Type: "response.output_item.added", OutputIndex: &zero, Item: &added}) &&
			send(rsEvent{Type: "response.content_part.added", ItemID: done.ID, OutputIndex: &zero, ContentIndex: &zero, Part: &part})
		for text := rep.text; ok && text != ""; {
			var tok string
			tok, text = nextToken(text)
			ok = emit(rsEvent{Type: "response.output_text.delta", ItemID: done.ID, OutputIndex: &zero, ContentIndex: &zero,
				Delta: &tok, Logprobs: &noLogprobs}, true)
		}
		part.Text = rep.text
		ok = ok && send(rsEvent{Type: "response.output_text.done", ItemID: done.ID, OutputIndex: &zero, ContentIndex: &zero,
			Text: &rep.text, Logprobs: &noLogprobs}) &&
			send(rsEvent{Type: "response.content_part.done", ItemID: done.ID, OutputIndex: &zero, ContentIndex: &zero, Part: &part})
	}
	ok = ok && send(rsEvent{Type: "response.output_item.done", OutputIndex: &zero, Item: &done})
	resp.Output = []rsItem{done}
	finishResponse(&resp, rep)
	typ := "response.completed"
	if rep.truncated {
		typ = "response.incomplete"
	}
	if ok {
		send(rsEvent{Type: typ, Response: &resp})
	}
}
