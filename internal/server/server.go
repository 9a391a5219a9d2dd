// Package server is llmgate's HTTP surface: routes, credentials, body limits
// and the thin handlers that turn an HTTP request into a gateway.Call.
// Every error leaves in the client's own wire format (errors.go).
package server

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/procwatch"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/store"
)

// LogQuerier reads the request log.
type LogQuerier interface {
	Query(ctx context.Context, f store.Filter) ([]store.Record, error)
}

// ModelInfo describes a model for the models endpoints.
type ModelInfo struct {
	ID          string
	OwnedBy     string
	DisplayName string
	Created     int64
	Context     int
	MaxOutput   int
}

// Options configures a Server.
type Options struct {
	Gateway *gateway.Gateway
	Logger  *slog.Logger
	// MasterKey authenticates clients when AuthRequired, and admin calls.
	MasterKey string
	// AuthRequired makes every API request carry the master key (later: a
	// virtual key).
	AuthRequired bool
	// MaxBodyBytes bounds request bodies. Default 32 MiB.
	MaxBodyBytes int64
	// BodyReadTimeout bounds reading one request body; a client still
	// sending when it passes gets a 408 and the connection is closed.
	// Zero means no bound (config's default is 30s).
	BodyReadTimeout time.Duration
	// Logs serves GET /logs; nil disables it.
	Logs LogQuerier
	// Models lists what GET /v1/models reports.
	Models func() []ModelInfo
	// CountTokens estimates input tokens for count_tokens endpoints when no
	// upstream of the client's format can count them.
	CountTokens func(model string, req *provider.Request) int
	// Auth recognises virtual keys; nil knows only the master key.
	Auth gateway.Authenticator
	// Recorder records requests rejected before they reach the gateway
	// (malformed JSON, bad keys, oversized bodies); nil records nothing.
	Recorder gateway.Recorder
	// Admin serves /admin/ (virtual keys, teams, usage). It always needs
	// the master key; without one configured it is refused.
	Admin http.Handler
	// Metrics serves GET /metrics when set.
	Metrics http.Handler
	// UI serves the dashboard at /ui/ when set.
	UI http.Handler
	// Sessions accepts a dashboard session (cookie plus, for writes, its
	// CSRF token) wherever the master key is asked for outside the client
	// API: /admin/, /logs. Nil accepts only the key.
	Sessions interface{ Authorized(r *http.Request) bool }
	// SharedState reports the resilience state shared between replicas
	// (GET /health "shared_state"); nil when there is none.
	SharedState func() any
	// Descriptors reports the process's open file descriptors against its
	// limit, with a warning near it, for GET /health; nil shows none.
	Descriptors func() procwatch.Descriptors
	// ProtectMetrics makes /metrics and /health details need the master
	// key (config auth.protect_metrics); /health/live and /health/ready
	// stay open.
	ProtectMetrics bool
	// Reload re-reads the configuration for POST /admin/reload (master key
	// only); nil answers 404. It must be safe for concurrent use.
	Reload func(ctx context.Context) ReloadResult
	// ConfigStatus reports the running configuration and the last reload
	// for GET /health; nil leaves it out.
	ConfigStatus func() ConfigStatus
	Version      string
}

// ReloadResult is the outcome of one configuration reload.
type ReloadResult struct {
	// OK is true when the new configuration is now serving.
	OK bool `json:"ok"`
	// File is the configuration file that was read.
	File string `json:"file,omitempty"`
	// Generation counts configurations served since start (1: the first).
	Generation int `json:"generation"`
	// Time is when the reload was tried.
	Time time.Time `json:"time"`
	// Applied names the config sections that changed and now apply to new
	// requests.
	Applied []string `json:"applied,omitempty"`
	// RestartRequired names changed sections that only a restart applies
	// (listen, storage, governance, ...); the running values stay.
	RestartRequired []string `json:"restart_required,omitempty"`
	// Problems are why an invalid file was refused, one per entry, as
	// "file:line:col: path: message".
	Problems []string `json:"problems,omitempty"`
	// Error says why the reload failed; "" when OK.
	Error string `json:"error,omitempty"`
}

// ConfigStatus is the running configuration as GET /health reports it.
type ConfigStatus struct {
	File       string    `json:"file,omitempty"`
	Generation int       `json:"generation"`
	LoadedAt   time.Time `json:"loaded_at"`
	// LastReload is the last reload tried, failed or not; nil when none.
	LastReload *ReloadResult `json:"last_reload,omitempty"`
}

// Server is llmgate's http.Handler. It is safe for concurrent use.
type Server struct {
	o        Options
	cur      atomic.Pointer[generation] // what new requests use; swapped by SetGateway
	log      *slog.Logger
	mux      *http.ServeMux
	draining atomic.Bool
}

// generation is one configuration's request pipeline and model list.
type generation struct {
	g      *gateway.Gateway
	models func() []ModelInfo
}

// New returns a Server.
func New(o Options) *Server {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 32 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o, log: o.Logger, mux: http.NewServeMux()}
	s.SetGateway(o.Gateway, o.Models)
	s.routes()
	return s
}

// SetGateway makes new requests use g and models (nil: the router's model
// names) instead of what they used so far; requests in flight finish on the
// gateway they started with. It is how a configuration reload takes effect.
func (s *Server) SetGateway(g *gateway.Gateway, models func() []ModelInfo) {
	s.cur.Store(&generation{g: g, models: models})
}

// gw is the gateway new requests use. A handler reads it once and keeps it
// for the whole request.
func (s *Server) gw() *gateway.Gateway { return s.cur.Load().g }

// SetDraining makes /health/ready fail so orchestrators stop sending traffic
// while the server shuts down.
func (s *Server) SetDraining() { s.draining.Store(true) }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("/v1/chat/completions", s.api(provider.FormatOpenAI, http.MethodPost, s.chat(provider.FormatOpenAI, provider.OpChat)))
	m.HandleFunc("/v1/embeddings", s.api(provider.FormatOpenAI, http.MethodPost, s.chat(provider.FormatOpenAI, provider.OpEmbeddings)))
	m.HandleFunc("/v1/responses", s.api(provider.FormatResponses, http.MethodPost, s.chat(provider.FormatResponses, provider.OpChat)))
	m.HandleFunc("/v1/responses/{rest...}", s.statefulResponses)
	m.HandleFunc("/v1/messages", s.api(provider.FormatAnthropic, http.MethodPost, s.chat(provider.FormatAnthropic, provider.OpChat)))
	m.HandleFunc("/v1/messages/count_tokens", s.api(provider.FormatAnthropic, http.MethodPost, s.countTokens(provider.FormatAnthropic)))
	m.HandleFunc("/v1beta/models/{modelAction}", s.api(provider.FormatGemini, http.MethodPost, s.gemini))
	m.HandleFunc("/v1/models", s.api("", http.MethodGet, s.listModels))
	m.HandleFunc("/v1/models/{id...}", s.api("", http.MethodGet, s.getModel))
	m.HandleFunc("/v1beta/models", s.api(provider.FormatGemini, http.MethodGet, s.listGeminiModels))
	m.HandleFunc("/health", s.plain(http.MethodGet, s.health))
	m.HandleFunc("/health/live", s.plain(http.MethodGet, s.live))
	m.HandleFunc("/health/ready", s.plain(http.MethodGet, s.ready))
	m.HandleFunc("/logs", s.admin(http.MethodGet, s.logs))
	if s.o.Metrics != nil {
		if s.o.ProtectMetrics {
			m.Handle("/metrics", s.masterOnly(s.o.Metrics))
		} else {
			m.Handle("/metrics", s.o.Metrics)
		}
	}
	if s.o.Admin != nil {
		m.Handle("/admin/", s.masterOnly(s.o.Admin))
	}
	if s.o.Reload != nil {
		m.Handle("/admin/reload", s.masterOnly(http.HandlerFunc(s.reload)))
	}
	if s.o.UI != nil {
		m.Handle("/ui/", s.o.UI)
	}
	m.HandleFunc("/{$}", s.root)
	m.HandleFunc("/", s.notFound)
}

// Request ids: "req_" and 16 hex digits.
func newRequestID() string {
	var b [8]byte
	v := rand.Uint64()
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return "req_" + hex.EncodeToString(b[:])
}

// clientFormat guesses the wire format of a request that did not reach a
// format-specific route, so even a 404 comes back in a shape its SDK reads.
func clientFormat(r *http.Request) provider.Format {
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1beta"), r.Header.Get("X-Goog-Api-Key") != "":
		return provider.FormatGemini
	case r.Header.Get("Anthropic-Version") != "", r.Header.Get("X-Api-Key") != "":
		return provider.FormatAnthropic
	}
	return provider.FormatOpenAI
}

// credential returns the key the client sent, as the SDKs send it.
func credential(r *http.Request) string {
	if v := r.Header.Get("Authorization"); v != "" {
		if k, ok := strings.CutPrefix(v, "Bearer "); ok {
			return strings.TrimSpace(k)
		}
		if k, ok := strings.CutPrefix(v, "bearer "); ok {
			return strings.TrimSpace(k)
		}
	}
	if v := r.Header.Get("X-Api-Key"); v != "" {
		return v
	}
	if v := r.Header.Get("X-Goog-Api-Key"); v != "" {
		return v
	}
	return r.URL.Query().Get("key")
}

func (s *Server) isMasterKey(k string) bool {
	return s.o.MasterKey != "" && subtle.ConstantTimeCompare([]byte(k), []byte(s.o.MasterKey)) == 1
}

// isMaster reports whether r acts with the master key's authority: it
// carries the key, or a dashboard session (Options.Sessions) that may make
// this request.
func (s *Server) isMaster(r *http.Request) bool {
	return s.isMasterKey(credential(r)) || (s.o.MasterKey != "" && s.o.Sessions != nil && s.o.Sessions.Authorized(r))
}

// caller is who sent an API request.
type caller struct {
	id        string // request id
	clientKey string // provider key to pass through; "" for gateway keys
	principal *gateway.Principal
}

type apiHandler func(w http.ResponseWriter, r *http.Request, c *caller)

// api wraps a client API handler: request id, method check, and gateway
// authentication. format "" means "guess from the request".
func (s *Server) api(format provider.Format, method string, h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		f := format
		if f == "" {
			f = clientFormat(r)
		}
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			s.writeError(w, r, f, id, &provider.Error{Kind: provider.KindMethod,
				Message: fmt.Sprintf("%s %s is not supported; use %s", r.Method, r.URL.Path, method)})
			return
		}
		cred := credential(r)
		who := &caller{id: id, clientKey: cred}
		master := s.isMasterKey(cred)
		switch {
		case master:
			who.clientKey = ""
		case s.o.Auth != nil && cred != "":
			p, err := s.o.Auth.Authenticate(r.Context(), cred)
			if err != nil {
				s.writeError(w, r, f, id, provider.AsError(err))
				return
			}
			if p != nil {
				who.clientKey, who.principal = "", p
			}
		}
		if s.o.AuthRequired && !master && who.principal == nil {
			msg := "this gateway requires a key: send the gateway's master key (LLMGATE_MASTER_KEY) as Authorization: Bearer, x-api-key or x-goog-api-key"
			if cred != "" {
				msg = "the key you sent is not valid for this gateway: use the gateway's master key (LLMGATE_MASTER_KEY) or a virtual key it issued"
			}
			s.writeError(w, r, f, id, &provider.Error{Kind: provider.KindAuth, Code: "invalid_api_key", Message: msg})
			return
		}
		h(w, r, who)
	}
}

// plain wraps unauthenticated operational endpoints (health).
func (s *Server) plain(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use " + method})
			return
		}
		h(w, r)
	}
}

// admin wraps endpoints that show what others did: open on an open
// loopback gateway, else they need the master key.
func (s *Server) admin(method string, h http.HandlerFunc) http.HandlerFunc {
	return s.plain(method, func(w http.ResponseWriter, r *http.Request) {
		if (s.o.AuthRequired || s.o.MasterKey != "") && !s.isMaster(r) {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{
				"type": "authentication_error", "message": "this endpoint needs the gateway's master key (LLMGATE_MASTER_KEY) as Authorization: Bearer"}})
			return
		}
		h(w, r)
	})
}

// masterOnly guards the admin API (and protected metrics): always the
// master key, never open.
func (s *Server) masterOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.o.MasterKey == "" {
			writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]string{"type": "permission_error",
				"message": r.URL.Path + " is disabled: start llmgate with LLMGATE_MASTER_KEY (or master_key in the config) set"}})
			return
		}
		if !s.isMaster(r) {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{"type": "authentication_error",
				"message": r.URL.Path + " needs the master key as Authorization: Bearer <LLMGATE_MASTER_KEY>"}})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// readBody reads a bounded request body.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *provider.Error) {
	var timedOut bool
	if r.ContentLength > s.o.MaxBodyBytes {
		return nil, tooLarge(s.o.MaxBodyBytes)
	}
	body := r.Body
	if body == nil {
		return nil, &provider.Error{Kind: provider.KindBadRequest, Message: "the request has no body: send a JSON object"}
	}
	if s.o.BodyReadTimeout > 0 {
		// A per-request deadline, not http.Server.ReadTimeout: that one
		// stays on the connection and, once the body is read, the
		// server's background read hitting it cancels the request's
		// context mid-stream. This one is cleared as soon as the body is
		// in; on a timeout it stays, and the connection is closed after
		// the 408 (net/http would otherwise read the rest of a small body
		// before answering, at the client's pace).
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(s.o.BodyReadTimeout)) == nil {
			defer func() {
				if timedOut {
					w.Header().Set("Connection", "close")
				} else {
					_ = rc.SetReadDeadline(time.Time{})
				}
			}()
		}
	}
	rd := http.MaxBytesReader(w, body, s.o.MaxBodyBytes)
	size := r.ContentLength
	if size <= 0 || size > 1<<20 {
		size = 4096
	}
	buf := make([]byte, 0, size+1)
	for {
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge(s.o.MaxBodyBytes)
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				timedOut = true
				return nil, &provider.Error{Kind: provider.KindBadRequest, Status: http.StatusRequestTimeout, Cause: err,
					Message: fmt.Sprintf("the request body did not arrive within %s (server.body_read_timeout)", s.o.BodyReadTimeout)}
			}
			return nil, &provider.Error{Kind: provider.KindBadRequest, Message: "could not read the request body: " + err.Error(), Cause: err}
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
	if len(buf) == 0 {
		return nil, &provider.Error{Kind: provider.KindBadRequest, Message: "the request body is empty: send a JSON object"}
	}
	return buf, nil
}

func tooLarge(limit int64) *provider.Error {
	return &provider.Error{Kind: provider.KindTooLarge, Code: "request_too_large",
		Message: fmt.Sprintf("the request body is larger than %d bytes (server.max_body_bytes); send less, or raise the limit", limit)}
}

// timeoutHeader reads x-llmgate-timeout ("30s" or seconds).
func timeoutHeader(r *http.Request) (time.Duration, *provider.Error) {
	v := r.Header.Get("X-Llmgate-Timeout")
	if v == "" {
		return 0, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
		return time.Duration(f * float64(time.Second)), nil
	}
	return 0, &provider.Error{Kind: provider.KindBadRequest, Param: "x-llmgate-timeout",
		Message: fmt.Sprintf("header x-llmgate-timeout %q is not a duration: use e.g. 30s or 1m", v)}
}

func (s *Server) newCall(r *http.Request, who *caller, f provider.Format, op provider.Op, body []byte) *gateway.Call {
	c := &gateway.Call{RequestID: who.id, Start: time.Now(), Format: f, Op: op, Body: body,
		Header: r.Header, Query: r.URL.RawQuery, ClientKey: who.clientKey, Principal: who.principal}
	if p := who.principal; p != nil {
		c.KeyID, c.Team = p.KeyID, p.Team
	}
	return c
}

// chat serves the OpenAI and Anthropic JSON-body endpoints.
func (s *Server) chat(f provider.Format, op provider.Op) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, who *caller) {
		id := who.id
		body, perr := s.readBody(w, r)
		if perr != nil {
			s.writeError(w, r, f, id, perr)
			return
		}
		v, err := jsonscan.Fields(body, "model", "stream")
		if err != nil {
			s.writeError(w, r, f, id, &provider.Error{Kind: provider.KindBadRequest,
				Message: "the request body is not valid JSON: " + err.Error(), Cause: err})
			return
		}
		model, ok := jsonscan.String(v[0])
		if !ok && v[0] != nil {
			s.writeError(w, r, f, id, &provider.Error{Kind: provider.KindBadRequest, Param: "model", Message: "\"model\" must be a string"})
			return
		}
		c := s.newCall(r, who, f, op, body)
		c.Model, c.Stream = model, jsonscan.Bool(v[1])
		if c.Timeout, perr = timeoutHeader(r); perr != nil {
			s.writeError(w, r, f, id, perr)
			return
		}
		s.serve(w, r, c)
	}
}

// gemini serves POST /v1beta/models/{model}:{action}.
func (s *Server) gemini(w http.ResponseWriter, r *http.Request, who *caller) {
	id := who.id
	f := provider.FormatGemini
	ma := r.PathValue("modelAction")
	i := strings.LastIndexByte(ma, ':')
	if i <= 0 {
		s.writeError(w, r, f, id, &provider.Error{Kind: provider.KindNotFound,
			Message: fmt.Sprintf("unknown path %s: use /v1beta/models/{model}:generateContent, :streamGenerateContent or :countTokens", r.URL.Path)})
		return
	}
	model, action := ma[:i], ma[i+1:]
	var stream bool
	switch action {
	case "generateContent":
	case "streamGenerateContent":
		stream = true
	case "countTokens":
		s.countTokens(f)(w, r, who)
		return
	default:
		s.writeError(w, r, f, id, &provider.Error{Kind: provider.KindNotFound,
			Message: fmt.Sprintf("unknown method %q: use generateContent, streamGenerateContent or countTokens", action)})
		return
	}
	body, perr := s.readBody(w, r)
	if perr != nil {
		s.writeError(w, r, f, id, perr)
		return
	}
	if _, err := jsonscan.Fields(body); err != nil {
		s.writeError(w, r, f, id, &provider.Error{Kind: provider.KindBadRequest, Message: "the request body is not valid JSON: " + err.Error(), Cause: err})
		return
	}
	c := s.newCall(r, who, f, provider.OpChat, body)
	c.Model, c.Stream = model, stream
	if c.Timeout, perr = timeoutHeader(r); perr != nil {
		s.writeError(w, r, f, id, perr)
		return
	}
	s.serve(w, r, c)
}

// statefulResponses answers the Responses API's stored-response endpoints
// (GET or DELETE /v1/responses/{id}, /input_items, /cancel, /compact, ...),
// which need stored responses: llmgate keeps none.
func (s *Server) statefulResponses(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, provider.FormatResponses, newRequestID(), &provider.Error{Kind: provider.KindNotFound,
		Message: fmt.Sprintf("%s %s is not served: llmgate does not store responses and serves only POST /v1/responses; "+
			"send the whole conversation in input (store: false)", r.Method, r.URL.Path)})
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	// Claude Code sends HEAD / as a warm-up; answer cheaply.
	writeJSON(w, http.StatusOK, map[string]string{"name": "llmgate", "version": s.o.Version,
		"docs": "OpenAI base_url: /v1, Anthropic and Gemini base_url: / (this root)"})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, clientFormat(r), newRequestID(), &provider.Error{Kind: provider.KindNotFound,
		Message: fmt.Sprintf("unknown path %s %s: llmgate serves POST /v1/chat/completions, /v1/messages, /v1/embeddings, /v1/responses, /v1beta/models/{model}:generateContent and GET /v1/models", r.Method, r.URL.Path)})
}
