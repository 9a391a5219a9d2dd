package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// sdkRequests captures the chat completions bodies openai-go sends for a
// few typical calls: a streamed conversation, tools, a JSON schema.
func sdkRequests(t testing.TB) [][]byte {
	for _, k := range []string{"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_CUSTOM_HEADERS"} {
		if os.Getenv(k) != "" {
			t.Skipf("%s is set; these tests use a local server", k)
		}
	}
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the SDK's request: %v", err)
		}
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"captured","type":"invalid_request_error"}}`)
	}))
	defer srv.Close()
	client := sdk.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("x"), option.WithMaxRetries(0))
	convo := []sdk.ChatCompletionMessageParamUnion{
		sdk.SystemMessage("You are a helpful assistant. Answer briefly."),
		sdk.UserMessage("What is the capital of Portugal?"),
		sdk.AssistantMessage("Lisbon."),
		sdk.UserMessage("And its population, roughly? Reply with \"about N\" — no more."),
	}
	ctx := context.Background()
	stream := client.Chat.Completions.NewStreaming(ctx, sdk.ChatCompletionNewParams{
		Model: "gpt-4o-mini", Messages: convo,
		StreamOptions: sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)},
		MaxTokens:     sdk.Int(256), Temperature: sdk.Float(0.7),
	})
	for stream.Next() {
	}
	tools := []sdk.ChatCompletionToolUnionParam{sdk.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name: "lookup_forecast", Description: sdk.String("Daily forecast for a city"),
		Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{
			"city": map[string]any{"type": "string"}, "days": map[string]any{"type": "integer", "minimum": 1}},
			"required": []string{"city"}},
	})}
	withTools := append(convo[:2:2], sdk.ChatCompletionMessageParamUnion{OfAssistant: &sdk.ChatCompletionAssistantMessageParam{
		ToolCalls: []sdk.ChatCompletionMessageToolCallUnionParam{{OfFunction: &sdk.ChatCompletionMessageFunctionToolCallParam{
			ID: "call_1", Function: sdk.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "lookup_forecast", Arguments: `{"city":"Lisbon"}`},
		}}},
	}}, sdk.ToolMessage(`{"high_c":24}`, "call_1"))
	stream = client.Chat.Completions.NewStreaming(ctx, sdk.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: withTools, Tools: tools,
		ToolChoice:          sdk.ChatCompletionToolChoiceOptionUnionParam{OfAuto: sdk.String("auto")},
		ParallelToolCalls:   sdk.Bool(true),
		MaxCompletionTokens: sdk.Int(1024), TopP: sdk.Float(0.9), Seed: sdk.Int(42), N: sdk.Int(1),
		Stop: sdk.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"\n\n"}},
		User: sdk.String("user-1234"), ReasoningEffort: shared.ReasoningEffortLow,
	})
	for stream.Next() {
	}
	client.Chat.Completions.New(ctx, sdk.ChatCompletionNewParams{
		Model: "gpt-4o-mini", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage([]sdk.ChatCompletionContentPartUnionParam{
			sdk.TextContentPart("Describe this image."),
			sdk.ImageContentPart(sdk.ChatCompletionContentPartImageImageURLParam{URL: "https://example.com/a.png", Detail: "low"}),
		})},
		ResponseFormat: sdk.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "caption", Strict: sdk.Bool(true),
				Schema: map[string]any{"type": "object", "properties": map[string]any{"caption": map[string]any{"type": "string"}}}},
		}},
	})
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 3 {
		t.Fatalf("captured %d SDK requests, want 3", len(bodies))
	}
	return bodies
}

// benchLoadBody is the request the bench/load rows send.
const benchLoadBody = `{"model":"gpt-4o-mini","stream":true,"max_tokens":64,"messages":[{"role":"system","content":"You are a load test."},{"role":"user","content":"Say hello to the llmgate load benchmark please"}]}`

// requestFixtures are the chat requests in testdata (client requests and
// the upstream encoder's output), the SDK's and the load benchmark's.
func requestFixtures(t testing.TB) [][]byte {
	files, _ := filepath.Glob("testdata/request/*.json")
	var out [][]byte
	for _, name := range files {
		if strings.HasSuffix(name, ".canonical.json") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		t.Fatal("no testdata/request files")
	}
	return append(append(out, sdkRequests(t)...), []byte(benchLoadBody), []byte(benchRequestTypical), []byte(benchRequestTools))
}

// scanRequestTaken are edge cases the scanner reads.
var scanRequestTaken = []string{
	`{}`, " \t\r\n{ } \n",
	`{"model":"m","messages":null,"tools":null,"stream_options":null,"response_format":null,"max_tokens":null,"stream":null,"user":null}`,
	`{"messages":[]}`, `{"messages":[null,{}]}`, `{"tools":[null,{"function":null},{}]}`,
	`{"stop":null,"tool_choice":null,"functions":null,"messages":[{"content":null,"role":null,"tool_calls":null}]}`,
	`{"messages":[{"role":"user","content":[ {"type":"text", "text":"a"} , {"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}} ]}]}`,
	`{"messages":[{"role":"assistant","tool_calls":[null,{"function":null},{"function":{"name":"f","arguments":{"a":[1,2]}}}],"refusal":"no","reasoning_content":"hm"}]}`,
	`{"model":"\u00e9\ud83d\ude00\n\"","user":"\ud800x","messages":[{"role":"us\u0065r","content":"\u0000"}]}`,
	"{\"model\":\"\xff\xfe a \xc3\x28\",\"user\":\"\xed\xa0\x80\"}",
	`{"max_tokens":-0,"n":0,"top_k":-5,"seed":-123456789012345678,"max_completion_tokens":999999999999999999}`,
	`{"temperature":0.7,"top_p":-0,"x":1}`, `{"temperature":1.7976931348623157e308,"top_p":4.9e-324}`,
	`{"temperature":0.30000000000000004,"top_p":123456789012345678}`, `{"temperature":-0.0,"top_p":1E2}`,
	`{"stream":false,"parallel_tool_calls":true,"stream_options":{"include_usage":false,"other":[{}]}}`,
	`{"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"},"strict":null}}}`,
	`{"response_format":{"type":"json_object","json_schema":null}}`,
	`{"unknown":{"Any":"\u0041","a":[true,false,null,-1.5e+3]},"model":"m"}`,
	`{"stop":["a","b"],"tool_choice":{"type":"function","function":{"name":"f"}},"functions":[{"name":"f"}]}`,
	`{"safety_identifier":"s","reasoning_effort":"high"}`,
}

// scanRequestLeft are edge cases the scanner leaves to encoding/json.
var scanRequestLeft = []string{
	`{"Model":"m"}`, `{"temperature":1e400}`, `{"model":"a","model":"b"}`, `{"messages":[{"role":"user","role":"assistant"}]}`,
	`{"mod\u0065l":"m"}`, `{"ſtream":true}`, `{"max_tokens":1.0}`, `{"max_tokens":1e2}`,
	`{"max_tokens":12345678901234567890}`, `{"seed":-9223372036854775808}`, `{"stream":"true"}`, `{"model":1}`,
	`{"messages":{}}`, `{"messages":[1]}`, `{"stream_options":[]}`, `{"tools":[{"function":[]}]}`, `{"temperature":"1"}`,
	`{"response_format":{"type":"json_schema","type":"text"}}`, `{"model":"m"} x`, `{"model":"m"}{}`, `null`, `[]`, ``,
	`{"model":"m",}`, `{"a":01}`, "{\"model\":\"\x01\"}", `{"stream_options":{"include_usage":true,"include_usage":false}}`,
	`{"messages":[{"tool_calls":[{"function":{"name":"a"},"function":{"arguments":"{}"}}]}]}`, "\xef\xbb\xbf{}",
}

// scanRequestTemplates put a fuzzed fragment (@) at the places the scanner
// reads: most random bytes are not JSON, but many are a valid string body,
// key or value inside a request.
var scanRequestTemplates = func() []string {
	const base = `"model":"m","messages":[{"role":"user","content":"hi"}]`
	var ts []string
	for _, f := range []string{"model", "messages", "max_completion_tokens", "max_tokens", "temperature", "top_p", "top_k",
		"n", "stop", "seed", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls", "response_format",
		"user", "safety_identifier", "reasoning_effort", "functions", "@"} {
		ts = append(ts, `{"`+f+`":@,`+base+`}`, `{`+base+`,"`+f+`":"@"}`)
	}
	for _, f := range []string{"role", "content", "tool_calls", "tool_call_id", "refusal", "reasoning_content", "@"} {
		ts = append(ts, `{"model":"m","messages":[{"role":"assistant","`+f+`":@}]}`, `{"messages":[{"`+f+`":"@","content":"x"}]}`)
	}
	for _, f := range []string{"id", "type", "function", "@"} {
		ts = append(ts, `{"messages":[{"role":"assistant","tool_calls":[{"`+f+`":@}]}]}`)
	}
	for _, f := range []string{"name", "arguments", "@"} {
		ts = append(ts, `{"messages":[{"tool_calls":[{"id":"c","function":{"`+f+`":@}}]}]}`)
	}
	for _, f := range []string{"type", "function", "@"} {
		ts = append(ts, `{"tools":[{"`+f+`":@}]}`)
	}
	for _, f := range []string{"name", "description", "parameters", "@"} {
		ts = append(ts, `{"tools":[{"type":"function","function":{"`+f+`":@}}]}`)
	}
	for _, f := range []string{"type", "json_schema", "@"} {
		ts = append(ts, `{"response_format":{"`+f+`":@}}`)
	}
	for _, f := range []string{"name", "schema", "strict", "@"} {
		ts = append(ts, `{"response_format":{"type":"json_schema","json_schema":{"`+f+`":@}}}`)
	}
	return append(ts, `{"stream_options":{"include_usage":@}}`, `{"stream_options":{"@":1}}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"@"}]},@]}`, `{"tools":[@],"messages":[@,{}]}`,
		`{"model":"m"@}`, `{@}`, `@{"model":"m"}`, `{"model":"m"}@`)
}()

// FuzzScanRequest checks that scanRequest, where it does not hand the body
// to encoding/json, reads exactly what json.Unmarshal reads: for the input,
// and for the input put into each of scanRequestTemplates.
func FuzzScanRequest(f *testing.F) {
	for _, b := range requestFixtures(f) {
		f.Add(b)
	}
	for _, s := range append(scanRequestTaken, scanRequestLeft...) {
		f.Add([]byte(s))
	}
	for _, s := range []string{"x", `\u00e9\"`, "Model", "1", "-0", "0.5", "1e3", "true", "null", `"s"`, `[]`, `{}`, `[null]`,
		`{"a":1}`, "\xff", "\u212a", `[{"type":"text","text":"a"}]`, ` 1 `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkScanRequest(t, in)
		for _, tmpl := range scanRequestTemplates {
			checkScanRequest(t, bytes.ReplaceAll([]byte(tmpl), []byte("@"), in))
		}
	})
}

// checkScanRequest reports whether scanRequest read body, failing t if it
// read it differently from json.Unmarshal.
func checkScanRequest(t *testing.T, body []byte) bool {
	t.Helper()
	var got wireRequest
	if !scanRequest(body, &got) {
		if !reflect.DeepEqual(got, wireRequest{}) {
			t.Fatalf("scanRequest(%q) gave up but filled the request: %+v", body, got)
		}
		return false
	}
	var want wireRequest
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatalf("scanRequest accepted %q, which encoding/json rejects: %v", body, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("scanRequest(%q)\n got %s\nwant %s", body, dumpWire(got), dumpWire(want))
	}
	return true
}

// dumpWire shows a wireRequest with its pointers followed.
func dumpWire(w wireRequest) string {
	b, err := json.Marshal(w)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// TestScanRequestTakesCommonRequests checks that the requests clients send
// are read without encoding/json, as encoding/json reads them.
func TestScanRequestTakesCommonRequests(t *testing.T) {
	for _, b := range requestFixtures(t) {
		if !checkScanRequest(t, b) {
			t.Errorf("scanRequest fell back to encoding/json for %s", b)
		}
	}
	for _, s := range scanRequestTaken {
		if !checkScanRequest(t, []byte(s)) {
			t.Errorf("scanRequest fell back to encoding/json for %q", s)
		}
	}
}

// TestScanRequestFallsBack checks that bodies where encoding/json's reading
// could differ, or that it rejects, are left to it.
func TestScanRequestFallsBack(t *testing.T) {
	for _, s := range scanRequestLeft {
		if checkScanRequest(t, []byte(s)) {
			t.Errorf("scanRequest read %q, want the encoding/json fallback", s)
		}
	}
}

// TestScanRequestRawNull checks the json.RawMessage members keep a JSON
// null as the bytes null, as encoding/json does (it calls UnmarshalJSON).
func TestScanRequestRawNull(t *testing.T) {
	body := []byte(`{"stop":null,"tool_choice":null,"messages":[{"content":null}]}`)
	var w wireRequest
	if !scanRequest(body, &w) {
		t.Fatal("scanRequest fell back")
	}
	if string(w.Stop) != "null" || string(w.ToolChoice) != "null" || string(w.Messages[0].Content) != "null" || w.Functions != nil {
		t.Errorf("stop %q, tool_choice %q, content %q, functions %q; want null, null, null and nil",
			w.Stop, w.ToolChoice, w.Messages[0].Content, w.Functions)
	}
	checkScanRequest(t, body)
}

// TestScanRequestCopiesBody checks the Request keeps nothing of the
// caller's buffer, which may be reused, though scanRequest's wireRequest
// shares it.
func TestScanRequestCopiesBody(t *testing.T) {
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":1}"}},{"id":"d","function":{"name":"f","arguments":{"b":2}}}]}],` +
		`"tools":[{"function":{"name":"f","parameters":{"type":"object"}}}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"string"}}}}`)
	req, err := Client{}.DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'x'
	}
	if got := string(req.Tools[0].Parameters); got != `{"type":"object"}` {
		t.Errorf("parameters = %q after the body was overwritten", got)
	}
	if got := string(req.ResponseFormat.Schema); got != `{"type":"string"}` {
		t.Errorf("schema = %q after the body was overwritten", got)
	}
	parts := req.Messages[1].Parts
	if len(parts) != 2 || string(parts[0].ToolCall.Arguments) != `{"a":1}` || string(parts[1].ToolCall.Arguments) != `{"b":2}` {
		t.Errorf("tool calls = %+v %+v after the body was overwritten", parts[0].ToolCall, parts[len(parts)-1].ToolCall)
	}
}

// TestDecodeRequestErrorsUnchanged checks that bodies the scanner gives up
// on still get encoding/json's errors.
func TestDecodeRequestErrorsUnchanged(t *testing.T) {
	for _, s := range []string{`{"max_tokens":1.5,"model":"m","messages":[]}`, `{"model":"m"} x`, `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}`} {
		_, err := Client{}.DecodeRequest([]byte(s))
		var w wireRequest
		uerr := json.Unmarshal([]byte(s), &w)
		if err == nil || uerr == nil || err.Error() != jsonError([]byte(s), uerr).Error() {
			t.Errorf("DecodeRequest(%s) = %v, want the encoding/json error %v", s, err, uerr)
		}
	}
}

// TestScanRequestDepth checks that values nested about as deeply as
// encoding/json allows (10000 levels) are read as it reads them, or left to
// it (checkScanRequest fails on a body the scanner takes and it rejects).
func TestScanRequestDepth(t *testing.T) {
	for _, n := range []int{100, 9984, 9985, 9999, 10000, 10001} {
		for _, tmpl := range []string{`{"stop":@}`, `{"x":@}`, `{"messages":[{"tool_calls":[{"function":{"arguments":@}}]}]}`,
			`{"tools":[{"function":{"parameters":{"a":@}}}]}`} {
			body := []byte(strings.Replace(tmpl, "@", strings.Repeat("[", n)+strings.Repeat("]", n), 1))
			if checkScanRequest(t, body) && n >= 9995 {
				t.Errorf("scanRequest read a value nested %d deep in %.40s", n, tmpl)
			}
		}
	}
}
