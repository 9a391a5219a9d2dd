// Command load is llmgate's load benchmark. In one run it starts the mock
// upstream (llmgate mock, instant answers), a bare httputil.ReverseProxy in
// front of it and the gateway (llmgate serve with an openai provider pointing
// at the mock and the request log in SQLite), drives all three with the same
// closed-loop load generator, and prints requests/s, p50/p99 latency, time to
// first token, CPU per request, peak RSS and the ratios the performance
// targets are stated in:
//
//	go run ./bench/load [-duration 10s] [-warmup 2s] [-conns 1,32] [-streams 1000] [-json]
//
// Everything listens on 127.0.0.1 and is stopped at the end, on error and on
// Ctrl-C. The run is bounded in time. It exits 1 when a target is missed and
// 2 when the benchmark itself fails. See bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	Duration, Warmup time.Duration
	Rounds           int
	Conns            []int
	StreamConns      int
	Streams          int
	StreamDelay      time.Duration
	SkipStreams      bool
	JSON             bool
	Llmgate          string // prebuilt binary; "" builds ./cmd/llmgate
	Profile          string // directory for pprof profiles; "" profiles nothing
	Keep             bool
	RawProxy         bool
	Persist          bool
}

func main() {
	// Re-executed server modes (see serve.go).
	serveProxyAddr := flag.String("serve-proxy", "", "internal: run the bare reverse proxy on this address")
	upstream := flag.String("upstream", "", "internal: the proxy's upstream URL")
	serveGW := flag.String("serve-gateway", "", "internal: run the gateway in-process with this config (for -profile)")
	pprofAddr := flag.String("pprof", "", "internal: serve pprof on this address")
	rawProxy := flag.Bool("raw-proxy", false, "let the bare proxy stream request bodies to the upstream unread (see bench/README.md)")

	var o options
	flag.DurationVar(&o.Duration, "duration", 10*time.Second, "measured time per measurement")
	flag.DurationVar(&o.Warmup, "warmup", 2*time.Second, "unmeasured load before each measurement (spread over its rounds)")
	flag.IntVar(&o.Rounds, "rounds", 5, "split each measurement into this many rounds that alternate the targets")
	conns := flag.String("conns", "1,32", "connection counts for the non-streaming measurements")
	flag.IntVar(&o.StreamConns, "stream-conns", 32, "connections for the streaming measurement (0: skip it)")
	flag.IntVar(&o.Streams, "streams", 1000, "streams opened at once in the open-streams test")
	flag.DurationVar(&o.StreamDelay, "stream-token-delay", 300*time.Millisecond, "the slow mock's delay between events in the open-streams test (a stream lasts 13 of these)")
	flag.BoolVar(&o.SkipStreams, "skip-streams", false, "skip the open-streams test")
	flag.BoolVar(&o.JSON, "json", false, "print the results as JSON instead of a table")
	flag.StringVar(&o.Llmgate, "llmgate", "", "use this llmgate binary instead of building ./cmd/llmgate")
	flag.StringVar(&o.Profile, "profile", "", "write CPU and allocation profiles of the proxy and the gateway here (the gateway then runs inside a re-executed benchmark process, wired by cli.NewApp as llmgate serve wires it)")
	flag.BoolVar(&o.Persist, "persist", true, "persist llmgate's request log to SQLite, as by default (false: in memory only)")
	flag.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (logs, config, SQLite database)")
	flag.Parse()
	o.RawProxy = *rawProxy

	switch {
	case *serveProxyAddr != "":
		exitOn(serveProxy(*serveProxyAddr, *upstream, *pprofAddr, *rawProxy))
		return
	case *serveGW != "":
		exitOn(serveGateway(*serveGW, *pprofAddr))
		return
	}
	var err error
	if o.Conns, err = parseConns(*conns); err != nil {
		fmt.Fprintf(os.Stderr, "-conns: %v\n", err)
		os.Exit(2)
	}
	if o.Duration <= 0 || o.Rounds < 1 || o.Warmup < 0 || o.Streams < 0 || o.StreamConns < 0 {
		fmt.Fprintln(os.Stderr, "-duration and -rounds must be positive; -warmup, -streams and -stream-conns not negative")
		os.Exit(2)
	}
	os.Exit(run(o))
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func parseConns(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// report is everything one run measured.
type report struct {
	Started    time.Time
	GoMaxProcs int
	Options    options
	Results    []*result
	// Gateway memory after the load measurements (before the open-streams
	// test).
	RSS, PeakRSS int64
	Mem          memStatus
	Streams      *streamsResult
	Targets      []targetCheck
}

func run(o options) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Bounded: every measurement plus a generous allowance for start-up and
	// the open-streams test.
	n := len(o.Conns)*3 + 3
	ctx, cancel := context.WithTimeout(ctx, time.Duration(n)*(o.Warmup+o.Duration+time.Duration(o.Rounds)*40*time.Second)+5*time.Minute)
	defer cancel()

	rep, err := bench(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "llmgate load benchmark: %v\n", err)
		return 2
	}
	rep.Targets = checkTargets(rep, o)
	if o.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(jsonReport(rep)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	} else {
		writeTable(os.Stdout, rep)
	}
	for _, t := range rep.Targets {
		if !t.Pass {
			return 1
		}
	}
	return 0
}

// progress prints what the benchmark is doing to stderr, so that stdout
// holds only the report.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

const (
	fastModel = "gpt-4o-mini"
	slowModel = "gpt-4o-mini-slow"
)

func bench(ctx context.Context, o options) (rep *report, err error) {
	rep = &report{Started: time.Now(), GoMaxProcs: gomaxprocs(), Options: o}
	dir, err := os.MkdirTemp("", "llmgate-bench-*")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		progress("keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if o.Profile != "" {
		if err := os.MkdirAll(o.Profile, 0o755); err != nil {
			return nil, err
		}
	}

	bin := o.Llmgate
	if bin == "" {
		progress("building ./cmd/llmgate")
		if bin, err = buildLlmgate(ctx, dir); err != nil {
			return nil, err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the benchmark's own binary: %w", err)
	}

	var procs children
	defer func() {
		procs.stopAll(10 * time.Second)
		if err != nil && o.Keep {
			err = fmt.Errorf("%w (logs in %s)", err, dir)
		}
	}()
	start := func(name string, argv ...string) (*child, error) {
		c, err := startChild(name, dir, argv)
		if err != nil {
			return nil, err
		}
		procs = append(procs, c)
		if _, err := c.waitListening(ctx, 20*time.Second); err != nil {
			return nil, err
		}
		return c, nil
	}

	// The instant upstream.
	mock, err := start("mock", bin, "mock", "--listen", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mockURL := "http://" + mock.addr
	if err := mock.waitReady(ctx, mockURL+"/v1/models", 10*time.Second); err != nil {
		return nil, err
	}
	mockPort := portOf(mock.addr)

	// The slow upstream for the open-streams test.
	slowURL := mockURL
	if !o.SkipStreams && o.Streams > 0 {
		slow, err := start("mock-slow", bin, "mock", "--listen", "127.0.0.1:0", "--token-delay", o.StreamDelay.String())
		if err != nil {
			return nil, err
		}
		slowURL = "http://" + slow.addr
		if err := slow.waitReady(ctx, slowURL+"/v1/models", 10*time.Second); err != nil {
			return nil, err
		}
	}

	// The bare reverse proxy: this binary, re-executed.
	pargs := []string{self, "-serve-proxy", "127.0.0.1:0", "-upstream", mockURL}
	if o.RawProxy {
		pargs = append(pargs, "-raw-proxy")
	}
	if o.Profile != "" {
		pargs = append(pargs, "-pprof", "127.0.0.1:0")
	}
	proxy, err := start("proxy", pargs...)
	if err != nil {
		return nil, err
	}
	if err := proxy.waitReady(ctx, "http://"+proxy.addr+"/v1/models", 10*time.Second); err != nil {
		return nil, err
	}

	// The gateway.
	cfgPath := filepath.Join(dir, "llmgate.yaml")
	if err := os.WriteFile(cfgPath, gatewayConfig(mockURL, slowURL, filepath.Join(dir, "data"), o.Persist), 0o600); err != nil {
		return nil, err
	}
	gargs := []string{bin, "serve", "--config", cfgPath}
	if o.Profile != "" {
		gargs = []string{self, "-serve-gateway", cfgPath, "-pprof", "127.0.0.1:0"}
	}
	gw, err := start("llmgate", gargs...)
	if err != nil {
		return nil, err
	}
	if err := gw.waitReady(ctx, "http://"+gw.addr+"/health/live", 20*time.Second); err != nil {
		return nil, err
	}

	targets := []target{
		{Name: "direct", Label: "direct (mock)", Base: mockURL, proc: mock},
		{Name: "proxy", Label: "bare proxy", Base: "http://" + proxy.addr, proc: proxy},
		{Name: "llmgate", Label: "llmgate", Base: "http://" + gw.addr, proc: gw},
	}
	if o.Profile != "" {
		for i := range targets[1:] {
			t := &targets[i+1]
			if t.pprof, err = pprofURL(t.proc); err != nil {
				return nil, err
			}
		}
	}

	var scenarios []scenario
	for _, c := range slices.Backward(o.Conns) { // the highest first
		scenarios = append(scenarios, scenario{Conns: c})
	}
	if o.StreamConns > 0 {
		scenarios = append(scenarios, scenario{Stream: true, Conns: o.StreamConns})
	}
	// Each measurement is split into rounds that alternate the targets, in
	// a rotating order, so that load from elsewhere on a shared machine
	// falls on all three alike.
	rounds := o.Rounds
	slice := o.Duration / time.Duration(rounds)
	warm := o.Warmup / time.Duration(rounds)
	for _, sc := range scenarios {
		merged := make([]*result, len(targets))
		for round := range rounds {
			for k := range targets {
				i := (k + round) % len(targets)
				t := targets[i]
				progress("%-18s %-14s round %d/%d: %s + %s warm-up", sc, t.Label, round+1, rounds, slice, warm)
				lo := loadOptions{Warmup: warm, Duration: slice, Model: fastModel, MockPort: mockPort}
				if t.pprof != "" {
					name := fmt.Sprintf("%s-%s-r%d", t.Name, sc.slug(), round+1)
					lo.OnMeasure = func(ctx context.Context) {
						if err := fetchProfiles(ctx, t.pprof, o.Profile, name, slice); err != nil {
							progress("profiling %s: %v", t.Name, err)
						}
					}
				}
				r, err := measure(ctx, t, sc, lo)
				if err != nil {
					return nil, err
				}
				for _, p := range procs {
					if err := p.alive(); err != nil {
						return nil, err
					}
				}
				if r.Errors > 0 {
					progress("  %d errors; first: %s", r.Errors, r.FirstErr)
				}
				if merged[i] == nil {
					merged[i] = r
				} else {
					merged[i].add(r)
				}
			}
		}
		rep.Results = append(rep.Results, merged...)
	}
	m, err := readMem(gw.pid())
	if err != nil {
		return nil, err
	}
	rep.RSS, rep.PeakRSS, rep.Mem = m.RSS, m.Peak, m
	if o.Profile != "" {
		// What the gateway holds after the load run, and the runtime's view
		// of its memory (the MemStats at the end of the debug=1 text).
		for _, t := range targets[1:] {
			for _, f := range []struct{ q, file string }{{"", ".heap.pprof"}, {"?debug=1", ".heap.txt"}} {
				if err := fetchTo(ctx, t.pprof+"/debug/pprof/heap"+f.q, filepath.Join(o.Profile, t.Name+"-after-load"+f.file)); err != nil {
					progress("heap profile of %s: %v", t.Name, err)
				}
			}
		}
	}

	if !o.SkipStreams && o.Streams > 0 {
		progress("opening %d streams at once through llmgate (%s between events)", o.Streams, o.StreamDelay)
		rep.Streams, err = openStreams(ctx, "http://"+gw.addr, slowModel, o.Streams, gw, 2*time.Minute)
		if err != nil {
			return nil, err
		}
		if err := gw.alive(); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// gatewayConfig is the benchmark's llmgate.yaml: one openai provider per
// mock, each serving one model, and the request log persisted to SQLite in
// the run's temporary directory (the default store).
func gatewayConfig(mockURL, slowURL, dataDir string, persist bool) []byte {
	return fmt.Appendf(nil, `# generated by bench/load
listen: 127.0.0.1:0
storage: {driver: sqlite, data_dir: %q}
request_log: {persist: %t}
providers:
  mock: {type: openai, base_url: %q, api_key: x, models: [%s]}
  mock-slow: {type: openai, base_url: %q, api_key: x, models: [%s]}
`, dataDir, persist, mockURL+"/v1", fastModel, slowURL+"/v1", slowModel)
}

func portOf(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	p, _ := strconv.Atoi(addr[i+1:])
	return p
}

var pprofRE = `pprof on http://`

// pprofURL reads the pprof address a re-executed server printed.
func pprofURL(c *child) (string, error) {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return "", err
	}
	_, rest, ok := strings.Cut(string(b), pprofRE)
	if !ok {
		return "", fmt.Errorf("%s printed no pprof address", c.name)
	}
	addr, _, _ := strings.Cut(rest, "\n")
	return "http://" + strings.TrimSpace(addr), nil
}

// fetchProfiles saves a CPU profile and an allocation profile covering d.
func fetchProfiles(ctx context.Context, base, dir, name string, d time.Duration) error {
	secs := strconv.Itoa(max(1, int(math.Round(d.Seconds()))))
	errc := make(chan error, 2)
	for _, p := range []struct{ path, file string }{
		{"/debug/pprof/profile?seconds=" + secs, name + ".cpu.pprof"},
		{"/debug/pprof/allocs?seconds=" + secs, name + ".allocs.pprof"},
	} {
		go func() { errc <- fetchTo(ctx, base+p.path, filepath.Join(dir, p.file)) }()
	}
	return errors.Join(<-errc, <-errc)
}

func fetchTo(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
