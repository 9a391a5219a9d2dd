package e2e

import (
	"context"
	"net/http"
	"slices"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	anoption "github.com/anthropics/anthropic-sdk-go/option"
)

var routedModels = []string{modelOA, modelAN, modelGE}

// TestListModels lists the gateway's models with every SDK: OpenAI's and
// Anthropic's shapes of GET /v1/models, and Gemini's GET /v1beta/models.
func TestListModels(t *testing.T) {
	g := newGate(t, gateOptions{})
	ctx := context.Background()
	t.Run("openai", func(t *testing.T) {
		c := g.openai()
		var ids []string
		iter := c.Models.ListAutoPaging(ctx)
		for iter.Next() {
			m := iter.Current()
			if m.Object != "model" || m.OwnedBy == "" {
				t.Errorf("model %+v: want object model and an owner", m)
			}
			ids = append(ids, m.ID)
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		checkListed(t, ids)
	})
	t.Run("anthropic", func(t *testing.T) {
		c := g.anthropic()
		var ids []string
		iter := c.Models.ListAutoPaging(ctx, anthropic.ModelListParams{})
		for iter.Next() {
			m := iter.Current()
			if m.Type != "model" || m.DisplayName == "" || m.CreatedAt.IsZero() && m.JSON.CreatedAt.Raw() == "" {
				t.Errorf("model %s: want type model, a display name and created_at", m.RawJSON())
			}
			ids = append(ids, m.ID)
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		checkListed(t, ids)
	})
	t.Run("gemini", func(t *testing.T) {
		c := g.gemini(t)
		var ids []string
		for m, err := range c.Models.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.Name)
		}
		var want []string
		for _, m := range routedModels {
			want = append(want, "models/"+m)
		}
		for _, m := range want {
			if !slices.Contains(ids, m) {
				t.Errorf("the list %v lacks %s", ids, m)
			}
		}
	})
	for _, f := range formats {
		if n := len(g.upstreamRequests(f)); n != 0 {
			t.Errorf("listing models sent %d requests to the %s upstream", n, f)
		}
	}
}

func checkListed(t *testing.T, ids []string) {
	t.Helper()
	for _, m := range routedModels {
		if !slices.Contains(ids, m) {
			t.Errorf("the list %v lacks %s", ids, m)
		}
	}
}

// TestCountTokens counts tokens with the Anthropic SDK: forwarded to an
// Anthropic upstream (the upstream's count), estimated locally for a model
// that an OpenAI upstream serves.
func TestCountTokens(t *testing.T) {
	g := newGate(t, gateOptions{})
	ctx := context.Background()
	params := func(model string) anthropic.MessageCountTokensParams {
		return anthropic.MessageCountTokensParams{Model: anthropic.Model(model),
			System:   anthropic.MessageCountTokensParamsSystemUnion{OfTextBlockArray: []anthropic.TextBlockParam{{Text: matrixSystem}}},
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(matrixPrompt))}}
	}
	t.Run("forwarded to anthropic", func(t *testing.T) {
		g.reset()
		c := g.anthropic()
		var resp *http.Response
		n, err := c.Messages.CountTokens(ctx, params(modelAN), anoption.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		if want := int64((len(matrixSystem) + len(matrixPrompt)) / 4); n.InputTokens != want {
			t.Errorf("input_tokens %d, want the upstream's %d", n.InputTokens, want)
		}
		rec := g.lastUpstream(t, fmtAnthropic)
		if rec.Path != "/v1/messages/count_tokens" {
			t.Errorf("upstream path %s", rec.Path)
		}
		if body := decodeObject(t, rec.Body); body["model"] != upAN {
			t.Errorf("upstream model %v, want %s", body["model"], upAN)
		}
		if resp.Header.Get("X-Llmgate-Token-Count") == "estimated" {
			t.Error("a forwarded count is marked estimated")
		}
	})
	t.Run("estimated for openai", func(t *testing.T) {
		g.reset()
		c := g.anthropic()
		var resp *http.Response
		n, err := c.Messages.CountTokens(ctx, params(modelOA), anoption.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		// "You are terse." and "Say hello to the gateway" are about 10 tokens.
		if n.InputTokens < 5 || n.InputTokens > 40 {
			t.Errorf("input_tokens %d, want a plausible estimate (5..40)", n.InputTokens)
		}
		if got := resp.Header.Get("X-Llmgate-Token-Count"); got != "estimated" {
			t.Errorf("x-llmgate-token-count %q, want estimated", got)
		}
		for _, f := range formats {
			if k := len(g.upstreamRequests(f)); k != 0 {
				t.Errorf("a local estimate sent %d requests to the %s upstream", k, f)
			}
		}
	})
}
