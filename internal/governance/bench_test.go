package governance_test

import (
	"testing"

	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/provider"
)

// BenchmarkHotPath measures what governance adds to one request: the
// virtual key's authentication (through the cache), its admission (rate
// limits, the budget reservation) and the settlement, against a request
// without a key. The body's token estimate is a constant here; the
// pipeline decodes the body for it only when a TPM limit or a cost needs
// it (see BenchmarkGovernanceHotPath in internal/e2e for whole requests).
func BenchmarkHotPath(b *testing.B) {
	for _, tc := range []struct {
		name string
		gc   config.Governance
		spec *governance.KeySpec
	}{
		{"no-key", config.Governance{}, nil},
		{"no-key-spend-guard", config.Governance{SpendGuard: config.SpendGuard{Hourly: 1e9, Daily: 1e9}}, nil},
		{"key-rpm", config.Governance{}, &governance.KeySpec{Name: "b", RPM: 1 << 30}},
		{"key-rpm-tpm-budget", config.Governance{}, &governance.KeySpec{Name: "b", RPM: 1 << 30, TPM: 1 << 30, BudgetUSD: 1e9}},
		{"key-rpm-tpm-budget-shared-sqlite", config.Governance{}, &governance.KeySpec{Name: "b", RPM: 1 << 30, TPM: 1 << 30, BudgetUSD: 1e9}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var opts []envOpt
			if tc.name == "key-rpm-tpm-budget-shared-sqlite" {
				opts = append(opts, shared)
			}
			e := newEnv(&testing.T{}, tc.gc, opts...)
			defer e.st.Close()
			secret := ""
			if tc.spec != nil {
				nk, err := e.g.CreateKey(ctx, *tc.spec)
				if err != nil {
					b.Fatal(err)
				}
				secret = nk.Secret
			}
			tokens := &sized{bound: 800, in: 200, out: 500}
			u := provider.Usage{InputTokens: 190, OutputTokens: 120}
			b.ReportAllocs()
			for b.Loop() {
				var p *gateway.Principal
				if secret != "" {
					var err error
					if p, err = e.g.Authenticate(ctx, secret); err != nil {
						b.Fatal(err)
					}
				}
				tk, err := e.g.Admit(ctx, &gateway.Admission{Principal: p, Model: "gpt-4o-mini", PriceModel: "gpt-4o-mini",
					Provider: "openai", Tokens: tokens})
				if err != nil {
					b.Fatal(err)
				}
				tk.Settle(u, 0.0001, true)
			}
		})
	}
}
