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
	TTFT      histogram
	Total     histogram
	Elapsed   time.Duration
	// RSSOpen is the gateway's highest VmRSS sampled while streams were
	// open; PeakAfter its VmHWM after the test.
	RSSOpen, RSSAfter, PeakAfter int64
}

// openStreams starts n streaming requests at once against base (the
// gateway, routed to the slow mock so that each stream stays open for a
// while), reads each to its end, and samples the gateway's memory while
// they are open. Each stream has its own connection.
func openStreams(ctx context.Context, base, model string, n int, gw *child, timeout time.Duration) (*streamsResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:        n,
		MaxIdleConnsPerHost: n,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	body := requestBody(model, true)

	res := &streamsResult{Streams: n}
	var (
		open, peak    atomic.Int64
		mu            sync.Mutex // protects following
		errs          = map[string]int{}
		ttfts, totals = make([]time.Duration, n), make([]time.Duration, n)
		okFlags       = make([]bool, n)
	)
	// Memory sampler: owned here, stopped and joined before returning.
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		t := time.NewTicker(25 * time.Millisecond)
		defer t.Stop()
		for {
			if m, err := readMem(gw.pid()); err == nil && m.RSS > res.RSSOpen && open.Load() > 0 {
				res.RSSOpen = m.RSS
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
	for i := range n {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(body))
			if err != nil {
				panic(err) // the URL is ours
			}
			req.Header.Set("Content-Type", "application/json")
			<-startGate
			t0 := time.Now()
			ttft, err := readStream(hc, req, t0, func() {
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
			ttfts[i], totals[i], okFlags[i] = ttft, time.Since(t0), true
		})
	}
	t0 := time.Now()
	close(startGate)
	wg.Wait()
	res.Elapsed = time.Since(t0)
	close(stopSampling)
	sampler.Wait()

	for i, ok := range okFlags {
		if ok {
			res.Completed++
			res.TTFT.record(ttfts[i])
			res.Total.record(totals[i])
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
	if m, err := readMem(gw.pid()); err == nil {
		res.RSSAfter, res.PeakAfter = m.RSS, m.Peak
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, ctx.Err()
	}
	return res, nil
}

// readStream sends req and reads its stream to the end; opened is called
// when the response headers arrive and closed when the stream ends.
func readStream(hc *http.Client, req *http.Request, t0 time.Time, opened, closed func()) (time.Duration, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	opened()
	defer closed()
	br := bufio.NewReaderSize(resp.Body, 4096)
	var ttft time.Duration
	done := false
	for {
		line, err := br.ReadBytes('\n')
		if bytes.HasPrefix(line, dataPrefix) {
			if ttft == 0 {
				ttft = time.Since(t0)
			}
			if bytes.HasPrefix(bytes.TrimSpace(line[len(dataPrefix):]), doneData) {
				done = true
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if !done {
		return 0, errors.New("the stream ended without data: [DONE]")
	}
	return ttft, nil
}
