package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostileUpstream records every path it is asked for and answers by the
// model it is asked about: "garbage-N" gets garbage variant N (for its own
// format), anything else a valid answer.
type hostileUpstream struct {
	format string
	mu     sync.Mutex
	paths  []string
}

// garbage are 200 answers that are not their format's answer.
var garbage = []string{
	`<html>oops</html>`,
	``,
	`null`,
	`[]`,
	`"ok"`,
	`{}`,
	`{"choices":"x"}`,
	`{"candidates":{"a":1}}`,
	`{"type":"message","content":"hi"}`,
	`{"type":"message","content":[`,
	`{"id":"x","object":"chat.completion"}`,
}

// foreign are valid answers of another format than the upstream's.
var foreign = map[string]string{
	"openai":    `{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`,
	"anthropic": `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}`,
	"gemini":    `{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}}`,
}

var garbageModel = regexp.MustCompile(`garbage-(\d+)`)

func (u *hostileUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.paths = append(u.paths, r.URL.EscapedPath())
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	where := r.URL.EscapedPath() + " " + string(body)
	if m := garbageModel.FindStringSubmatch(where); m != nil {
		var n int
		fmt.Sscan(m[1], &n)
		if n < len(garbage) {
			io.WriteString(w, garbage[n])
			return
		}
		// Past the list: a valid answer of the next format.
		for _, f := range []string{"openai", "anthropic", "gemini"} {
			if f != u.format {
				if n == len(garbage) {
					io.WriteString(w, foreign[f])
					return
				}
				n--
			}
		}
	}
	io.WriteString(w, foreign[u.format])
}

func (u *hostileUpstream) seen() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.paths...)
}

// hostileRequest sends one chat request of client format f for model.
func hostileRequest(base, f, model string) (*http.Response, error) {
	return hostileStream(base, f, model, false)
}

// hostileStream is hostileRequest, streamed when stream is set.
func hostileStream(base, f, model string, stream bool) (*http.Response, error) {
	var u, body string
	m, _ := json.Marshal(model)
	switch f {
	case "openai":
		u = base + "/v1/chat/completions"
		body = fmt.Sprintf(`{"model":%s,"stream":%t,"messages":[{"role":"user","content":"hi"}]}`, m, stream)
	case "anthropic":
		u = base + "/v1/messages"
		body = fmt.Sprintf(`{"model":%s,"stream":%t,"max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`, m, stream)
	case "gemini":
		u = base + "/v1beta/models/" + model + ":generateContent"
		if stream {
			u = base + "/v1beta/models/" + model + ":streamGenerateContent?alt=sse"
		}
		body = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}

// TestHostileTraffic runs llmgate serve as a user would and throws at it
// the three kinds of hostile traffic issue 9 names, printing a figure for
// each (go run ./bench/faults keeps them): model names built to walk out
// of the upstream URL path (none may reach an upstream other than as a
// plain model path), clients trickling their request bodies (each is cut
// by server.body_read_timeout, none held past it) and upstream 200s that
// are not their format's answer (none may reach the client as a 200).
func TestHostileTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs llmgate serve")
	}
	bin, err := buildLlmgate()
	if err != nil {
		t.Fatal(err)
	}
	ups := map[string]*hostileUpstream{}
	var cfg strings.Builder
	addr := freeAddr(t)
	const bodyTimeout = time.Second
	fmt.Fprintf(&cfg, "listen: %s\nstorage: {data_dir: %q}\nserver: {body_read_timeout: %s}\nresilience: {max_attempts: 1}\nproviders:\n",
		addr, t.TempDir(), bodyTimeout)
	for _, f := range []string{"openai", "anthropic", "gemini"} {
		u := &hostileUpstream{format: f}
		srv := httptest.NewServer(u)
		t.Cleanup(srv.Close)
		ups[f] = u
		base := srv.URL
		if f == "openai" {
			base += "/v1"
		}
		fmt.Fprintf(&cfg, "  %s: {type: %s, base_url: %q, api_key: upstream-secret}\n", f[:3], f, base)
	}
	cfgPath := filepath.Join(t.TempDir(), "llmgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr
	startProc(t, bin, cfgPath, base)

	t.Run("path traversal", func(t *testing.T) {
		// Names built from pieces that walk or split a path, in every
		// client format, to every upstream.
		pieces := []string{"..", "%2e%2e", "%2E.", ".%2e", "%2F", "%2f", "%252F", "%5C", `\`, "/", "?", "#",
			"%3F", "%23", ":countTokens", "%00", "\t", "%0d%0a", "~", "."}
		rng := rand.New(rand.NewPCG(9, 9))
		attempts, refused := 0, 0
		for i := range 600 {
			prov := []string{"ope", "ant", "gem"}[i%3]
			client := []string{"openai", "anthropic", "gemini"}[(i/3)%3]
			var name strings.Builder
			name.WriteString(prov)
			name.WriteString([]string{"/", "%2F"}[rng.IntN(2)])
			name.WriteString("m")
			hostile := false
			for range 1 + rng.IntN(4) {
				p := pieces[rng.IntN(len(pieces))]
				hostile = hostile || (p != "~" && p != "." && p != ":countTokens")
				name.WriteString(p)
				name.WriteString([]string{"", "x", "/"}[rng.IntN(3)])
			}
			model := name.String()
			if client != "gemini" {
				// In a JSON body the client writes the decoded name.
				if d, err := url.PathUnescape(model); err == nil {
					model = d
				}
			}
			if !hostile {
				continue
			}
			attempts++
			resp, err := hostileRequest(base, client, model)
			if err != nil {
				refused++ // Go's client refuses some URLs itself
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				// Allowed only if the upstream saw a plain path (checked
				// below for every call).
				continue
			}
			refused++
		}
		plain := regexp.MustCompile(`^(/v1/chat/completions|/v1/messages|/v1beta/models/[A-Za-z0-9._\-~]+:(generateContent|streamGenerateContent))$`)
		escaped := 0
		calls := 0
		for f, u := range ups {
			for _, p := range u.seen() {
				calls++
				// A dot segment is the walk out; dots inside a name
				// ("m..x") are just a name.
				if !plain.MatchString(p) || strings.Contains(p+"/", "/../") || strings.Contains(p, "/..:") {
					escaped++
					t.Errorf("%s upstream was asked for %q", f, p)
				}
			}
		}
		t.Logf("path traversal: %d hostile model names, %d refused, %d reached an upstream, %d of them outside the model path (target 0)",
			attempts, refused, calls, escaped)
	})

	t.Run("slow bodies", func(t *testing.T) {
		const slow = 150
		type cut struct {
			after  time.Duration
			status string
		}
		cuts := make(chan cut, slow)
		body := `{"model":"ope/gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("a", 4096) + `"}]}`
		for range slow {
			go func() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					cuts <- cut{status: "dial: " + err.Error()}
					return
				}
				defer c.Close()
				fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, len(body))
				start := time.Now()
				// The server's answer (or close) ends the trickle.
				answered := make(chan string, 1)
				go func() {
					line, err := bufio.NewReader(c).ReadString('\n')
					if err != nil && line == "" {
						line = "closed: " + err.Error()
					}
					answered <- strings.TrimSpace(line)
				}()
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for i := 0; ; i++ {
					select {
					case line := <-answered:
						cuts <- cut{after: time.Since(start), status: line}
						return
					case <-tick.C:
						if i < len(body) {
							c.Write([]byte{body[i]})
						}
					}
				}
			}()
		}
		// Meanwhile an ordinary client is served.
		resp, err := hostileRequest(base, "openai", "ope/gpt-4o")
		if err != nil {
			t.Fatalf("an ordinary request during the trickle: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("an ordinary request during the trickle: status %d", resp.StatusCode)
		}
		var worst time.Duration
		got408, late := 0, 0
		for range slow {
			c := <-cuts
			if strings.Contains(c.status, " 408 ") {
				got408++
			} else {
				t.Errorf("a trickling client got %q", c.status)
			}
			worst = max(worst, c.after)
			if c.after > bodyTimeout+2*time.Second {
				late++
			}
		}
		if late > 0 {
			t.Errorf("%d of %d trickling connections were held more than 2 s past the %s body timeout", late, slow, bodyTimeout)
		}
		t.Logf("slow bodies: %d connections trickling a byte every 100 ms, %d answered 408, the last cut %s after its headers (body_read_timeout %s), %d held past the timeout + 2 s (target 0)",
			slow, got408, worst.Round(time.Millisecond), bodyTimeout, late)
	})

	t.Run("garbage answers", func(t *testing.T) {
		total, passed := 0, 0
		statuses := map[int]int{}
		for _, up := range []string{"openai", "anthropic", "gemini"} {
			for _, client := range []string{"openai", "anthropic", "gemini"} {
				for n := range 2 * (len(garbage) + 2) {
					stream := n >= len(garbage)+2
					n := n % (len(garbage) + 2)
					model := up[:3] + "/garbage-" + fmt.Sprint(n)
					if client == "gemini" {
						model = up[:3] + "%2Fgarbage-" + fmt.Sprint(n)
					}
					resp, err := hostileStream(base, client, model, stream)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					total++
					statuses[resp.StatusCode]++
					if resp.StatusCode == http.StatusOK {
						passed++
						t.Errorf("%s upstream answering %q, %s client, stream %t: 200 %s", up, garbageBody(up, n), client, stream, bytes.TrimSpace(b))
					}
				}
			}
		}
		t.Logf("garbage answers: %d upstream 200s that are not their format's answer (%d kinds x 3 upstream x 3 client formats x streamed or not), answered %v, %d passed on as 200 (target 0)",
			total, len(garbage)+2, statuses, passed)
		// Real answers still pass.
		for _, up := range []string{"ope", "ant", "gem"} {
			resp, err := hostileRequest(base, "openai", up+"/fine")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("a valid %s answer: status %d", up, resp.StatusCode)
			}
		}
	})
}

// garbageBody is what the upstream of format f answers for garbage-n.
func garbageBody(f string, n int) string {
	if n < len(garbage) {
		return garbage[n]
	}
	for _, g := range []string{"openai", "anthropic", "gemini"} {
		if g != f {
			if n == len(garbage) {
				return "a valid " + g + " answer"
			}
			n--
		}
	}
	return ""
}
