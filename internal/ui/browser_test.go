package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/llmgate/llmgate/internal/mock"
	"github.com/llmgate/llmgate/internal/reqlog"
	"github.com/llmgate/llmgate/internal/store"
)

// chromium finds Debian's chromium (or $LLMGATE_CHROMIUM). With
// LLMGATE_REQUIRE_BROWSER=1 (CI) a missing browser fails the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("LLMGATE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("LLMGATE_REQUIRE_BROWSER") == "1" {
		t.Fatal("chromium is not installed and LLMGATE_REQUIRE_BROWSER=1: install it (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium); set LLMGATE_REQUIRE_BROWSER=1 to fail instead")
	return ""
}

// problems collects what a user would see go wrong: console errors,
// uncaught exceptions, failed or refused requests.
type problems struct {
	mu   sync.Mutex
	list []string
}

func (p *problems) add(format string, args ...any) {
	p.mu.Lock()
	p.list = append(p.list, fmt.Sprintf(format, args...))
	p.mu.Unlock()
}

func (p *problems) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.list...)
}

// chat sends one request through the gateway and fails the test unless it
// gets want.
func chat(t *testing.T, base, key, model string, stream bool, want int) {
	t.Helper()
	body := fmt.Sprintf(`{"model":%q,"stream":%v,"max_tokens":200,"messages":[{"role":"user","content":"hello from the browser test"}]}`, model, stream)
	r, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("chat %s: %d %s, want %d", model, resp.StatusCode, buf.String(), want)
	}
}

// admin calls the admin API with the bearer master key.
func admin(t *testing.T, base, method, path, body string) map[string]any {
	t.Helper()
	r, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+master)
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
	}
	return out
}

// TestDashboardInBrowser drives the dashboard in headless Chromium as an
// operator would: log in, find a request made through the gateway in the
// log, open its detail, create a key and revoke it, watch a new request
// appear without reloading, and take screenshots at two widths.
// LLMGATE_SCREENSHOT_DIR keeps the screenshots there (docs/ uses them).
func TestDashboardInBrowser(t *testing.T) {
	exe := chromium(t)
	// The mock answers with varied latency, and fails some OpenAI calls so
	// the gateway retries or falls back to the Anthropic route.
	base, app := startWith(t, master, mock.Options{TokenDelay: time.Millisecond, Script: func(r *http.Request, n int) *mock.Fault {
		f := &mock.Fault{Latency: time.Duration(2+n%9*3) * time.Millisecond}
		if r.URL.Path == "/v1/chat/completions" && n%7 == 0 {
			f.Status = http.StatusServiceUnavailable
		}
		return f
	}})

	// Something for every page: a team, keys with a budget and a balance,
	// successes, streams, fallbacks and client errors.
	admin(t, base, http.MethodPost, "/admin/teams", `{"name":"research","budget_usd":50,"budget_period":"monthly"}`)
	ci := admin(t, base, http.MethodPost, "/admin/keys", `{"name":"ci-bot","team":"research","budget_usd":0.5,"rpm":600}`)
	prepaid := admin(t, base, http.MethodPost, "/admin/keys", `{"name":"contractor","balance_usd":5}`)
	ciKey, prepaidKey := ci["secret"].(string), prepaid["secret"].(string)
	for i := range 24 {
		key := []string{ciKey, prepaidKey, ""}[i%3]
		chat(t, base, key, []string{"gpt-4o", "claude"}[i%2], i%4 == 0, 200)
	}
	chat(t, base, ciKey, "no-such-model", false, 404)
	seeded := seedHistory(app.Log, ci["key"].(map[string]any)["id"].(string), prepaid["key"].(map[string]any)["id"].(string))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	var bad problems
	err := chromedp.Listen(bctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				bad.add("console.%s: %s", ev.Type, strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			desc := ""
			if d.Exception != nil {
				desc = d.Exception.Description
			}
			bad.add("uncaught exception: %s %s (%s:%d)", d.Text, desc, d.URL, d.LineNumber)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				bad.add("browser log: %s %s", ev.Entry.Text, ev.Entry.URL)
			}
		case *network.EventResponseReceived:
			if ev.Response.Status >= 400 {
				bad.add("HTTP %d for %s", int(ev.Response.Status), ev.Response.URL)
			}
		case *network.EventLoadingFailed:
			if !ev.Canceled {
				bad.add("request failed: %s", ev.ErrorText)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	shots := os.Getenv("LLMGATE_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v\nproblems so far: %v", what, err, bad.get())
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	waitJS := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("%s: waiting for %s: %v\nproblems so far: %v", what, expr, err, bad.get())
		}
	}

	// Log in with the master key.
	run("open the dashboard", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, log.Enable, cdp.Empty{})
		return err
	}), chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("#login-key")))
	run("log in", chromedp.SendKeys(chromedp.ID("#login-key"), master), chromedp.Click(chromedp.ID("#login-submit")),
		chromedp.WaitVisible(chromedp.ID("#nav")), chromedp.WaitVisible(chromedp.ID("#card-requests")))
	if got, want := text("#card-requests"), fmt.Sprint(25+seeded); !strings.Contains(got, want) {
		t.Errorf("overview requests card %q: want the %s requests made and seeded", got, want)
	}
	waitJS("overview charts", `document.querySelectorAll('#ov-charts svg polyline').length >= 5`)
	var cookies []*network.Cookie
	run("read cookies", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{})
		cookies = res.Cookies
		return err
	}))
	for _, c := range cookies {
		if strings.Contains(c.Value, master) {
			t.Error("the master key is in a browser cookie")
		}
		if c.Name == "llmgate_session" && (!c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict) {
			t.Errorf("session cookie %+v: want HttpOnly and SameSite=Strict", c)
		}
	}
	stored, err := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify(localStorage)+JSON.stringify(sessionStorage)+document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, master) {
		t.Error("the master key is in the page's storage")
	}
	screenshot(t, bctx, filepath.Join(shots, "dashboard-wide.png"), 1280)

	// The request log shows the requests; one opens to its detail.
	run("request log", hash("requests"), chromedp.WaitVisible(chromedp.CSS(`#req-list tr[data-id]`)),
		chromedp.SetValue(chromedp.ID("#f-since"), "15m"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('f-since').dispatchEvent(new Event('change'))`))
	waitJS("since filter", `document.querySelectorAll('#req-list tr[data-id]').length === 25`)
	if got := text("#req-list"); !strings.Contains(got, "gpt-4o") || !strings.Contains(got, "no-such-model") {
		t.Errorf("request log does not show the requests made:\n%s", got)
	}
	n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#req-list tr[data-id]').length`))
	if err != nil {
		t.Fatal(err)
	}
	if n != 25 {
		t.Errorf("%d rows in the request log, want 25", n)
	}
	// Filters: by status, then back.
	run("filter errors", chromedp.SetValue(chromedp.ID("#f-status"), "error"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('f-status').dispatchEvent(new Event('change'))`))
	waitJS("filtered", `document.querySelectorAll('#req-list tr[data-id]').length === 1`)
	run("unfilter", chromedp.SetValue(chromedp.ID("#f-status"), ""),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('f-status').dispatchEvent(new Event('change'))`))
	waitJS("unfiltered", `document.querySelectorAll('#req-list tr[data-id]').length === 25`)

	// Live: a request made now appears without a reload.
	chat(t, base, prepaidKey, "gpt-4o", true, 200)
	waitJS("live update", `document.querySelectorAll('#req-list tr[data-id]').length === 26`)

	screenshot(t, bctx, filepath.Join(shots, "dashboard-requests.png"), 1280)
	run("open a request", chromedp.Click(chromedp.CSS(`#req-list tr[data-id]`)),
		chromedp.WaitVisible(chromedp.ID("#request-detail")))
	detail := text("#request-detail")
	for _, want := range []string{"Attempts", "Fallback", "Time to first token", "Tokens", "Cost", "contractor", "gpt-4o", "streamed"} {
		if !strings.Contains(detail, want) {
			t.Errorf("request detail lacks %q:\n%s", want, detail)
		}
	}

	screenshot(t, bctx, filepath.Join(shots, "dashboard-request.png"), 1280)

	// Create a key, see its secret once, revoke it.
	run("keys page", hash("keys"), chromedp.WaitVisible(chromedp.CSS(`tr[data-name="ci-bot"]`)))
	run("create a key", chromedp.SendKeys(chromedp.ID("#key-name"), "browser-key"), chromedp.SendKeys(chromedp.ID("#key-budget"), "2.5"),
		chromedp.Click(chromedp.ID("#key-create-submit")), chromedp.WaitVisible(chromedp.ID("#key-secret")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-name="browser-key"]`)))
	if s := text("#key-secret"); !strings.Contains(s, "browser-key") {
		t.Errorf("secret box: %q", s)
	}
	screenshot(t, bctx, filepath.Join(shots, "dashboard-keys.png"), 1280)
	keys := admin(t, base, http.MethodGet, "/admin/keys", "")["keys"].([]any)
	var id string
	for _, k := range keys {
		if k := k.(map[string]any); k["name"] == "browser-key" {
			id = k["id"].(string)
			if k["budget_usd"].(float64) != 2.5 {
				t.Errorf("created key's budget %v, want 2.5", k["budget_usd"])
			}
		}
	}
	if id == "" {
		t.Fatal("the key created in the browser is not in GET /admin/keys")
	}
	run("revoke it", chromedp.Click(chromedp.CSS(`tr[data-name="browser-key"] button[data-action="revoke"]`)),
		chromedp.WaitVisible(chromedp.ID("#dialog-ok")), chromedp.Click(chromedp.ID("#dialog-ok")),
		chromedp.WaitNotPresent(chromedp.CSS(`tr[data-name="browser-key"]`)))
	if st := admin(t, base, http.MethodGet, "/admin/keys/"+id, "")["status"]; st != "revoked" {
		t.Errorf("key status after revoking in the browser: %v", st)
	}

	// The other pages render.
	run("providers", hash("providers"), chromedp.WaitVisible(chromedp.CSS(`tr[data-provider="oa"]`)))
	if got := text("#pv-routes"); !strings.Contains(got, "oa/gpt-4o") || !strings.Contains(got, "an/claude-sonnet-4-5") {
		t.Errorf("routes panel: %s", got)
	}
	screenshot(t, bctx, filepath.Join(shots, "dashboard-providers.png"), 1280)
	run("spend", hash("spend"), chromedp.WaitVisible(chromedp.CSS(`#sp-report table`)))
	if got := text("#sp-report"); !strings.Contains(got, "ci-bot") || !strings.Contains(got, "total") {
		t.Errorf("spend report: %s", got)
	}
	screenshot(t, bctx, filepath.Join(shots, "dashboard-spend.png"), 1280)

	// Narrow: the overview on a phone-sized screen.
	run("narrow overview", hash("overview"), chromedp.WaitVisible(chromedp.ID("#card-requests")))
	waitJS("charts", `document.querySelectorAll('#ov-charts svg polyline').length >= 5`)
	screenshot(t, bctx, filepath.Join(shots, "dashboard-narrow.png"), 420)

	// Log out: the page returns to the login form and the session is gone.
	run("log out", chromedp.EmulateViewport(1280, 900), chromedp.Click(chromedp.ID("#logout")),
		chromedp.WaitVisible(chromedp.ID("#login-key")))
	if p := bad.get(); len(p) > 0 {
		t.Errorf("the browser saw problems:\n%s", strings.Join(p, "\n"))
	}
}

// hash switches the dashboard's page the way its navigation links do.
func hash(page string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`location.hash = "#/` + page + `"`)
}

// screenshot takes a full-page PNG at the given width and checks that it
// shows a rendered page: not tiny, and not a blank or single-colour image.
func screenshot(t *testing.T, ctx context.Context, path string, width int64) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900), waitFrames()); err != nil {
		t.Fatalf("viewport %d: %v", width, err)
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() != int(width) || b.Dy() < 600 {
		t.Errorf("screenshot %s is %dx%d, want %d wide and a full page", path, b.Dx(), b.Dy(), width)
	}
	bg := img.At(b.Min.X+b.Dx()/2, b.Max.Y-1)
	colours := map[uint32]bool{}
	differ := 0
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			c := img.At(x, y)
			r, g, bb, _ := c.RGBA()
			colours[(r>>8)<<16|(g>>8)<<8|bb>>8] = true
			if !sameColour(c, bg) {
				differ++
			}
		}
	}
	total := (b.Dx() / 3) * (b.Dy() / 3)
	if len(colours) < 50 || differ < total/20 {
		t.Errorf("screenshot %s looks blank: %d colours, %d of %d sampled pixels differ from the background", path, len(colours), differ, total)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s: %dx%d, %d colours", path, b.Dx(), b.Dy(), len(colours))
}

func sameColour(a, b color.Color) bool {
	ar, ag, ab, _ := a.RGBA()
	br, bg, bb, _ := b.RGBA()
	return ar == br && ag == bg && ab == bb
}

// waitFrames waits for two animation frames, so a layout change (a new
// viewport width) has been painted before the screenshot.
func waitFrames() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`,
			func(p *runtime.EvaluateParams) { p.AwaitPromise = new(true) })(ctx, tg)
		return err
	})
}

// seedHistory records an hour of synthetic past traffic into the request
// log (from 58 to 16 minutes ago, so "last 15 minutes" shows only the real
// requests), so the overview's charts have a shape. It returns how many
// records it added.
func seedHistory(l *reqlog.Log, keys ...string) int {
	now := time.Now().UTC()
	n := 0
	for m := 58; m >= 16; m-- {
		perMin := 6 + int(4*math.Sin(float64(m)/7))
		for i := range perMin {
			at := now.Add(-time.Duration(m)*time.Minute + time.Duration(i)*time.Second*60/time.Duration(perMin))
			lat := time.Duration(180+40*math.Sin(float64(m+i))+float64((m*i)%9)*25) * time.Millisecond
			r := store.Record{Time: at, ClientFormat: "openai", Op: "chat", ModelAsked: "gpt-4o", Provider: "oa",
				ModelServed: "gpt-4o", Status: 200, Attempts: 1, Latency: lat, InputTokens: 400 + 37*i, OutputTokens: 120 + 11*m,
				KeyID: keys[(m+i)%len(keys)], Priced: true}
			if i%2 == 1 {
				r.ModelAsked, r.Provider, r.ModelServed = "claude", "an", "claude-sonnet-4-5"
				r.Stream, r.TTFT = true, lat/4
			}
			if (m+i)%17 == 0 {
				r.Status, r.ErrorKind, r.ErrorMessage, r.Attempts = 503, "overloaded", "upstream answered 503", 3
				r.InputTokens, r.OutputTokens, r.TTFT = 0, 0, 0
			} else if (m+i)%11 == 0 {
				r.Attempts, r.Fallback, r.Provider, r.ModelServed = 2, true, "an", "claude-sonnet-4-5"
			}
			r.CostUSD = float64(r.InputTokens)*2.5e-6 + float64(r.OutputTokens)*10e-6
			l.Record(r)
			n++
		}
	}
	return n
}
