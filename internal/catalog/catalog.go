// Package catalog is llmgate's built-in table of popular models: which
// vendor serves each, its context window and output cap, its list prices and
// its release date. It also holds the prefix rules that route a bare model
// name to a vendor.
//
// The table is data (models.json, embedded) parsed once on first use. Its
// prices are public list prices as of [DataDate]; the configuration
// (governance.prices) overrides them. Everything here is read-only and safe
// for concurrent use.
package catalog

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
)

// Vendors known to the catalog. A vendor is who runs the API; its wire
// format is Model.Type (DeepSeek, Mistral and Groq speak OpenAI's).
const (
	VendorOpenAI    = "openai"
	VendorAnthropic = "anthropic"
	VendorGemini    = "gemini"
	VendorDeepSeek  = "deepseek"
	VendorMistral   = "mistral"
	VendorGroq      = "groq"
)

// Model kinds.
const (
	KindChat      = "chat"
	KindEmbedding = "embedding"
)

// Model is one catalog entry. Values returned by this package share their
// Aliases slice with the catalog: treat it as read-only.
type Model struct {
	// ID is the canonical model name, as sent to the vendor.
	ID string `json:"id"`
	// Aliases are other names for the same model (dated snapshots,
	// "-latest" names) that Lookup resolves to it.
	Aliases []string `json:"aliases,omitempty"`
	// DisplayName is a human-readable name.
	DisplayName string `json:"display_name"`
	// Type is the vendor's wire format.
	Type provider.Format `json:"type"`
	// Vendor is one of the Vendor constants.
	Vendor string `json:"vendor"`
	// Kind is KindChat or KindEmbedding.
	Kind string `json:"kind"`
	// ContextWindow is the most input tokens the model accepts. Where input
	// and output share one window (Claude, GPT-4o, o-series) it is the whole
	// window; for GPT-5 it is the 272k input limit.
	ContextWindow int `json:"context_window"`
	// MaxOutput is the most output tokens one response may have; 0 means
	// unknown or no separate cap (bounded by the context window).
	MaxOutput int `json:"max_output"`
	// Reasoning is true for OpenAI-format models that take
	// reasoning_effort (o-series, GPT-5); the others reject it.
	Reasoning bool `json:"reasoning,omitempty"`
	// Price is the list price.
	Price Price `json:"price"`
	// Released is the public release day, YYYY-MM-DD.
	Released string `json:"released"`
	// Created is Released as Unix seconds (midnight UTC), the "created"
	// field of GET /v1/models.
	Created int64 `json:"-"`
	// Note holds caveats about the data (tiered pricing, moving aliases).
	Note string `json:"note,omitempty"`
}

// Price is a model's price in USD per million tokens. The zero Price means
// unpriced.
type Price struct {
	Input  float64 `json:"input"`
	Output float64 `json:"output"`
	// CachedInput is the price of cache reads; 0 means no discount (billed
	// at Input).
	CachedInput float64 `json:"cached_input,omitempty"`
	// CacheWrite is the price of cache writes (Anthropic's 5-minute cache
	// is 1.25x Input); 0 means billed at Input.
	CacheWrite float64 `json:"cache_write,omitempty"`
}

// IsZero reports whether p holds no price.
func (p Price) IsZero() bool { return p == Price{} }

// Cost is the price of u in USD. u.InputTokens includes cache reads and
// writes (provider.Usage's convention): those are billed at CachedInput and
// CacheWrite, the rest of the input at Input. Output, reasoning included, is
// billed at Output. Counts that do not add up (more cached than input) are
// clamped rather than billed negative.
func (p Price) Cost(u provider.Usage) float64 {
	cached := max(u.CachedTokens, 0)
	written := max(u.CacheWriteTokens, 0)
	fresh := max(u.InputTokens-cached-written, 0)
	out := max(u.OutputTokens, 0)

	cachedRate := p.CachedInput
	if cachedRate == 0 {
		cachedRate = p.Input
	}
	writeRate := p.CacheWrite
	if writeRate == 0 {
		writeRate = p.Input
	}
	return (float64(fresh)*p.Input +
		float64(cached)*cachedRate +
		float64(written)*writeRate +
		float64(out)*p.Output) / 1e6
}

//go:embed models.json
var modelsJSON []byte

// table is the parsed catalog.
type table struct {
	dataDate string
	models   []Model // sorted by ID
	// byName maps every ID and alias to its index in models.
	byName map[string]int
	// byStem maps every ID, alias and ID without "-latest" to its index in
	// models; Lookup matches dated variants against it.
	byStem map[string]int
}

var load = sync.OnceValue(func() *table {
	t, err := parse(modelsJSON)
	if err != nil {
		// The data is embedded and checked by the tests; a failure here
		// is a build defect, not a runtime condition.
		panic("catalog: embedded models.json: " + err.Error())
	}
	return t
})

// parse decodes and indexes catalog data.
func parse(data []byte) (*table, error) {
	var doc struct {
		DataDate string  `json:"data_date"`
		Models   []Model `json:"models"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	t := &table{
		dataDate: doc.DataDate,
		models:   doc.Models,
		byName:   make(map[string]int, 3*len(doc.Models)),
		byStem:   make(map[string]int, 4*len(doc.Models)),
	}
	slices.SortFunc(t.models, func(a, b Model) int { return cmp.Compare(a.ID, b.ID) })
	for i := range t.models {
		m := &t.models[i]
		day, err := time.Parse(time.DateOnly, m.Released)
		if err != nil {
			return nil, fmt.Errorf("model %q: released: %w", m.ID, err)
		}
		m.Created = day.Unix()
		for _, name := range append([]string{m.ID}, m.Aliases...) {
			if prev, dup := t.byName[name]; dup {
				return nil, fmt.Errorf("model %q: name %q already names %q", m.ID, name, t.models[prev].ID)
			}
			t.byName[name] = i
			t.byStem[name] = i
		}
		if stem, ok := strings.CutSuffix(m.ID, "-latest"); ok {
			if _, taken := t.byStem[stem]; !taken {
				t.byStem[stem] = i
			}
		}
	}
	return t, nil
}

// DataDate is the day the catalog's prices and limits were taken from the
// vendors' public pages (YYYY-MM-DD).
func DataDate() string { return load().dataDate }

// Lookup finds the catalog entry for a model name: first an exact ID, then
// an alias, then the longest ID or alias that the name extends with a
// snapshot stamp: gpt-4o-2024-08-06 is gpt-4o, claude-sonnet-4-5-20250929
// is claude-sonnet-4-5, mistral-large-2411 is mistral-large-latest,
// gemini-2.5-flash-preview-05-20 is gemini-2.5-flash. A stamp is "latest",
// "preview" or "exp", or a number of three or more digits, optionally
// followed by more numbers ("-2024-08-06", "-001", "-preview-09-2025");
// anything else (gpt-4o-mini-tts, o3-pro, claude-opus-4-6) is a different
// model and is not found. A Vertex-style "@" stamp (claude-sonnet-4@20250514)
// and a leading "models/" (Gemini's resource name) are accepted too.
func Lookup(model string) (Model, bool) { return load().lookup(model) }

func (t *table) lookup(model string) (Model, bool) {
	model = strings.TrimPrefix(model, "models/")
	if i, ok := t.byName[model]; ok {
		return t.models[i], true
	}
	// Cut at each separator from the right, so the longest stem wins.
	for i := len(model) - 1; i > 0; i-- {
		if c := model[i]; c != '-' && c != '@' {
			continue
		}
		if !isStamp(model[i+1:]) {
			continue
		}
		if j, ok := t.byStem[model[:i]]; ok {
			return t.models[j], true
		}
	}
	return Model{}, false
}

// isStamp reports whether s (without its leading separator) is a snapshot
// stamp: a first segment that is "latest", "preview", "exp" or three or more
// digits, then any number of all-digit segments, separated by '-'.
func isStamp(s string) bool {
	first, rest, _ := strings.Cut(s, "-")
	switch first {
	case "latest", "preview", "exp":
	default:
		if len(first) < 3 || !allDigits(first) {
			return false
		}
	}
	for rest != "" {
		var seg string
		seg, rest, _ = strings.Cut(rest, "-")
		if seg == "" || !allDigits(seg) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// All returns every catalog model sorted by ID. The slice is the caller's.
func All() []Model { return slices.Clone(load().models) }

// ForVendor returns the models of one vendor sorted by ID, or nil.
func ForVendor(vendor string) []Model {
	var out []Model
	for _, m := range load().models {
		if m.Vendor == vendor {
			out = append(out, m)
		}
	}
	return out
}

// vendorPrefixes are the routing rules for bare model names, checked in
// order. A prefix ending in a letter or digit that needs a word boundary
// (o1, o3, o4) is handled by familyPrefixes instead.
var vendorPrefixes = []struct{ prefix, vendor string }{
	{"gpt-", VendorOpenAI},
	{"chatgpt-", VendorOpenAI},
	{"text-embedding-", VendorOpenAI},
	{"davinci", VendorOpenAI},
	{"babbage", VendorOpenAI},
	{"omni-moderation", VendorOpenAI},
	{"claude-", VendorAnthropic},
	{"gemini-", VendorGemini},
	{"gemma-", VendorGemini},
	{"deepseek-", VendorDeepSeek},
	{"mistral-", VendorMistral},
	{"codestral-", VendorMistral},
	{"ministral-", VendorMistral},
	{"pixtral-", VendorMistral},
	{"magistral-", VendorMistral},
	{"devstral-", VendorMistral},
	{"open-mistral", VendorMistral},
	{"open-mixtral", VendorMistral},
}

// familyPrefixes match only as a whole name or followed by '-':
// "o3" and "o3-mini" but not "o300".
var familyPrefixes = []struct{ family, vendor string }{
	{"o1", VendorOpenAI},
	{"o3", VendorOpenAI},
	{"o4", VendorOpenAI},
}

// VendorForModel says which vendor a bare model name belongs to, by the
// prefix rules (gpt-, o1/o3/o4, claude-, gemini-, deepseek-, mistral-, ...),
// then by the catalog (llama-3.3-70b-versatile is Groq's). A leading
// "models/" is ignored. It reports false for names no rule covers, which the
// router should resolve from configuration.
func VendorForModel(model string) (vendor string, ok bool) {
	model = strings.TrimPrefix(model, "models/")
	for _, r := range vendorPrefixes {
		if strings.HasPrefix(model, r.prefix) {
			return r.vendor, true
		}
	}
	for _, r := range familyPrefixes {
		if rest, ok := strings.CutPrefix(model, r.family); ok && (rest == "" || rest[0] == '-') {
			return r.vendor, true
		}
	}
	if m, ok := Lookup(model); ok {
		return m.Vendor, true
	}
	return "", false
}
