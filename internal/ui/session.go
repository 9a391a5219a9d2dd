package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Cookie and header names of a dashboard session.
const (
	CookieName = "llmgate_session"
	CSRFHeader = "X-CSRF-Token"
)

// Defaults of SessionOptions.
const (
	DefaultTTL         = 12 * time.Hour
	DefaultMaxSessions = 1000
	// loginFailures is how many wrong keys the login accepts per
	// loginWindow before it answers 429 to everyone until the window ends.
	loginFailures = 10
	loginWindow   = time.Minute
)

// SessionOptions configures Sessions.
type SessionOptions struct {
	// MasterKey is the only credential a login accepts. Empty: logins are
	// refused, as the admin API is (it is disabled without a master key).
	MasterKey string
	// TTL is how long a session lasts from its login (an absolute expiry,
	// not renewed by use). Default DefaultTTL.
	TTL time.Duration
	// MaxSessions bounds the sessions held; past it, a login evicts the
	// session closest to expiry. Default DefaultMaxSessions.
	MaxSessions int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// session is what the server keeps about one login; the browser only holds
// the random token whose hash is its key in Sessions.m.
type session struct {
	csrf    string
	expires time.Time
}

// Sessions holds the dashboard's logins: a random token in an HttpOnly,
// SameSite=Strict cookie, mapped server-side to an expiry and a CSRF token.
// The master key is compared in constant time at login and never stored in
// a cookie. Requests that change state must also carry the session's CSRF
// token in X-CSRF-Token and, when the browser sends one, an Origin naming
// this host. It is safe for concurrent use. Create it with NewSessions.
type Sessions struct {
	o SessionOptions

	mu sync.Mutex
	// protects following
	m         map[[32]byte]session // by SHA-256 of the cookie token
	failures  int                  // wrong keys in the current window
	failStart time.Time            // start of that window
}

// NewSessions returns an empty session store configured by o.
func NewSessions(o SessionOptions) *Sessions {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Sessions{o: o, m: map[[32]byte]session{}}
}

// Enabled reports whether logins are possible (a master key is configured).
func (s *Sessions) Enabled() bool { return s.o.MasterKey != "" }

// Len is the number of sessions held, expired ones included until they are
// swept.
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// newToken returns 32 random bytes, base64url encoded.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkKey compares k with the master key in constant time.
func (s *Sessions) checkKey(k string) bool {
	return s.o.MasterKey != "" && subtle.ConstantTimeCompare([]byte(k), []byte(s.o.MasterKey)) == 1
}

// lookup returns the live session of r's cookie.
func (s *Sessions) lookup(r *http.Request) (session, [32]byte, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return session{}, [32]byte{}, false
	}
	h := sha256.Sum256([]byte(c.Value))
	now := s.o.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[h]
	if ok && !now.Before(ss.expires) {
		delete(s.m, h)
		ok = false
	}
	return ss, h, ok
}

// safeMethod reports whether m cannot change state.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// SameOrigin reports whether a browser request comes from a page of this
// host: its Origin header, when present, must name r.Host (a cross-site
// page cannot forge it), and its Sec-Fetch-Site, when present, must be
// same-origin or none. Requests with neither (curl, SDKs) pass; they hold
// no ambient cookie a third party could abuse. Only the host is compared,
// not the scheme, so a TLS-terminating proxy in front keeps working.
func SameOrigin(r *http.Request) bool {
	if v := r.Header.Get("Sec-Fetch-Site"); v != "" && v != "same-origin" && v != "none" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false // includes "null"
	}
	return strings.EqualFold(u.Host, r.Host)
}

// Authorized reports whether r carries a live session that may make it: a
// valid session cookie, and for methods other than GET/HEAD/OPTIONS the
// session's CSRF token in X-CSRF-Token (compared in constant time) and a
// same-origin request (SameOrigin). It is the alternative to the master
// key that /admin/, /logs and /health accept from the dashboard.
func (s *Sessions) Authorized(r *http.Request) bool {
	if !s.Enabled() {
		return false
	}
	ss, _, ok := s.lookup(r)
	if !ok {
		return false
	}
	if safeMethod(r.Method) {
		return true
	}
	tok := r.Header.Get(CSRFHeader)
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(ss.csrf)) == 1 && SameOrigin(r)
}

// State is the answer to GET /ui/session: whether a login is possible and
// held, and the session's CSRF token for the page's writes.
type State struct {
	// MasterKey says whether a master key is configured; without one the
	// admin API and so the dashboard are disabled.
	MasterKey     bool       `json:"master_key"`
	Authenticated bool       `json:"authenticated"`
	CSRF          string     `json:"csrf,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	Message       string     `json:"message,omitempty"`
}

const disabledMessage = "no master key is configured, so the admin API and this dashboard are disabled: start llmgate with LLMGATE_MASTER_KEY (or master_key in the config) set"

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"type": typ, "message": msg}})
}

// handleState answers GET /ui/session.
func (s *Sessions) handleState(w http.ResponseWriter, r *http.Request) {
	st := State{MasterKey: s.Enabled()}
	if !st.MasterKey {
		st.Message = disabledMessage
	} else if ss, _, ok := s.lookup(r); ok {
		st.Authenticated, st.CSRF = true, ss.csrf
		exp := ss.expires.UTC()
		st.ExpiresAt = &exp
	}
	writeJSON(w, http.StatusOK, st)
}

// loginRequest is the body of POST /ui/login (JSON, or a form with a key
// field).
type loginRequest struct {
	Key string `json:"key"`
}

// handleLogin answers POST /ui/login: the master key in, a session cookie
// out.
func (s *Sessions) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !s.Enabled() {
		writeError(w, http.StatusForbidden, "permission_error", disabledMessage)
		return
	}
	if !SameOrigin(r) {
		writeError(w, http.StatusForbidden, "permission_error", "cross-origin login refused")
		return
	}
	var req loginRequest
	body := http.MaxBytesReader(w, r.Body, 64<<10)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(body).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "the body is not JSON like {\"key\": \"...\"}")
			return
		}
	} else {
		r.Body = body
		req.Key = r.PostFormValue("key")
	}
	now := s.o.Now()
	s.mu.Lock()
	if now.Sub(s.failStart) >= loginWindow {
		s.failures, s.failStart = 0, now
	}
	throttled := s.failures >= loginFailures
	retry := s.failStart.Add(loginWindow).Sub(now)
	s.mu.Unlock()
	if throttled {
		w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
		writeError(w, http.StatusTooManyRequests, "rate_limit_error", "too many wrong keys: try again in a minute")
		return
	}
	if !s.checkKey(req.Key) {
		s.mu.Lock()
		s.failures++
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "authentication_error", "that is not the gateway's master key (LLMGATE_MASTER_KEY)")
		return
	}
	tok, csrf := newToken(), newToken()
	exp := now.Add(s.o.TTL)
	s.mu.Lock()
	s.sweepLocked(now)
	s.m[sha256.Sum256([]byte(tok))] = session{csrf: csrf, expires: exp}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: tok, Path: "/", Expires: exp,
		MaxAge: int(s.o.TTL.Seconds()), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	e := exp.UTC()
	writeJSON(w, http.StatusOK, State{MasterKey: true, Authenticated: true, CSRF: csrf, ExpiresAt: &e})
}

// sweepLocked drops expired sessions and, at the cap, the one closest to
// expiry, so a new one fits.
func (s *Sessions) sweepLocked(now time.Time) {
	var oldest [32]byte
	var oldestAt time.Time
	for h, ss := range s.m {
		if !now.Before(ss.expires) {
			delete(s.m, h)
			continue
		}
		if oldestAt.IsZero() || ss.expires.Before(oldestAt) {
			oldest, oldestAt = h, ss.expires
		}
	}
	if len(s.m) >= s.o.MaxSessions {
		delete(s.m, oldest)
	}
}

// handleLogout answers POST /ui/logout: it ends the session (which must
// pass Authorized, CSRF token included) and clears the cookie.
func (s *Sessions) handleLogout(w http.ResponseWriter, r *http.Request) {
	if !s.Authorized(r) {
		writeError(w, http.StatusForbidden, "permission_error", "logout needs the session cookie and its X-CSRF-Token")
		return
	}
	if _, h, ok := s.lookup(r); ok {
		s.mu.Lock()
		delete(s.m, h)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, State{MasterKey: true})
}
