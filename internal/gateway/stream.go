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

// monoBase is the origin of monoNow.
var monoBase = time.Now()

// monoNow is the time on the monotonic clock, in nanoseconds since monoBase:
// a stamp that fits an atomic.Int64.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// watchdog cancels an attempt when the upstream stream goes quiet: first
// for FirstToken, then for Idle between events.
//
// Events do not move the timer: tick stores when the event arrived, and
// the timer, when it fires, re-arms itself for the deadline the last event
// set if that is still ahead. A deadline that moves later never touches the
// timer either (it fires early and re-arms); only one that moves earlier
// does. A Reset per event cost a timer-heap update and, as often as not, a
// wake-up of an idle thread (runtime.wakeNetPoller).
type watchdog struct {
	t        *time.Timer
	idle     time.Duration
	cancel   context.CancelFunc
	timedOut atomic.Bool
	last     atomic.Int64 // monoNow when the last event arrived, once ticking

	mu       sync.Mutex // protects following; the pump writes them, the timer reads them
	ticking  bool       // an event came since the last reset: the deadline is last + idle
	deadline int64      // monoNow deadline of the last reset, while not ticking
	when     int64      // monoNow the timer is set to fire at
	stopped  bool
}

func newWatchdog(first, idle time.Duration, cancel context.CancelFunc) *watchdog {
	w := &watchdog{idle: idle, cancel: cancel}
	if first <= 0 && idle <= 0 {
		return w
	}
	if first <= 0 {
		first = idle
	}
	w.deadline = monoNow() + int64(first)
	w.when = w.deadline
	w.t = time.AfterFunc(first, w.fire)
	return w
}

// fire runs on the timer: it times the attempt out once its deadline has
// passed, and re-arms the timer when the deadline moved on.
func (w *watchdog) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	deadline := w.deadline
	if w.ticking {
		deadline = w.last.Load() + int64(w.idle)
	}
	if left := deadline - monoNow(); left > 0 {
		w.when = deadline
		w.t.Reset(time.Duration(left))
		return
	}
	w.timedOut.Store(true)
	w.cancel()
}

// armLocked makes sure the timer fires no later than deadline.
func (w *watchdog) armLocked(deadline, now int64) {
	if deadline < w.when {
		w.when = deadline
		w.t.Reset(time.Duration(deadline - now))
	}
}

// tick records an event that arrived at at (a monoNow stamp), which
// moves the deadline to at + Idle. Only the first event after a reset may
// touch the timer: Idle may end before the deadline it replaces. tick and
// reset are called by the goroutine that reads the stream.
func (w *watchdog) tick(at int64) {
	if w.t == nil || w.idle <= 0 {
		return
	}
	w.last.Store(at)
	if !w.ticking {
		w.mu.Lock()
		w.ticking = true
		w.armLocked(at+int64(w.idle), monoNow())
		w.mu.Unlock()
	}
}

// reset arms the next deadline (the first token after the headers).
func (w *watchdog) reset(d time.Duration) {
	if w.t != nil && d > 0 {
		w.mu.Lock()
		now := monoNow()
		w.ticking = false
		w.deadline = now + int64(d)
		w.armLocked(w.deadline, now)
		w.mu.Unlock()
	}
}

func (w *watchdog) stop() {
	if w.t != nil {
		w.mu.Lock()
		w.stopped = true
		w.t.Stop()
		w.mu.Unlock()
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
	body := &upstreamBody{r: resp.Body, cs: cs}
	rd := sse.NewReader(body)
	defer rd.Release()
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
			cs.flushNow()
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
		wd.tick(body.at)
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
	last    int64 // monoNow of the last write that was flushed, or of the last ping
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
	s.dirty = true
	return s.w.Write(p)
}

func (s *clientStream) mark() {
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
}

// flush flushes what was written since the last flush; at (a monoNow
// stamp) is when it was written, for the pinger: the pump passes the time
// its last upstream read returned, since everything it wrote since came
// from that read, which saves reading the clock per event.
func (s *clientStream) flush(at int64) {
	s.mu.Lock()
	if s.dirty {
		s.dirty = false
		s.last = max(s.last, at)
		_ = s.rc.Flush()
	}
	s.mu.Unlock()
}

// flushNow is flush for writes made just now (not after an upstream read).
func (s *clientStream) flushNow() { s.flush(monoNow()) }

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
	s.last = monoNow() // the stream was just committed and written to
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
	now := monoNow()
	if s.dirty {
		s.last = now // written since the last flush, so just now as far as the pinger can tell
	}
	next := s.every - time.Duration(now-s.last)
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
	s.flush(0) // the pinger is stopped: the stamp no longer matters
}

// upstreamBody is a stream's upstream body as a pump reads it: before each
// Read it flushes what the pump wrote to the client (the pump is about to
// wait on the upstream), and after it stamps when the read returned, which
// is when the events that read completed arrived (for the watchdog's tick
// and the pinger). Only the pump's goroutine uses it.
type upstreamBody struct {
	r  io.Reader
	cs *clientStream
	at int64 // monoNow when the last Read returned
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	b.cs.flush(b.at)
	n, err := b.r.Read(p)
	b.at = monoNow()
	return n, err
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
	body := &upstreamBody{r: resp.Body, cs: cs}
	dec := u.Codec.NewStreamDecoder(body)
	if r, ok := dec.(provider.Releaser); ok {
		defer r.Release()
	}
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
			cs.flushNow()
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
				cs.flush(body.at)
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
		wd.tick(body.at)
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
	rd := sse.NewReader(&upstreamBody{r: resp.Body, cs: cs})
	defer rd.Release()
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
