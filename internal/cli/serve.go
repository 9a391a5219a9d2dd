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
	"strings"
	"time"

	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/metrics"
	"github.com/llmgate/llmgate/internal/reqlog"
	"github.com/llmgate/llmgate/internal/server"
	"github.com/llmgate/llmgate/internal/store"
	"github.com/llmgate/llmgate/internal/tokens"
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
	fs.StringVar(&f.listen, "listen", "", "listen address, overriding the config (default 127.0.0.1:8766)")
	fs.StringVar(&f.logFile, "log-file", "", "write the process log to this file instead of stderr")
	fs.StringVar(&f.logFormat, "log-format", "", "log format: text or json (default text)")
	fs.StringVar(&f.logLevel, "log-level", "", "log level: debug, info, warn, error (default $LLMGATE_LOG_LEVEL or info)")
	fs.StringVar(&f.dataDir, "data-dir", "", "directory of the embedded SQLite store (default $LLMGATE_DATA_DIR or ~/.llmgate)")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	cfg, err := loadConfig(configPath(f.config, env.Getenv), env.Getenv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate: %v\n", err)
		return exitInvalid
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
	if probs := cfg.Validate(); len(probs) > 0 {
		fmt.Fprintf(env.Stderr, "llmgate: %v\n", config.AsError(probs))
		return exitInvalid
	}
	logger, closeLog, err := newLogger(cfg.Log, env.Stderr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate: %v\n", err)
		return exitInvalid
	}
	defer closeLog()
	if err := serve(ctx, cfg, logger, env.Stdout); err != nil {
		logger.Error("llmgate stopped", "err", err)
		return exitInvalid
	}
	return exitOK
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

// serve runs the gateway until ctx is done, then drains.
func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger, stdout io.Writer) error {
	reg := metrics.New()
	var (
		st     store.Store
		writer *reqlog.Writer
		where  string
	)
	persist := cfg.RequestLog.Persist == nil || *cfg.RequestLog.Persist
	if persist {
		var err error
		st, where, err = openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		writer = reqlog.NewWriter(st, reqlog.Options{Logger: logger, OnDrop: reg.RecordDropped})
	}
	lo := reqlog.LogOptions{Ring: reqlog.NewRing(cfg.RequestLog.RingSize), Shared: cfg.Storage.Driver == "postgres"}
	if st != nil {
		lo.Writer, lo.Reader = writer, st
	}
	rlog := reqlog.NewLog(lo)
	rec := gateway.RecorderFunc(func(r store.Record) {
		reg.Observe(r)
		rlog.Record(r)
	})
	p, err := buildParts(cfg, rec, gateway.Options{Logger: logger})
	if err != nil {
		return err
	}
	reg.WatchBreakers(p.router)
	srv := server.New(server.Options{
		Gateway:      p.gateway,
		Logger:       logger,
		MasterKey:    cfg.MasterKey,
		AuthRequired: cfg.AuthRequired(),
		MaxBodyBytes: cfg.Server.MaxBodyBytes,
		Logs:         rlog,
		Models:       p.models,
		CountTokens:  tokens.EstimateRequest,
		Metrics:      reg.Handler(),
		Version:      Version,
	})
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		ErrorLog:          log.New(&slogWriter{logger}, "", 0),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s (listen / --listen): %w", cfg.Listen, err)
	}
	banner(stdout, cfg, p, ln.Addr().String(), where)
	if cfg.AuthRequired() && cfg.MasterKey == "" {
		logger.Warn("auth is required but no master key is set: every request will be refused; set LLMGATE_MASTER_KEY")
	}

	wctx, stopWriter := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	if writer != nil {
		go func() {
			defer close(writerDone)
			if err := writer.Run(wctx); err != nil {
				logger.Error("request log: writing the last records failed", "err", err)
			}
		}()
	} else {
		close(writerDone)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		logger.Info("shutting down: draining in-flight requests", "timeout", cfg.Server.ShutdownTimeout)
		srv.SetDraining()
		sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
		err = hs.Shutdown(sctx)
		cancel()
	}
	// Drain the request log: nothing recorded is lost on SIGTERM.
	if writer != nil {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := writer.Close(dctx); err != nil {
			logger.Error("request log: records still queued at shutdown were not written", "err", err)
		}
		cancel()
	}
	stopWriter()
	<-writerDone
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
