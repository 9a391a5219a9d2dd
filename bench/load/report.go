package main

import (
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"
)

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

// Targets, from the issue: on a 2-core machine, against an instant upstream.
const (
	minThroughputRatio = 0.80     // llmgate / bare proxy at the highest conns
	maxAddedP50Ratio   = 1.25     // llmgate's added p50 / the proxy's, at 1 conn
	maxRSS             = 40 << 20 // the gateway's RSS after the run
)

// targetCheck is one performance target and whether the run met it.
type targetCheck struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Target string `json:"target"`
	Pass   bool   `json:"pass"`
}

// find returns the result of target name in scenario sc, or nil.
func (r *report) find(name string, sc scenario) *result {
	for _, x := range r.Results {
		if x.Target == name && x.Scenario == sc {
			return x
		}
	}
	return nil
}

// addedP50 is a target's p50 minus the direct p50 in the same scenario.
func (r *report) addedP50(name string, sc scenario) (time.Duration, bool) {
	d, x := r.find("direct", sc), r.find(name, sc)
	if d == nil || x == nil || d.Requests == 0 || x.Requests == 0 {
		return 0, false
	}
	return x.Latency.quantile(0.5) - d.Latency.quantile(0.5), true
}

func checkTargets(r *report, o options) []targetCheck {
	var out []targetCheck
	errs := int64(0)
	for _, x := range r.Results {
		errs += x.Errors
	}
	out = append(out, targetCheck{Name: "errors in the load measurements", Value: fmt.Sprint(errs), Target: "0", Pass: errs == 0})

	hi := scenario{Conns: o.Conns[len(o.Conns)-1]}
	if p, g := r.find("proxy", hi), r.find("llmgate", hi); p != nil && g != nil && p.rps() > 0 {
		ratio := g.rps() / p.rps()
		out = append(out, targetCheck{
			Name:   fmt.Sprintf("throughput at %d conns, llmgate / bare proxy", hi.Conns),
			Value:  fmt.Sprintf("%.2f (%.0f / %.0f req/s)", ratio, g.rps(), p.rps()),
			Target: fmt.Sprintf(">= %.2f", minThroughputRatio),
			Pass:   ratio >= minThroughputRatio,
		})
	}
	one := scenario{Conns: 1}
	if o.Conns[0] == 1 {
		pa, ok1 := r.addedP50("proxy", one)
		ga, ok2 := r.addedP50("llmgate", one)
		if ok1 && ok2 {
			// A proxy whose added latency is within noise of zero would make
			// any ratio meaningless: floor it at 1µs.
			ratio := float64(ga) / float64(max(pa, time.Microsecond))
			out = append(out, targetCheck{
				Name:   "added p50 at 1 conn, llmgate / bare proxy",
				Value:  fmt.Sprintf("%.2f (%s / %s)", ratio, fmtDur(ga), fmtDur(pa)),
				Target: fmt.Sprintf("<= %.2f", maxAddedP50Ratio),
				Pass:   ratio <= maxAddedP50Ratio,
			})
		}
	}
	out = append(out, targetCheck{
		Name:   "llmgate RSS after the load run",
		Value:  fmt.Sprintf("%s (peak %s)", fmtMB(r.RSS), fmtMB(r.PeakRSS)),
		Target: "< " + fmtMB(maxRSS),
		Pass:   r.RSS > 0 && r.RSS < maxRSS,
	})
	if s := r.Streams; s != nil {
		out = append(out, targetCheck{
			Name:   fmt.Sprintf("%d concurrent open streams through llmgate", s.Streams),
			Value:  fmt.Sprintf("%d completed, %d errors, %d open at once", s.Completed, s.Errors, s.PeakOpen),
			Target: fmt.Sprintf("%d, 0 errors, %d at once", s.Streams, s.Streams),
			Pass:   s.Errors == 0 && s.Completed == s.Streams && s.PeakOpen == s.Streams,
		})
	}
	return out
}

func writeTable(w io.Writer, r *report) {
	o := r.Options
	fmt.Fprintf(w, "\nllmgate load benchmark  %s  %s, GOMAXPROCS %d, %d CPUs\n", r.Started.Format("2006-01-02 15:04"),
		runtime.Version(), r.GoMaxProcs, runtime.NumCPU())
	fmt.Fprintf(w, "each measurement: %s measured after %s warm-up, in %d rounds alternating the targets; closed loop, one keep-alive connection per worker\n\n",
		o.Duration, o.Warmup, o.Rounds)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "load\ttarget\treq/s\tvs proxy\tp50\tp99\tadded p50\tTTFT p50\tTTFT p99\tCPU/req\tvs proxy\tnew up conns\terrors\t")
	var last scenario
	for i, x := range r.Results {
		label := ""
		if i == 0 || x.Scenario != last {
			if i > 0 {
				fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t\t\t")
			}
			label = x.Scenario.String()
		}
		last = x.Scenario
		vs, cpuVs := "", ""
		if p := r.find("proxy", x.Scenario); p != nil && p.rps() > 0 && x.Target != "direct" {
			vs = fmt.Sprintf("%.2fx", x.rps()/p.rps())
			if p.cpuPerReq() > 0 {
				cpuVs = fmt.Sprintf("%.2fx", float64(x.cpuPerReq())/float64(p.cpuPerReq()))
			}
		}
		added := ""
		if a, ok := r.addedP50(x.Target, x.Scenario); ok && x.Target != "direct" {
			added = fmtDur(a)
		}
		ttft50, ttft99 := "", ""
		if x.Scenario.Stream {
			ttft50, ttft99 = fmtDur(x.TTFT.quantile(0.5)), fmtDur(x.TTFT.quantile(0.99))
		}
		up := ""
		if x.UpstreamConns >= 0 {
			up = fmt.Sprint(x.UpstreamConns)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", label, targetLabel(x.Target), x.rps(), vs,
			fmtDur(x.Latency.quantile(0.5)), fmtDur(x.Latency.quantile(0.99)), added, ttft50, ttft99,
			fmtDur(x.cpuPerReq()), cpuVs, up, x.Errors)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nCPU/req: CPU time of the process under test (the mock for direct, else the proxy or llmgate) per request;")
	fmt.Fprintln(w, "  on a shared machine it drifts less than req/s, and its ratio to the proxy's is the steadiest figure here.")
	fmt.Fprintln(w, "new up conns: connections opened to the mock during the measured window (0: every upstream connection was reused).")
	fmt.Fprintf(w, "\nllmgate memory after the load run: RSS %s (anonymous %s, file-backed %s), peak RSS %s\n",
		fmtMB(r.RSS), fmtMB(r.Mem.Anon), fmtMB(r.Mem.File), fmtMB(r.PeakRSS))

	if s := r.Streams; s != nil {
		fmt.Fprintf(w, "\nopen streams: %d streams at once through llmgate to a mock with %s between events\n", s.Streams, o.StreamDelay)
		fmt.Fprintf(w, "  completed %d, errors %d, open at once %d, in %s\n", s.Completed, s.Errors, s.PeakOpen, s.Elapsed.Round(time.Millisecond))
		fmt.Fprintf(w, "  TTFT p50 %s p99 %s; whole stream p50 %s p99 %s\n", fmtDur(s.TTFT.quantile(0.5)), fmtDur(s.TTFT.quantile(0.99)),
			fmtDur(s.Total.quantile(0.5)), fmtDur(s.Total.quantile(0.99)))
		fmt.Fprintf(w, "  llmgate RSS while open (highest sample) %s; after %s; peak %s\n", fmtMB(s.RSSOpen), fmtMB(s.RSSAfter), fmtMB(s.PeakAfter))
		for _, e := range s.ErrorKind {
			fmt.Fprintf(w, "  error: %s\n", e)
		}
	}

	fmt.Fprintln(w, "\ntargets")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range r.Targets {
		verdict := "PASS"
		if !t.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Name, t.Value, t.Target, verdict)
	}
	tw.Flush()
}

func targetLabel(name string) string {
	switch name {
	case "direct":
		return "direct (mock)"
	case "proxy":
		return "bare proxy"
	}
	return name
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
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return &jsonLatency{ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)), ms(h.max), ms(h.mean())}
}

type jsonResult struct {
	Target        string       `json:"target"`
	Stream        bool         `json:"stream"`
	Conns         int          `json:"conns"`
	Requests      int64        `json:"requests"`
	Errors        int64        `json:"errors"`
	FirstError    string       `json:"first_error,omitempty"`
	Seconds       float64      `json:"seconds"`
	RPS           float64      `json:"rps"`
	RPSVsProxy    float64      `json:"rps_vs_proxy,omitempty"`
	CPUVsProxy    float64      `json:"cpu_per_request_vs_proxy,omitempty"`
	LatencyMS     *jsonLatency `json:"latency_ms"`
	AddedP50MS    *float64     `json:"added_p50_ms,omitempty"`
	TTFTMS        *jsonLatency `json:"ttft_ms,omitempty"`
	CPUPerReqUS   float64      `json:"cpu_per_request_us"`
	ClientDials   int64        `json:"client_dials"`
	UpstreamConns int          `json:"new_upstream_conns"`
}

type jsonStreams struct {
	Streams     int          `json:"streams"`
	Completed   int          `json:"completed"`
	Errors      int          `json:"errors"`
	ErrorKinds  []string     `json:"error_kinds,omitempty"`
	PeakOpen    int          `json:"peak_open"`
	Seconds     float64      `json:"seconds"`
	TTFTMS      *jsonLatency `json:"ttft_ms"`
	TotalMS     *jsonLatency `json:"total_ms"`
	RSSOpenMB   float64      `json:"rss_open_mb"`
	RSSAfterMB  float64      `json:"rss_after_mb"`
	PeakAfterMB float64      `json:"peak_rss_after_mb"`
}

type jsonOut struct {
	Started     time.Time     `json:"started"`
	GoVersion   string        `json:"go_version"`
	GoMaxProcs  int           `json:"gomaxprocs"`
	Duration    string        `json:"duration"`
	Warmup      string        `json:"warmup"`
	Results     []jsonResult  `json:"results"`
	RSSMB       float64       `json:"llmgate_rss_mb"`
	RSSAnonMB   float64       `json:"llmgate_rss_anon_mb"`
	RSSFileMB   float64       `json:"llmgate_rss_file_mb"`
	PeakRSSMB   float64       `json:"llmgate_peak_rss_mb"`
	OpenStreams *jsonStreams  `json:"open_streams,omitempty"`
	Targets     []targetCheck `json:"targets"`
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func jsonReport(r *report) jsonOut {
	out := jsonOut{Started: r.Started, GoVersion: runtime.Version(), GoMaxProcs: r.GoMaxProcs,
		Duration: r.Options.Duration.String(), Warmup: r.Options.Warmup.String(),
		RSSMB: mb(r.RSS), RSSAnonMB: mb(r.Mem.Anon), RSSFileMB: mb(r.Mem.File), PeakRSSMB: mb(r.PeakRSS), Targets: r.Targets}
	for _, x := range r.Results {
		j := jsonResult{Target: x.Target, Stream: x.Scenario.Stream, Conns: x.Scenario.Conns, Requests: x.Requests,
			Errors: x.Errors, FirstError: x.FirstErr, Seconds: x.Elapsed.Seconds(), RPS: x.rps(),
			LatencyMS: latencyOf(&x.Latency), CPUPerReqUS: float64(x.cpuPerReq().Nanoseconds()) / 1e3,
			ClientDials: x.Dials, UpstreamConns: x.UpstreamConns}
		if p := r.find("proxy", x.Scenario); p != nil && p.rps() > 0 && x.Target != "direct" {
			j.RPSVsProxy = x.rps() / p.rps()
			if p.cpuPerReq() > 0 {
				j.CPUVsProxy = float64(x.cpuPerReq()) / float64(p.cpuPerReq())
			}
		}
		if a, ok := r.addedP50(x.Target, x.Scenario); ok && x.Target != "direct" {
			v := float64(a.Microseconds()) / 1000
			j.AddedP50MS = &v
		}
		if x.Scenario.Stream {
			j.TTFTMS = latencyOf(&x.TTFT)
		}
		out.Results = append(out.Results, j)
	}
	if s := r.Streams; s != nil {
		out.OpenStreams = &jsonStreams{Streams: s.Streams, Completed: s.Completed, Errors: s.Errors, ErrorKinds: s.ErrorKind,
			PeakOpen: s.PeakOpen, Seconds: s.Elapsed.Seconds(), TTFTMS: latencyOf(&s.TTFT), TotalMS: latencyOf(&s.Total),
			RSSOpenMB: mb(s.RSSOpen), RSSAfterMB: mb(s.RSSAfter), PeakAfterMB: mb(s.PeakAfter)}
	}
	return out
}
