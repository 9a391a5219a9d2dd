package gateway_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
)

// TestTransportProtocols checks what each providers.X.protocol speaks to a
// plain-http upstream that understands both HTTP/1.1 and h2c, and that h2c
// carries many concurrent requests over a few connections (one descriptor
// per stream is what runs a gateway out of files at 10,000 streams).
func TestTransportProtocols(t *testing.T) {
	var conns connCounter
	release := make(chan struct{})
	var inflight sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			inflight.Done()
			<-release
		}
		fmt.Fprintf(w, "%d", r.ProtoMajor)
	}))
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &p
	srv.Config.ConnState = conns.track
	srv.Start()
	defer srv.Close()

	get := func(c *http.Client, path string) (string, error) {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for _, tc := range []struct{ protocol, want string }{
		{"", "1"}, {config.ProtocolAuto, "1"}, {config.ProtocolHTTP1, "1"}, {config.ProtocolH2C, "2"},
	} {
		c := &http.Client{Transport: gateway.NewTransport(config.Timeouts{}, tc.protocol)}
		got, err := get(c, "/")
		if err != nil {
			t.Fatalf("protocol %q: %v", tc.protocol, err)
		}
		if got != tc.want {
			t.Errorf("protocol %q: upstream saw HTTP/%s, want HTTP/%s", tc.protocol, got, tc.want)
		}
	}

	const n = 200
	conns.reset()
	c := &http.Client{Transport: gateway.NewTransport(config.Timeouts{}, config.ProtocolH2C)}
	inflight.Add(n)
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := get(c, "/wait")
			errs <- err
		}()
	}
	inflight.Wait() // all n are open upstream at once
	open := conns.peak.Load()
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The burst waits for the first connection behind the cap on dials
	// (8); without the cap it held one per request.
	if open > 20 {
		t.Errorf("%d concurrent h2c requests held %d connections open at once, want at most 20", n, open)
	}
}

// TestH2CPastMaxStreams checks that more concurrent h2c requests than one
// connection's stream limit all complete (new connections are dialed, none
// wait forever behind the cap on dials).
func TestH2CPastMaxStreams(t *testing.T) {
	const n, maxStreams = 1000, 100
	var inflight sync.WaitGroup
	release := make(chan struct{})
	var conns connCounter
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight.Done()
		<-release
	}))
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &p
	srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: maxStreams}
	srv.Config.ConnState = conns.track
	srv.Start()
	defer srv.Close()
	c := &http.Client{Transport: gateway.NewTransport(config.Timeouts{}, config.ProtocolH2C)}
	inflight.Add(n)
	errs := make(chan error, n)
	for range n {
		go func() {
			resp, err := c.Get(srv.URL)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	inflight.Wait() // all n open upstream at once: no request waits behind the dial cap
	dialed := conns.peak.Load()
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// Requests that race the server's SETTINGS frame can dial a few extra
	// connections (more on a loaded machine); what matters is that streams
	// share connections instead of taking one each.
	if min, max := int64(n/maxStreams), int64(5*n/maxStreams); dialed < min || dialed > max {
		t.Errorf("%d streams at %d per connection held %d connections open at once, want %d to %d", n, maxStreams, dialed, min, max)
	}
}

// connCounter tracks a server's open connections and their peak.
type connCounter struct{ open, peak, total atomic.Int64 }

func (c *connCounter) track(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		c.total.Add(1)
		n := c.open.Add(1)
		for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
		}
	case http.StateClosed, http.StateHijacked:
		c.open.Add(-1)
	}
}

func (c *connCounter) reset() { c.peak.Store(c.open.Load()) }

// opened is how many connections were ever accepted.
func (c *connCounter) opened() int64 { return c.total.Load() }
