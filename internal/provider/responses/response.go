package responses

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/llmgate/llmgate/internal/provider"
)

// outItem is one item of a response's output. Pointer and slice fields are
// set for the item types that have them, so that required empty values
// ("content":[], "summary":[]) are sent rather than left out.
type outItem struct {
	Type             string         `json:"type"`
	ID               string         `json:"id"`
	Status           string         `json:"status,omitempty"`
	Role             string         `json:"role,omitempty"`
	Content          *[]outText     `json:"content,omitempty"`
	CallID           string         `json:"call_id,omitempty"`
	Name             string         `json:"name,omitempty"`
	Namespace        string         `json:"namespace,omitempty"`
	Arguments        *string        `json:"arguments,omitempty"`
	Input            *string        `json:"input,omitempty"`
	Summary          *[]summaryText `json:"summary,omitempty"`
	EncryptedContent *string        `json:"encrypted_content,omitempty"`
}

type outText struct {
	Type        string `json:"type"` // output_text
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
}

type summaryText struct {
	Type string `json:"type"` // summary_text
	Text string `json:"text"`
}

type outUsage struct {
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

func usageOf(u provider.Usage) *outUsage {
	o := &outUsage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, TotalTokens: u.Total()}
	o.InputTokensDetails.CachedTokens = u.CachedTokens
	o.OutputTokensDetails.ReasoningTokens = u.ReasoningTokens
	return o
}

type respError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incompleteDetails struct {
	Reason string `json:"reason"`
}

// snapshot is a Response object: the non-streamed answer, and the
// "response" of response.created / completed / failed / incomplete. Every
// field the SDK types mark required is present, null when unknown.
type snapshot struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"`
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"`
	Error              *respError         `json:"error"`
	IncompleteDetails  *incompleteDetails `json:"incomplete_details"`
	Instructions       *string            `json:"instructions"`
	MaxOutputTokens    *int               `json:"max_output_tokens"`
	Model              string             `json:"model"`
	Output             []outItem          `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Reasoning          struct {
		Effort  *string `json:"effort"`
		Summary *string `json:"summary"`
	} `json:"reasoning"`
	Store       bool    `json:"store"`
	Temperature float64 `json:"temperature"`
	Text        struct {
		Format struct {
			Type string `json:"type"`
		} `json:"format"`
	} `json:"text"`
	ToolChoice any               `json:"tool_choice"`
	Tools      []any             `json:"tools"`
	TopP       float64           `json:"top_p"`
	Truncation string            `json:"truncation"`
	Usage      *outUsage         `json:"usage"`
	User       *string           `json:"user"`
	Metadata   map[string]string `json:"metadata"`
}

// newSnapshot is the response skeleton for req (nil: defaults), echoing
// the settings the canonical request kept.
func newSnapshot(id, model string, created int64, req *provider.Request) *snapshot {
	s := &snapshot{ID: id, Object: "response", CreatedAt: created, Status: "in_progress", Model: model,
		Output: []outItem{}, ParallelToolCalls: true, Temperature: 1, TopP: 1, ToolChoice: "auto",
		Tools: []any{}, Truncation: "disabled", Metadata: map[string]string{}}
	s.Text.Format.Type = "text"
	if req == nil {
		return s
	}
	if req.Model != "" {
		s.Model = req.Model // the model asked for; x-llmgate-model names the one that answered
	}
	s.MaxOutputTokens = req.MaxTokens
	if req.ParallelToolCalls != nil {
		s.ParallelToolCalls = *req.ParallelToolCalls
	}
	if req.Temperature != nil {
		s.Temperature = *req.Temperature
	}
	if req.TopP != nil {
		s.TopP = *req.TopP
	}
	if req.ReasoningEffort != "" {
		e := req.ReasoningEffort
		s.Reasoning.Effort = &e
	}
	if rf := req.ResponseFormat; rf != nil {
		s.Text.Format.Type = rf.Type
	}
	if tc := req.ToolChoice; tc != nil {
		if tc.Mode == provider.ToolChoiceTool {
			s.ToolChoice = map[string]string{"type": "function", "name": tc.Name}
		} else {
			s.ToolChoice = string(tc.Mode)
		}
	}
	for _, t := range req.Tools {
		s.Tools = append(s.Tools, map[string]any{"type": "function", "name": t.Name, "description": t.Description,
			"parameters": t.Parameters, "strict": false})
	}
	if req.User != "" {
		u := req.User
		s.User = &u
	}
	return s
}

// finish sets the terminal status, incomplete_details and usage.
func (s *snapshot) finish(stop provider.StopReason, u provider.Usage) {
	s.Status = "completed"
	switch stop {
	case provider.StopMaxTokens:
		s.Status, s.IncompleteDetails = "incomplete", &incompleteDetails{Reason: "max_output_tokens"}
	case provider.StopContentFilter:
		s.Status, s.IncompleteDetails = "incomplete", &incompleteDetails{Reason: "content_filter"}
	case provider.StopPauseTurn:
		s.Status, s.IncompleteDetails = "incomplete", &incompleteDetails{Reason: "max_output_tokens"}
	}
	s.Usage = usageOf(u)
}

// responseID gives an upstream id the resp_ prefix, or makes one up.
func responseID(id string) string {
	switch {
	case id == "":
		return newID("resp_")
	case strings.HasPrefix(id, "resp_"):
		return id
	}
	return "resp_" + id
}

// EncodeResponse renders resp as a Response object: a reasoning item per
// thinking run, a message item per run of text, and a function_call item
// per tool call, in the order the upstream produced them. Without the
// request at hand, settings are echoed as their defaults and the model is
// the one the upstream named.
func (c Client) EncodeResponse(resp *provider.Response) ([]byte, error) {
	return c.EncodeResponseFor(resp, nil)
}

var _ provider.RequestEchoer = Client{}

// EncodeResponseFor is EncodeResponse echoing req's settings, naming calls
// into namespaced tools with their namespace and answering calls of custom
// tools as custom_tool_call items.
func (c Client) EncodeResponseFor(resp *provider.Response, req *provider.Request) ([]byte, error) {
	s := newSnapshot(responseID(resp.ID), resp.Model, c.now().Unix(), req)
	tools := map[string]provider.Tool{}
	if req != nil {
		for _, t := range req.Tools {
			tools[t.Name] = t
		}
	}
	var text, thinking strings.Builder
	var sig string
	flushText := func() {
		if text.Len() == 0 {
			return
		}
		s.Output = append(s.Output, messageItem(newID("msg_"), "completed", text.String()))
		text.Reset()
	}
	flushThinking := func() {
		if thinking.Len() == 0 && sig == "" {
			return
		}
		s.Output = append(s.Output, reasoningItem(newID("rs_"), thinking.String(), sig))
		thinking.Reset()
		sig = ""
	}
	for i := range resp.Content {
		p := &resp.Content[i]
		switch p.Type {
		case provider.PartText:
			flushThinking()
			text.WriteString(p.Text)
		case provider.PartThinking:
			flushText()
			thinking.WriteString(p.Text)
			if p.Signature != "" {
				sig = p.Signature
			}
		case provider.PartToolCall:
			flushText()
			flushThinking()
			if tc := p.ToolCall; tc != nil {
				t := tools[tc.Name]
				it := callItem(tc.ID, tc.Name, t.Namespace, argumentsString(tc.Arguments), "completed",
					bytes.Equal(t.Parameters, customSchema))
				if it.Type == "function_call" && p.Signature != "" {
					it.ID = callItemID(p.Signature)
				}
				s.Output = append(s.Output, it)
			}
		}
	}
	flushText()
	flushThinking()
	s.finish(resp.StopReason, resp.Usage)
	return json.Marshal(s)
}

func messageItem(id, status, text string) outItem {
	content := []outText{}
	if status == "completed" || text != "" {
		content = append(content, outputText(text))
	}
	return outItem{Type: "message", ID: id, Status: status, Role: "assistant", Content: &content}
}

func outputText(text string) outText {
	return outText{Type: "output_text", Text: text, Annotations: []any{}, Logprobs: []any{}}
}

func reasoningItem(id, text, sig string) outItem {
	summary := []summaryText{}
	if text != "" {
		summary = append(summary, summaryText{Type: "summary_text", Text: text})
	}
	it := outItem{Type: "reasoning", ID: id, Summary: &summary}
	if sig != "" || text != "" {
		env := sealEnvelope(text, sig)
		it.EncryptedContent = &env
	}
	return it
}

// callItem is a function_call item, or a custom_tool_call when custom (its
// input is the "input" member of args).
func callItem(callID, name, namespace, args, status string, custom bool) outItem {
	if callID == "" {
		callID = newID("call_")
	}
	if custom {
		in := customInput(args)
		return outItem{Type: "custom_tool_call", ID: newID("ctc_"), Status: status, CallID: callID, Name: name,
			Namespace: namespace, Input: &in}
	}
	return outItem{Type: "function_call", ID: newID("fc_"), Status: status, CallID: callID, Name: name,
		Namespace: namespace, Arguments: &args}
}

// argumentsString is a tool call's arguments as the string Responses
// carries: compact JSON, "{}" when there are none.
func argumentsString(args json.RawMessage) string {
	args = bytes.TrimSpace(args)
	if len(args) == 0 || isNull(args) {
		return "{}"
	}
	var b bytes.Buffer
	if json.Compact(&b, args) == nil {
		return b.String()
	}
	return string(args)
}

// customInput reads the "input" string of a translated custom tool call.
func customInput(args string) string {
	var v struct {
		Input string `json:"input"`
	}
	if json.Unmarshal([]byte(args), &v) == nil {
		return v.Input
	}
	return args
}
