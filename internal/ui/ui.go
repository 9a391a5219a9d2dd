// Package ui is llmgate's web dashboard, served by the binary at /ui/: a
// few hand-written HTML, CSS and JavaScript files embedded with go:embed
// (no CDN, no build step, works offline), and the login sessions that let
// the page call the admin API (/admin/, /logs, /health) with a cookie and
// a CSRF token instead of the master key. Every number the page shows comes
// from those same endpoints the CLI uses.
//
//	GET  /ui/           the dashboard (index.html, app.js, app.css)
//	GET  /ui/session    {"master_key", "authenticated", "csrf", "expires_at"}
//	POST /ui/login      {"key": "<master key>"} -> session cookie + CSRF token
//	POST /ui/logout     ends the session (needs X-CSRF-Token)
package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Assets returns the embedded dashboard files (index.html at the root).
func Assets() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return sub
}

// csp lets the page load only its own files and talk only to its own
// origin; no inline script or style, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Handler returns the handler for /ui/ (mount it at "/ui/"). It is safe for
// concurrent use.
func Handler(s *Sessions) http.Handler {
	files := http.StripPrefix("/ui/", http.FileServerFS(Assets()))
	m := http.NewServeMux()
	m.HandleFunc("GET /ui/session", s.handleState)
	m.HandleFunc("POST /ui/login", s.handleLogin)
	m.HandleFunc("POST /ui/logout", s.handleLogout)
	m.Handle("GET /ui/", files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		m.ServeHTTP(w, r)
	})
}
