package ui

import (
	"crypto/tls"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const master = "sk-master-0123456789abcdef"

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestSessions(o SessionOptions) (*Sessions, *fakeClock) {
	clk := &fakeClock{t: time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)}
	if o.MasterKey == "" {
		o.MasterKey = master
	}
	o.Now = clk.Now
	return NewSessions(o), clk
}

// login posts key to the handler and returns the answer.
func login(t *testing.T, h http.Handler, key string, mod func(*http.Request)) (*httptest.ResponseRecorder, State) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"key": key})
	r := httptest.NewRequest(http.MethodPost, "http://gw.test/ui/login", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	if mod != nil {
		mod(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var st State
	_ = json.Unmarshal(w.Body.Bytes(), &st)
	return w, st
}

func sessionCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", CookieName, w.Header()["Set-Cookie"])
	return nil
}

func req(method string, c *http.Cookie, hdr map[string]string) *http.Request {
	r := httptest.NewRequest(method, "http://gw.test/admin/keys", nil)
	if c != nil {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

func TestLoginCookieFlags(t *testing.T) {
	s, _ := newTestSessions(SessionOptions{TTL: time.Hour})
	h := Handler(s)
	tests := []struct {
		name   string
		tls    bool
		secure bool
	}{
		{"plain http: not Secure, or the browser would drop it", false, false},
		{"over TLS: Secure", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, st := login(t, h, master, func(r *http.Request) {
				if tt.tls {
					r.TLS = &tls.ConnectionState{}
				}
			})
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			c := sessionCookie(t, w)
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != tt.secure {
				t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, Secure=%v", c, tt.secure)
			}
			if c.MaxAge != 3600 {
				t.Errorf("MaxAge %d, want the TTL (3600)", c.MaxAge)
			}
			raw := w.Header().Get("Set-Cookie")
			if !strings.Contains(raw, "HttpOnly") || !strings.Contains(raw, "SameSite=Strict") {
				t.Errorf("Set-Cookie %q lacks HttpOnly or SameSite=Strict", raw)
			}
			if st.CSRF == "" || !st.Authenticated || st.CSRF == c.Value {
				t.Errorf("state %+v: want a CSRF token distinct from the cookie", st)
			}
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
		})
	}
}

func TestKeyNeverInCookieOrAnswers(t *testing.T) {
	s, _ := newTestSessions(SessionOptions{})
	h := Handler(s)
	w, _ := login(t, h, master, nil)
	c := sessionCookie(t, w)
	if strings.Contains(c.Value, master) || strings.Contains(w.Body.String(), master) || strings.Contains(w.Header().Get("Set-Cookie"), master) {
		t.Fatalf("the master key leaked into the login answer: %s %s", w.Header(), w.Body)
	}
	if len(c.Value) < 40 {
		t.Errorf("session token %q is short: want 32 random bytes", c.Value)
	}
	// The server keeps only a hash of the token, never the key or token.
	s.mu.Lock()
	for h, ss := range s.m {
		if strings.Contains(string(h[:]), c.Value) || ss.csrf == master || ss.csrf == c.Value {
			t.Errorf("session entry holds a secret it should not: %+v", ss)
		}
	}
	s.mu.Unlock()
	// Two logins get different tokens.
	w2, _ := login(t, h, master, nil)
	if sessionCookie(t, w2).Value == c.Value {
		t.Error("two logins got the same token")
	}
	// GET /ui/session shows the CSRF token but not the key.
	r := httptest.NewRequest(http.MethodGet, "http://gw.test/ui/session", nil)
	r.AddCookie(c)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if strings.Contains(rec.Body.String(), master) || !strings.Contains(rec.Body.String(), `"authenticated":true`) {
		t.Errorf("GET /ui/session: %s", rec.Body)
	}
}

func TestWrongKeyRefused(t *testing.T) {
	s, _ := newTestSessions(SessionOptions{})
	h := Handler(s)
	for _, key := range []string{"", "wrong", master[:len(master)-1], master + "x", strings.ToUpper(master)} {
		w, _ := login(t, h, key, nil)
		if w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 {
			t.Errorf("key %q: status %d cookies %v, want 401 and no cookie", key, w.Code, w.Result().Cookies())
		}
	}
	// A form post works too (no JavaScript needed to log in).
	r := httptest.NewRequest(http.MethodPost, "http://gw.test/ui/login", strings.NewReader("key="+master))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("form login: %d %s", w.Code, w.Body)
	}
}

func TestCSRFAndOrigin(t *testing.T) {
	s, _ := newTestSessions(SessionOptions{})
	w, st := login(t, Handler(s), master, nil)
	c := sessionCookie(t, w)
	other, _ := login(t, Handler(s), master, nil)
	otherCSRF := other.Body.String()
	var ost State
	_ = json.Unmarshal([]byte(otherCSRF), &ost)

	tests := []struct {
		name   string
		method string
		cookie *http.Cookie
		hdr    map[string]string
		want   bool
	}{
		{"GET with the cookie", http.MethodGet, c, nil, true},
		{"GET without a cookie", http.MethodGet, nil, nil, false},
		{"GET with a made-up cookie", http.MethodGet, &http.Cookie{Name: CookieName, Value: "forged"}, nil, false},
		{"GET with the master key as cookie", http.MethodGet, &http.Cookie{Name: CookieName, Value: master}, nil, false},
		{"POST without CSRF token", http.MethodPost, c, nil, false},
		{"POST with a wrong CSRF token", http.MethodPost, c, map[string]string{CSRFHeader: "nope"}, false},
		{"POST with another session's CSRF token", http.MethodPost, c, map[string]string{CSRFHeader: ost.CSRF}, false},
		{"POST with the CSRF token as a prefix", http.MethodPost, c, map[string]string{CSRFHeader: st.CSRF[:10]}, false},
		{"POST with the CSRF token", http.MethodPost, c, map[string]string{CSRFHeader: st.CSRF}, true},
		{"PATCH with the CSRF token and same Origin", http.MethodPatch, c, map[string]string{CSRFHeader: st.CSRF, "Origin": "http://gw.test"}, true},
		{"DELETE with the CSRF token, foreign Origin", http.MethodDelete, c, map[string]string{CSRFHeader: st.CSRF, "Origin": "https://evil.example"}, false},
		{"POST with the CSRF token, Origin null", http.MethodPost, c, map[string]string{CSRFHeader: st.CSRF, "Origin": "null"}, false},
		{"POST with the CSRF token, cross-site fetch", http.MethodPost, c, map[string]string{CSRFHeader: st.CSRF, "Sec-Fetch-Site": "cross-site"}, false},
		{"POST with the CSRF token, same-origin fetch", http.MethodPost, c, map[string]string{CSRFHeader: st.CSRF, "Sec-Fetch-Site": "same-origin"}, true},
		{"POST with the CSRF token but no cookie", http.MethodPost, nil, map[string]string{CSRFHeader: st.CSRF}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Authorized(req(tt.method, tt.cookie, tt.hdr)); got != tt.want {
				t.Errorf("Authorized = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoginRefusesCrossOrigin(t *testing.T) {
	s, _ := newTestSessions(SessionOptions{})
	w, _ := login(t, Handler(s), master, func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") })
	if w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
		t.Fatalf("cross-origin login: %d %v, want 403 and no cookie", w.Code, w.Result().Cookies())
	}
}

func TestSessionExpires(t *testing.T) {
	s, clk := newTestSessions(SessionOptions{TTL: time.Hour})
	w, _ := login(t, Handler(s), master, nil)
	c := sessionCookie(t, w)
	if !c.Expires.Equal(clk.Now().Add(time.Hour).Truncate(time.Second)) {
		t.Errorf("cookie Expires %v, want login + TTL", c.Expires)
	}
	clk.Advance(time.Hour - time.Second)
	if !s.Authorized(req(http.MethodGet, c, nil)) {
		t.Fatal("session refused before its expiry")
	}
	clk.Advance(time.Second)
	if s.Authorized(req(http.MethodGet, c, nil)) {
		t.Fatal("session accepted at its expiry")
	}
	if s.Len() != 0 {
		t.Errorf("expired session still held (%d)", s.Len())
	}
}

func TestLogout(t *testing.T) {
	s, _ := newTestSessions(SessionOptions{})
	h := Handler(s)
	w, st := login(t, h, master, nil)
	c := sessionCookie(t, w)
	// Logout without the CSRF token is refused (a cross-site page cannot log you out).
	r := httptest.NewRequest(http.MethodPost, "http://gw.test/ui/logout", nil)
	r.AddCookie(c)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden || !s.Authorized(req(http.MethodGet, c, nil)) {
		t.Fatalf("logout without CSRF: %d, session alive %v; want 403 and alive", rec.Code, s.Authorized(req(http.MethodGet, c, nil)))
	}
	r = httptest.NewRequest(http.MethodPost, "http://gw.test/ui/logout", nil)
	r.AddCookie(c)
	r.Header.Set(CSRFHeader, st.CSRF)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body)
	}
	cleared := sessionCookie(t, rec)
	if cleared.MaxAge >= 0 || cleared.Value != "" {
		t.Errorf("logout cookie %+v: want it cleared", cleared)
	}
	if s.Authorized(req(http.MethodGet, c, nil)) {
		t.Error("the old cookie still works after logout")
	}
}

func TestLoginThrottle(t *testing.T) {
	s, clk := newTestSessions(SessionOptions{})
	h := Handler(s)
	for i := range loginFailures {
		if w, _ := login(t, h, "guess", nil); w.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, w.Code)
		}
	}
	w, _ := login(t, h, master, nil)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("after %d wrong keys: %d, want 429 with Retry-After", loginFailures, w.Code)
	}
	clk.Advance(loginWindow)
	if w, _ := login(t, h, master, nil); w.Code != http.StatusOK {
		t.Fatalf("after the window: %d", w.Code)
	}
}

func TestMaxSessions(t *testing.T) {
	s, clk := newTestSessions(SessionOptions{MaxSessions: 3})
	h := Handler(s)
	var first *http.Cookie
	for i := range 5 {
		w, _ := login(t, h, master, nil)
		if i == 0 {
			first = sessionCookie(t, w)
		}
		clk.Advance(time.Second)
	}
	if s.Len() != 3 {
		t.Errorf("%d sessions held, want the cap 3", s.Len())
	}
	if s.Authorized(req(http.MethodGet, first, nil)) {
		t.Error("the oldest session survived eviction")
	}
}

func TestNoMasterKey(t *testing.T) {
	s := NewSessions(SessionOptions{})
	h := Handler(s)
	w, _ := login(t, h, "", nil)
	if w.Code != http.StatusForbidden {
		t.Errorf("login without a master key configured: %d, want 403", w.Code)
	}
	r := httptest.NewRequest(http.MethodGet, "http://gw.test/ui/session", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	var st State
	_ = json.Unmarshal(rec.Body.Bytes(), &st)
	if st.MasterKey || st.Authenticated || !strings.Contains(st.Message, "LLMGATE_MASTER_KEY") {
		t.Errorf("state %+v: want disabled with a message naming LLMGATE_MASTER_KEY", st)
	}
	if s.Authorized(req(http.MethodGet, &http.Cookie{Name: CookieName, Value: "x"}, nil)) {
		t.Error("Authorized without a master key")
	}
}

func TestPageHeaders(t *testing.T) {
	h := Handler(NewSessions(SessionOptions{MasterKey: master}))
	for _, path := range []string{"/ui/", "/ui/app.js", "/ui/app.css"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://gw.test"+path, nil))
		if rec.Code != http.StatusOK || rec.Body.Len() < 100 {
			t.Errorf("%s: %d, %d bytes", path, rec.Code, rec.Body.Len())
		}
		csp := rec.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	// No asset loads anything from another origin.
	for _, name := range []string{"index.html", "app.js", "app.css"} {
		b, err := static.ReadFile("static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"http://", "https://", "//cdn", "@import"} {
			text := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
			if strings.Contains(text, bad) {
				t.Errorf("%s refers to %q: the dashboard must work offline", name, bad)
			}
		}
	}
}

// TestSecretsComparedInConstantTime reads this package's and the server's
// source: the master key and CSRF tokens may only be compared through
// subtle.ConstantTimeCompare, never with == or != (except against "").
func TestSecretsComparedInConstantTime(t *testing.T) {
	secret := func(e ast.Expr) bool {
		switch x := e.(type) {
		case *ast.SelectorExpr:
			return x.Sel.Name == "MasterKey" || x.Sel.Name == "csrf"
		case *ast.Ident:
			return x.Name == "tok" || x.Name == "master"
		}
		return false
	}
	empty := func(e ast.Expr) bool { b, ok := e.(*ast.BasicLit); return ok && b.Value == `""` }
	fset := token.NewFileSet()
	for _, file := range []string{"session.go", "../server/server.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		uses := 0
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.BinaryExpr:
				if (x.Op == token.EQL || x.Op == token.NEQ) && (secret(x.X) || secret(x.Y)) && !empty(x.X) && !empty(x.Y) {
					t.Errorf("%s: a secret compared with %s; use subtle.ConstantTimeCompare", fset.Position(x.Pos()), x.Op)
				}
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok && id.Name == "subtle" && x.Sel.Name == "ConstantTimeCompare" {
					uses++
				}
			}
			return true
		})
		if uses == 0 {
			t.Errorf("%s: no subtle.ConstantTimeCompare", file)
		}
	}
}
