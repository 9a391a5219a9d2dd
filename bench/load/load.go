package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// target is one server the load generator drives.
type target struct {
	Name  string // direct, proxy or llmgate
	Label string // as printed
	Base  string // http://host:port
	// proc is the process whose CPU time is charged to the target: the mock
	// for direct, else the proxy or the gateway; nil charges nothing.
	proc *child
	// pprof is the base URL of the process's pprof endpoints, "" if none.
	pprof string
}

// scenario is one kind of load.
type scenario struct {
	Stream bool
	Conns  int
}

func (s scenario) String() string {
	kind := "chat"
	if s.Stream {
		kind = "stream"
	}
	unit := "conns"
	if s.Conns == 1 {
		unit = "conn"
	}
	return fmt.Sprintf("%s, %d %s", kind, s.Conns, unit)
}

// slug names the scenario in file names.
func (s scenario) slug() string {
	if s.Stream {
		return fmt.Sprintf("stream-c%d", s.Conns)
	}
	return fmt.Sprintf("chat-c%d", s.Conns)
}

// result is one measurement: one scenario against one target.
type result struct {
	Target   string
	Scenario scenario
	Requests int64 // completed in the measured window
	Errors   int64 // failed, warm-up included
	FirstErr string
	Elapsed  time.Duration // the measured window
	Latency  histogram     // whole request (for streams: to the last byte)
	TTFT     histogram     // streams: to the first data line
	Dials    int64         // connections the load generator opened
	// UpstreamConns is how many new connections to the mock were opened in
	// the measured window (by the load generator for direct, else by the
	// proxy or gateway); -1 when unknown.
	UpstreamConns int
	CPU           time.Duration // CPU time of the target's process in the window
}

// add merges another round of the same measurement into r.
func (r *result) add(o *result) {
	r.Requests += o.Requests
	r.Errors += o.Errors
	if r.FirstErr == "" {
		r.FirstErr = o.FirstErr
	}
	r.Elapsed += o.Elapsed
	r.Latency.merge(&o.Latency)
	r.TTFT.merge(&o.TTFT)
	r.Dials += o.Dials
	if r.UpstreamConns < 0 || o.UpstreamConns < 0 {
		r.UpstreamConns = -1
	} else {
		r.UpstreamConns += o.UpstreamConns
	}
	r.CPU += o.CPU
}

func (r *result) rps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// cpuPerReq is the target process's CPU time per request.
func (r *result) cpuPerReq() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

// requestBody is the chat request every measurement sends: a short prompt,
// as instant for the mock as a request can be.
func requestBody(model string, stream bool) []byte {
	s := ""
	if stream {
		s = `"stream":true,`
	}
	return fmt.Appendf(nil, `{"model":%q,%s"max_tokens":64,"messages":[{"role":"system","content":"You are a load test."},{"role":"user","content":"Say hello to the llmgate load benchmark please"}]}`, model, s)
}

// loadOptions bound one measurement.
type loadOptions struct {
	Warmup, Duration time.Duration
	Model            string
	MockPort         int // to count new upstream connections
	// OnMeasure, when set, is called as the measured window starts (after
	// the warm-up) in a goroutine of its own; measure waits for it.
	OnMeasure func(ctx context.Context)
}

// measure drives t with sc.Conns closed-loop workers, each on its own
// keep-alive connection, for o.Warmup and then o.Duration, and returns
// what the measured window saw.
func measure(ctx context.Context, t target, sc scenario, o loadOptions) (*result, error) {
	var dials atomic.Int64
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
		MaxConnsPerHost:       sc.Conns,
		MaxIdleConns:          sc.Conns,
		MaxIdleConnsPerHost:   sc.Conns,
		IdleConnTimeout:       time.Minute,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	start := time.Now()
	warmEnd := start.Add(o.Warmup)
	end := warmEnd.Add(o.Duration)
	// A hung target must not hang the benchmark.
	ctx, cancel := context.WithDeadline(ctx, end.Add(30*time.Second))
	defer cancel()

	body := requestBody(o.Model, sc.Stream)
	workers := make([]*worker, sc.Conns)
	for i := range workers {
		w, err := newWorker(ctx, hc, t.Base+"/v1/chat/completions", body, sc.Stream)
		if err != nil {
			return nil, err
		}
		workers[i] = w
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.run(ctx, warmEnd, end) })
	}

	// The measured window opens after the warm-up.
	var (
		cpu0   time.Duration
		ports0 map[int]bool
		hooks  sync.WaitGroup
	)
	timer := time.NewTimer(time.Until(warmEnd))
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	cpu := func() time.Duration {
		if t.proc == nil {
			return 0
		}
		d, _ := cpuTime(t.proc.pid())
		return d
	}
	cpu0 = cpu()
	ports0, _ = peerPorts(o.MockPort)
	if o.OnMeasure != nil {
		hooks.Go(func() { o.OnMeasure(ctx) })
	}
	wg.Wait()
	cpu1 := cpu()
	ports1, _ := peerPorts(o.MockPort)
	hooks.Wait()
	if err := ctx.Err(); err != nil && errors.Is(err, context.Canceled) {
		return nil, err
	}

	r := &result{Target: t.Name, Scenario: sc, Dials: dials.Load(), CPU: cpu1 - cpu0, UpstreamConns: -1}
	if ports0 != nil && ports1 != nil {
		r.UpstreamConns = newPorts(ports0, ports1)
	}
	var last time.Time
	for _, w := range workers {
		r.Requests += w.n
		r.Errors += w.errs
		if r.FirstErr == "" && w.firstErr != nil {
			r.FirstErr = w.firstErr.Error()
		}
		r.Latency.merge(&w.lat)
		r.TTFT.merge(&w.ttft)
		if w.last.After(last) {
			last = w.last
		}
	}
	if last.After(warmEnd) {
		r.Elapsed = last.Sub(warmEnd)
	}
	return r, nil
}

// worker is one closed-loop client: it sends the next request as soon as
// the previous one has finished. It reuses one request, one body reader and
// one line reader, so the generator allocates little beyond what net/http
// itself does. It is used by one goroutine.
type worker struct {
	hc     *http.Client
	req    *http.Request
	body   *bodyReader
	br     *bufio.Reader
	stream bool

	n, errs  int64
	firstErr error
	last     time.Time // when the last counted request finished
	lat      histogram
	ttft     histogram
}

func newWorker(ctx context.Context, hc *http.Client, url string, body []byte, stream bool) (*worker, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return nil, err
	}
	br := &bodyReader{b: body}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer bench")
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return &worker{hc: hc, req: req, body: br, br: bufio.NewReaderSize(nil, 16<<10), stream: stream}, nil
}

func (w *worker) run(ctx context.Context, warmEnd, end time.Time) {
	for ctx.Err() == nil {
		t0 := time.Now()
		if !t0.Before(end) {
			return
		}
		ttft, err := w.do(t0)
		t1 := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return // the benchmark is stopping: not the target's fault
			}
			w.errs++
			if w.firstErr == nil {
				w.firstErr = err
			}
			continue
		}
		if t0.Before(warmEnd) {
			continue
		}
		w.n++
		w.last = t1
		w.lat.record(t1.Sub(t0))
		if w.stream {
			w.ttft.record(ttft)
		}
	}
}

var (
	dataPrefix = []byte("data:")
	doneData   = []byte("[DONE]")
)

// do sends one request and reads the whole answer. For a stream it returns
// the time from t0 to the first data line, and fails unless the stream
// ends with data: [DONE].
func (w *worker) do(t0 time.Time) (time.Duration, error) {
	w.body.off = 0
	w.req.Body = w.body
	resp, err := w.hc.Do(w.req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	if !w.stream {
		_, err := io.Copy(io.Discard, resp.Body)
		return 0, err
	}
	w.br.Reset(resp.Body)
	var ttft time.Duration
	done, midLine := false, false
	for {
		line, err := w.br.ReadSlice('\n')
		if !midLine && bytes.HasPrefix(line, dataPrefix) {
			if ttft == 0 {
				ttft = time.Since(t0)
			}
			if bytes.HasPrefix(bytes.TrimSpace(line[len(dataPrefix):]), doneData) {
				done = true
			}
		}
		midLine = errors.Is(err, bufio.ErrBufferFull)
		if err == io.EOF {
			break
		}
		if err != nil && !midLine {
			return 0, err
		}
	}
	if !done {
		return 0, errors.New("the stream ended without data: [DONE]")
	}
	return ttft, nil
}

// bodyReader reads one request body again and again without allocating.
type bodyReader struct {
	b   []byte
	off int
}

func (r *bodyReader) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

func (r *bodyReader) Close() error { return nil }
