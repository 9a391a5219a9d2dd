package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/mock"
)

const testMaster = "master-cli-test"

// govApp serves an App with an OpenAI mock upstream; it returns the
// gateway's URL and its data directory.
func govApp(t *testing.T) (string, string) {
	t.Helper()
	up := httptest.NewServer(mock.New(mock.Options{}))
	t.Cleanup(up.Close)
	dir := t.TempDir()
	cfg, err := config.Parse("cli-test.yaml", []byte(fmt.Sprintf(`master_key: %q
storage: {data_dir: %q}
providers:
  openai: {type: openai, base_url: %q, api_key: up}
`, testMaster, dir, up.URL+"/v1")), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	app, err := NewApp(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		app.Close(ctx)
	})
	return srv.URL, dir
}

// run runs the command line with the master key in the environment.
func run(t *testing.T, master string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		if k == "LLMGATE_MASTER_KEY" {
			return master
		}
		return ""
	}}
	code := Main(context.Background(), args, env)
	return code, out.String(), errb.String()
}

// must runs a command that must succeed and returns its stdout.
func must(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := run(t, testMaster, args...)
	if code != 0 {
		t.Fatalf("llmgate %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func contains(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, s)
		}
	}
}

func chat(t *testing.T, base, key, model string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions",
		strings.NewReader(fmt.Sprintf(`{"model": %q, "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}`, model)))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestPlatformTeamsDay is docs/governance.md as a test: create a team and
// keys, set limits, watch spend, top up, revoke.
func TestPlatformTeamsDay(t *testing.T) {
	base, dir := govApp(t)
	u := "--url=" + base

	out := must(t, "teams", "create", "platform", "--budget", "50", "--period", "monthly", "--soft-budget", "0.8", "--rpm", "600", u)
	contains(t, "teams create", out, "team:", "platform", "rpm 600", "$50 monthly", "warns at 80%")

	var ci governance.NewKey
	out = must(t, "keys", "create", "--name", "ci-bot", "--team", "platform", "--owner", "ana@example.com",
		"--models", "gpt-4o*", "--rpm", "60", "--budget", "10", "--period", "daily", "--soft-budget", "0.8", "--json", u)
	if err := json.Unmarshal([]byte(out), &ci); err != nil || !governance.IsVirtualKey(ci.Secret) {
		t.Fatalf("keys create --json: %v\n%s", err, out)
	}
	out = must(t, "keys", "create", "--name", "contractor", "--balance", "0", "--expires", "30d", u)
	contains(t, "keys create", out, "Created key key_", `"contractor"`, "sk-lg-", "only time the key is shown")
	contractor := strings.Fields(out[strings.Index(out, "key_"):])[0]

	out = must(t, "keys", "list", u)
	contains(t, "keys list", out, "ci-bot", "platform", "$10/daily", "contractor", "$0")

	if code, body := chat(t, base, ci.Secret, "gpt-4o-mini"); code != 200 {
		t.Fatalf("a request with the new key: %d %s", code, body)
	}
	if code, body := chat(t, base, ci.Secret, "o3"); code != 403 || !strings.Contains(body, "gpt-4o*") {
		t.Errorf("a model the key may not use: %d %s", code, body)
	}
	out = must(t, "keys", "show", ci.Key.ID, u)
	contains(t, "keys show", out, "ci-bot", "gpt-4o*", "rpm 60", "$10 daily", "spent", "warns at 80%")
	if strings.Contains(out, ci.Secret) {
		t.Error("keys show prints the secret")
	}

	out = must(t, "keys", "update", ci.Key.ID, "--rpm", "120", "--tpm", "100000", u)
	contains(t, "keys update", out, "rpm 120", "tpm 100000", "$10 daily")

	out = must(t, "topup", contractor, "--amount", "5", "--note", "PO-1234", u)
	contains(t, "topup", out, "Added $5", "balance $5")

	out = must(t, "teams", "list", u)
	contains(t, "teams list", out, "platform", "$50/monthly")
	out = must(t, "teams", "update", "platform", "--budget", "80", u)
	contains(t, "teams update", out, "$80 monthly")

	// The ledger is written in batches: wait for the request to show.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out = must(t, "usage", "--by", "key", u)
		if strings.Contains(out, "ci-bot") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	contains(t, "usage", out, "Usage by key", "ci-bot", "REQUESTS")
	out = must(t, "usage", "--by", "team", "--since", "24h", "--json", u)
	contains(t, "usage --json", out, `"group_by": "team"`, `"platform"`)

	out = must(t, "keys", "revoke", ci.Key.ID, u)
	contains(t, "keys revoke", out, "Revoked key", "ci-bot")
	if code, body := chat(t, base, ci.Secret, "gpt-4o-mini"); code != 401 || !strings.Contains(body, "revoked") {
		t.Errorf("a revoked key: %d %s", code, body)
	}
	out = must(t, "keys", "list", "--all", u)
	contains(t, "keys list --all", out, "revoked")
	out = must(t, "keys", "delete", contractor, u)
	contains(t, "keys delete", out, "Deleted key "+contractor)

	// With no gateway answering, usage reads the store itself.
	code, out, errs := run(t, testMaster, "usage", "--by", "model", "--url=http://127.0.0.1:1", "--data-dir", dir)
	if code != 0 || !strings.Contains(errs, "reading the store directly") || !strings.Contains(out, "gpt-4o-mini") {
		t.Errorf("usage from the store: exit %d\n%s%s", code, out, errs)
	}
}

func TestAdminCommandErrors(t *testing.T) {
	base, _ := govApp(t)
	u := "--url=" + base
	for _, tc := range []struct {
		name   string
		master string
		args   []string
		code   int
		want   string
	}{
		{"no name", testMaster, []string{"keys", "create", u}, 1, "name: is required"},
		{"bad period", testMaster, []string{"keys", "create", "--name", "x", "--budget", "1", "--period", "yearly", u}, 1, "daily, weekly, monthly or total"},
		{"unknown team", testMaster, []string{"keys", "create", "--name", "x", "--team", "ghosts", u}, 1, "teams create ghosts"},
		{"no master key", "", []string{"keys", "list", u}, 1, "LLMGATE_MASTER_KEY"},
		{"wrong master key", "nope", []string{"keys", "list", u}, 1, "HTTP 401"},
		{"unknown key", testMaster, []string{"keys", "show", "key_nope", u}, 1, "HTTP 404"},
		{"no id", testMaster, []string{"keys", "show", u}, 2, "exactly one key id"},
		{"nothing to update", testMaster, []string{"keys", "update", "key_x", u}, 2, "nothing to change"},
		{"bad expiry", testMaster, []string{"keys", "create", "--name", "x", "--expires", "soon", u}, 2, "--expires"},
		{"no amount", testMaster, []string{"topup", "key_x", u}, 2, "--amount"},
		{"unknown subcommand", testMaster, []string{"keys", "rotate"}, 2, `unknown subcommand "rotate"`},
		{"gateway down", testMaster, []string{"keys", "list", "--url=http://127.0.0.1:1"}, 1, "no gateway answered"},
		{"bad group", testMaster, []string{"usage", "--by", "color", u}, 2, "group by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, tc.master, tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Errorf("exit %d (want %d), output lacks %q:\n%s%s", code, tc.code, tc.want, out, errs)
			}
		})
	}
}

func TestTokensCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oa := write("oa.json", `{"model": "gpt-4o", "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is a token?"}]}`)
	an := write("an.json", `{"model": "claude-sonnet-4-5", "system": "You are terse.", "max_tokens": 10, "messages": [{"role": "user", "content": "What is a token?"}]}`)
	ge := write("ge.json", `{"contents": [{"role": "user", "parts": [{"text": "What is a token?"}]}]}`)
	text := write("text.txt", "hello world, count me")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"openai request", []string{"--file", oa}, 0, []string{"18 tokens", "request", "gpt-4o", "o200k_base"}},
		{"anthropic request", []string{"--file", an}, 0, []string{"tokens (request, model claude-sonnet-4-5, estimate"}},
		{"gemini request needs a model", []string{"--file", ge}, 2, []string{"--model"}},
		{"gemini request", []string{"--file", ge, "--model", "gemini-2.5-flash"}, 0, []string{"tokens (request, model gemini-2.5-flash"}},
		{"plain text", []string{"--file", text, "--model", "gpt-4o"}, 0, []string{"5 tokens (text, model gpt-4o, tokenizer o200k_base)"}},
		{"plain text needs a model", []string{"--file", text}, 2, []string{"--model"}},
		{"json", []string{"--file", oa, "--json"}, 0, []string{`"tokens": 18`, `"exact": true`, `"format": "openai"`}},
		{"bad format", []string{"--file", oa, "--format", "xml"}, 2, []string{"openai, anthropic or gemini"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, "", append([]string{"tokens"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s%s", code, tc.code, out, errs)
			}
			contains(t, "tokens", out+errs, tc.want...)
		})
	}
}

func FuzzParseExpiry(f *testing.F) {
	now := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "never", "720h", "30d", "2026-01-31", "2026-01-31T00:00:00Z", "soon", "-5d", "0d", "1ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseExpiry(s, now)
		if err != nil {
			return
		}
		if !e.IsZero() && e.Location() != time.UTC {
			t.Fatalf("parseExpiry(%q) = %v, not UTC", s, e)
		}
		if (strings.HasSuffix(s, "d") || strings.HasSuffix(s, "h") || strings.HasSuffix(s, "m") || strings.HasSuffix(s, "s")) &&
			!strings.Contains(s, "T") && !e.IsZero() && !e.After(now) && !strings.Contains(s, "-") {
			t.Fatalf("a duration %q gave %v, not after now", s, e)
		}
	})
}
