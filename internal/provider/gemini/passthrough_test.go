package gemini

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

func TestPassthroughRewriteRequest(t *testing.T) {
	body := []byte(`{"contents":[{"parts":[{"text":"hi"}]}], "generationConfig": {"temperature": 0.1}}`)
	for _, stream := range []bool{false, true} {
		out, wantsUsage, err := Passthrough{}.RewriteRequest(body, "gemini-2.5-pro", stream)
		if err != nil || !bytes.Equal(out, body) || !wantsUsage {
			t.Errorf("stream=%v: %s, %v, %v; want the body unchanged and usage wanted", stream, out, wantsUsage, err)
		}
	}
}

func TestPassthroughRewritesWrappedCountTokensModel(t *testing.T) {
	body := []byte(`{"generateContentRequest": {"model": "models/my-alias", "contents": [{"parts":[{"text":"hi"}]}]}}`)
	out, _, err := Passthrough{}.RewriteRequest(body, "gemini-2.5-flash", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"generateContentRequest": {"model": "models/gemini-2.5-flash", "contents": [{"parts":[{"text":"hi"}]}]}}`; string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if _, _, err := (Passthrough{}).RewriteRequest([]byte(`{"generateContentRequest": {`), "m", false); err == nil {
		t.Error("malformed body accepted")
	}
}

func TestPassthroughResponseUsage(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   provider.Usage
		wantOK bool
	}{
		{"usage", `{"candidates":[{"content":{"parts":[{"text":"hi"}]}}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":2,"thoughtsTokenCount":3,"cachedContentTokenCount":4,"totalTokenCount":15}}`,
			provider.Usage{InputTokens: 10, OutputTokens: 5, CachedTokens: 4, ReasoningTokens: 3}, true},
		{"nested usageMetadata is not the response's", `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"usageMetadata":{"promptTokenCount":99}}}}]}}]}`, provider.Usage{}, false},
		{"no usage", `{"candidates":[]}`, provider.Usage{}, false},
		{"garbage", `not json`, provider.Usage{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Passthrough{}.ResponseUsage([]byte(tt.body))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestPassthroughScanEvent(t *testing.T) {
	tests := []struct {
		name        string
		raw         string
		wantUsage   provider.Usage
		wantHas     bool
		wantContent bool
		wantErr     provider.Kind
	}{
		{"text chunk", `data: {"candidates":[{"content":{"parts":[{"text": "Hel"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9}}`,
			provider.Usage{InputTokens: 9}, true, true, ""},
		{"function call", `data: {"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}]}}]}`,
			provider.Usage{}, false, true, ""},
		{"final chunk with empty text", `data: {"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":4,"thoughtsTokenCount":2,"totalTokenCount":15}}`,
			provider.Usage{InputTokens: 9, OutputTokens: 6, ReasoningTokens: 2}, true, false, ""},
		{"error chunk", `data: {"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}`,
			provider.Usage{}, false, false, provider.KindOverloaded},
		{"text mentioning error", `data: {"candidates":[{"content":{"parts":[{"text":"\"error\" is a word"}]}}]}`,
			provider.Usage{}, false, true, ""},
		{"non-data error line", `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`,
			provider.Usage{}, false, false, provider.KindRateLimited},
		{"comment", `: keep-alive`, provider.Usage{}, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sse.NewReader(strings.NewReader(tt.raw + "\n\n"))
			ev, err := r.Next()
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			info := Passthrough{}.ScanEvent(&ev)
			if info.Usage != tt.wantUsage || info.HasUsage != tt.wantHas {
				t.Errorf("usage %+v %v, want %+v %v", info.Usage, info.HasUsage, tt.wantUsage, tt.wantHas)
			}
			if info.Content != tt.wantContent {
				t.Errorf("content %v, want %v", info.Content, tt.wantContent)
			}
			if info.Done || info.UsageOnly {
				t.Error("Gemini streams have no end or usage-only events")
			}
			switch {
			case tt.wantErr == "" && info.Err != nil:
				t.Errorf("unexpected error %v", info.Err)
			case tt.wantErr != "" && (info.Err == nil || info.Err.Kind != tt.wantErr):
				t.Errorf("error %v, want kind %s", info.Err, tt.wantErr)
			}
		})
	}
}
