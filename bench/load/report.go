package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

// Targets, from issue 11: ratios to the bare proxy measured in the same
// run, on a 2-core machine, against an instant upstream.
const (
	minRPSRatio      = 1.00                   // rows 1-6: llmgate req/s / the proxy's
	maxCPURatio      = 1.10                   // rows 1-6: CPU per request
	maxP99Ratio      = 1.50                   // rows 1-6: p99 latency
	maxAddedP50Ratio = 1.25                   // 1 conn: llmgate's added p50 / the proxy's
	maxAddedTTFT     = 200 * time.Microsecond // 1 conn: llmgate's time to first token - the proxy's
	maxRSS           = 30 << 20               // the default gateway's RSS after the load measurements
	maxRSSPerStream  = 40 << 10               // open-streams test: RSS per open stream
	maxRSSAfterRatio = 1.5                    // open-streams test: RSS after / before
)

// targetCheck is one performance target and whether the run met it.
type targetCheck struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Target string `json:"target"`
	Pass   bool   `json:"pass"`
	// Smoke marks the checks that fail a -quick run too: errors, not ratios.
	Smoke bool `json:"smoke,omitempty"`
	// Ratios holds the figures of a row judged on req/s, CPU and p99.
	Ratios *ratios `json:"ratios,omitempty"`
}

// ratios are a row's figures beside the bare proxy's.
type ratios struct {
	Row         int      `json:"row"`
	Conns       int      `json:"conns"`
	RPS         float64  `json:"rps"`
	ProxyRPS    float64  `json:"proxy_rps"`
	RPSRatio    float64  `json:"rps_ratio"`
	CPUus       float64  `json:"cpu_per_request_us"`
	ProxyCPUus  float64  `json:"proxy_cpu_per_request_us"`
	CPURatio    float64  `json:"cpu_ratio"`
	P99ms       float64  `json:"p99_ms"`
	ProxyP99ms  float64  `json:"proxy_p99_ms"`
	P99Ratio    float64  `json:"p99_ratio"`
	Errors      int64    `json:"errors"`
	Missed      []string `json:"missed,omitempty"` // which of the three missed
	proxy, gate *result
}

// find returns the result of leg in scenario sc, or nil.
func (r *report) find(sc, leg string) *result {
	for _, x := range r.Results {
		if x.Scenario == sc && x.Leg == leg {
			return x
		}
	}
	return nil
}

// addedP50 is a leg's p50 minus the direct p50 in the same scenario.
func (r *report) addedP50(sc, leg string) (time.Duration, bool) {
	d, x := r.find(sc, "direct"), r.find(sc, leg)
	if d == nil || x == nil || d.Requests == 0 || x.Requests == 0 {
		return 0, false
	}
	return x.Latency.quantile(0.5) - d.Latency.quantile(0.5), true
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// rowRatios compares a row's leg to its scenario's proxy leg.
func rowRatios(rw row, p, g *result) *ratios {
	q := &ratios{Row: rw.N, Conns: g.Conns, proxy: p, gate: g,
		RPS: g.rps(), ProxyRPS: p.rps(), CPUus: us(g.cpuPerReq()), ProxyCPUus: us(p.cpuPerReq()),
		P99ms: ms(g.Latency.quantile(0.99)), ProxyP99ms: ms(p.Latency.quantile(0.99)), Errors: g.Errors}
	q.RPSRatio, q.CPURatio, q.P99Ratio = ratio(q.RPS, q.ProxyRPS), ratio(q.CPUus, q.ProxyCPUus), ratio(q.P99ms, q.ProxyP99ms)
	if q.RPSRatio < minRPSRatio {
		q.Missed = append(q.Missed, "req/s")
	}
	if q.CPURatio > maxCPURatio || q.CPUus == 0 {
		q.Missed = append(q.Missed, "CPU")
	}
	if q.P99Ratio > maxP99Ratio || q.P99ms == 0 {
		q.Missed = append(q.Missed, "p99")
	}
	if g.Errors > 0 || g.Requests == 0 {
		q.Missed = append(q.Missed, "errors")
	}
	return q
}

func checkTargets(r *report) []targetCheck {
	var out []targetCheck
	for _, sc := range r.Scenarios {
		p := r.find(sc.Slug, "proxy")
		for _, rw := range sc.Rows {
			g := r.find(sc.Slug, rw.Slug)
			if p == nil || g == nil {
				continue
			}
			name := fmt.Sprintf("%s (%d conns)", rw.Name, sc.Conns)
			if rw.N > 0 {
				name = fmt.Sprintf("%d %s", rw.N, name)
			}
			switch rw.Check {
			case checkRatios:
				q := rowRatios(rw, p, g)
				out = append(out, targetCheck{Name: name,
					Value:  fmt.Sprintf("req/s %.2fx, CPU/req %.2fx, p99 %.2fx", q.RPSRatio, q.CPURatio, q.P99Ratio),
					Target: fmt.Sprintf("req/s >= %.2fx, CPU/req <= %.2fx, p99 <= %.2fx", minRPSRatio, maxCPURatio, maxP99Ratio),
					Pass:   len(q.Missed) == 0, Ratios: q})
			case checkAddedP50:
				pa, ok1 := r.addedP50(sc.Slug, "proxy")
				ga, ok2 := r.addedP50(sc.Slug, rw.Slug)
				if !ok1 || !ok2 {
					continue
				}
				// A proxy whose added latency is within noise of zero would
				// make any ratio meaningless: floor it at 1µs.
				x := float64(ga) / float64(max(pa, time.Microsecond))
				out = append(out, targetCheck{Name: "chat, 1 conn: added p50, llmgate / bare proxy",
					Value:  fmt.Sprintf("%.2fx (%s / %s over direct %s)", x, fmtDur(ga), fmtDur(pa), fmtDur(r.find(sc.Slug, "direct").Latency.quantile(0.5))),
					Target: fmt.Sprintf("<= %.2fx", maxAddedP50Ratio),
					Pass:   x <= maxAddedP50Ratio && g.Errors == 0})
			case checkAddedTTFT:
				if p.TTFT.n == 0 || g.TTFT.n == 0 {
					continue
				}
				// Exact medians: the histogram's buckets are wider than the
				// target at this latency.
				gm, pm := median(g.TTFTs), median(p.TTFTs)
				added := gm - pm
				out = append(out, targetCheck{Name: fmt.Sprintf("first token, 1 conn: added time to first content token (mock waits %s)", r.Options.FirstTokenDelay),
					Value: fmt.Sprintf("%s (p50 %s / %s, %d / %d streams); time to first byte %s / %s", fmtDur(added),
						fmtDurPrec(gm), fmtDurPrec(pm), len(g.TTFTs), len(p.TTFTs), fmtDur(g.TTFB.quantile(0.5)), fmtDur(p.TTFB.quantile(0.5))),
					Target: "<= " + fmtDur(maxAddedTTFT),
					Pass:   added <= maxAddedTTFT && g.Errors == 0})
			}
		}
	}
	if m, ok := r.Mem[gwDefault]; ok {
		out = append(out, targetCheck{
			Name:   "llmgate RSS after the load measurements",
			Value:  fmt.Sprintf("%s (anonymous %s, file-backed %s)", fmtMB(m.RSS), fmtMB(m.Anon), fmtMB(m.File)),
			Target: "<= " + fmtMB(maxRSS),
			Pass:   m.RSS > 0 && m.RSS <= maxRSS,
		})
	}
	errs := int64(0)
	for _, x := range r.Results {
		errs += x.Errors
	}
	out = append(out, targetCheck{Name: "errors in the load measurements", Value: fmt.Sprint(errs), Target: "0", Pass: errs == 0, Smoke: true})
	if s := r.Streams; s != nil {
		out = append(out,
			targetCheck{
				Name:   fmt.Sprintf("%d streams at once: completed, errors", s.Streams),
				Value:  fmt.Sprintf("%d completed, %d errors", s.Completed, s.Errors),
				Target: fmt.Sprintf("%d, 0 errors", s.Streams),
				Pass:   s.Errors == 0 && s.Completed == s.Streams, Smoke: true,
			},
			targetCheck{
				Name:   fmt.Sprintf("%d streams at once: open at the same time", s.Streams),
				Value:  fmt.Sprint(s.PeakOpen),
				Target: fmt.Sprint(s.Streams),
				Pass:   s.PeakOpen == s.Streams,
			},
			targetCheck{
				Name:   fmt.Sprintf("%d streams at once: RSS per open stream", s.Streams),
				Value:  fmt.Sprintf("%.1f KB ((%s - %s) / %d)", float64(s.perStream())/1024, fmtMB(s.RSSOpen), fmtMB(s.RSSBefore), s.PeakOpen),
				Target: fmt.Sprintf("<= %d KB", maxRSSPerStream>>10),
				Pass:   s.PeakOpen > 0 && s.perStream() <= maxRSSPerStream,
			},
			targetCheck{
				Name:   fmt.Sprintf("%d streams at once: RSS after / before", s.Streams),
				Value:  fmt.Sprintf("%.2fx (%s / %s, %s after the last ended)", s.afterRatio(), fmtMB(s.RSSAfter), fmtMB(s.RSSBefore), s.Settle),
				Target: fmt.Sprintf("<= %.1fx", maxRSSAfterRatio),
				Pass:   s.RSSAfter > 0 && s.afterRatio() <= maxRSSAfterRatio,
			})
	}
	return out
}

func verdict(t targetCheck) string {
	if t.Pass {
		return "PASS"
	}
	if t.Ratios != nil {
		return "FAIL (" + strings.Join(t.Ratios.Missed, ", ") + ")"
	}
	return "FAIL"
}

func writeTable(w io.Writer, r *report) {
	o := r.Options
	fmt.Fprintf(w, "\nllmgate load benchmark  %s  %s, GOMAXPROCS %d, %d CPUs, open-file limit %d\n", r.Started.Format("2006-01-02 15:04"),
		runtime.Version(), r.GoMaxProcs, runtime.NumCPU(), r.FileLimit)
	fmt.Fprintf(w, "each load: %s measured per target after %s warm-up, in %d round(s) alternating the targets; closed loop, one keep-alive connection per worker\n",
		o.Duration, o.Warmup, o.Rounds)
	if o.Quick {
		fmt.Fprintln(w, "-quick: a smoke run; only the targets marked * (errors) decide the exit status")
	}

	// The paths, each beside the bare proxy.
	fmt.Fprintf(w, "\npaths: llmgate beside the bare proxy of the same rounds; target req/s >= %.2fx, CPU/req <= %.2fx, p99 <= %.2fx\n\n",
		minRPSRatio, maxCPURatio, maxP99Ratio)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tconns\treq/s\tproxy\tratio\tCPU/req\tproxy\tratio\tp99\tproxy\tratio\terrors\tverdict\t")
	for _, t := range r.Targets {
		q := t.Ratios
		if q == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.2fx\t%s\t%s\t%.2fx\t%s\t%s\t%.2fx\t%d\t%s\t\n",
			strings.TrimSuffix(t.Name, fmt.Sprintf(" (%d conns)", q.Conns)), q.Conns, q.RPS, q.ProxyRPS, q.RPSRatio,
			fmtDur(q.gate.cpuPerReq()), fmtDur(q.proxy.cpuPerReq()), q.CPURatio,
			fmtDur(q.gate.Latency.quantile(0.99)), fmtDur(q.proxy.Latency.quantile(0.99)), q.P99Ratio, q.Errors, verdict(t))
	}
	tw.Flush()

	// Every measurement.
	fmt.Fprintln(w, "\nmeasurements")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "load\ttarget\treq/s\tp50\tp99\tadded p50\tTTFB p50\tTTFT p50\tTTFT p99\tCPU/req\tnew up conns\terrors\t")
	labels := map[string]string{"direct": "direct (mock)", "proxy": "bare proxy"}
	for _, sc := range r.Scenarios {
		for _, rw := range sc.Rows {
			labels[rw.Slug] = "llmgate " + rowLabel(rw)
		}
	}
	last := ""
	for _, sc := range r.Scenarios {
		for _, x := range r.Results {
			if x.Scenario != sc.Slug {
				continue
			}
			label := ""
			if x.Scenario != last {
				if last != "" {
					fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t\t")
				}
				label = sc.label()
			}
			last = x.Scenario
			added := ""
			if a, ok := r.addedP50(x.Scenario, x.Leg); ok && x.Leg != "direct" {
				added = fmtDur(a)
			}
			fb, ft50, ft99 := "", "", ""
			if x.Stream {
				fb, ft50, ft99 = fmtDur(x.TTFB.quantile(0.5)), fmtDur(x.TTFT.quantile(0.5)), fmtDur(x.TTFT.quantile(0.99))
			}
			up := ""
			if x.UpstreamConns >= 0 {
				up = fmt.Sprint(x.UpstreamConns)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", label, labels[x.Leg], x.rps(),
				fmtDur(x.Latency.quantile(0.5)), fmtDur(x.Latency.quantile(0.99)), added, fb, ft50, ft99,
				fmtDur(x.cpuPerReq()), up, x.Errors)
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "\nCPU/req: CPU time of the process under test (the mock for direct, else the proxy or llmgate) per request.")
	fmt.Fprintln(w, "TTFB: to the first line of the body; TTFT: to the first event with content (a non-empty text delta).")
	fmt.Fprintln(w, "new up conns: connections opened to the mock during the measured window (0: every upstream connection was reused).")
	for _, x := range r.Results {
		if x.FirstErr != "" {
			fmt.Fprintf(w, "first error of %s / %s: %s\n", x.Scenario, labels[x.Leg], x.FirstErr)
		}
	}

	fmt.Fprintln(w)
	for _, name := range []string{gwDefault, gwNoLog} {
		if m, ok := r.Mem[name]; ok {
			fmt.Fprintf(w, "%s memory after the load measurements: RSS %s (anonymous %s, file-backed %s), peak RSS %s\n",
				name, fmtMB(m.RSS), fmtMB(m.Anon), fmtMB(m.File), fmtMB(m.Peak))
		}
	}

	if s := r.StreamsDirect; s != nil {
		writeStreams(w, s, "directly to the slow mock (for reference: no llmgate; RSS is the mock's)", o.StreamDelay)
	}
	if s := r.Streams; s != nil {
		writeStreams(w, s, "through llmgate (one client connection each) to an h2c mock", o.StreamDelay)
	}

	fmt.Fprintln(w, "\ntargets")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range r.Targets {
		mark := " "
		if t.Smoke {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\n", mark, t.Name, t.Value, t.Target, verdict(t))
	}
	tw.Flush()
}

func writeStreams(w io.Writer, s *streamsResult, what string, delay time.Duration) {
	fmt.Fprintf(w, "\nopen streams: %d streams at once %s with %s between events\n", s.Streams, what, delay)
	fmt.Fprintf(w, "  completed %d, errors %d, open at once %d, in %s\n", s.Completed, s.Errors, s.PeakOpen, s.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  TTFB p50 %s p99 %s; TTFT p50 %s p99 %s; whole stream p50 %s p99 %s\n",
		fmtDur(s.TTFB.quantile(0.5)), fmtDur(s.TTFB.quantile(0.99)), fmtDur(s.TTFT.quantile(0.5)), fmtDur(s.TTFT.quantile(0.99)),
		fmtDur(s.Total.quantile(0.5)), fmtDur(s.Total.quantile(0.99)))
	fmt.Fprintf(w, "  RSS before %s; while open (highest sample) %s; as the last ended %s; %s later %s; peak %s\n",
		fmtMB(s.RSSBefore), fmtMB(s.RSSOpen), fmtMB(s.RSSEnd), s.Settle, fmtMB(s.RSSAfter), fmtMB(s.PeakAfter))
	fmt.Fprintf(w, "  descriptors while open (highest sample) %d; connections to the mock %d\n", s.FDs, s.UpConns)
	gw := "llmgate " + s.CPUGateway.Round(time.Millisecond).String() + ", "
	if s.Direct {
		gw = ""
	}
	fmt.Fprintf(w, "  CPU time during the test: %sthe mock %s, the clients (this process) %s, in %s on %d CPUs\n",
		gw, s.CPUMock.Round(time.Millisecond), s.CPUClient.Round(time.Millisecond), s.Elapsed.Round(time.Millisecond), runtime.NumCPU())
	for _, e := range s.ErrorKind {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
}

// fmtDur prints a duration with three significant digits.
func fmtDur(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d == 0:
		s = "0"
	case d < time.Microsecond:
		s = fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		s = fmt.Sprintf("%.3gµs", float64(d)/1e3)
	case d < time.Second:
		s = fmt.Sprintf("%.3gms", float64(d)/1e6)
	default:
		s = fmt.Sprintf("%.3gs", d.Seconds())
	}
	if neg {
		return "-" + s
	}
	return s
}

// fmtDurPrec prints a duration to the microsecond.
func fmtDurPrec(d time.Duration) string {
	if d >= time.Millisecond {
		return fmt.Sprintf("%.3fms", float64(d)/1e6)
	}
	return fmtDur(d)
}

func fmtMB(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

// The -json output.

// jsonLatency is a latency distribution in milliseconds.
type jsonLatency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func latencyOf(h *histogram) *jsonLatency {
	if h.n == 0 {
		return nil
	}
	return &jsonLatency{ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)), ms(h.max), ms(h.mean())}
}

type jsonResult struct {
	Scenario      string       `json:"scenario"`
	Target        string       `json:"target"` // direct, proxy, or the row's slug
	Stream        bool         `json:"stream"`
	Conns         int          `json:"conns"`
	Requests      int64        `json:"requests"`
	Errors        int64        `json:"errors"`
	FirstError    string       `json:"first_error,omitempty"`
	Seconds       float64      `json:"seconds"`
	RPS           float64      `json:"rps"`
	LatencyMS     *jsonLatency `json:"latency_ms"`
	AddedP50MS    *float64     `json:"added_p50_ms,omitempty"`
	TTFBMS        *jsonLatency `json:"ttfb_ms,omitempty"`
	TTFTMS        *jsonLatency `json:"ttft_ms,omitempty"`
	CPUPerReqUS   float64      `json:"cpu_per_request_us"`
	ClientDials   int64        `json:"client_dials"`
	UpstreamConns int          `json:"new_upstream_conns"`
}

type jsonStreams struct {
	Streams          int          `json:"streams"`
	Completed        int          `json:"completed"`
	Errors           int          `json:"errors"`
	ErrorKinds       []string     `json:"error_kinds,omitempty"`
	PeakOpen         int          `json:"peak_open"`
	Seconds          float64      `json:"seconds"`
	TTFBMS           *jsonLatency `json:"ttfb_ms"`
	TTFTMS           *jsonLatency `json:"ttft_ms"`
	TotalMS          *jsonLatency `json:"total_ms"`
	RSSBeforeMB      float64      `json:"rss_before_mb"`
	RSSOpenMB        float64      `json:"rss_open_mb"`
	RSSEndMB         float64      `json:"rss_end_mb"`
	RSSAfterMB       float64      `json:"rss_after_mb"`
	SettleSeconds    float64      `json:"settle_seconds"`
	PeakAfterMB      float64      `json:"peak_rss_after_mb"`
	RSSPerStreamKB   float64      `json:"rss_per_stream_kb"`
	FDs              int          `json:"fds"`
	UpstreamConns    int          `json:"upstream_conns"`
	RSSAfterVsBefore float64      `json:"rss_after_vs_before"`
	CPUGatewayS      float64      `json:"cpu_llmgate_seconds"`
	CPUMockS         float64      `json:"cpu_mock_seconds"`
	CPUClientS       float64      `json:"cpu_clients_seconds"`
}

type jsonMem struct {
	RSSMB  float64 `json:"rss_mb"`
	AnonMB float64 `json:"rss_anon_mb"`
	FileMB float64 `json:"rss_file_mb"`
	PeakMB float64 `json:"peak_rss_mb"`
}

type jsonOut struct {
	Started     time.Time          `json:"started"`
	GoVersion   string             `json:"go_version"`
	GoMaxProcs  int                `json:"gomaxprocs"`
	Duration    string             `json:"duration"`
	Warmup      string             `json:"warmup"`
	Rounds      int                `json:"rounds"`
	Quick       bool               `json:"quick"`
	Results     []jsonResult       `json:"results"`
	Memory      map[string]jsonMem `json:"memory_after_load"`
	OpenStreams *jsonStreams       `json:"open_streams,omitempty"`
	Targets     []targetCheck      `json:"targets"`
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func jsonReport(r *report) jsonOut {
	out := jsonOut{Started: r.Started, GoVersion: runtime.Version(), GoMaxProcs: r.GoMaxProcs,
		Duration: r.Options.Duration.String(), Warmup: r.Options.Warmup.String(), Rounds: r.Options.Rounds, Quick: r.Options.Quick,
		Memory: map[string]jsonMem{}, Targets: r.Targets}
	for name, m := range r.Mem {
		out.Memory[name] = jsonMem{mb(m.RSS), mb(m.Anon), mb(m.File), mb(m.Peak)}
	}
	for _, x := range r.Results {
		j := jsonResult{Scenario: x.Scenario, Target: x.Leg, Stream: x.Stream, Conns: x.Conns, Requests: x.Requests,
			Errors: x.Errors, FirstError: x.FirstErr, Seconds: x.Elapsed.Seconds(), RPS: x.rps(),
			LatencyMS: latencyOf(&x.Latency), CPUPerReqUS: us(x.cpuPerReq()),
			ClientDials: x.Dials, UpstreamConns: x.UpstreamConns}
		if a, ok := r.addedP50(x.Scenario, x.Leg); ok && x.Leg != "direct" {
			v := ms(a)
			j.AddedP50MS = &v
		}
		if x.Stream {
			j.TTFBMS, j.TTFTMS = latencyOf(&x.TTFB), latencyOf(&x.TTFT)
		}
		out.Results = append(out.Results, j)
	}
	if s := r.Streams; s != nil {
		out.OpenStreams = &jsonStreams{Streams: s.Streams, Completed: s.Completed, Errors: s.Errors, ErrorKinds: s.ErrorKind,
			PeakOpen: s.PeakOpen, Seconds: s.Elapsed.Seconds(), TTFBMS: latencyOf(&s.TTFB), TTFTMS: latencyOf(&s.TTFT), TotalMS: latencyOf(&s.Total),
			RSSBeforeMB: mb(s.RSSBefore), RSSOpenMB: mb(s.RSSOpen), RSSEndMB: mb(s.RSSEnd), RSSAfterMB: mb(s.RSSAfter),
			SettleSeconds: s.Settle.Seconds(), PeakAfterMB: mb(s.PeakAfter), RSSPerStreamKB: float64(s.perStream()) / 1024,
			FDs: s.FDs, UpstreamConns: s.UpConns, RSSAfterVsBefore: s.afterRatio(),
			CPUGatewayS: s.CPUGateway.Seconds(), CPUMockS: s.CPUMock.Seconds(), CPUClientS: s.CPUClient.Seconds()}
	}
	return out
}
