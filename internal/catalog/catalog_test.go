package catalog

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/internal/provider"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name  string
		model string
		want  string // "" means not found
	}{
		{"exact gpt-4o", "gpt-4o", "gpt-4o"},
		{"exact gpt-4o-mini is not gpt-4o", "gpt-4o-mini", "gpt-4o-mini"},
		{"dated gpt-4o", "gpt-4o-2024-08-06", "gpt-4o"},
		{"dated gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"gpt-4o-mini-tts is another model", "gpt-4o-mini-tts", ""},
		{"gpt-4o search preview is another model", "gpt-4o-search-preview", ""},
		{"gpt-4o audio preview dated", "gpt-4o-audio-preview-2024-12-17", ""},
		{"dated gpt-4.1-nano", "gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"},
		{"dated gpt-5", "gpt-5-2025-08-07", "gpt-5"},
		{"gpt-5.1 is not gpt-5", "gpt-5.1", "gpt-5.1"},
		{"gpt-5.2 unknown", "gpt-5.2", ""},
		{"gpt-5-chat-latest is another model", "gpt-5-chat-latest", ""},
		{"o3", "o3", "o3"},
		{"dated o3", "o3-2025-04-16", "o3"},
		{"dated o3-mini", "o3-mini-2025-01-31", "o3-mini"},
		{"o3-pro is another model", "o3-pro", ""},
		{"embedding", "text-embedding-3-large", "text-embedding-3-large"},
		{"claude alias", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"claude unknown snapshot of known model", "claude-sonnet-4-5-20260101", "claude-sonnet-4-5"},
		{"claude 4-0 alias", "claude-sonnet-4-0", "claude-sonnet-4"},
		{"claude dated sonnet 4", "claude-sonnet-4-20250514", "claude-sonnet-4"},
		{"claude opus 4-5 not opus 4", "claude-opus-4-5-20251101", "claude-opus-4-5"},
		{"claude opus 4-6 is not opus 4", "claude-opus-4-6", ""},
		{"claude opus 4-6 dated is not opus 4", "claude-opus-4-6-20260101", ""},
		{"claude haiku latest", "claude-3-5-haiku-latest", "claude-3-5-haiku"},
		{"claude haiku dated", "claude-3-5-haiku-20241022", "claude-3-5-haiku"},
		{"vertex stamp", "claude-sonnet-4@20250514", "claude-sonnet-4"},
		{"gemini", "gemini-2.5-pro", "gemini-2.5-pro"},
		{"gemini resource name", "models/gemini-2.5-flash", "gemini-2.5-flash"},
		{"gemini preview", "gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"},
		{"gemini lite preview", "gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"},
		{"gemini numbered", "gemini-2.0-flash-001", "gemini-2.0-flash"},
		{"gemini exp", "gemini-2.0-flash-exp", "gemini-2.0-flash"},
		{"gemini image is another model", "gemini-2.5-flash-image", ""},
		{"gemini tts is another model", "gemini-2.5-flash-preview-tts", ""},
		{"mistral dated", "mistral-large-2411", "mistral-large-latest"},
		{"mistral small dated", "mistral-small-2506", "mistral-small-latest"},
		{"codestral", "codestral-latest", "codestral-latest"},
		{"deepseek", "deepseek-reasoner", "deepseek-reasoner"},
		{"groq", "llama-3.3-70b-versatile", "llama-3.3-70b-versatile"},
		{"single digit suffix", "gpt-4o-1", ""},
		{"trailing dash", "gpt-4o-", ""},
		{"unknown", "my-local-model", ""},
		{"empty", "", ""},
		{"case matters", "GPT-4o", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := Lookup(tt.model)
			if tt.want == "" {
				if ok {
					t.Fatalf("Lookup(%q) = %q, want not found", tt.model, m.ID)
				}
				return
			}
			if !ok || m.ID != tt.want {
				t.Fatalf("Lookup(%q) = %q, %v; want %q", tt.model, m.ID, ok, tt.want)
			}
		})
	}
}

// TestLookupNeverFallsBackToShorterID checks the gpt-4o-mini trap on a
// table that lacks gpt-4o-mini: the longer name must not resolve to gpt-4o.
func TestLookupNeverFallsBackToShorterID(t *testing.T) {
	tab, err := parse([]byte(`{"models":[
		{"id":"gpt-4o","type":"openai","vendor":"openai","kind":"chat","context_window":1,"released":"2024-05-13","price":{"input":1,"output":1}},
		{"id":"claude-opus-4","type":"anthropic","vendor":"anthropic","kind":"chat","context_window":1,"released":"2025-05-22","price":{"input":1,"output":1}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-4o-realtime-preview", "claude-opus-4-1", "claude-opus-4-1-20250805", "claude-opus-4-5"} {
		if m, ok := tab.lookup(name); ok {
			t.Errorf("lookup(%q) = %q, want not found", name, m.ID)
		}
	}
	if m, ok := tab.lookup("gpt-4o-2024-11-20"); !ok || m.ID != "gpt-4o" {
		t.Errorf("lookup(gpt-4o-2024-11-20) = %q, %v; want gpt-4o", m.ID, ok)
	}
}

func TestVendorForModel(t *testing.T) {
	tests := []struct {
		model string
		want  string // "" means no vendor
	}{
		{"gpt-4o", VendorOpenAI},
		{"gpt-5.1-codex", VendorOpenAI},
		{"o1", VendorOpenAI},
		{"o1-preview", VendorOpenAI},
		{"o3", VendorOpenAI},
		{"o3-mini-2025-01-31", VendorOpenAI},
		{"o4-mini", VendorOpenAI},
		{"o100x", ""},
		{"o3mini", ""},
		{"o5", ""},
		{"ollama-thing", ""},
		{"chatgpt-4o-latest", VendorOpenAI},
		{"text-embedding-ada-002", VendorOpenAI},
		{"davinci-002", VendorOpenAI},
		{"babbage-002", VendorOpenAI},
		{"omni-moderation-latest", VendorOpenAI},
		{"claude-sonnet-4-5", VendorAnthropic},
		{"claude-future-9", VendorAnthropic},
		{"claude", ""},
		{"gemini-2.5-pro", VendorGemini},
		{"models/gemini-2.5-pro", VendorGemini},
		{"gemma-3-27b-it", VendorGemini},
		{"deepseek-chat", VendorDeepSeek},
		{"deepseek-v4", VendorDeepSeek},
		{"mistral-large-latest", VendorMistral},
		{"codestral-2508", VendorMistral},
		{"ministral-8b-latest", VendorMistral},
		{"pixtral-large-latest", VendorMistral},
		{"magistral-medium-latest", VendorMistral},
		{"devstral-small-latest", VendorMistral},
		{"open-mistral-nemo", VendorMistral},
		{"open-mixtral-8x22b", VendorMistral},
		{"llama-3.3-70b-versatile", VendorGroq},
		{"llama-3.1-8b-instant", VendorGroq},
		{"llama3.2", ""},
		{"qwen2.5-coder", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			got, ok := VendorForModel(tt.model)
			if ok != (tt.want != "") || got != tt.want {
				t.Fatalf("VendorForModel(%q) = %q, %v; want %q", tt.model, got, ok, tt.want)
			}
		})
	}
}

func TestCost(t *testing.T) {
	sonnet := Price{Input: 3, Output: 15, CachedInput: 0.30, CacheWrite: 3.75}
	tests := []struct {
		name  string
		price Price
		usage provider.Usage
		want  float64
	}{
		{"zero usage", sonnet, provider.Usage{}, 0},
		{"million in, million out", sonnet, provider.Usage{InputTokens: 1e6, OutputTokens: 1e6}, 18},
		{
			"cached and written input billed at their rates",
			sonnet,
			// 1000 fresh + 8000 cache read + 1000 cache write, 500 out.
			provider.Usage{InputTokens: 10000, CachedTokens: 8000, CacheWriteTokens: 1000, OutputTokens: 500},
			(1000*3 + 8000*0.30 + 1000*3.75 + 500*15) / 1e6,
		},
		{
			"reasoning is output",
			Price{Input: 2, Output: 8, CachedInput: 0.5},
			provider.Usage{InputTokens: 100, OutputTokens: 1000, ReasoningTokens: 900},
			(100*2 + 1000*8) / 1e6,
		},
		{
			"no cached price means no discount",
			Price{Input: 2, Output: 8},
			provider.Usage{InputTokens: 1000, CachedTokens: 600},
			1000 * 2 / 1e6,
		},
		{
			"more cached than input is clamped",
			Price{Input: 2, Output: 8, CachedInput: 0.5},
			provider.Usage{InputTokens: 100, CachedTokens: 150},
			150 * 0.5 / 1e6,
		},
		{"unpriced", Price{}, provider.Usage{InputTokens: 1000, OutputTokens: 1000}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.price.Cost(tt.usage)
			if math.Abs(got-tt.want) > 1e-12 {
				t.Fatalf("Cost = %.12f, want %.12f", got, tt.want)
			}
		})
	}
}

func TestCatalogCost(t *testing.T) {
	// gpt-4o-mini: 0.15 in, 0.075 cached, 0.60 out per million.
	m, ok := Lookup("gpt-4o-mini-2024-07-18")
	if !ok {
		t.Fatal("gpt-4o-mini not in catalog")
	}
	got := m.Price.Cost(provider.Usage{InputTokens: 2000, CachedTokens: 1000, OutputTokens: 1000})
	want := (1000*0.15 + 1000*0.075 + 1000*0.60) / 1e6
	if math.Abs(got-want) > 1e-12 {
		t.Fatalf("cost = %g, want %g", got, want)
	}
}

// TestEmbeddedData checks the shipped table is well-formed.
func TestEmbeddedData(t *testing.T) {
	if _, err := parse(modelsJSON); err != nil {
		t.Fatal(err)
	}
	if d := DataDate(); d == "" {
		t.Error("data_date is empty")
	}
	vendors := map[string]provider.Format{
		VendorOpenAI: provider.FormatOpenAI, VendorAnthropic: provider.FormatAnthropic,
		VendorGemini: provider.FormatGemini, VendorDeepSeek: provider.FormatOpenAI,
		VendorMistral: provider.FormatOpenAI, VendorGroq: provider.FormatOpenAI,
	}
	all := All()
	if !slices.IsSortedFunc(all, func(a, b Model) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("All() is not sorted by ID")
	}
	for _, m := range all {
		format, ok := vendors[m.Vendor]
		switch {
		case !ok:
			t.Errorf("%s: unknown vendor %q", m.ID, m.Vendor)
		case m.Type != format:
			t.Errorf("%s: type %q, want %q for vendor %s", m.ID, m.Type, format, m.Vendor)
		}
		if m.ContextWindow <= 0 {
			t.Errorf("%s: context window %d", m.ID, m.ContextWindow)
		}
		if m.MaxOutput < 0 || m.MaxOutput > m.ContextWindow {
			t.Errorf("%s: max output %d with window %d", m.ID, m.MaxOutput, m.ContextWindow)
		}
		if m.Kind != KindChat && m.Kind != KindEmbedding {
			t.Errorf("%s: kind %q", m.ID, m.Kind)
		}
		if m.Kind == KindChat && (m.Price.Input <= 0 || m.Price.Output <= 0) {
			t.Errorf("%s: chat model without input and output price: %+v", m.ID, m.Price)
		}
		if m.Kind == KindEmbedding && m.Price.Input <= 0 {
			t.Errorf("%s: embedding model without input price", m.ID)
		}
		if p := m.Price; p.CachedInput < 0 || p.CacheWrite < 0 || p.CachedInput > p.Input {
			t.Errorf("%s: implausible cache prices %+v", m.ID, p)
		}
		if m.DisplayName == "" {
			t.Errorf("%s: no display name", m.ID)
		}
		if m.Created < 1.6e9 || m.Created > 2e9 {
			t.Errorf("%s: created %d", m.ID, m.Created)
		}
		if m.ID != strings.ToLower(m.ID) {
			t.Errorf("%s: id is not lower case", m.ID)
		}
		if v, ok := VendorForModel(m.ID); !ok || v != m.Vendor {
			t.Errorf("%s: VendorForModel = %q, %v; want %q", m.ID, v, ok, m.Vendor)
		}
		for _, name := range append([]string{m.ID}, m.Aliases...) {
			if got, ok := Lookup(name); !ok || got.ID != m.ID {
				t.Errorf("Lookup(%q) = %q, %v; want %q", name, got.ID, ok, m.ID)
			}
		}
	}
}

func TestRequiredModels(t *testing.T) {
	required := []string{
		"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-5", "gpt-5-mini", "gpt-5-nano",
		"o3", "o3-mini", "o4-mini", "text-embedding-3-small", "text-embedding-3-large",
		"claude-opus-4-1", "claude-opus-4-5", "claude-sonnet-4-5", "claude-sonnet-4", "claude-haiku-4-5", "claude-3-5-haiku",
		"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash",
		"deepseek-chat", "deepseek-reasoner",
		"mistral-large-latest", "mistral-small-latest", "codestral-latest",
		"llama-3.3-70b-versatile", "llama-3.1-8b-instant",
	}
	for _, id := range required {
		if m, ok := Lookup(id); !ok || m.ID != id {
			t.Errorf("%s missing from the catalog", id)
		}
	}
}

func TestForVendor(t *testing.T) {
	total := 0
	for _, v := range []string{VendorOpenAI, VendorAnthropic, VendorGemini, VendorDeepSeek, VendorMistral, VendorGroq} {
		ms := ForVendor(v)
		if len(ms) == 0 {
			t.Errorf("ForVendor(%q) is empty", v)
		}
		for _, m := range ms {
			if m.Vendor != v {
				t.Errorf("ForVendor(%q) returned %s of %s", v, m.ID, m.Vendor)
			}
		}
		total += len(ms)
	}
	if total != len(All()) {
		t.Errorf("vendors hold %d models, catalog %d", total, len(All()))
	}
	if ms := ForVendor("nobody"); ms != nil {
		t.Errorf("ForVendor(nobody) = %v", ms)
	}
}

func TestCreatedIsReleaseDay(t *testing.T) {
	m, _ := Lookup("claude-sonnet-4-5")
	if m.Created != 1759104000 { // 2025-09-29T00:00:00Z
		t.Fatalf("created = %d, want 1759104000", m.Created)
	}
}

func TestAllReturnsACopy(t *testing.T) {
	a := All()
	a[0].ID = "mutated"
	if All()[0].ID == "mutated" {
		t.Fatal("All shares its slice with the catalog")
	}
}

func TestParseRejectsBadData(t *testing.T) {
	tests := []struct{ name, data string }{
		{"not json", `{`},
		{"bad date", `{"models":[{"id":"a","released":"yesterday"}]}`},
		{"duplicate name", `{"models":[{"id":"a","released":"2024-01-01"},{"id":"b","aliases":["a"],"released":"2024-01-01"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parse([]byte(tt.data)); err == nil {
				t.Fatal("parse succeeded")
			}
		})
	}
}

func FuzzLookup(f *testing.F) {
	for _, s := range []string{"gpt-4o-2024-08-06", "claude-sonnet-4-5@20250929", "models/gemini-2.0-flash-001", "o3-", "-", "@", "a--001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		m, ok := Lookup(name)
		if !ok {
			return
		}
		// A match is the name itself, an alias, or a prefix of it.
		name = strings.TrimPrefix(name, "models/")
		if name == m.ID || slices.Contains(m.Aliases, name) {
			return
		}
		stem := strings.TrimSuffix(m.ID, "-latest")
		prefixed := strings.HasPrefix(name, stem) || strings.HasPrefix(name, m.ID)
		for _, a := range m.Aliases {
			prefixed = prefixed || strings.HasPrefix(name, a)
		}
		if !prefixed {
			t.Fatalf("Lookup(%q) = %q, which it does not extend", name, m.ID)
		}
		_, _ = VendorForModel(name)
	})
}

func BenchmarkLookupDated(b *testing.B) {
	Lookup("gpt-4o")
	b.ReportAllocs()
	for b.Loop() {
		Lookup("claude-sonnet-4-5-20260101")
	}
}
