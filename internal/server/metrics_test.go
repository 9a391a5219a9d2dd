package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestMetricsModelLabelAndTimeToFirstToken(t *testing.T) {
	t.Parallel()
	base, _ := start(t, "", "")
	stream := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	if s, _, b := do(t, http.MethodPost, base+"/v1/chat/completions", nil, stream); s != 200 {
		t.Fatalf("stream: %d %s", s, b)
	}
	// A model nobody configured: counted, but as "other".
	adhoc := `{"model":"oa/made-up-model-123","messages":[{"role":"user","content":"hi"}]}`
	if s, _, b := do(t, http.MethodPost, base+"/v1/chat/completions", nil, adhoc); s != 200 {
		t.Fatalf("ad-hoc model: %d %s", s, b)
	}
	_, _, body := do(t, http.MethodGet, base+"/metrics", nil, "")
	for _, want := range []string{
		`llmgate_requests_total{client_format="openai",error_kind="",model="gpt-4o",provider="oa",status_class="2xx"} 1`,
		`llmgate_requests_total{client_format="openai",error_kind="",model="other",provider="oa",status_class="2xx"} 1`,
		`llmgate_time_to_first_token_seconds_count{model="gpt-4o",provider="oa"} 1`,
		`llmgate_request_duration_seconds_count{client_format="openai",model="gpt-4o",provider="oa"} 1`,
		`llmgate_tokens_total{direction="output",model="gpt-4o",provider="oa"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "made-up-model") {
		t.Errorf("/metrics has a label value a client invented")
	}
}

func TestMetricsAndHealthDetailsBehindMasterKey(t *testing.T) {
	t.Parallel()
	const master = "master-ops"
	base, _ := start(t, "auth: {protect_metrics: true}\n", master)
	key := map[string]string{"Authorization": "Bearer " + master}
	if s, _, _ := do(t, http.MethodGet, base+"/metrics", nil, ""); s != http.StatusUnauthorized {
		t.Errorf("/metrics without the key: %d, want 401", s)
	}
	if s, _, b := do(t, http.MethodGet, base+"/metrics", key, ""); s != 200 || !strings.Contains(b, "llmgate_request_log_dropped_total") {
		t.Errorf("/metrics with the key: %d", s)
	}
	s, _, b := do(t, http.MethodGet, base+"/health", nil, "")
	var h map[string]any
	_ = json.Unmarshal([]byte(b), &h)
	if s != 200 || h["status"] != "healthy" || h["providers"] != nil || h["config"] != nil {
		t.Errorf("/health without the key: %d %s, want the status only", s, b)
	}
	s, _, b = do(t, http.MethodGet, base+"/health", key, "")
	h = nil
	_ = json.Unmarshal([]byte(b), &h)
	if s != 200 || h["providers"] == nil {
		t.Errorf("/health with the key: %d %s, want the details", s, b)
	}
	for _, p := range []string{"/health/live", "/health/ready"} {
		if s, _, b := do(t, http.MethodGet, base+p, nil, ""); s != 200 {
			t.Errorf("%s without the key: %d %s, want 200 (always open)", p, s, b)
		}
	}
}

func TestMetricsOpenOnLoopbackByDefault(t *testing.T) {
	t.Parallel()
	base, _ := start(t, "", "master-x")
	if s, _, _ := do(t, http.MethodGet, base+"/metrics", nil, ""); s != 200 {
		t.Errorf("/metrics on a loopback gateway: %d, want 200", s)
	}
}
