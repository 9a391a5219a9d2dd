package cli

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestGrafanaDashboardUsesExistingMetrics: every llmgate_* metric the
// example dashboard queries is one the gateway exports.
func TestGrafanaDashboardUsesExistingMetrics(t *testing.T) {
	a := newFakeUpstream(t, "from-a", false)
	b := newFakeUpstream(t, "from-b", false)
	ra := startReloadApp(t, routeConfig(a, b, "a", ""))
	exported := ra.app.Metrics.Names()

	data, err := os.ReadFile("../../examples/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct{ Definition string }
		}
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	if len(d.Panels) < 8 {
		t.Fatalf("%d panels, want the overview's at least 8", len(d.Panels))
	}
	name := regexp.MustCompile(`llmgate_[a-z_]+`)
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	used := 0
	for _, e := range exprs {
		for _, m := range name.FindAllString(e, -1) {
			base := m
			for _, suf := range []string{"_bucket", "_count", "_sum"} {
				base = strings.TrimSuffix(base, suf)
			}
			used++
			if !slices.Contains(exported, base) {
				t.Errorf("the dashboard queries %s, which llmgate does not export (it has %v)", m, exported)
			}
		}
	}
	if used == 0 {
		t.Fatal("the dashboard queries no llmgate metric")
	}
	for _, want := range []string{"model", "provider"} {
		if !strings.Contains(string(data), `"name": "`+want+`"`) {
			t.Errorf("the dashboard has no $%s variable", want)
		}
	}
}
