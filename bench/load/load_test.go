package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/config"
)

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
	}{
		{"one value", []time.Duration{1234 * time.Microsecond}},
		{"small exact values", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"uniform microseconds", func() []time.Duration {
			r := rand.New(rand.NewPCG(1, 2))
			v := make([]time.Duration, 10000)
			for i := range v {
				v[i] = time.Duration(50_000 + r.IntN(5_000_000))
			}
			return v
		}()},
		{"long tail", func() []time.Duration {
			v := make([]time.Duration, 1000)
			for i := range v {
				v[i] = 100 * time.Microsecond
			}
			v[999] = 2 * time.Second
			return v
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			for _, v := range tc.values {
				h.record(v)
			}
			sorted := slices.Clone(tc.values)
			slices.Sort(sorted)
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 1} {
				i := int(q*float64(len(sorted))+0.5) - 1
				want := sorted[max(0, min(i, len(sorted)-1))]
				got := h.quantile(q)
				if d := got - want; d < -want/60 || d > want/60 {
					t.Errorf("q%.2f = %s, want %s within 1/64", q, got, want)
				}
			}
			if h.quantile(1) != sorted[len(sorted)-1] || h.quantile(0) != sorted[0] {
				t.Errorf("extremes %s..%s, want %s..%s", h.quantile(0), h.quantile(1), sorted[0], sorted[len(sorted)-1])
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all histogram
	for i := range 1000 {
		d := time.Duration(i) * time.Microsecond
		all.record(d)
		if i%2 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	a.merge(&b)
	if a != all {
		t.Errorf("merged histogram differs from one fed every value: n %d/%d, sum %s/%s", a.n, all.n, a.sum, all.sum)
	}
	var empty histogram
	if empty.quantile(0.5) != 0 || empty.mean() != 0 {
		t.Error("an empty histogram reports values")
	}
}

func TestBucketsCoverEveryValue(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 1 << 20, 1<<40 + 12345, 1<<63 - 1, 1<<64 - 1} {
		i := bucketOf(v)
		if i < 0 || i >= nBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0,%d)", v, i, nBuckets)
		}
		mid := bucketMid(i)
		if lo, hi := float64(v)*(1-1.0/64), float64(v)*(1+1.0/64); float64(mid) < lo-1 || float64(mid) > hi+1 {
			t.Errorf("bucket of %d stands for %d, more than 1/64 away", v, mid)
		}
	}
}

func TestParseStatus(t *testing.T) {
	in := "Name:\tllmgate\nVmPeak:\t 1800000 kB\nVmHWM:\t   40028 kB\nVmRSS:\t   37668 kB\nRssAnon:\t   13980 kB\nRssFile:\t   23688 kB\n"
	got := parseStatus([]byte(in))
	want := memStatus{RSS: 37668 << 10, Peak: 40028 << 10, Anon: 13980 << 10, File: 23688 << 10}
	if got != want {
		t.Errorf("parseStatus = %+v, want %+v", got, want)
	}
}

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	in := "1912 (llm gate (x)) S 1 1912 1912 0 -1 4194560 2196 0 0 0 150 37 0 0 20 0 8 0 1234 1727816 9417 18446744073709551615"
	got, err := parseStat([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := 187 * clockTick; got != want {
		t.Errorf("parseStat = %s, want %s", got, want)
	}
	if _, err := parseStat([]byte("garbage")); err == nil {
		t.Error("parseStat accepted a line without a command name")
	}
}

func TestParsePeerPorts(t *testing.T) {
	// Port 9000 is 0x2328. One connection 40000 -> 9000 (both ends listed),
	// one in TIME_WAIT 40002 -> 9000, the listener, and an unrelated one.
	in := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:9C40 0100007F:2328 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0100007F:2328 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
   3: 0100007F:9C42 0100007F:2328 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0
   4: 0100007F:1F90 0100007F:9C44 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1
`
	got := parsePeerPorts(bufio.NewScanner(strings.NewReader(in)), 9000)
	want := map[int]bool{40000: true, 40002: true}
	if len(got) != len(want) || !got[40000] || !got[40002] {
		t.Errorf("peer ports = %v, want %v", got, want)
	}
	if n := newPorts(map[int]bool{40000: true}, got); n != 1 {
		t.Errorf("newPorts = %d, want 1", n)
	}
}

func TestParseConns(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{in: "1,32", want: []int{1, 32}},
		{in: "32, 1, 32", want: []int{1, 32}},
		{in: "8", want: []int{8}},
		{in: "0", wantErr: true},
		{in: "1,x", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseConns(tc.in)
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Errorf("parseConns(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestGatewayConfigLoads(t *testing.T) {
	for _, persist := range []bool{true, false} {
		cfg, err := config.Parse("bench.yaml", gatewayConfig("http://127.0.0.1:1", "http://127.0.0.1:2", "/tmp/x", persist), nil)
		if err != nil {
			t.Fatalf("llmgate rejects the generated config: %v", err)
		}
		if p := cfg.Providers["mock"]; p == nil || p.BaseURL != "http://127.0.0.1:1/v1" || !slices.Equal(p.Models, []string{fastModel}) {
			t.Errorf("provider mock = %+v", p)
		}
		if p := cfg.Providers["mock-slow"]; p == nil || p.BaseURL != "http://127.0.0.1:2/v1" || !slices.Equal(p.Models, []string{slowModel}) {
			t.Errorf("provider mock-slow = %+v", p)
		}
		if *cfg.RequestLog.Persist != persist || cfg.Storage.Driver != "sqlite" || cfg.Storage.DataDir != "/tmp/x" {
			t.Errorf("request log persist %v, storage %+v", *cfg.RequestLog.Persist, cfg.Storage)
		}
	}
}

// sseHandler answers every request with a short stream, ending with
// data: [DONE] unless noDone.
func sseHandler(noDone bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for _, ev := range []string{`{"a":1}`, `{"a":2}`} {
			fmt.Fprintf(w, "data: %s\n\n", ev)
			f.Flush()
		}
		if !noDone {
			fmt.Fprint(w, "data: [DONE]\n\n")
		}
	}
}

func TestMeasure(t *testing.T) {
	chat := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	})
	tests := []struct {
		name       string
		h          http.Handler
		sc         scenario
		wantErrors bool
	}{
		{"chat", chat, scenario{Conns: 4}, false},
		{"stream", sseHandler(false), scenario{Stream: true, Conns: 2}, false},
		{"stream without DONE", sseHandler(true), scenario{Stream: true, Conns: 1}, true},
		{"error status", http.NotFoundHandler(), scenario{Conns: 1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			r, err := measure(context.Background(), target{Name: "test", Base: srv.URL}, tc.sc,
				loadOptions{Warmup: 20 * time.Millisecond, Duration: 150 * time.Millisecond, Model: "m"})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantErrors {
				if r.Errors == 0 || r.FirstErr == "" {
					t.Errorf("no errors counted: %+v", r)
				}
				return
			}
			if r.Errors != 0 || r.Requests == 0 || r.rps() <= 0 {
				t.Fatalf("requests %d, errors %d (%s), rps %.0f", r.Requests, r.Errors, r.FirstErr, r.rps())
			}
			if r.Dials < 1 || r.Dials > int64(tc.sc.Conns) {
				t.Errorf("the load generator opened %d connections, want at most one per worker (%d)", r.Dials, tc.sc.Conns)
			}
			if r.Latency.n != uint64(r.Requests) || r.Latency.quantile(0.5) <= 0 {
				t.Errorf("latency histogram has %d values for %d requests", r.Latency.n, r.Requests)
			}
			if tc.sc.Stream && (r.TTFT.n != r.Latency.n || r.TTFT.quantile(0.5) > r.Latency.quantile(0.5)) {
				t.Errorf("TTFT p50 %s after total p50 %s", r.TTFT.quantile(0.5), r.Latency.quantile(0.5))
			}
		})
	}
}

// TestBareProxyReusesUpstreamConnections is why the bare proxy reads the
// request body before forwarding it: sequential requests must reuse the
// upstream connection (a stray second one can come from the transport
// returning it to its pool a moment late; the raw proxy often opens more,
// up to one per three requests).
func TestBareProxyReusesUpstreamConnections(t *testing.T) {
	var conns atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	u, _ := url.Parse(up.URL)
	px := httptest.NewServer(newBareProxy(u, false))
	defer px.Close()
	for i := range 200 {
		body := fmt.Sprintf(`{"n":%d}`, i)
		resp, err := http.Post(px.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != body {
			t.Fatalf("request %d: the upstream got %q, want %q", i, got, body)
		}
	}
	if n := conns.Load(); n > 2 {
		t.Errorf("the proxy opened %d upstream connections for 200 sequential requests, want 1", n)
	}
}
