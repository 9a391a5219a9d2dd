// Package admin is llmgate's admin HTTP API, mounted at /admin/ behind the
// master key (the server package checks it): virtual keys, teams, top-ups
// and usage reports, as JSON. A key's secret appears only in the answer to
// its creation.
//
//	POST   /admin/keys               create a key (governance.KeySpec) -> 201 governance.NewKey
//	GET    /admin/keys               list keys (?team=&owner=&include_revoked=true)
//	GET    /admin/keys/{id}          one key, with its spend and top-ups
//	PATCH  /admin/keys/{id}          change some fields (governance.KeyPatch)
//	DELETE /admin/keys/{id}          delete it -> 204
//	POST   /admin/keys/{id}/revoke   revoke it
//	POST   /admin/keys/{id}/topup    add to its prepaid balance ({"amount_usd": 10, "note": "..."})
//	POST   /admin/teams              create a team (governance.TeamSpec) -> 201
//	GET    /admin/teams              list teams
//	GET    /admin/teams/{name}       one team, with its spend
//	PATCH  /admin/teams/{name}       change some fields (governance.TeamPatch)
//	GET    /admin/usage              spend and tokens (?group_by=key|team|model|provider|day&since=&until=&key=&team=)
//	GET    /admin/stats              request rate, errors, latency, tokens and spend over time from the request log (?window=1h&step=1m)
//	GET    /admin/routes             providers' health, routes' chains, deployments' breaker state and next probe
//
// Errors are {"error": {"type", "message", "field"}} with 400 (invalid
// input), 404, 409 (exists), 503 (no store) or 500.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/store"
)

// KeyManager manages virtual keys (governance.Governor implements it).
type KeyManager interface {
	CreateKey(ctx context.Context, s governance.KeySpec) (governance.NewKey, error)
	Keys(ctx context.Context, f store.KeyFilter) ([]governance.KeyInfo, error)
	Key(ctx context.Context, id string) (governance.KeyInfo, error)
	UpdateKey(ctx context.Context, id string, p governance.KeyPatch) (governance.KeyInfo, error)
	RevokeKey(ctx context.Context, id string) (governance.KeyInfo, error)
	DeleteKey(ctx context.Context, id string) error
	TopUp(ctx context.Context, id string, amountUSD float64, note string) (governance.KeyInfo, error)
}

// TeamManager manages teams (governance.Governor implements it).
type TeamManager interface {
	CreateTeam(ctx context.Context, s governance.TeamSpec) (governance.TeamInfo, error)
	Teams(ctx context.Context) ([]governance.TeamInfo, error)
	Team(ctx context.Context, name string) (governance.TeamInfo, error)
	UpdateTeam(ctx context.Context, name string, p governance.TeamPatch) (governance.TeamInfo, error)
}

// Options configures the admin API.
type Options struct {
	Keys  KeyManager
	Teams TeamManager
	// Usage answers /admin/usage; nil answers 503.
	Usage store.UsageReporter
	// Log answers /admin/stats; nil answers 503.
	Log LogReader
	// Router returns the router /admin/routes describes (a function, so a
	// reloaded router is seen); nil answers 503.
	Router func() *gateway.Router
	Logger *slog.Logger
	// Now is the clock for relative times in usage queries; default time.Now.
	Now func() time.Time
}

// maxBody bounds an admin request body.
const maxBody = 1 << 20

// New returns the admin API handler. It is safe for concurrent use.
func New(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &handler{o: o}
	m := http.NewServeMux()
	m.HandleFunc("POST /admin/keys", h.createKey)
	m.HandleFunc("GET /admin/keys", h.listKeys)
	m.HandleFunc("GET /admin/keys/{id}", h.getKey)
	m.HandleFunc("PATCH /admin/keys/{id}", h.patchKey)
	m.HandleFunc("DELETE /admin/keys/{id}", h.deleteKey)
	m.HandleFunc("POST /admin/keys/{id}/revoke", h.revokeKey)
	m.HandleFunc("POST /admin/keys/{id}/topup", h.topUp)
	m.HandleFunc("POST /admin/teams", h.createTeam)
	m.HandleFunc("GET /admin/teams", h.listTeams)
	m.HandleFunc("GET /admin/teams/{name}", h.getTeam)
	m.HandleFunc("PATCH /admin/teams/{name}", h.patchTeam)
	m.HandleFunc("GET /admin/usage", h.usage)
	m.HandleFunc("GET /admin/stats", h.stats)
	m.HandleFunc("GET /admin/routes", h.routes)
	m.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		// A known path asked with another method: 405 with Allow.
		var allow []string
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
			r2 := r.Clone(r.Context())
			r2.Method = method
			if _, pattern := m.Handler(r2); pattern != "/admin/" {
				allow = append(allow, method)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "",
				fmt.Sprintf("%s %s is not supported; use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "", fmt.Sprintf("unknown admin endpoint %s %s: see the admin API reference (docs/governance.md)", r.Method, r.URL.Path))
	})
	return m
}

type handler struct{ o Options }

// ErrorBody is the JSON of every admin error.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong and, for invalid input, which field.
type ErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store") // a created key's secret must not be cached
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, typ, field, msg string) {
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Type: typ, Message: msg, Field: field}})
}

// fail maps an error from governance to a status.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ie *governance.InputError
	switch {
	case errors.As(err, &ie):
		writeError(w, http.StatusBadRequest, "invalid_request_error", ie.Field, ie.Error())
	case errors.Is(err, governance.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "", strings.TrimPrefix(err.Error(), "governance: "))
	case errors.Is(err, governance.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", "", err.Error())
	case errors.Is(err, governance.ErrNoStore):
		writeError(w, http.StatusServiceUnavailable, "unavailable", "", err.Error())
	default:
		h.o.Logger.Error("admin API", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "", "internal error in llmgate; see the gateway log for the cause")
	}
}

// decode reads a JSON body strictly into v.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := "the body is not the JSON this endpoint takes: " + err.Error()
		if errors.Is(err, io.EOF) {
			msg = "the request has no body: send a JSON object"
		}
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", msg)
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "the body holds more than one JSON value")
		return false
	}
	return true
}

func (h *handler) createKey(w http.ResponseWriter, r *http.Request) {
	var s governance.KeySpec
	if !h.decode(w, r, &s) {
		return
	}
	nk, err := h.o.Keys.CreateKey(r.Context(), s)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/admin/keys/"+nk.Key.ID)
	writeJSON(w, http.StatusCreated, nk)
}

// KeyList is the answer to GET /admin/keys.
type KeyList struct {
	Keys []governance.KeyInfo `json:"keys"`
}

func (h *handler) listKeys(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.KeyFilter{Team: q.Get("team"), Owner: q.Get("owner")}
	if v := q.Get("include_revoked"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "include_revoked", "include_revoked must be true or false")
			return
		}
		f.IncludeRevoked = b
	}
	ks, err := h.o.Keys.Keys(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, KeyList{Keys: ks})
}

func (h *handler) getKey(w http.ResponseWriter, r *http.Request) {
	k, err := h.o.Keys.Key(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func (h *handler) patchKey(w http.ResponseWriter, r *http.Request) {
	var p governance.KeyPatch
	if !h.decode(w, r, &p) {
		return
	}
	k, err := h.o.Keys.UpdateKey(r.Context(), r.PathValue("id"), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func (h *handler) deleteKey(w http.ResponseWriter, r *http.Request) {
	if err := h.o.Keys.DeleteKey(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) revokeKey(w http.ResponseWriter, r *http.Request) {
	k, err := h.o.Keys.RevokeKey(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

// TopUpRequest is the body of POST /admin/keys/{id}/topup.
type TopUpRequest struct {
	AmountUSD float64 `json:"amount_usd"`
	Note      string  `json:"note,omitempty"`
}

func (h *handler) topUp(w http.ResponseWriter, r *http.Request) {
	var t TopUpRequest
	if !h.decode(w, r, &t) {
		return
	}
	k, err := h.o.Keys.TopUp(r.Context(), r.PathValue("id"), t.AmountUSD, t.Note)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func (h *handler) createTeam(w http.ResponseWriter, r *http.Request) {
	var s governance.TeamSpec
	if !h.decode(w, r, &s) {
		return
	}
	t, err := h.o.Teams.CreateTeam(r.Context(), s)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/admin/teams/"+t.Name)
	writeJSON(w, http.StatusCreated, t)
}

// TeamList is the answer to GET /admin/teams.
type TeamList struct {
	Teams []governance.TeamInfo `json:"teams"`
}

func (h *handler) listTeams(w http.ResponseWriter, r *http.Request) {
	ts, err := h.o.Teams.Teams(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, TeamList{Teams: ts})
}

func (h *handler) getTeam(w http.ResponseWriter, r *http.Request) {
	t, err := h.o.Teams.Team(r.Context(), r.PathValue("name"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (h *handler) patchTeam(w http.ResponseWriter, r *http.Request) {
	var p governance.TeamPatch
	if !h.decode(w, r, &p) {
		return
	}
	t, err := h.o.Teams.UpdateTeam(r.Context(), r.PathValue("name"), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}
