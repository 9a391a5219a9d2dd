package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/sse"
)

// maxPending bounds the events buffered before the first content event; past
// it the stream is committed anyway.
const maxPending = 64

// watchdog cancels an attempt when the upstream stream goes quiet: first
// for FirstToken, then for Idle between events.
type watchdog struct {
	t        *time.Timer
	idle     time.Duration
	timedOut atomic.Bool
}

func newWatchdog(first, idle time.Duration, cancel context.CancelFunc) *watchdog {
	w := &watchdog{idle: idle}
	if first <= 0 && idle <= 0 {
		return w
	}
	if first <= 0 {
		first = idle
	}
	w.t = time.AfterFunc(first, func() { w.timedOut.Store(true); cancel() })
	return w
}

// tick resets the idle deadline after an event.
func (w *watchdog) tick() {
	if w.t != nil && w.idle > 0 {
		w.t.Reset(w.idle)
	}
}

// reset arms the next deadline (the first token after the headers).
func (w *watchdog) reset(d time.Duration) {
	if w.t != nil && d > 0 {
		w.t.Reset(d)
	}
}

func (w *watchdog) stop() {
	if w.t != nil {
		w.t.Stop()
	}
}

// streamErr classifies an error reading an upstream stream.
func (w *watchdog) streamErr(parent context.Context, err error) *provider.Error {
	if w.timedOut.Load() {
		return &provider.Error{Kind: provider.KindTimeout, Message: "the upstream stream went quiet for longer than the first-token or idle timeout", Cause: err}
	}
	if parent.Err() != nil && errors.Is(parent.Err(), context.Canceled) {
		return &provider.Error{Kind: provider.KindCanceled, Message: "the client closed the request", Cause: err}
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe
	}
	if errors.Is(err, sse.ErrEventTooLarge) {
		return &provider.Error{Kind: provider.KindBadGateway, Message: "the upstream sent a stream event over the size limit", Cause: err}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &provider.Error{Kind: provider.KindBadGateway, Message: "the upstream stream ended before it finished", Cause: err}
	}
	return &provider.Error{Kind: provider.KindBadGateway, Message: "the upstream stream broke: " + err.Error(), Cause: err}
}

// holdTimer commits a held stream when the hold bound passes without
// content. The pump holds mu while it handles an event and releases it
// while it waits on the upstream, so the commit runs only between events.
type holdTimer struct {
	mu   sync.Mutex
	t    *time.Timer
	done bool // the pump returned; the timer must do nothing
}

// startHold arms commit after d (none when d <= 0). commit runs with mu held
// and must check itself whether the stream is still uncommitted.
func startHold(d time.Duration, commit func()) *holdTimer {
	h := &holdTimer{}
	if d > 0 {
		h.t = time.AfterFunc(d, func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if !h.done {
				commit()
			}
		})
	}
	return h
}

// end stops the timer; the pump calls it with mu held, before it returns.
func (h *holdTimer) end() {
	h.done = true
	if h.t != nil {
		h.t.Stop()
	}
}

// commitStream sends the stream's response headers.
func (g *Gateway) commitStream(w http.ResponseWriter, x *exchange, d *Deployment) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	g.setHeaders(h, x, d)
	w.WriteHeader(http.StatusOK)
	x.committed = true
	x.served = d
}

// pumpPassthrough copies an upstream stream in the client's own format event
// by event, untouched, flushing each. Events before the first content event
// are held back so that a failure there can still be retried elsewhere.
func (g *Gateway) pumpPassthrough(ctx context.Context, w http.ResponseWriter,
	x *exchange, d *Deployment, resp *http.Response, wantsUsage bool, wd *watchdog) *provider.Error {
	u := d.Upstream.For(x.c.Format)
	cs := newClientStream(w, x.c.Format)
	defer cs.stop()
	rd := sse.NewReader(&beforeRead{resp.Body, cs.flush})
	var (
		pending  []byte
		nPending int
		content  int
		sawDone  bool
		sawData  bool
		ev       sse.Event
		err      error
	)
	flushPending := func() {
		g.commitStream(w, x, d)
		_, _ = cs.Write(pending)
		pending = nil
		cs.keepAlive(g.opts.StreamPing)
	}
	// Past the hold bound the opening events go out without content.
	hold := startHold(g.opts.StreamHold, func() {
		if !x.committed {
			flushPending()
			cs.flush()
		}
	})
	hold.mu.Lock()
	defer func() { hold.end(); hold.mu.Unlock() }()
	// Whatever ends the stream (its end, a cut, an upstream error event, the
	// client leaving), tokens the client received are counted.
	defer func() {
		if !x.committed {
			return
		}
		if x.usage.OutputTokens == 0 && content > 0 {
			x.usage.OutputTokens = content // about one token per delta
			x.estimated = true
		}
		if x.usage.InputTokens == 0 {
			g.estimateUsage(x, d)
		}
	}()
	for {
		hold.mu.Unlock()
		ev, err = rd.Next()
		hold.mu.Lock()
		if err != nil {
			if errors.Is(err, io.EOF) && (sawDone || provider.SpecOf(u.Format).EndsAtEOF) {
				if !x.committed {
					if !sawData {
						// A 200 whose body held no event (HTML, a JSON body,
						// nothing): not a stream of this format.
						return &provider.Error{Kind: provider.KindBadGateway,
							Message: fmt.Sprintf("provider %s answered 200 to a streamed request with no %s stream events in the body", u.Name, u.Format)}
					}
					flushPending()
				}
				break
			}
			perr := wd.streamErr(ctx, err)
			if !x.committed {
				return perr
			}
			g.failStream(cs, x, perr)
			return perr
		}
		wd.tick()
		sawData = sawData || ev.HasData
		info := u.Pass.ScanEvent(&ev)
		if info.HasUsage {
			provider.MergeUsage(&x.usage, info.Usage)
		}
		if info.Err != nil {
			if !x.committed {
				return info.Err
			}
			_, _ = cs.Write(ev.Raw) // the client's own format already
			x.err = info.Err
			return info.Err
		}
		if info.Done {
			sawDone = true
		}
		if info.Content {
			content++
			if x.ttft == 0 {
				x.ttft = g.clk.Now().Sub(x.c.Start)
			}
		}
		if info.UsageOnly && !wantsUsage {
			continue
		}
		if !x.committed {
			pending = append(pending, ev.Raw...)
			nPending++
			if info.Content || info.Done || nPending >= maxPending {
				flushPending()
			}
			continue
		}
		if _, err := cs.Write(ev.Raw); err != nil {
			return &provider.Error{Kind: provider.KindCanceled, Message: "the client closed the request", Cause: err}
		}
	}
	return nil
}

// clientStream is a committed client stream: the pump's writes and the
// keep-alive pinger's go through one mutex. Flushes are batched: events
// written while the upstream has more already buffered go out together, and
// everything written is flushed just before the pump blocks on the upstream
// (and when it returns), so no event waits on a slow upstream.
//
// The pinger is a timer, not a goroutine: at 10,000 open streams a
// goroutine each would cost 10,000 stacks for something that runs once in
// StreamPing.
type clientStream struct {
	rc   *http.ResponseController
	w    io.Writer
	ping []byte // keep-alive for this client format; nil: none

	mu      sync.Mutex // protects following
	dirty   bool
	last    time.Time // last write
	every   time.Duration
	pinger  *time.Timer // nil until keepAlive
	stopped bool        // stop was called: the pinger must not write
}

func newClientStream(w http.ResponseWriter, f provider.Format) *clientStream {
	return &clientStream{rc: http.NewResponseController(w), w: w, ping: provider.SpecOf(f).Ping}
}

func (s *clientStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dirty, s.last = true, time.Now()
	return s.w.Write(p)
}

func (s *clientStream) mark() {
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
}

func (s *clientStream) flush() {
	s.mu.Lock()
	if s.dirty {
		s.dirty = false
		_ = s.rc.Flush()
	}
	s.mu.Unlock()
}

// keepAlive writes a ping whenever the stream has been quiet for every
// (after the response is committed), so proxies and clients do not drop a
// stream whose upstream is thinking. stop ends it.
func (s *clientStream) keepAlive(every time.Duration) {
	if s.ping == nil || every <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pinger != nil || s.stopped {
		return
	}
	s.every = every
	s.pinger = time.AfterFunc(every, s.pingIfQuiet)
}

// pingIfQuiet runs on the pinger's timer: it writes a ping if nothing was
// written for every, and arms the timer for the next possible quiet end.
func (s *clientStream) pingIfQuiet() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	now := time.Now()
	next := s.every - now.Sub(s.last)
	if next <= 0 {
		s.last = now
		if _, err := s.w.Write(s.ping); err == nil {
			_ = s.rc.Flush()
		}
		next = s.every
	}
	s.pinger.Reset(next)
}

// stop ends the pinger and flushes what is left. Once it returns the
// pinger writes nothing more (a timer already firing sees stopped).
func (s *clientStream) stop() {
	s.mu.Lock()
	s.stopped = true
	if s.pinger != nil {
		s.pinger.Stop()
	}
	s.mu.Unlock()
	s.flush()
}

// beforeRead calls fn before each Read of r.
type beforeRead struct {
	r  io.Reader
	fn func()
}

func (b *beforeRead) Read(p []byte) (int, error) {
	b.fn()
	return b.r.Read(p)
}

// switchWriter buffers until commit, then writes through.
type switchWriter struct {
	buf bytes.Buffer
	w   io.Writer
}

func (s *switchWriter) Write(p []byte) (int, error) {
	if s.w == nil {
		return s.buf.Write(p)
	}
	return s.w.Write(p)
}

// pumpTranslated decodes an upstream stream into canonical events and
// re-encodes them in the client's format.
func (g *Gateway) pumpTranslated(ctx context.Context, w http.ResponseWriter,
	x *exchange, d *Deployment, resp *http.Response, wd *watchdog) *provider.Error {
	u := d.Upstream.For(x.c.Format)
	req, err := x.canonical()
	if err != nil {
		return provider.AsError(err)
	}
	cs := newClientStream(w, x.c.Format)
	defer cs.stop()
	sw := &switchWriter{}
	enc := x.cc.NewStreamEncoder(sw, req)
	dec := u.Codec.NewStreamDecoder(&beforeRead{resp.Body, cs.flush})
	commit := func() {
		g.commitStream(w, x, d)
		_, _ = cs.Write(sw.buf.Bytes())
		sw.buf = bytes.Buffer{}
		sw.w = cs
		cs.keepAlive(g.opts.StreamPing)
	}
	hold := startHold(g.opts.StreamHold, func() {
		if !x.committed {
			commit()
			cs.flush()
		}
	})
	hold.mu.Lock()
	defer func() { hold.end(); hold.mu.Unlock() }()
	var nPending int
	for {
		hold.mu.Unlock()
		ev, err := dec.Next()
		hold.mu.Lock()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if x.usage.IsZero() || x.usage.OutputTokens == 0 {
					g.estimateUsage(x, d)
				}
				_ = enc.Close()
				if !x.committed {
					commit()
				}
				cs.flush()
				drainBody(resp.Body, wd)
				return nil
			}
			perr := wd.streamErr(ctx, err)
			if !x.committed {
				return perr
			}
			if x.usage.OutputTokens == 0 {
				g.estimateUsage(x, d)
			}
			_ = enc.Fail(perr)
			x.err = perr
			return perr
		}
		wd.tick()
		content := false
		switch ev.Type {
		case provider.EventStart:
			provider.MergeUsage(&x.usage, ev.Usage)
			if ev.Usage.InputTokens == 0 && g.opts.Estimate != nil {
				ev.Usage.InputTokens = g.opts.Estimate(d.Model, req)
			}
		case provider.EventUsage:
			provider.MergeUsage(&x.usage, ev.Usage)
		case provider.EventText:
			content = true
			if g.opts.StoreContent || g.opts.CountText != nil {
				x.text.WriteString(ev.Text)
			}
		case provider.EventToolCall, provider.EventToolArgs:
			content = true
			if g.opts.CountText != nil {
				x.text.WriteString(ev.Text)
			}
		}
		if content && x.ttft == 0 {
			x.ttft = g.clk.Now().Sub(x.c.Start)
		}
		if err := enc.Encode(ev); err != nil {
			return &provider.Error{Kind: provider.KindCanceled, Message: "the client closed the request", Cause: err}
		}
		if !x.committed {
			nPending++
			if content || ev.Type == provider.EventStop || nPending >= maxPending {
				commit()
			}
			continue
		}
	}
}

// After its last event (message_stop, [DONE]) a decoder stops reading, but
// the connection can be reused only once its body has been read to the end:
// the chunked terminator, which often comes in a read of its own. drainBody
// reads what is left, at most drainMax bytes and for at most drainWait (the
// watchdog cancels the read), after the client has its answer flushed.
const (
	drainMax  = 64 << 10
	drainWait = 100 * time.Millisecond
)

func drainBody(body io.Reader, wd *watchdog) {
	if wd.t == nil {
		return // no timeouts configured: nothing would bound the read
	}
	wd.reset(drainWait)
	_, _ = io.CopyN(io.Discard, body, drainMax)
}

// failStream ends a committed passthrough stream with an error event in the
// client's format.
func (g *Gateway) failStream(w io.Writer, x *exchange, perr *provider.Error) {
	enc := x.cc.NewStreamEncoder(w, &provider.Request{Model: x.c.Model, Stream: true})
	_ = enc.Fail(perr)
	x.err = perr
}

// pumpRaw forwards a non-chat stream (the Responses API) event by event.
func (g *Gateway) pumpRaw(ctx context.Context, w http.ResponseWriter, x *exchange, d *Deployment, resp *http.Response) *provider.Error {
	cs := newClientStream(w, "")
	defer cs.stop()
	rd := sse.NewReader(&beforeRead{resp.Body, cs.flush})
	g.commitStream(w, x, d)
	cs.mark()
	for {
		ev, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			perr := &provider.Error{Kind: provider.KindBadGateway, Message: "the upstream stream broke: " + err.Error(), Cause: err}
			if ctx.Err() != nil {
				perr = &provider.Error{Kind: provider.KindCanceled, Message: "the client closed the request", Cause: err}
			}
			g.failStream(cs, x, perr)
			return perr
		}
		if x.ttft == 0 && ev.HasData {
			x.ttft = g.clk.Now().Sub(x.c.Start)
		}
		if _, err := cs.Write(ev.Raw); err != nil {
			return &provider.Error{Kind: provider.KindCanceled, Message: "the client closed the request", Cause: err}
		}
	}
}
