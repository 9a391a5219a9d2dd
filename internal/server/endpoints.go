package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/llmgate/llmgate/internal/admin"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/store"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}

// countTokens forwards count_tokens to an upstream of the client's own
// format when one serves the model, else counts locally.
func (s *Server) countTokens(f provider.Format) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, who *caller) {
		id, clientKey := who.id, who.clientKey
		body, perr := s.readBody(w, r)
		if perr != nil {
			s.writeError(w, r, f, id, perr)
			return
		}
		g := s.gw()
		cc := g.Client(f)
		req, err := cc.DecodeRequest(body)
		if f == provider.FormatAnthropic && err != nil {
			// count_tokens bodies have no max_tokens; decoders accept that.
			s.writeError(w, r, f, id, provider.AsError(err))
			return
		}
		var model string
		if f == provider.FormatGemini {
			ma := r.PathValue("modelAction")
			model = ma[:strings.LastIndexByte(ma, ':')]
			if err != nil {
				s.writeError(w, r, f, id, provider.AsError(err))
				return
			}
		} else {
			model = req.Model
		}
		chain, rerr := g.Router().Resolve(model)
		if rerr != nil {
			s.writeError(w, r, f, id, provider.AsError(rerr))
			return
		}
		if u := chain[0].Upstream; u.Format == f && (u.HasKey() || clientKey != "" || !u.RequiresKey) {
			c := s.newCall(r, who, f, provider.OpCountTokens, body)
			c.Model = model
			s.serve(w, r, c)
			return
		}
		n := 0
		if s.o.CountTokens != nil {
			n = s.o.CountTokens(chain[0].Model, req)
		}
		w.Header().Set("X-Request-Id", id)
		w.Header().Set("Request-Id", id)
		w.Header().Set("X-Llmgate-Token-Count", "estimated")
		if f == provider.FormatGemini {
			writeJSON(w, http.StatusOK, map[string]int{"totalTokens": n})
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"input_tokens": n})
	}
}

func (s *Server) models() []ModelInfo {
	live := s.cur.Load()
	if live.models == nil {
		var out []ModelInfo
		for _, m := range live.g.Router().ModelNames() {
			out = append(out, ModelInfo{ID: m, OwnedBy: "llmgate"})
		}
		return out
	}
	return live.models()
}

// listModels answers GET /v1/models in OpenAI list format, or Anthropic's
// when the request carries anthropic-version.
func (s *Server) listModels(w http.ResponseWriter, r *http.Request, who *caller) {
	id := who.id
	ms := s.models()
	w.Header().Set("X-Request-Id", id)
	w.Header().Set("Request-Id", id)
	if r.Header.Get("Anthropic-Version") != "" {
		type am struct {
			Type        string `json:"type"`
			ID          string `json:"id"`
			DisplayName string `json:"display_name"`
			CreatedAt   string `json:"created_at"`
		}
		data := make([]am, 0, len(ms))
		for _, m := range ms {
			data = append(data, am{"model", m.ID, displayName(m), time.Unix(m.Created, 0).UTC().Format(time.RFC3339)})
		}
		resp := map[string]any{"data": data, "has_more": false, "first_id": nil, "last_id": nil}
		if len(data) > 0 {
			resp["first_id"], resp["last_id"] = data[0].ID, data[len(data)-1].ID
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	type om struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	data := make([]om, 0, len(ms))
	for _, m := range ms {
		data = append(data, om{m.ID, "model", m.Created, m.OwnedBy})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func displayName(m ModelInfo) string {
	if m.DisplayName != "" {
		return m.DisplayName
	}
	return m.ID
}

// getModel answers GET /v1/models/{id}.
func (s *Server) getModel(w http.ResponseWriter, r *http.Request, who *caller) {
	id := who.id
	want := r.PathValue("id")
	for _, m := range s.models() {
		if m.ID == want {
			writeJSON(w, http.StatusOK, map[string]any{"id": m.ID, "object": "model", "created": m.Created, "owned_by": m.OwnedBy})
			return
		}
	}
	if _, err := s.gw().Router().Resolve(want); err == nil {
		writeJSON(w, http.StatusOK, map[string]any{"id": want, "object": "model", "created": 0, "owned_by": "llmgate"})
		return
	}
	s.writeError(w, r, clientFormat(r), id, &provider.Error{Kind: provider.KindNotFound, Code: "model_not_found",
		Message: "model " + strconv.Quote(want) + " is not served by this gateway; GET /v1/models lists what is"})
}

// listGeminiModels answers GET /v1beta/models in Gemini's shape.
func (s *Server) listGeminiModels(w http.ResponseWriter, r *http.Request, who *caller) {
	type gm struct {
		Name                       string   `json:"name"`
		DisplayName                string   `json:"displayName"`
		InputTokenLimit            int      `json:"inputTokenLimit,omitempty"`
		OutputTokenLimit           int      `json:"outputTokenLimit,omitempty"`
		SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
	}
	var out []gm
	for _, m := range s.models() {
		out = append(out, gm{"models/" + m.ID, displayName(m), m.Context, m.MaxOutput,
			[]string{"generateContent", "streamGenerateContent", "countTokens"}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": out})
}

// health answers GET /health from recent real outcomes.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	type detail struct {
		gateway.HealthReport
		Key      string            `json:"key"`
		Breakers map[string]string `json:"breakers,omitempty"`
	}
	providers := map[string]string{}
	details := map[string]detail{}
	var routesDown []string
	worst := gateway.Healthy
	n, down := 0, 0
	router := s.gw().Router()
	deps := router.Deployments()
	for _, u := range router.Upstreams() {
		rep := u.Health()
		d := detail{HealthReport: rep, Key: "configured"}
		switch {
		case u.HasKey():
		case u.RequiresKey:
			d.Key = "from clients (none configured: " + u.KeyHint() + ")"
		default:
			d.Key = "none needed"
		}
		for _, dep := range deps {
			if dep.Upstream == u {
				if st := dep.State(); st != "" && st != "closed" {
					if d.Breakers == nil {
						d.Breakers = map[string]string{}
					}
					d.Breakers[dep.Name] = st
					if rep.Status == gateway.Healthy {
						rep.Status = gateway.Degraded
						d.Status = gateway.Degraded
					}
				}
			}
		}
		providers[u.Name] = d.Status
		details[u.Name] = d
		n++
		switch d.Status {
		case gateway.Down:
			down++
			worst = gateway.Degraded
		case gateway.Degraded:
			worst = gateway.Degraded
		}
	}
	for _, m := range router.Unroutable() {
		routesDown = append(routesDown, m)
	}
	sort.Strings(routesDown)
	status := http.StatusOK
	switch {
	case n > 0 && down == n:
		worst, status = "unhealthy", http.StatusServiceUnavailable
	case worst == gateway.Healthy:
		worst = "healthy"
	}
	if s.o.ProtectMetrics && !s.isMaster(r) {
		// Beyond loopback, who failed and why is for the operator; load
		// balancers get the verdict (and /health/live, /health/ready).
		writeJSON(w, status, map[string]any{"status": worst,
			"details": "send the master key (Authorization: Bearer) to see providers, errors and breakers"})
		return
	}
	resp := map[string]any{"status": worst, "providers": providers, "details": details}
	if s.o.SharedState != nil {
		resp["shared_state"] = s.o.SharedState()
	}
	if len(routesDown) > 0 {
		resp["unroutable"] = routesDown
	}
	if s.o.Descriptors != nil {
		if d := s.o.Descriptors(); d.Limit > 0 {
			// Near the limit the gateway still serves (status unchanged),
			// but new connections will soon fail: operators must see it.
			resp["descriptors"] = d
		}
	}
	if s.o.ConfigStatus != nil {
		// A failed reload leaves the previous configuration serving: the
		// gateway is no less healthy, but operators must see why.
		resp["config"] = s.o.ConfigStatus()
	}
	writeJSON(w, status, resp)
}

func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// logRecord is a request-log entry as JSON.
type logRecord struct {
	ID              string    `json:"id"`
	Time            time.Time `json:"time"`
	ClientFormat    string    `json:"client_format"`
	Op              string    `json:"op"`
	ModelAsked      string    `json:"model_asked"`
	Provider        string    `json:"provider,omitempty"`
	ModelServed     string    `json:"model_served,omitempty"`
	Status          int       `json:"status"`
	ErrorKind       string    `json:"error_kind,omitempty"`
	Error           string    `json:"error,omitempty"`
	Attempts        int       `json:"attempts"`
	Fallback        bool      `json:"fallback"`
	Stream          bool      `json:"stream"`
	LatencyMS       float64   `json:"latency_ms"`
	TTFTMS          float64   `json:"ttft_ms,omitempty"`
	InputTokens     int       `json:"input_tokens"`
	OutputTokens    int       `json:"output_tokens"`
	CachedTokens    int       `json:"cached_tokens,omitempty"`
	ReasoningTokens int       `json:"reasoning_tokens,omitempty"`
	TokensEstimated bool      `json:"tokens_estimated,omitempty"`
	CostUSD         float64   `json:"cost_usd"`
	Priced          bool      `json:"priced"`
	KeyID           string    `json:"key_id,omitempty"`
	Team            string    `json:"team,omitempty"`
	Prompt          string    `json:"prompt,omitempty"`
	Completion      string    `json:"completion,omitempty"`
}

// LogRecord converts a store record for JSON output.
func LogRecord(r store.Record) any {
	return logRecord{r.ID, r.Time, r.ClientFormat, r.Op, r.ModelAsked, r.Provider, r.ModelServed, r.Status,
		r.ErrorKind, r.ErrorMessage, r.Attempts, r.Fallback, r.Stream, ms(r.Latency), ms(r.TTFT),
		r.InputTokens, r.OutputTokens, r.CachedTokens, r.ReasoningTokens, r.TokensEstimated, r.CostUSD, r.Priced,
		r.KeyID, r.Team, r.Prompt, r.Completion}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// logs answers GET /logs?limit=&provider=&status=&model=&key=&team=&since=&until=
// (since and until: RFC 3339, a day, or a duration back from now like 1h).
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	if s.o.Logs == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "the request log is disabled"})
		return
	}
	q := r.URL.Query()
	f := store.Filter{Limit: 100, Provider: q.Get("provider"), Model: q.Get("model"), Status: q.Get("status"),
		KeyID: q.Get("key"), Team: q.Get("team")}
	now := time.Now()
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		t, err := admin.ParseTime(q.Get(b.name), now)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": b.name + ": " + err.Error()})
			return
		}
		*b.dst = t
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be a positive number"})
			return
		}
		f.Limit = min(n, 10000)
	}
	if f.Status != "" && f.Status != "ok" && f.Status != "error" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "status must be ok or error"})
		return
	}
	recs, err := s.o.Logs.Query(r.Context(), f)
	if errors.Is(err, store.ErrInvalidQuery) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": strings.TrimPrefix(err.Error(), "store: ")})
		return
	}
	if err != nil {
		s.log.Error("reading the request log", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "could not read the request log; see the gateway log"})
		return
	}
	out := make([]any, 0, len(recs))
	for _, rec := range recs {
		out = append(out, LogRecord(rec))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// reload answers POST /admin/reload: 200 with what changed when the new
// configuration serves, 422 with every problem (file:line:col) when the file
// is invalid and the running configuration stays.
func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST /admin/reload"})
		return
	}
	res := s.o.Reload(r.Context())
	status := http.StatusOK
	if !res.OK {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, res)
}
