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
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// leg is one measured series of a scenario: the mock direct, the bare
// proxy, or one row through llmgate.
type leg struct {
	Name  string // "direct", "proxy", or the row's slug
	Label string // as printed
	Base  string // http://host:port
	Req   request
	// proc is the process whose CPU time is charged to the leg: the mock
	// for direct, else the proxy or the gateway; nil charges nothing.
	proc *child
	// pprof is the base URL of the process's pprof endpoints, "" if none.
	pprof string
	// MockPort is the port of the mock the leg ends at, to count new
	// upstream connections.
	MockPort int
}

// result is one leg of one scenario, its rounds merged.
type result struct {
	Scenario string // scenario slug
	Leg      string // leg name
	Conns    int
	Stream   bool
	Requests int64 // completed in the measured window
	Errors   int64 // failed, warm-up included
	FirstErr string
	Elapsed  time.Duration // the measured window
	Latency  histogram     // whole request (for streams: to the last byte)
	TTFB     histogram     // streams: to the first line of the body
	TTFT     histogram     // streams: to the first event with content
	// TTFTs are the TTFT values themselves: at 100 ms the histogram's
	// buckets are 1.6 ms wide, too coarse for a target of 200 µs added.
	TTFTs []time.Duration
	Dials int64 // connections the load generator opened
	// UpstreamConns is how many new connections to the mock were opened in
	// the measured window (by the load generator for direct, else by the
	// proxy or gateway); -1 when unknown.
	UpstreamConns int
	CPU           time.Duration // CPU time of the leg's process in the window
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
	r.TTFB.merge(&o.TTFB)
	r.TTFT.merge(&o.TTFT)
	r.TTFTs = append(r.TTFTs, o.TTFTs...)
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

// median is the exact median of ds (the mean of the middle two for an
// even count), 0 for none. It sorts ds.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}

// cpuPerReq is the leg's process's CPU time per request.
func (r *result) cpuPerReq() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

// loadOptions bound one measurement.
type loadOptions struct {
	Conns            int
	Warmup, Duration time.Duration
	// OnMeasure, when set, is called as the measured window starts (after
	// the warm-up) in a goroutine of its own; measure waits for it.
	OnMeasure func(ctx context.Context)
}

// measure drives l with o.Conns closed-loop workers, each on its own
// keep-alive connection, for o.Warmup and then o.Duration, and returns
// what the measured window saw.
func measure(ctx context.Context, l leg, o loadOptions) (*result, error) {
	var dials atomic.Int64
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
		MaxConnsPerHost:       o.Conns,
		MaxIdleConns:          o.Conns,
		MaxIdleConnsPerHost:   o.Conns,
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

	workers := make([]*worker, o.Conns)
	for i := range workers {
		w, err := newWorker(ctx, hc, l.Base, l.Req)
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
	var hooks sync.WaitGroup
	timer := time.NewTimer(time.Until(warmEnd))
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	cpu := func() time.Duration {
		if l.proc == nil {
			return 0
		}
		d, _ := cpuTime(l.proc.pid())
		return d
	}
	cpu0 := cpu()
	ports0, _ := peerPorts(l.MockPort)
	if o.OnMeasure != nil {
		hooks.Go(func() { o.OnMeasure(ctx) })
	}
	wg.Wait()
	cpu1 := cpu()
	ports1, _ := peerPorts(l.MockPort)
	hooks.Wait()
	if err := ctx.Err(); err != nil && errors.Is(err, context.Canceled) {
		return nil, err
	}

	r := &result{Leg: l.Name, Conns: o.Conns, Stream: l.Req.Stream, Dials: dials.Load(), CPU: cpu1 - cpu0, UpstreamConns: -1}
	if l.MockPort > 0 && ports0 != nil && ports1 != nil {
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
		r.TTFB.merge(&w.ttfb)
		r.TTFT.merge(&w.ttft)
		r.TTFTs = append(r.TTFTs, w.ttfts...)
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
	hc   *http.Client
	req  *http.Request
	body *bodyReader
	br   *bufio.Reader
	wire wire
	// stream: read the answer as server-sent events.
	stream bool

	n, errs    int64
	firstErr   error
	last       time.Time // when the last counted request finished
	lat        histogram
	ttfb, ttft histogram
	ttfts      []time.Duration // up to maxSamples
}

// maxSamples bounds the exact TTFT values a worker keeps (8 MB).
const maxSamples = 1 << 20

func newWorker(ctx context.Context, hc *http.Client, base string, r request) (*worker, error) {
	body := r.body()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+r.path(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range r.headers() {
		req.Header.Set(k, v)
	}
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return &worker{hc: hc, req: req, body: &bodyReader{b: body}, br: bufio.NewReaderSize(nil, 16<<10),
		wire: r.Wire, stream: r.Stream}, nil
}

func (w *worker) run(ctx context.Context, warmEnd, end time.Time) {
	for ctx.Err() == nil {
		t0 := time.Now()
		if !t0.Before(end) {
			return
		}
		fb, ft, err := w.do(t0)
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
			w.ttfb.record(fb)
			w.ttft.record(ft)
			if len(w.ttfts) < maxSamples {
				w.ttfts = append(w.ttfts, ft)
			}
		}
	}
}

var (
	dataPrefix  = []byte("data:")
	doneData    = []byte("[DONE]")
	messageStop = []byte(`"message_stop"`)
)

// do sends one request and reads the whole answer. For a stream it returns
// the time from t0 to the first line of the body (time to first byte) and
// to the first event with content (time to first token), and fails unless
// the stream ends as its wire format says a complete stream ends.
func (w *worker) do(t0 time.Time) (ttfb, ttft time.Duration, err error) {
	w.body.off = 0
	w.req.Body = w.body
	resp, err := w.hc.Do(w.req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return 0, 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	if !w.stream {
		_, err := io.Copy(io.Discard, resp.Body)
		return 0, 0, err
	}
	w.br.Reset(resp.Body)
	ttfb, ttft, err = readEvents(w.br, w.wire, t0)
	return ttfb, ttft, err
}

// readEvents reads a stream of server-sent events to its end: the times
// from t0 to its first line and to its first event with content, and an
// error unless it ended as a complete stream of its wire format ends
// (OpenAI: data: [DONE]; Anthropic: a message_stop event).
func readEvents(br *bufio.Reader, wf wire, t0 time.Time) (ttfb, ttft time.Duration, err error) {
	done, midLine := false, false
	for {
		line, err := br.ReadSlice('\n')
		if ttfb == 0 && len(line) > 0 {
			ttfb = time.Since(t0)
		}
		if !midLine && bytes.HasPrefix(line, dataPrefix) {
			data := line[len(dataPrefix):]
			if ttft == 0 && hasContent(data) {
				ttft = time.Since(t0)
			}
			switch wf {
			case wireOpenAI:
				if bytes.HasPrefix(bytes.TrimSpace(data), doneData) {
					done = true
				}
			case wireAnthropic:
				if bytes.Contains(data, messageStop) {
					done = true
				}
			}
		}
		midLine = errors.Is(err, bufio.ErrBufferFull)
		if err == io.EOF {
			break
		}
		if err != nil && !midLine {
			return 0, 0, err
		}
	}
	switch {
	case !done && wf == wireAnthropic:
		return 0, 0, errors.New("the stream ended without a message_stop event")
	case !done:
		return 0, 0, errors.New("the stream ended without data: [DONE]")
	case ttft == 0:
		return 0, 0, errors.New("the stream carried no content")
	}
	return ttfb, ttft, nil
}

var contentKeys = [][]byte{[]byte(`"content":`), []byte(`"text":`)}

// hasContent reports whether an event's data carries text: a "content" or
// "text" string that is not empty (an OpenAI delta, an Anthropic
// text_delta), unlike the opening events (the role chunk with content "",
// message_start, content_block_start with text "").
func hasContent(data []byte) bool {
	for _, key := range contentKeys {
		for rest := data; ; {
			i := bytes.Index(rest, key)
			if i < 0 {
				break
			}
			rest = bytes.TrimLeft(rest[i+len(key):], " ")
			if len(rest) >= 2 && rest[0] == '"' && rest[1] != '"' {
				return true
			}
		}
	}
	return false
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
