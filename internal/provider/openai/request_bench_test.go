package openai

import "testing"

// benchRequestTypical is what openai-go sends for a streamed conversation.
const benchRequestTypical = `{"messages":[{"content":"You are a helpful assistant. Answer briefly.","role":"system"},{"content":"What is the capital of Portugal?","role":"user"},{"content":"Lisbon.","role":"assistant"},{"content":"And its population, roughly? Reply with \"about N\" — no more.","role":"user"}],"model":"gpt-4o-mini","max_tokens":256,"temperature":0.7,"stream_options":{"include_usage":true},"stream":true}`

// benchRequestTools is what openai-go sends for a turn after a tool call.
const benchRequestTools = `{"messages":[{"content":"You are a helpful assistant. Answer briefly.","role":"system"},{"content":"What is the weather in Lisbon tomorrow?","role":"user"},{"tool_calls":[{"id":"call_1","function":{"arguments":"{\"city\":\"Lisbon\"}","name":"lookup_forecast"},"type":"function"}],"role":"assistant"},{"content":"{\"high_c\":24}","tool_call_id":"call_1","role":"tool"}],"model":"gpt-4o","max_completion_tokens":1024,"temperature":0.2,"parallel_tool_calls":true,"tool_choice":"auto","tools":[{"function":{"name":"lookup_forecast","description":"Daily forecast for a city","parameters":{"properties":{"city":{"type":"string"},"days":{"minimum":1,"type":"integer"}},"required":["city"],"type":"object"}},"type":"function"},{"function":{"name":"get_time","description":"Local time in a city","parameters":{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"}},"type":"function"}],"stream_options":{"include_usage":true},"stream":true}`

func benchDecodeRequest(b *testing.B, body string) {
	data := []byte(body)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Client{}).DecodeRequest(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRequestTypical(b *testing.B) { benchDecodeRequest(b, benchRequestTypical) }
func BenchmarkDecodeRequestTools(b *testing.B)   { benchDecodeRequest(b, benchRequestTools) }
