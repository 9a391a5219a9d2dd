package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/llmgate/llmgate/internal/cli"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/tokens"
)

// The benchmark re-executes itself to run the bare reverse proxy (and, with
// -profile, the gateway) as a process of its own, so that it does not share
// a Go runtime with the load generator.

// newBareProxy is the ceiling a net/http gateway is measured against: the
// standard library's reverse proxy, tuned only as any gateway would be (a
// keep-alive pool as large as the load, no transparent compression),
// flushing every write so streams pass event by event.
//
// It reads the request body before forwarding it, as llmgate does. Left to
// stream the inbound body, httputil.ReverseProxy loses the race between the
// transport still reading it and the server closing it once the response
// starts (golang/go#40747): the upstream connection is then not reused, and
// now and then a stream breaks. That would make the ceiling lower than it is.
// -raw-proxy measures the proxy without this.
func newBareProxy(upstream *url.URL, raw bool) http.Handler {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 512
	tr.DisableCompression = true
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(upstream)
			if raw || r.In.Body == nil || r.In.Body == http.NoBody {
				return
			}
			b, err := io.ReadAll(r.In.Body)
			if err != nil {
				b = nil // the upstream sees a short body and answers 400
			}
			r.Out.Body = io.NopCloser(bytes.NewReader(b))
			r.Out.ContentLength = int64(len(b))
		},
		Transport:     tr,
		FlushInterval: -1,
	}
}

// serveProxy runs the bare proxy on addr in front of upstream until SIGTERM.
func serveProxy(addr, upstream, pprofAddr string, raw bool) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return fmt.Errorf("-upstream %q: %w", upstream, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newBareProxy(u, raw), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	return serveUntilSignal(ln, srv, pprofAddr, func(context.Context) {})
}

// serveGateway runs llmgate in this process, wired exactly as llmgate serve
// wires it (cli.NewApp), so that its CPU and allocations can be profiled
// over pprofAddr. Used only with -profile.
func serveGateway(cfgPath, pprofAddr string) error {
	cfg, err := config.Load(cfgPath, os.Getenv)
	if err != nil {
		return err
	}
	ctx := context.Background()
	app, err := cli.NewApp(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		return err
	}
	tokens.Warm()
	// The listener and server llmgate serve uses: its connection limit, its
	// timeouts, its connection count for the memory release.
	ln, err := app.Listen(cfg)
	if err != nil {
		return err
	}
	srv := app.HTTPServer(cfg, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	return serveUntilSignal(ln, srv, pprofAddr, func(ctx context.Context) {
		app.Server.SetDraining()
		app.Close(ctx)
	})
}

// serveUntilSignal serves srv on ln, and pprof on pprofAddr when it is set,
// until SIGTERM or SIGINT; then it shuts down and calls drain.
func serveUntilSignal(ln net.Listener, srv *http.Server, pprofAddr string, drain func(context.Context)) error {
	var err error
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	if pprofAddr != "" {
		pln, err := net.Listen("tcp", pprofAddr)
		if err != nil {
			ln.Close()
			return err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		ps := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, ps)
		fmt.Printf("pprof on http://%s\n", pln.Addr())
		go func() { errc <- ps.Serve(pln) }()
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	go func() { errc <- srv.Serve(ln) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	pending := len(servers) // Serve goroutines still running
	select {
	case err = <-errc:
		pending--
	case <-sig:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(ctx)
	}
	for ; pending > 0; pending-- {
		<-errc // every Serve returns once its server is shut down
	}
	drain(ctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
