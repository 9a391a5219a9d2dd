// Command load is llmgate's load benchmark. In one run it starts the mocks
// (llmgate mock: instant answers; one whose first token is delayed; a slow
// one speaking h2c), a bare httputil.ReverseProxy in front of the first two,
// and two gateways (llmgate serve with the request log on SQLite, the
// default, and with it off), and measures every path of issue 11 beside the
// bare proxy, the targets alternated in rounds: passthrough chat, with the
// request log off, with a virtual key, translated to an Anthropic upstream,
// streamed, translated and streamed; the latency added at one connection;
// time to first byte and to first token; RSS; and 10,000 streams open at
// once. It prints one line per path with its target and PASS or FAIL:
//
//	go run ./bench/load [-duration 8s] [-warmup 2s] [-rounds 4] [-streams 10000] [-json] [-quick]
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
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	Duration, Warmup time.Duration
	Rounds           int
	Conns            int
	Streams          int
	StreamDelay      time.Duration
	FirstTokenDelay  time.Duration
	Settle           time.Duration
	SkipStreams      bool
	StreamsDirect    bool
	Quick            bool
	Only             string
	JSON             bool
	Llmgate          string // prebuilt binary; "" builds ./cmd/llmgate
	Profile          string // directory for pprof profiles; "" profiles nothing
	Keep             bool
	RawProxy         bool
}

// quickDefaults are the -quick values of the flags not set explicitly.
var quickDefaults = map[string]string{
	"duration":           "1s",
	"warmup":             "250ms",
	"rounds":             "1",
	"streams":            "1000",
	"stream-token-delay": "200ms",
	"settle":             "1s",
}

func main() {
	// Re-executed server modes (see serve.go).
	serveProxyAddr := flag.String("serve-proxy", "", "internal: run the bare reverse proxy on this address")
	upstream := flag.String("upstream", "", "internal: the proxy's upstream URL")
	serveGW := flag.String("serve-gateway", "", "internal: run the gateway in-process with this config (for -profile)")
	pprofAddr := flag.String("pprof", "", "internal: serve pprof on this address")
	rawProxy := flag.Bool("raw-proxy", false, "let the bare proxy stream request bodies to the upstream unread (see bench/README.md)")

	var o options
	flag.DurationVar(&o.Duration, "duration", 8*time.Second, "measured time per target of each load")
	flag.DurationVar(&o.Warmup, "warmup", 2*time.Second, "unmeasured load before each measurement (spread over its rounds)")
	flag.IntVar(&o.Rounds, "rounds", 4, "split each measurement into this many rounds that alternate the targets")
	flag.IntVar(&o.Conns, "conns", 32, "connections of the many-connection rows (1-6)")
	flag.IntVar(&o.Streams, "streams", 10000, "streams opened at once in the open-streams test")
	flag.DurationVar(&o.StreamDelay, "stream-token-delay", time.Second, "the slow mock's delay between events in the open-streams test (a stream lasts 13 of these)")
	flag.DurationVar(&o.FirstTokenDelay, "first-token-delay", 5*time.Millisecond, "the first-token mock's delay before its first content event (short, so that each run has over a thousand streams per target: the medians are compared to within tens of microseconds)")
	flag.DurationVar(&o.Settle, "settle", 5*time.Second, "wait after the open streams end before reading llmgate's RSS again")
	flag.BoolVar(&o.SkipStreams, "skip-streams", false, "skip the open-streams test")
	flag.BoolVar(&o.StreamsDirect, "streams-direct", false, "also open the streams against the slow mock directly first, as a reference for what the clients and the mock alone take")
	flag.BoolVar(&o.Quick, "quick", false, "smoke run for CI: 1s per measurement, 1 round, 1000 streams; fails only on errors, not on targets")
	flag.StringVar(&o.Only, "only", "", "measure only these rows (comma-separated slugs: chat, chat-nolog, chat-key, translated, stream, translated-stream, chat-c1, first-token)")
	flag.BoolVar(&o.JSON, "json", false, "print the results as JSON instead of a table")
	flag.StringVar(&o.Llmgate, "llmgate", "", "use this llmgate binary instead of building ./cmd/llmgate")
	flag.StringVar(&o.Profile, "profile", "", "write CPU and allocation profiles of the proxy and the gateways here, and the gateway's goroutine and heap profiles while the open streams are open and after they end (the gateways then run inside a re-executed benchmark process, wired by cli.NewApp as llmgate serve wires them)")
	flag.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (logs, configs, SQLite databases)")
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
	if o.Quick {
		if err := applyQuick(flag.CommandLine); err != nil {
			fmt.Fprintf(os.Stderr, "-quick: %v\n", err)
			os.Exit(2)
		}
	}
	if o.Duration <= 0 || o.Rounds < 1 || o.Warmup < 0 || o.Streams < 0 || o.Conns < 1 || o.Settle < 0 {
		fmt.Fprintln(os.Stderr, "-duration, -rounds and -conns must be positive; -warmup, -streams and -settle not negative")
		os.Exit(2)
	}
	if len(filterScenarios(scenarios(o.Conns), o.Only)) == 0 && o.Only != "" {
		fmt.Fprintf(os.Stderr, "-only %q matches no row\n", o.Only)
		os.Exit(2)
	}
	os.Exit(run(o))
}

// applyQuick sets the -quick values of the flags the command line did not
// set.
func applyQuick(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, v := range quickDefaults {
		if !set[name] {
			if err := fs.Set(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// report is everything one run measured.
type report struct {
	Started    time.Time
	GoMaxProcs int
	Options    options
	Scenarios  []scenario
	Results    []*result
	// Memory of each gateway after the load measurements (before the
	// open-streams test), by gateway name.
	Mem     map[string]memStatus
	Streams *streamsResult
	// StreamsDirect is the same test against the mock directly
	// (-streams-direct).
	StreamsDirect *streamsResult
	Targets       []targetCheck
	// FileLimit is the open-file limit the benchmark and its children ran
	// with.
	FileLimit uint64
}

func run(o options) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Bounded: every measurement plus a generous allowance for start-up and
	// the open-streams test.
	legs := 0
	for _, sc := range filterScenarios(scenarios(o.Conns), o.Only) {
		legs += len(sc.Rows) + 2
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(legs)*(o.Warmup+o.Duration+time.Duration(o.Rounds)*40*time.Second)+5*time.Minute)
	defer cancel()

	rep, err := bench(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "llmgate load benchmark: %v\n", err)
		return 2
	}
	rep.Targets = checkTargets(rep)
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
	return exitStatus(rep.Targets, o.Quick)
}

// exitStatus is 1 when a target is missed (with quick, only an errors
// target), else 0.
func exitStatus(ts []targetCheck, quick bool) int {
	for _, t := range ts {
		if !t.Pass && (!quick || t.Smoke) {
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

// masterKey is the default gateway's master key, for the admin API.
const masterKey = "bench-master-key-0123456789abcdef"

func bench(ctx context.Context, o options) (rep *report, err error) {
	rep = &report{Started: time.Now(), GoMaxProcs: gomaxprocs(), Options: o, Mem: map[string]memStatus{}}
	rep.Scenarios = filterScenarios(scenarios(o.Conns), o.Only)
	streams := !o.SkipStreams && o.Streams > 0
	// The open-streams test holds one client connection per stream in this
	// process and in the gateway (its children inherit the limit).
	if rep.FileLimit, err = raiseFileLimit(); err != nil {
		return nil, err
	}
	if need := uint64(o.Streams) + 512; streams && rep.FileLimit < need {
		if !o.Quick {
			return nil, fmt.Errorf("the open-file limit is %d, too low for %d streams (about %d needed): lower -streams", rep.FileLimit, o.Streams, need)
		}
		o.Streams = int(rep.FileLimit) - 512
		rep.Options.Streams = o.Streams
		progress("open-file limit %d: -quick opens %d streams", rep.FileLimit, o.Streams)
		streams = o.Streams > 0
	}

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
	// start starts a server and waits until GET ready answers 200.
	start := func(name, ready string, argv ...string) (*child, error) {
		c, err := startChild(name, dir, argv)
		if err != nil {
			return nil, err
		}
		procs = append(procs, c)
		if _, err := c.waitListening(ctx, 20*time.Second); err != nil {
			return nil, err
		}
		if err := c.waitReady(ctx, "http://"+c.addr+ready, 20*time.Second); err != nil {
			return nil, err
		}
		return c, nil
	}
	startMock := func(name string, args ...string) (*child, error) {
		return start(name, "/v1/models", append([]string{bin, "mock", "--listen", "127.0.0.1:0"}, args...)...)
	}
	startProxy := func(name string, up *child) (*child, error) {
		args := []string{self, "-serve-proxy", "127.0.0.1:0", "-upstream", "http://" + up.addr}
		if o.RawProxy {
			args = append(args, "-raw-proxy")
		}
		if o.Profile != "" {
			args = append(args, "-pprof", "127.0.0.1:0")
		}
		return start(name, "/v1/models", args...)
	}

	// The upstreams: the instant mock (OpenAI and Anthropic endpoints), the
	// mock whose first token is delayed, and the slow h2c mock.
	mock, err := startMock("mock")
	if err != nil {
		return nil, err
	}
	ftd, err := startMock("mock-ftd", "--first-token-delay", o.FirstTokenDelay.String())
	if err != nil {
		return nil, err
	}
	slowAddr := mock.addr
	var slow *child
	if streams {
		if slow, err = startMock("mock-slow", "--h2c", "--token-delay", o.StreamDelay.String()); err != nil {
			return nil, err
		}
		slowAddr = slow.addr
	}

	// A bare reverse proxy in front of each of the first two: this binary,
	// re-executed.
	proxy, err := startProxy("proxy", mock)
	if err != nil {
		return nil, err
	}
	proxyFTD, err := startProxy("proxy-ftd", ftd)
	if err != nil {
		return nil, err
	}

	// The gateways.
	maxConns := max(4096, o.Streams+1024)
	gws := map[string]*child{}
	for _, g := range []struct {
		name    string
		persist bool
	}{{gwDefault, true}, {gwNoLog, false}} {
		cfgPath := filepath.Join(dir, g.name+".yaml")
		cfg := gatewayConfig(gatewayParams{
			MockURL: "http://" + mock.addr, FTDURL: "http://" + ftd.addr, SlowURL: "http://" + slowAddr,
			DataDir: filepath.Join(dir, g.name+"-data"), Persist: g.persist, MasterKey: g.persist, MaxConns: maxConns,
		})
		if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
			return nil, err
		}
		args := []string{bin, "serve", "--config", cfgPath}
		if o.Profile != "" {
			args = []string{self, "-serve-gateway", cfgPath, "-pprof", "127.0.0.1:0"}
		}
		c, err := start(g.name, "/health/live", args...)
		if err != nil {
			return nil, err
		}
		gws[g.name] = c
	}

	// The virtual key of row 3: limits far above what the run can reach, so
	// that it is admitted, and accounted, on every request.
	secret, err := createKey(ctx, "http://"+gws[gwDefault].addr)
	if err != nil {
		return nil, err
	}

	pprofs := map[*child]string{}
	if o.Profile != "" {
		for _, c := range []*child{proxy, proxyFTD, gws[gwDefault], gws[gwNoLog]} {
			if pprofs[c], err = pprofURL(c); err != nil {
				return nil, err
			}
		}
	}

	// Each scenario's legs are measured in rounds that alternate them, in
	// a rotating order, so that load from elsewhere on a shared machine
	// falls on all of them alike.
	rounds := o.Rounds
	slice := o.Duration / time.Duration(rounds)
	warm := o.Warmup / time.Duration(rounds)
	for _, sc := range rep.Scenarios {
		up, px := mock, proxy
		if sc.Upstream == upFirstToken {
			up, px = ftd, proxyFTD
		}
		upPort := portOf(up.addr)
		var legs []leg
		if sc.Direct {
			legs = append(legs, leg{Name: "direct", Label: "direct (mock)", Base: "http://" + up.addr, Req: sc.Bare, proc: up, MockPort: upPort})
		}
		legs = append(legs, leg{Name: "proxy", Label: "bare proxy", Base: "http://" + px.addr, Req: sc.Bare, proc: px, pprof: pprofs[px], MockPort: upPort})
		for _, r := range sc.Rows {
			gw := gws[r.Gateway]
			req := r.Req
			if r.VirtualKey {
				req.Header = map[string]string{"Authorization": "Bearer " + secret}
			}
			legs = append(legs, leg{Name: r.Slug, Label: rowLabel(r), Base: "http://" + gw.addr, Req: req, proc: gw, pprof: pprofs[gw], MockPort: upPort})
		}
		merged := make([]*result, len(legs))
		for round := range rounds {
			for k := range legs {
				i := (k + round) % len(legs)
				l := legs[i]
				progress("%-26s %-30s round %d/%d: %s + %s warm-up", sc.label(), l.Label, round+1, rounds, slice, warm)
				lo := loadOptions{Conns: sc.Conns, Warmup: warm, Duration: slice}
				if l.pprof != "" {
					who := strings.ReplaceAll(l.Label, " ", "-") // bare-proxy, or llmgate-<row>
					if l.Name != "proxy" {
						who = "llmgate-" + who
					}
					name := fmt.Sprintf("%s-%s-r%d", who, sc.Slug, round+1)
					lo.OnMeasure = func(ctx context.Context) {
						if err := fetchProfiles(ctx, l.pprof, o.Profile, name, slice); err != nil {
							progress("profiling %s: %v", l.Label, err)
						}
					}
				}
				r, err := measure(ctx, l, lo)
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
				r.Scenario = sc.Slug
				if merged[i] == nil {
					merged[i] = r
				} else {
					merged[i].add(r)
				}
			}
		}
		rep.Results = append(rep.Results, merged...)
	}
	for name, gw := range gws {
		if rep.Mem[name], err = readMem(gw.pid()); err != nil {
			return nil, err
		}
	}
	if o.Profile != "" {
		// What each process holds after the load run, and the runtime's
		// view of its memory (the MemStats at the end of the debug=1 text).
		for c, base := range pprofs {
			for _, f := range []struct{ q, file string }{{"", ".heap.pprof"}, {"?debug=1", ".heap.txt"}} {
				if err := fetchTo(ctx, base+"/debug/pprof/heap"+f.q, filepath.Join(o.Profile, c.name+"-after-load"+f.file)); err != nil {
					progress("heap profile of %s: %v", c.name, err)
				}
			}
		}
	}

	if streams && o.StreamsDirect {
		progress("opening %d streams at once directly to the slow mock (%s between events)", o.Streams, o.StreamDelay)
		rep.StreamsDirect, err = openStreams(ctx, streamsOptions{Base: "http://" + slow.addr, Model: fastModel, N: o.Streams,
			Mock: slow, Timeout: 3 * time.Minute, Settle: o.Settle}, slow)
		if err != nil {
			return nil, err
		}
	}
	if streams {
		gw := gws[gwDefault]
		progress("opening %d streams at once through llmgate to the h2c mock (%s between events)", o.Streams, o.StreamDelay)
		rep.Streams, err = openStreams(ctx, streamsOptions{Base: "http://" + gw.addr, Model: slowModel, N: o.Streams,
			Mock: slow, Timeout: 3 * time.Minute, Settle: o.Settle, Profile: o.Profile, PprofBase: pprofs[gw]}, gw)
		if err != nil {
			return nil, err
		}
		if err := gw.alive(); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// rowLabel names a row's leg in progress lines and the measurements table.
func rowLabel(r row) string {
	if r.N > 0 {
		return fmt.Sprintf("%d %s", r.N, r.Slug)
	}
	return r.Slug
}

// gatewayParams shape one gateway's configuration.
type gatewayParams struct {
	MockURL, FTDURL, SlowURL string // the mocks' roots
	DataDir                  string
	Persist                  bool // request_log.persist
	MasterKey                bool // set masterKey (for the admin API)
	MaxConns                 int  // server.max_connections
}

// gatewayConfig is a benchmark llmgate.yaml: an openai and an anthropic
// provider on the instant mock, an openai provider on the first-token mock
// and one on the slow mock over h2c, with the default store (SQLite in the
// run's temporary directory). Every model has a list price, so no request
// is logged as unpriced.
func gatewayConfig(p gatewayParams) []byte {
	mk := ""
	if p.MasterKey {
		mk = fmt.Sprintf("master_key: %q\n", masterKey)
	}
	return fmt.Appendf(nil, `# generated by bench/load
listen: 127.0.0.1:0
%sstorage: {driver: sqlite, data_dir: %q}
request_log: {persist: %t}
server: {max_connections: %d}
providers:
  mock: {type: openai, base_url: %q, api_key: x, models: [%s]}
  mock-an: {type: anthropic, base_url: %q, api_key: x, models: [%s]}
  mock-ftd: {type: openai, base_url: %q, api_key: x}
  mock-slow: {type: openai, base_url: %q, api_key: x, protocol: h2c}
models:
  %s: {route: [mock-ftd/%s]}
  %s: {route: [mock-slow/%s]}
`, mk, p.DataDir, p.Persist, p.MaxConns,
		p.MockURL+"/v1", fastModel, p.MockURL, claudeModel, p.FTDURL+"/v1", p.SlowURL+"/v1",
		ftdModel, fastModel, slowModel, fastModel)
}

// createKey creates row 3's virtual key through the admin API and returns
// its secret.
func createKey(ctx context.Context, base string) (string, error) {
	body := `{"name":"bench","rpm":10000000,"tpm":1000000000000,"budget_usd":1e9,"budget_period":"total"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/admin/keys", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+masterKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("creating the virtual key: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("creating the virtual key: POST /admin/keys: %s: %s", resp.Status, b)
	}
	var nk struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(b, &nk); err != nil || nk.Secret == "" {
		return "", fmt.Errorf("creating the virtual key: no secret in %s", b)
	}
	return nk.Secret, nil
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
