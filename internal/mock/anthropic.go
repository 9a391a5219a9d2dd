package mock

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// Anthropic Messages (protocols.md §4.5-4.9).

type anRequest struct {
	Model     string          `json:"model"`
	MaxTokens int             `json:"max_tokens"`
	System    json.RawMessage `json:"system"`
	Messages  []anMessage     `json:"messages"`
	Stream    bool            `json:"stream"`
	Tools     []struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
}

type anMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anBlock struct {
	Type    string          `json:"type"`
	Text    string          `json:"text"`
	Content json.RawMessage `json:"content"` // tool_result
	Name    string          `json:"name"`    // tool_use
	Input   json.RawMessage `json:"input"`   // tool_use
}

func parseMessages(body []byte) (convo, error) {
	var req anRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return convo{}, err
	}
	c := convo{model: req.Model, stream: req.Stream, maxTokens: req.MaxTokens}
	c.inputChars = len(contentText(req.System))
	for _, msg := range req.Messages {
		text, result, isResult, err := anContent(msg.Content, &c.inputChars)
		if err != nil {
			return convo{}, err
		}
		c.lastIsTool = isResult && msg.Role == "user"
		if c.lastIsTool {
			c.toolResult = result
		}
		if msg.Role == "user" && text != "" {
			c.lastUser = text
		}
	}
	for _, t := range req.Tools {
		if (t.Type == "" || t.Type == "custom") && t.Name != "" {
			c.tools = append(c.tools, toolDef{name: t.Name, schema: t.InputSchema})
		}
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Type {
		case "none":
			c.choice = choiceNone
		case "any":
			c.choice = choiceRequired
		case "tool":
			c.choice, c.choiceName = choiceNamed, tc.Name
		}
	}
	return c, nil
}

// anContent reads a message's content (a string or blocks): its text, the
// text of its tool results, whether it has any, and adds the prompt bytes to
// *chars.
func anContent(raw json.RawMessage, chars *int) (text, result string, isResult bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		text = contentText(raw)
		*chars += len(text)
		return text, "", false, nil
	}
	var blocks []anBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", "", false, err
	}
	for _, b := range blocks {
		switch b.Type {
		case "text":
			if text != "" {
				text += "\n"
			}
			text += b.Text
			*chars += len(b.Text)
		case "tool_result":
			r := contentText(b.Content)
			*chars += len(r)
			if result != "" {
				result += "\n"
			}
			result += r
			isResult = true
		case "tool_use":
			*chars += len(b.Name) + len(compactString(b.Input))
		}
	}
	return text, result, isResult, nil
}

type anMessageResp struct {
	ID           string       `json:"id"`
	Type         string       `json:"type"`
	Role         string       `json:"role"`
	Model        string       `json:"model"`
	Content      []anBlockOut `json:"content"`
	StopReason   *string      `json:"stop_reason"`
	StopSequence *string      `json:"stop_sequence"`
	Usage        anUsage      `json:"usage"`
}

type anBlockOut struct {
	Type  string          `json:"type"`
	Text  *string         `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

type anUsage struct {
	InputTokens              int    `json:"input_tokens"`
	CacheCreationInputTokens int    `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int    `json:"cache_read_input_tokens"`
	OutputTokens             int    `json:"output_tokens"`
	ServiceTier              string `json:"service_tier,omitempty"`
}

func (rep *reply) anStop() string {
	switch {
	case rep.isTool():
		return "tool_use"
	case rep.truncated:
		return "max_tokens"
	}
	return "end_turn"
}

func (x *exchange) serveMessages(body []byte) {
	c, err := parseMessages(body)
	if err != nil {
		x.badJSON(err)
		return
	}
	rep := x.m.build(&c)
	x.inTok = rep.inTok
	if x.checkContext(rep.inTok) {
		return
	}
	msg := anMessageResp{ID: "msg_" + x.idSuffix(), Type: "message", Role: "assistant", Model: x.modelOr(c.model),
		Usage: anUsage{InputTokens: rep.inTok, ServiceTier: "standard"}}
	if c.stream {
		x.streamMessages(&rep, msg)
		return
	}
	if rep.isTool() {
		msg.Content = []anBlockOut{{Type: "tool_use", ID: "toolu_" + x.idSuffix(), Name: rep.toolName,
			Input: json.RawMessage(rep.toolArgs)}}
	} else {
		msg.Content = []anBlockOut{{Type: "text", Text: &rep.text}}
	}
	stop := rep.anStop()
	msg.StopReason = &stop
	msg.Usage.OutputTokens = rep.outTok
	x.writeJSON(http.StatusOK, mustJSON(msg))
}

type anEvent struct {
	Type         string         `json:"type"`
	Message      *anMessageResp `json:"message,omitempty"`
	Index        *int           `json:"index,omitempty"`
	ContentBlock *anBlockOut    `json:"content_block,omitempty"`
	Delta        any            `json:"delta,omitempty"`
	Usage        *anDeltaUsage  `json:"usage,omitempty"`
}

type anBlockDelta struct {
	Type        string  `json:"type"`
	Text        *string `json:"text,omitempty"`
	PartialJSON *string `json:"partial_json,omitempty"`
}

type anMessageDelta struct {
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

type anDeltaUsage struct {
	OutputTokens int `json:"output_tokens"`
}

var emptyBlocks = []anBlockOut{}

func (x *exchange) streamMessages(rep *reply, msg anMessageResp) {
	s := x.startStream()
	send := func(ev anEvent) bool { return s.send(ev.Type, mustJSON(ev)) }
	sendContent := func(ev anEvent) bool { return s.sendContent(ev.Type, mustJSON(ev)) }
	zero := 0
	msg.Content = emptyBlocks
	msg.Usage.OutputTokens = 1
	ok := send(anEvent{Type: "message_start", Message: &msg})
	if rep.isTool() {
		ok = ok && sendContent(anEvent{Type: "content_block_start", Index: &zero, ContentBlock: &anBlockOut{
			Type: "tool_use", ID: "toolu_" + x.idSuffix(), Name: rep.toolName, Input: json.RawMessage("{}")}}) &&
			send(anEvent{Type: "ping"})
		empty := ""
		ok = ok && send(anEvent{Type: "content_block_delta", Index: &zero, Delta: anBlockDelta{Type: "input_json_delta", PartialJSON: &empty}})
		for _, frag := range splitArgs(rep.toolArgs) {
			ok = ok && send(anEvent{Type: "content_block_delta", Index: &zero, Delta: anBlockDelta{Type: "input_json_delta", PartialJSON: &frag}})
		}
	} else {
		empty := ""
		ok = ok && send(anEvent{Type: "content_block_start", Index: &zero, ContentBlock: &anBlockOut{Type: "text", Text: &empty}}) &&
			send(anEvent{Type: "ping"})
		for text := rep.text; ok && text != ""; {
			var tok string
			tok, text = nextToken(text)
			ok = sendContent(anEvent{Type: "content_block_delta", Index: &zero, Delta: anBlockDelta{Type: "text_delta", Text: &tok}})
		}
	}
	ok = ok && send(anEvent{Type: "content_block_stop", Index: &zero}) &&
		send(anEvent{Type: "message_delta", Delta: anMessageDelta{StopReason: rep.anStop()}, Usage: &anDeltaUsage{OutputTokens: rep.outTok}})
	if ok {
		send(anEvent{Type: "message_stop"})
	}
}

func (x *exchange) serveCountTokens(body []byte) {
	c, err := parseMessages(body)
	if err != nil {
		x.badJSON(err)
		return
	}
	x.inTok = estimateTokens(c.inputChars)
	x.writeJSON(http.StatusOK, mustJSON(struct {
		InputTokens int `json:"input_tokens"`
	}{x.inTok}))
}

// Anthropic models (§4.8).

type anModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

type anModelList struct {
	Data    []anModel `json:"data"`
	HasMore bool      `json:"has_more"`
	FirstID *string   `json:"first_id"`
	LastID  *string   `json:"last_id"`
}

func anModelFor(id string) anModel {
	return anModel{Type: "model", ID: id, DisplayName: id, CreatedAt: "2025-01-01T00:00:00Z"}
}
