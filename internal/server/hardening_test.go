package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/mock"
	"github.com/llmgate/llmgate/internal/server"
)

// startWith serves the real app (server section from serverYAML) in front
// of a mock with options mo, on a listener capped by LimitListener as
// llmgate serve does. It returns the gateway's address and a counter of
// connections rejected over the cap.
func startWith(t *testing.T, serverYAML string, mo mock.Options) (addr string, rejected *atomic.Int64) {
	t.Helper()
	m := mock.New(mo)
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	t.Cleanup(m.Close)
	yaml := fmt.Sprintf(`storage: {data_dir: %s}
server: %s
providers:
  oa: {type: openai, base_url: %s/v1, api_key: provider-key}
`, t.TempDir(), serverYAML, up.URL)
	cfg, err := config.Parse("server.yaml", []byte(yaml), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	app, err := cli.NewApp(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rejected = new(atomic.Int64)
	ln = server.LimitListener(ln, cfg.Server.MaxConnections, func() { rejected.Add(1) })
	hs := &http.Server{Handler: app.Handler, ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout, IdleTimeout: cfg.Server.IdleTimeout}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		_ = hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		app.Close(ctx)
	})
	return ln.Addr().String(), rejected
}

const slowChatBody = `{"model":"oa/gpt-4o","messages":[{"role":"user","content":"hi there"}],"stream":%t}`

// readStatus reads one HTTP response from br and returns its status line
// and whether the server closed the connection after it.
func readResponse(t *testing.T, c net.Conn, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a failure bound, not a wait
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// A client that sends its headers and then trickles the body is answered
// 408 and disconnected once server.body_read_timeout passes, while a
// streamed answer that lasts longer than that timeout is not cut, and a
// keep-alive connection serves a second request after a prompt body.
func TestSlowBodiesAreCutOff(t *testing.T) {
	const timeout = 300 * time.Millisecond
	addr, _ := startWith(t, fmt.Sprintf("{body_read_timeout: %s}", timeout), mock.Options{TokenDelay: 40 * time.Millisecond})

	const slow = 20
	var wg sync.WaitGroup
	results := make(chan string, slow)
	start := time.Now()
	for range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				results <- "dial: " + err.Error()
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{")
			stop := make(chan struct{})
			go func() { // one byte every 50ms until the server hangs up
				tk := time.NewTicker(50 * time.Millisecond)
				defer tk.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tk.C:
						if _, err := c.Write([]byte(" ")); err != nil {
							return
						}
					}
				}
			}()
			defer close(stop)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				results <- "no answer: " + err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "body_read_timeout") {
				results <- fmt.Sprintf("HTTP %d: %s", resp.StatusCode, b)
				return
			}
			// Closed: EOF, or a reset since the client kept writing.
			var ne net.Error
			if _, err := br.ReadByte(); err == nil || errors.As(err, &ne) && ne.Timeout() {
				results <- fmt.Sprintf("connection still open after the 408 (read: %v)", err)
				return
			}
			results <- ""
		}()
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r != "" {
			t.Error(r)
		}
	}
	if el := time.Since(start); el > timeout+5*time.Second {
		t.Errorf("the slow connections took %s to be cut, timeout %s", el, timeout)
	}

	// One keep-alive connection: a streamed answer (about 20 tokens at 40ms
	// each, longer than the timeout), then a second request.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i, stream := range []bool{true, false} {
		body := fmt.Sprintf(slowChatBody, stream)
		fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		t0 := time.Now()
		resp, b := readResponse(t, c, br)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: HTTP %d: %s", i, resp.StatusCode, b)
		}
		if stream {
			if el := time.Since(t0); el < timeout {
				t.Fatalf("the stream took %s, not longer than the body timeout %s: the test proves nothing", el, timeout)
			}
			if !strings.Contains(b, "[DONE]") {
				t.Errorf("the stream was cut: %s", b)
			}
		}
	}
}

// Connections over server.max_connections are answered 503 with
// Retry-After at once and closed, never left waiting; a slot freed by a
// client that leaves is used again.
func TestConnectionCap(t *testing.T) {
	addr, rejected := startWith(t, "{max_connections: 3}", mock.Options{})
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		defer c.Close()
	}
	// The held connections are accepted (a request on one is answered) and
	// nothing was rejected yet.
	body := fmt.Sprintf(slowChatBody, false)
	fmt.Fprintf(held[0], "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	if resp, b := readResponse(t, held[0], bufio.NewReader(held[0])); resp.StatusCode != http.StatusOK {
		t.Fatalf("held connection: HTTP %d: %s", resp.StatusCode, b)
	}
	over := func() (*http.Response, string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		return readResponse(t, c, bufio.NewReader(c))
	}
	for range 5 {
		resp, b := over()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || !resp.Close {
			t.Fatalf("over the cap: HTTP %d Retry-After %q close %v: %s", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close, b)
		}
		if !strings.Contains(b, "max_connections") {
			t.Errorf("the 503 does not name the setting: %s", b)
		}
	}
	if n := rejected.Load(); n != 5 {
		t.Errorf("rejected counter = %d, want 5", n)
	}
	// A client leaves: its slot serves the next connection.
	held[1].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, b := over()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the freed slot was not reused: HTTP %d: %s", resp.StatusCode, b)
		}
	}
}
