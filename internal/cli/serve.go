package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmgate/llmgate/internal/admin"
	"github.com/llmgate/llmgate/internal/clock"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/fleet"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/governance"
	"github.com/llmgate/llmgate/internal/metrics"
	"github.com/llmgate/llmgate/internal/pricing"
	"github.com/llmgate/llmgate/internal/procwatch"
	"github.com/llmgate/llmgate/internal/reqlog"
	"github.com/llmgate/llmgate/internal/server"
	"github.com/llmgate/llmgate/internal/store"
	"github.com/llmgate/llmgate/internal/telemetry"
	"github.com/llmgate/llmgate/internal/tokens"
	"github.com/llmgate/llmgate/internal/ui"
)

type serveFlags struct {
	config, listen, logFile, logFormat, logLevel, dataDir string
}

func runServe(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "serve", `Run the gateway. With no --config (and no $LLMGATE_CONFIG) it runs in zero-config mode:
providers come from OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY/GOOGLE_API_KEY, DEEPSEEK_API_KEY,
MISTRAL_API_KEY and GROQ_API_KEY; a provider without a key passes each client's own key through.`)
	var f serveFlags
	fs.StringVar(&f.config, "config", "", "config file (default $LLMGATE_CONFIG; none: zero-config mode)")
	fs.StringVar(&f.config, "c", "", "shorthand for --config")
	fs.StringVar(&f.listen, "listen", "", "listen address, overriding the config (default 127.0.0.1:8766)")
	fs.StringVar(&f.logFile, "log-file", "", "write the process log to this file instead of stderr")
	fs.StringVar(&f.logFormat, "log-format", "", "log format: text or json (default text)")
	fs.StringVar(&f.logLevel, "log-level", "", "log level: debug, info, warn, error (default $LLMGATE_LOG_LEVEL or info)")
	fs.StringVar(&f.dataDir, "data-dir", "", "directory of the embedded SQLite store (default $LLMGATE_DATA_DIR or ~/.llmgate)")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	path := configPath(f.config, env.Getenv)
	load := func() (*config.Config, error) { return f.load(path, env.Getenv) }
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate: %v\n", err)
		return exitInvalid
	}
	logger, closeLog, err := newLogger(cfg.Log, env.Stderr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate: %v\n", err)
		return exitInvalid
	}
	defer closeLog()
	if path == "" {
		load = nil // zero-config mode: nothing to re-read
	}
	if err := serve(ctx, cfg, load, logger, env.Stdout); err != nil {
		logger.Error("llmgate stopped", "err", err)
		return exitInvalid
	}
	return exitOK
}

// load reads the configuration as llmgate serve runs it: the file (or the
// environment when path is ""), then the command-line overrides, validated
// whole. Reloads call it again with the same flags.
func (f serveFlags) load(path string, getenv func(string) string) (*config.Config, error) {
	cfg, err := loadConfig(path, getenv)
	if err != nil {
		return nil, err
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	if f.logFile != "" {
		cfg.Log.File = f.logFile
	}
	if f.logFormat != "" {
		cfg.Log.Format = f.logFormat
	}
	if f.logLevel != "" {
		cfg.Log.Level = f.logLevel
	}
	if f.dataDir != "" {
		cfg.Storage.DataDir = f.dataDir
	}
	if err := config.AsError(cfg.Validate()); err != nil {
		return nil, err
	}
	return cfg, nil
}

// newLogger builds the process logger from the log config.
func newLogger(c config.Log, stderr io.Writer) (*slog.Logger, func(), error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, nil, fmt.Errorf("log level %q: use debug, info, warn or error", c.Level)
	}
	out, closer := stderr, func() {}
	if c.File != "" {
		f, err := os.OpenFile(c.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("opening the log file: %w", err)
		}
		out, closer = f, func() { _ = f.Close() }
	}
	ho := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(out, ho)
	if c.Format == "json" {
		h = slog.NewJSONHandler(out, ho)
	}
	return slog.New(h), closer, nil
}

// App is a fully wired gateway: the handler users reach, and the background
// work (the request-log writer) it owns. llmgate serve and the end-to-end
// tests build it the same way.
type App struct {
	Config  *config.Config
	Handler http.Handler
	Server  *server.Server
	Gateway *gateway.Gateway
	Router  *gateway.Router
	Log     *reqlog.Log
	Metrics *metrics.Registry

	rdb *redis.Client // shared resilience state, when governance.redis is set
	bus *fleet.Bus

	// LoadConfig re-reads the configuration for Reload (SIGHUP, POST
	// /admin/reload), returning it validated; nil (zero-config mode)
	// makes every reload fail. NewApp sets it to re-read cfg.File.
	LoadConfig func() (*config.Config, error)

	parts      *parts                // the first generation
	live       atomic.Pointer[parts] // the generation new requests use
	keep       *stateKeeper          // deployment state across generations
	tel        *telemetry.Tracing    // nil when tracing is off
	rec        gateway.Recorder      // shared by every generation
	gwOpts     gateway.Options       // what every generation's gateway shares
	reloadMu   sync.Mutex            // serializes reloads
	statusMu   sync.Mutex            // protects following
	generation int                   // configurations served so far
	loadedAt   time.Time             // when the live one was swapped in
	lastReload *server.ReloadResult  // the last reload tried; nil if none
	logger     *slog.Logger
	store      store.Store
	storeAt    string
	writer     *reqlog.Writer
	stopWriter context.CancelFunc
	writerDone chan struct{}
	// Governor enforces virtual keys, limits and budgets; its Run loop
	// (spend write-behind, budget webhooks) stops in Close.
	Governor *governance.Governor
	stopGov  context.CancelFunc
	govDone  chan struct{}
	// Procs watches the process's descriptors and hands memory back after
	// a burst of connections; serve feeds it the connection count
	// (TrackConn). Its Run loop stops in Close.
	Procs     *procwatch.Watcher
	stopProcs context.CancelFunc
	procsDone chan struct{}
}

// NewApp builds every component from cfg and starts the request-log writer.
// Close drains and releases it.
func NewApp(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*App, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &App{Config: cfg, logger: logger, Metrics: metrics.New(), writerDone: make(chan struct{}),
		keep: newStateKeeper(), generation: 1, loadedAt: time.Now().UTC()}
	if cfg.File != "" {
		a.LoadConfig = func() (*config.Config, error) { return config.Load(cfg.File, os.Getenv) }
	}
	// The store is always open: it keeps keys, teams, spend counters and
	// the ledger. request_log.persist: false keeps only the rows of
	// requests without a virtual key (and all content) in memory.
	persist := cfg.RequestLog.Persist == nil || *cfg.RequestLog.Persist
	lo := reqlog.LogOptions{Ring: reqlog.NewRing(cfg.RequestLog.RingSize), Shared: cfg.Storage.Driver == "postgres" && persist}
	st, where, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.store, a.storeAt = st, where
	a.writer = reqlog.NewWriter(st, reqlog.Options{Logger: logger, OnDrop: a.Metrics.RecordDropped})
	lo.Writer = a.writer
	if persist {
		lo.Reader = st
	} else {
		lo.LedgerOnly = true
	}
	a.Log = reqlog.NewLog(lo)
	tel, err := telemetry.New(ctx, cfg.Telemetry, os.Getenv, Version)
	if err != nil {
		a.closeStore()
		return nil, err
	}
	a.tel = tel
	rec := gateway.RecorderFunc(func(r store.Record) {
		a.Metrics.Observe(r)
		a.Log.Record(r)
	})
	if tel != nil {
		rec = func(r store.Record) {
			a.Metrics.Observe(r)
			a.Log.Record(r)
			tel.Record(r)
		}
	}
	prices := pricing.New(cfg.Governance, logger)
	var govStore governance.Store
	if gs, ok := a.store.(governance.Store); ok {
		govStore = gs
	}
	gov, err := governance.New(ctx, governance.Options{Store: govStore, Shared: cfg.Storage.Driver == "postgres",
		ChargesOnRecords: a.writer != nil,
		Config:           cfg.Governance, Prices: prices, Logger: logger})
	if err != nil {
		a.closeStore()
		return nil, err
	}
	a.Governor = gov
	a.Metrics.Register(gov.Collector())
	prices.OnUnpriced = gov.CountUnpriced
	gopts := gateway.Options{Logger: logger, Admitter: gov, Pricer: prices, OnAttempt: attemptObserver(cfg, a.Metrics)}
	if rc := cfg.Governance.Redis; rc.Addr != "" {
		// Resilience state shared by every replica on this Redis.
		a.rdb = fleet.Dial(rc)
		a.bus = fleet.NewBus(a.rdb, rc.Prefix, logger)
		gopts.Shared = fleet.NewReplay(a.rdb, rc.Prefix)
	}
	a.rec, a.gwOpts = rec, gopts
	p, err := rebuildParts(cfg, rec, a.gwOpts, carry{keep: a.keep, tel: tel, bus: a.bus})
	if err != nil {
		gov.Close()
		a.closeStore()
		a.closeFleet()
		return nil, err
	}
	a.parts, a.Gateway, a.Router = p, p.gateway, p.router
	var fleetStatus func() any
	if a.bus != nil {
		a.bus.Start(applyRemote(func() *gateway.Router { return a.live.Load().router }, clock.Real{}))
		fleetStatus = func() any { return a.bus.Status() }
	}
	a.live.Store(p)
	a.Metrics.SetModels(modelNames(cfg))
	a.Metrics.WatchBreakers(func() *gateway.Router { return a.live.Load().router })
	a.Procs = procwatch.New(procwatch.Options{Logger: logger})
	a.Procs.Check() // GET /health has a reading from the start
	a.Metrics.WatchProcess(a.Procs.NearLimit, a.Procs.Conns)
	sessions := ui.NewSessions(ui.SessionOptions{MasterKey: cfg.MasterKey})
	a.Server = server.New(server.Options{
		Gateway:         p.gateway,
		Logger:          logger,
		MasterKey:       cfg.MasterKey,
		AuthRequired:    cfg.AuthRequired(),
		MaxBodyBytes:    cfg.Server.MaxBodyBytes,
		Logs:            a.Log,
		Models:          p.models,
		CountTokens:     tokens.EstimateRequest,
		Metrics:         a.Metrics.Handler(),
		ProtectMetrics:  cfg.MetricsProtected(),
		Recorder:        rec,
		Version:         Version,
		Auth:            gov,
		Admin:           adminHandler(gov, a.store, a.Log, func() *gateway.Router { return a.live.Load().router }, logger),
		UI:              ui.Handler(sessions),
		Sessions:        sessions,
		Reload:          a.Reload,
		ConfigStatus:    a.configStatus,
		SharedState:     fleetStatus,
		Descriptors:     a.Procs.Descriptors,
		BodyReadTimeout: cfg.Server.BodyReadTimeout,
	})
	a.Handler = a.Server
	if tel != nil {
		a.Handler = tel.Middleware(a.Server)
		logger.Info("tracing: exporting OpenTelemetry traces over OTLP")
	}
	wctx, stop := context.WithCancel(context.Background())
	a.stopWriter = stop
	if a.writer != nil {
		go func() {
			defer close(a.writerDone)
			if err := a.writer.Run(wctx); err != nil {
				logger.Error("request log: writing the last records failed", "err", err)
			}
		}()
	} else {
		close(a.writerDone)
	}
	gctx, stopGov := context.WithCancel(context.Background())
	a.stopGov, a.govDone = stopGov, make(chan struct{})
	go func() {
		defer close(a.govDone)
		if err := gov.Run(gctx); err != nil {
			logger.Error("governance: stopping", "err", err)
		}
	}()
	pctx, stopProcs := context.WithCancel(context.Background())
	a.stopProcs, a.procsDone = stopProcs, make(chan struct{})
	go func() {
		defer close(a.procsDone)
		a.Procs.Run(pctx)
	}()
	return a, nil
}

// adminHandler serves /admin/: keys and teams through gov, usage from st
// when it can report it, stats from the request log, routes from router.
func adminHandler(gov *governance.Governor, st store.Store, log admin.LogReader, router func() *gateway.Router, logger *slog.Logger) http.Handler {
	o := admin.Options{Keys: gov, Teams: gov, Log: log, Router: router, Logger: logger}
	if u, ok := st.(store.UsageReporter); ok {
		o.Usage = u
	}
	return admin.New(o)
}

// Close drains the request log (nothing recorded is lost) and closes the
// store. ctx bounds the drain.
func (a *App) Close(ctx context.Context) {
	a.stopProcs()
	<-a.procsDone
	a.stopGov() // writes in-memory spend and delivers queued budget webhooks
	<-a.govDone
	a.Governor.Close() // after the last request settled
	if a.writer != nil {
		if err := a.writer.Close(ctx); err != nil {
			a.logger.Error("request log: records still queued at shutdown were not written", "err", err)
		}
	}
	a.stopWriter()
	<-a.writerDone
	a.closeStore()
	a.closeFleet()
	if a.tel != nil {
		if err := a.tel.Shutdown(ctx); err != nil {
			a.logger.Error("tracing: spans still queued at shutdown were not exported", "err", err)
		}
	}
	for _, u := range a.live.Load().router.Upstreams() {
		u.Client.CloseIdleConnections()
	}
}

func (a *App) closeFleet() {
	if a.bus != nil {
		a.bus.Close()
	}
	if a.rdb != nil {
		_ = a.rdb.Close()
	}
}

func (a *App) closeStore() {
	if a.store != nil {
		_ = a.store.Close()
	}
}

// HTTPServer is the http.Server that serves a's handler as llmgate serve
// runs it: cfg's timeouts, errors to logger, client connections counted
// for the process watcher.
func (a *App) HTTPServer(cfg *config.Config, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		ErrorLog:          log.New(&slogWriter{logger}, "", 0),
		ConnState:         a.Procs.TrackConn,
	}
}

// Listen opens cfg's listen address with its connection limit
// (server.max_connections).
func (a *App) Listen(cfg *config.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s (listen / --listen): %w", cfg.Listen, err)
	}
	return server.LimitListener(ln, cfg.Server.MaxConnections, a.Metrics.ConnectionRejected), nil
}

// serve runs the gateway until ctx is done, then drains. SIGHUP reloads
// the configuration with load (nil: zero-config mode, nothing to reload).
func serve(ctx context.Context, cfg *config.Config, load func() (*config.Config, error), logger *slog.Logger, stdout io.Writer) error {
	a, err := NewApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	a.LoadConfig = load
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		a.Close(dctx)
		cancel()
	}()
	hs := a.HTTPServer(cfg, logger)
	ln, err := a.Listen(cfg)
	if err != nil {
		return err
	}
	banner(stdout, cfg, a.parts, ln.Addr().String(), a.storeAt)
	if cfg.AuthRequired() && cfg.MasterKey == "" {
		logger.Warn("auth is required but no master key is set: every request will be refused; set LLMGATE_MASTER_KEY")
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	for done := false; !done; {
		select {
		case <-hup:
			logger.Info("SIGHUP: reloading the configuration", "file", cfg.File)
			a.Reload(ctx) // logs its outcome; a failure keeps the running config
		case err = <-serveErr:
			done = true
		case <-ctx.Done():
			logger.Info("shutting down: draining in-flight requests", "timeout", cfg.Server.ShutdownTimeout)
			a.Server.SetDraining()
			sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
			err = hs.Shutdown(sctx)
			cancel()
			done = true
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	logger.Info("llmgate stopped")
	return err
}

func banner(w io.Writer, cfg *config.Config, p *parts, addr, where string) {
	base := "http://" + addr
	fmt.Fprintf(w, "llmgate %s listening on %s\n", Version, base)
	fmt.Fprintf(w, "  OpenAI SDK:     base_url=%s/v1\n", base)
	fmt.Fprintf(w, "  Anthropic SDK:  base_url=%s   (Claude Code: ANTHROPIC_BASE_URL=%s)\n", base, base)
	fmt.Fprintf(w, "  Gemini SDK:     base_url=%s\n", base)
	if cfg.MasterKey != "" {
		fmt.Fprintf(w, "  dashboard:      %s/ui/ (log in with the master key)\n", base)
	} else {
		fmt.Fprintf(w, "  dashboard:      %s/ui/ (disabled until LLMGATE_MASTER_KEY is set)\n", base)
	}
	for _, u := range p.router.Upstreams() {
		key := "key configured"
		switch {
		case u.HasKey():
		case u.RequiresKey:
			key = "no key: clients' own keys are passed through (" + u.KeyHint() + ")"
		default:
			key = "no key needed"
		}
		fmt.Fprintf(w, "  provider %-10s %-9s %s  [%s]\n", u.Name, u.Format, u.Endpoint.BaseURL, key)
	}
	if cfg.File == "" {
		fmt.Fprintln(w, "  (zero-config mode: providers from the environment; llmgate serve --config FILE for more)")
	}
	if where != "" {
		fmt.Fprintf(w, "  request log: %s\n", where)
	}
	if cfg.AuthRequired() {
		fmt.Fprintln(w, "  clients must send the master key (LLMGATE_MASTER_KEY)")
	}
}

// slogWriter sends net/http's internal log lines to slog.
type slogWriter struct{ l *slog.Logger }

func (s *slogWriter) Write(p []byte) (int, error) {
	s.l.Warn(strings.TrimSpace(string(p)), "source", "net/http")
	return len(p), nil
}

// attemptObserver counts each upstream attempt in the metrics, with the
// model label bounded by the configuration: route targets and providers'
// listed models keep their name, anything else (a name a client made up,
// routed by prefix) is "other".
func attemptObserver(cfg *config.Config, m *metrics.Registry) func(provider, model, outcome string) {
	known := map[string]bool{}
	for _, mc := range cfg.Models {
		for _, e := range append(append([]string(nil), mc.Route...), mc.ContextFallback...) {
			if _, model, ok := strings.Cut(e, "/"); ok {
				known[model] = true
			}
		}
	}
	for _, p := range cfg.Providers {
		for _, model := range p.Models {
			known[model] = true
		}
	}
	return func(provider, model, outcome string) {
		if !known[model] {
			model = "other"
		}
		m.ObserveAttempt(provider, model, outcome)
	}
}
