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
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// streamsResult is what the open-streams test saw.
type streamsResult struct {
	Streams   int // started
	Completed int // ended with data: [DONE]
	Errors    int
	ErrorKind []string // distinct error messages, a few
	PeakOpen  int      // streams open at once (headers received, not ended)
	TTFB      histogram
	TTFT      histogram
	Total     histogram
	Elapsed   time.Duration
	// The gateway's VmRSS: before the streams start, the highest sample
	// while any was open, as the last one ended, and after Settle more.
	RSSBefore, RSSOpen, RSSEnd, RSSAfter int64
	Settle                               time.Duration
	PeakAfter                            int64 // VmHWM after the test
	// The most descriptors the gateway held, and the most connections
	// established to the slow mock, sampled while streams were open.
	FDs, UpConns int
	// CPU time the gateway, the slow mock and the benchmark (the clients)
	// spent during the test: on a 2-core machine the three compete.
	CPUGateway, CPUMock, CPUClient time.Duration
	// Direct: the streams went to the mock, not through llmgate.
	Direct bool
}

// perStream is the RSS each open stream cost: (RSS while open - RSS
// before) / the streams open at once; 0 when none was open.
func (s *streamsResult) perStream() int64 {
	if s.PeakOpen == 0 {
		return 0
	}
	return max(0, s.RSSOpen-s.RSSBefore) / int64(s.PeakOpen)
}

// afterRatio is RSS after the streams ended (and settled) / RSS before.
func (s *streamsResult) afterRatio() float64 {
	if s.RSSBefore == 0 {
		return 0
	}
	return float64(s.RSSAfter) / float64(s.RSSBefore)
}

// streamsOptions configure the open-streams test.
type streamsOptions struct {
	Base    string // the gateway
	Model   string // routed to the slow mock
	N       int
	Mock    *child // the slow mock
	Timeout time.Duration
	Settle  time.Duration // wait after the last stream before the last RSS sample
	// Profile, with PprofBase, saves the gateway's goroutine and heap
	// profiles once nearly every stream is open (-profile).
	Profile, PprofBase string
}

// openStreams starts o.N streaming requests at once against the gateway,
// routed to the slow mock so that each stream stays open for a while,
// reads each to its end, and samples the gateway's memory and descriptors
// while they are open. Each stream has its own client connection.
func openStreams(ctx context.Context, o streamsOptions, gw *child) (*streamsResult, error) {
	mockPort := portOf(o.Mock.addr)
	cpus := func() [3]time.Duration {
		var c [3]time.Duration
		for i, pid := range []int{gw.pid(), o.Mock.pid(), os.Getpid()} {
			c[i], _ = cpuTime(pid)
		}
		return c
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 20 * time.Second}).DialContext,
		MaxIdleConns:        o.N,
		MaxIdleConnsPerHost: o.N,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	req := request{Wire: wireOpenAI, Model: o.Model, Stream: true}
	body, headers := req.body(), req.headers()

	res := &streamsResult{Streams: o.N, Settle: o.Settle, Direct: gw == o.Mock}
	m, err := readMem(gw.pid())
	if err != nil {
		return nil, err
	}
	res.RSSBefore = m.RSS
	var (
		open, peak atomic.Int64
		mu         sync.Mutex // protects following
		errs       = map[string]int{}
		times      = make([][3]time.Duration, o.N) // ttfb, ttft, total
		okFlags    = make([]bool, o.N)
	)
	// Sampler: owned here, stopped and joined before returning.
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		t := time.NewTicker(25 * time.Millisecond)
		defer t.Stop()
		profiled := o.PprofBase == ""
		for i := 0; ; i++ {
			if !profiled && open.Load() >= int64(o.N)*95/100 {
				profiled = true
				saveProfiles(ctx, o.PprofBase, o.Profile, "streams-open")
			}
			if open.Load() > 0 {
				if m, err := readMem(gw.pid()); err == nil && m.RSS > res.RSSOpen {
					res.RSSOpen = m.RSS
				}
				if i%8 == 0 { // every 200ms: these read thousands of entries
					if n, err := fdCount(gw.pid()); err == nil && n > res.FDs {
						res.FDs = n
					}
					if n, err := establishedPeers(mockPort); err == nil && n > res.UpConns {
						res.UpConns = n
					}
				}
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	})

	startGate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range o.N {
		wg.Go(func() {
			r, err := http.NewRequestWithContext(ctx, http.MethodPost, o.Base+req.path(), bytes.NewReader(body))
			if err != nil {
				panic(err) // the URL is ours
			}
			r.Header.Set("Content-Type", "application/json")
			for k, v := range headers {
				r.Header.Set(k, v)
			}
			<-startGate
			t0 := time.Now()
			ttfb, ttft, err := readStream(hc, r, t0, func() {
				if v := open.Add(1); v > peak.Load() {
					for p := peak.Load(); v > p && !peak.CompareAndSwap(p, v); p = peak.Load() {
					}
				}
			}, func() { open.Add(-1) })
			if err != nil {
				mu.Lock()
				errs[err.Error()]++
				mu.Unlock()
				return
			}
			times[i], okFlags[i] = [3]time.Duration{ttfb, ttft, time.Since(t0)}, true
		})
	}
	t0, cpu0 := time.Now(), cpus()
	close(startGate)
	wg.Wait()
	res.Elapsed = time.Since(t0)
	cpu1 := cpus()
	res.CPUGateway, res.CPUMock, res.CPUClient = cpu1[0]-cpu0[0], cpu1[1]-cpu0[1], cpu1[2]-cpu0[2]
	close(stopSampling)
	sampler.Wait()
	if m, err := readMem(gw.pid()); err == nil {
		res.RSSEnd = m.RSS
	}
	// Let the gateway see its client connections close, then give the Go
	// runtime time to hand memory back.
	tr.CloseIdleConnections()
	if o.Settle > 0 {
		t := time.NewTimer(o.Settle)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if m, err := readMem(gw.pid()); err == nil {
		res.RSSAfter, res.PeakAfter = m.RSS, m.Peak
	}
	if o.PprofBase != "" {
		saveProfiles(ctx, o.PprofBase, o.Profile, "streams-after")
	}

	for i, ok := range okFlags {
		if ok {
			res.Completed++
			res.TTFB.record(times[i][0])
			res.TTFT.record(times[i][1])
			res.Total.record(times[i][2])
		}
	}
	for msg, c := range errs {
		res.Errors += c
		res.ErrorKind = append(res.ErrorKind, fmt.Sprintf("%d× %s", c, msg))
	}
	sort.Strings(res.ErrorKind)
	if len(res.ErrorKind) > 5 {
		res.ErrorKind = res.ErrorKind[:5]
	}
	res.PeakOpen = int(peak.Load())
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, ctx.Err()
	}
	return res, nil
}

// saveProfiles writes the gateway's goroutine and heap profiles (after a
// collection) as name.*, for finding what each open stream holds and what
// stays behind after they end. The MemStats at the end of the heap text
// show the runtime's view: heap in use, stacks, what was given back.
func saveProfiles(ctx context.Context, base, dir, name string) {
	for _, f := range []struct{ q, file string }{
		{"/debug/pprof/goroutine?debug=1", ".goroutine.txt"},
		{"/debug/pprof/heap?gc=1", ".heap.pprof"},
		{"/debug/pprof/heap?debug=1&gc=1", ".heap.txt"},
	} {
		if err := fetchTo(ctx, base+f.q, filepath.Join(dir, name+f.file)); err != nil {
			progress("%s profile: %v", name, err)
		}
	}
}

// readStream sends req and reads its stream to the end; opened is called
// when the response headers arrive and closed when the stream ends.
func readStream(hc *http.Client, req *http.Request, t0 time.Time, opened, closed func()) (ttfb, ttft time.Duration, err error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return 0, 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	opened()
	defer closed()
	return readEvents(bufio.NewReaderSize(resp.Body, 4096), wireOpenAI, t0)
}
