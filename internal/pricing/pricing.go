// Package pricing is llmgate's price table: the catalog's list prices,
// overridden and extended by the configuration (governance.prices), and the
// policy for models that have no price (governance.unknown_price).
//
// A Table implements gateway.Pricer, so the pipeline prices every request's
// usage for the ledger; governance asks it for worst-case costs before a
// request is sent.
package pricing

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/llmgate/llmgate/internal/catalog"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/provider"
)

// Unknown-price policies (governance.unknown_price).
const (
	// Record serves requests for unpriced models and records them with
	// Priced false and a zero cost; a warning is logged once per model.
	Record = "record"
	// Block refuses requests whose first route has no price.
	Block = "block"
)

// Table prices usage. Create it with New; the zero value knows only the
// catalog and records unpriced models without logging. It is safe for
// concurrent use.
type Table struct {
	overrides map[string]catalog.Price
	block     bool
	log       *slog.Logger
	// OnUnpriced, when set, is called for each request priced without a
	// price (for a metric). Set it before the Table is used.
	OnUnpriced func()

	warned sync.Map // model -> struct{}: unpriced models already logged
}

// New returns the table for a governance config: catalog prices, overridden
// by g.Prices (keyed by model id, or by "provider/model" to price one
// provider's copy of a model differently) and g.UnknownPrice.
func New(g config.Governance, logger *slog.Logger) *Table {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := &Table{overrides: make(map[string]catalog.Price, len(g.Prices)), block: g.UnknownPrice == Block, log: logger}
	for model, p := range g.Prices {
		t.overrides[model] = catalog.Price{Input: p.Input, Output: p.Output, CachedInput: p.CachedInput, CacheWrite: p.CacheWrite}
	}
	return t
}

// Price returns the price of model served by the provider named
// providerName ("" when unknown), and whether it has one. Lookup order: a
// "provider/model" override, a model override, an override of the catalog
// model the name resolves to (gpt-4o-2024-08-06 takes gpt-4o's), then the
// catalog's list price. An override is a price even when it is zero (a
// free local model); a zero catalog price is not.
func (t *Table) Price(providerName, model string) (catalog.Price, bool) {
	if t == nil {
		return catalog.Price{}, false
	}
	model = strings.TrimPrefix(model, "models/")
	if len(t.overrides) > 0 {
		if providerName != "" {
			if p, ok := t.overrides[providerName+"/"+model]; ok {
				return p, true
			}
		}
		if p, ok := t.overrides[model]; ok {
			return p, true
		}
	}
	m, ok := catalog.Lookup(model)
	if !ok {
		return catalog.Price{}, false
	}
	if p, ok := t.overrides[m.ID]; ok {
		return p, true
	}
	if m.Price.IsZero() {
		return catalog.Price{}, false
	}
	return m.Price, true
}

// Known reports whether model has a price (from any provider).
func (t *Table) Known(model string) bool {
	_, ok := t.Price("", model)
	return ok
}

// Blocks reports whether requests for unpriced models are refused.
func (t *Table) Blocks() bool { return t != nil && t.block }

// Cost prices u for model served by providerName. priced is false when the
// model has no price; the cost is then zero and, the first time for each
// model, a warning says how to add a price.
func (t *Table) Cost(providerName, model string, u provider.Usage) (cost float64, priced bool) {
	p, ok := t.Price(providerName, model)
	if !ok {
		t.unpriced(model)
		return 0, false
	}
	return p.Cost(u), true
}

func (t *Table) unpriced(model string) {
	if t == nil {
		return
	}
	if t.OnUnpriced != nil {
		t.OnUnpriced()
	}
	if _, seen := t.warned.LoadOrStore(model, struct{}{}); !seen {
		t.log.Warn("model has no price: its requests are recorded as unpriced (cost 0) and budgets cannot limit them; add it under governance.prices",
			"model", model, "example", fmt.Sprintf("governance: {prices: {%q: {input: 1.0, output: 2.0}}}", model))
	}
}

// Check is the unknown-price policy for a request about to be sent to
// model at providerName: nil when the model has a price or the policy is
// Record, else a 403 *provider.Error that says how to add a price.
func (t *Table) Check(providerName, model string) error {
	if !t.Blocks() {
		return nil
	}
	if _, ok := t.Price(providerName, model); ok {
		return nil
	}
	return &provider.Error{Kind: provider.KindPermission, Code: "model_not_priced", Param: "model",
		Message: fmt.Sprintf("model %q has no price, and this gateway refuses unpriced models (governance.unknown_price: block); "+
			"an admin can add its price in USD per million tokens under governance.prices, e.g. %q: {input: 1.0, output: 2.0}",
			model, model)}
}
