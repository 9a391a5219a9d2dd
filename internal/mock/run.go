package mock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// shutdownGrace is how long Serve lets in-flight replies finish once its
// context is done.
const shutdownGrace = 5 * time.Second

// Run listens on addr (e.g. "127.0.0.1:9000") and serves a Mock built from
// opts until ctx is done, then shuts down gracefully. It logs the base URL
// to give each SDK. A nil logger means slog.Default().
func Run(ctx context.Context, addr string, opts Options, logger *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mock: listen on %s: %w", addr, err)
	}
	return Serve(ctx, ln, New(opts), logger)
}

// Serve serves m on ln until ctx is done, then releases hung requests
// (m.Close), lets the others finish for a few seconds and closes ln. A nil
// logger means slog.Default().
func Serve(ctx context.Context, ln net.Listener, m *Mock, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.Default()
	}
	root := "http://" + ln.Addr().String()
	logger.Info("mock LLM provider listening",
		"openai_base_url", root+"/v1",
		"anthropic_base_url", root,
		"gemini_base_url", root,
		"fault_header", FaultHeader,
		"faults", m.opts.Faults.String())
	srv := &http.Server{
		Handler:           m,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("mock: serve: %w", err)
	case <-ctx.Done():
	}
	m.Close()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("mock: shutdown: %w", err)
	}
	logger.Info("mock LLM provider stopped", "requests", m.Count())
	return nil
}
