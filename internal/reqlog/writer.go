package reqlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmgate/llmgate/internal/clock"
	"github.com/llmgate/llmgate/internal/store"
)

// Options configures a Writer. Every zero field takes its default.
type Options struct {
	// QueueSize is how many records may wait to be written. Default 4096
	// (seconds of traffic at thousands of requests a second; a bigger queue
	// costs resident memory all the time).
	QueueSize int
	// BatchSize is the most records written in one call. Default 256.
	BatchSize int
	// FlushInterval is the longest a record waits for its batch to fill
	// before it is written anyway, and so the most a crash (SIGKILL, power
	// loss) can lose: the requests of the last FlushInterval, or of the
	// last BatchSize records when they come faster. Default 100ms.
	FlushInterval time.Duration
	// EnqueueWait is how long Enqueue waits for room when the queue is
	// full (back-pressure on the request that is finishing) before it
	// drops the record. Default 5s.
	EnqueueWait time.Duration
	// MaxAttempts is how often a batch is tried before it is given up
	// (counted as failed and logged). Default 4.
	MaxAttempts int
	// RetryBackoff is the wait before the first retry; it doubles for each
	// further one, up to 8 times. Default 200ms.
	RetryBackoff time.Duration
	// WriteTimeout bounds each write attempt. Default 10s.
	WriteTimeout time.Duration
	// DrainTimeout bounds the final drain when Run's context ends without
	// Close (Close bounds it with its own context). Default 10s.
	DrainTimeout time.Duration
	// DropLogInterval is the least time between two log lines about dropped
	// records; each line carries the count dropped since the previous one.
	// Default 5s.
	DropLogInterval time.Duration
	// Logger receives errors about drops and failed writes. Default
	// slog.Default().
	Logger *slog.Logger
	// OnDrop is called for every record lost, with how many and why (one
	// of the Drop* reasons), e.g. to count a metric. It must be cheap and
	// must not block.
	OnDrop func(n int, reason string)
	// Clock times the flush interval, the backoff and the drop log.
	// Default clock.Real{}.
	Clock clock.Clock
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.QueueSize, 4096)
	def(&o.BatchSize, 256)
	def(&o.MaxAttempts, 4)
	defDur(&o.FlushInterval, 100*time.Millisecond)
	defDur(&o.EnqueueWait, 5*time.Second)
	defDur(&o.RetryBackoff, 200*time.Millisecond)
	defDur(&o.WriteTimeout, 10*time.Second)
	defDur(&o.DrainTimeout, 10*time.Second)
	defDur(&o.DropLogInterval, 5*time.Second)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return o
}

// Why records are lost: the reason given to Options.OnDrop.
const (
	DropQueueFull   = "queue_full"   // the queue stayed full for EnqueueWait
	DropClosed      = "closed"       // enqueued after Close began
	DropWriteFailed = "write_failed" // every one of MaxAttempts writes failed
	DropShutdown    = "shutdown"     // not written before the drain's deadline
)

// DropReasons are every reason OnDrop is given.
var DropReasons = []string{DropQueueFull, DropClosed, DropWriteFailed, DropShutdown}

// ErrRunning is returned by a second call of Run.
var ErrRunning = errors.New("reqlog: writer already running")

// Writer persists records off the request path. Enqueue puts a record in a
// bounded queue, waiting a bounded time for room when it is full; Run, the writer's one goroutine (started
// by whoever owns the Writer), writes the queue in batches; Close drains
// what is left. It is safe for concurrent use. Create it with NewWriter;
// the zero value is not usable.
//
// Shut down in this order: stop taking requests (http.Server.Shutdown),
// then Close with a deadline. Records enqueued after Close began are
// dropped.
type Writer struct {
	w    store.RecordWriter
	opts Options
	q    chan store.Record

	mu     sync.RWMutex // Enqueue holds it shared; Close exclusively, once
	closed bool         // protected by mu

	runCalled atomic.Bool // Run was called once; a second call is an error

	stateMu sync.Mutex // protects following
	state   runState   // who drains the queue: Run, or Close alone

	stop     chan struct{} // closed by Close
	stopOnce sync.Once
	closeCtx context.Context // set by Close before stop is closed
	done     chan struct{}   // closed when Run returns
	runErr   error           // Run's drain error, set before done is closed

	// While a batch fills Run does not receive from q (a wake-up per
	// record): it waits for FlushInterval, or for Enqueue to kick it once
	// want records are queued, want being what the batch lacks (0: Run
	// is not waiting on a batch).
	want atomic.Int64
	kick chan struct{} // capacity 1

	written, dropped, failed atomic.Uint64
	unlogged                 atomic.Uint64 // drops not yet logged
	lastDropLog              atomic.Int64  // Unix ns of the last drop log line, 0 if none

	owedMu sync.Mutex     // protects owed
	owed   []store.Charge // pending spend of records that will never be written, not yet released
	owing  atomic.Bool    // owed is not empty: Run releases it after its next write
}

// runState says who owns the queue. Run and Close race to claim it: the
// goroutine that calls Run may be scheduled after Close was called, which is
// not a misuse, so Run then returns nil and leaves the drain to Close.
type runState int

const (
	idle        runState = iota // neither Run nor Close has claimed the queue
	running                     // Run claimed it; Close waits for done
	closedAlone                 // Close claimed it before Run began; Run returns nil
)

// NewWriter returns a Writer that writes to w. Nothing is written until Run
// or Close is called.
func NewWriter(w store.RecordWriter, opts Options) *Writer {
	opts = opts.withDefaults()
	wr := &Writer{
		w:    w,
		opts: opts,
		q:    make(chan store.Record, opts.QueueSize),
		stop: make(chan struct{}),
		done: make(chan struct{}),
		kick: make(chan struct{}, 1),
	}
	return wr
}

// Enqueue queues r for writing and reports whether it was queued. When the
// queue is full it waits up to EnqueueWait for room (a record is billing:
// the finishing request is slowed rather than its record lost); when that
// passes, or the writer is closed, it drops r, calls Options.OnDrop and
// logs an error (at most once per DropLogInterval).
func (w *Writer) Enqueue(r store.Record) bool {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		w.drop(&r, DropClosed, "request log writer closed: record dropped")
		return false
	}
	select {
	case w.q <- r:
		w.mu.RUnlock()
		w.kickIfFull()
		return true
	default:
	}
	t := w.opts.Clock.NewTimer(w.opts.EnqueueWait)
	defer t.Stop()
	select {
	case w.q <- r:
		w.mu.RUnlock()
		w.kickIfFull()
		return true
	case <-t.C():
		w.mu.RUnlock()
		w.drop(&r, DropQueueFull, "request log queue full for EnqueueWait: records dropped")
		return false
	}
}

// kickIfFull wakes Run when the queue holds what its filling batch lacks.
func (w *Writer) kickIfFull() {
	if n := w.want.Load(); n > 0 && int64(len(w.q)) >= n {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

func (w *Writer) drop(r *store.Record, reason, msg string) {
	w.dropped.Add(1)
	w.unlogged.Add(1)
	w.onDrop(1, reason)
	if len(r.Charges) > 0 {
		w.release([]store.Record{*r})
	}
	now := w.opts.Clock.Now().UnixNano()
	last := w.lastDropLog.Load()
	if (last == 0 || now-last >= int64(w.opts.DropLogInterval)) && w.lastDropLog.CompareAndSwap(last, now) {
		w.opts.Logger.Error(msg, "dropped", w.unlogged.Swap(0), "reason", reason, "queue_size", w.opts.QueueSize)
	}
}

func (w *Writer) onDrop(n int, reason string) {
	if w.opts.OnDrop != nil && n > 0 {
		w.opts.OnDrop(n, reason)
	}
}

// release gives up the pending spend of dropped records' charges when the
// store holds it (store.ChargeReleaser, PostgreSQL), so that budgets are
// not held for rows that will never exist. The charges are owed first;
// settle releases what is owed. A record dropped on the request path
// (queue full, writer closed) is only owed there: Run releases it after its
// next write, so a request never waits on the database for it.
func (w *Writer) release(recs []store.Record) {
	if _, ok := w.w.(store.ChargeReleaser); !ok {
		return
	}
	w.owedMu.Lock()
	for i := range recs {
		w.owed = append(w.owed, recs[i].Charges...)
	}
	if len(w.owed) > maxOwed {
		w.owed = sumCharges(w.owed)
	}
	w.owing.Store(len(w.owed) > 0)
	w.owedMu.Unlock()
}

// maxOwed is how many owed charges are kept one by one before they are
// summed per counter (a release sums them anyway), so that a database down
// for long under load holds one entry per counter, not one per record.
const maxOwed = 4096

// sumCharges merges charges on the same counter.
func sumCharges(cs []store.Charge) []store.Charge {
	at := make(map[store.SpendKey]int, len(cs))
	out := cs[:0]
	for _, c := range cs {
		if i, ok := at[c.SpendKey]; ok {
			out[i].Amount += c.Amount
			continue
		}
		at[c.SpendKey] = len(out)
		out = append(out, c)
	}
	return out
}

// settle releases the owed charges, waiting at most WriteTimeout. When the
// store refuses, they stay owed and the next write's settle tries again;
// what is still owed when the process stops is released with its holds
// (store.HoldKeeper).
func (w *Writer) settle() {
	if !w.owing.Load() {
		return
	}
	cr, ok := w.w.(store.ChargeReleaser)
	if !ok {
		return
	}
	w.owedMu.Lock()
	charges := w.owed
	w.owed = nil
	w.owing.Store(false)
	w.owedMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.WriteTimeout)
	defer cancel()
	if err := cr.ReleaseCharges(ctx, charges); err != nil {
		w.owedMu.Lock()
		w.owed = append(w.owed, charges...)
		if len(w.owed) > maxOwed {
			w.owed = sumCharges(w.owed)
		}
		w.owing.Store(true)
		w.owedMu.Unlock()
		w.opts.Logger.Error("request log: could not release the spend of dropped records; retrying after the next write",
			"charges", len(charges), "err", err)
	}
}

// billing counts the records of recs that are billing (a virtual key's, or
// with charges) and the spend their charges carry, for drop messages.
func billing(recs []store.Record) (rows int, usd float64) {
	for i := range recs {
		if recs[i].KeyID != "" || len(recs[i].Charges) > 0 {
			rows++
			usd += recs[i].CostUSD
		}
	}
	return rows, usd
}

// Stats returns the records written, dropped by Enqueue, and given up after
// failed writes (or left unwritten when a drain ran out of time), and how
// many are queued now.
func (w *Writer) Stats() (written, dropped, failed uint64, queued int) {
	return w.written.Load(), w.dropped.Load(), w.failed.Load(), len(w.q)
}

// Run writes queued records until ctx is done or Close is called, then
// drains the queue and returns. A batch is written when it holds BatchSize
// records or its oldest record has waited FlushInterval. Call it once, on a
// goroutine the caller owns; a second call returns ErrRunning at once. It
// returns the drain's error: nil when everything queued was written or
// given up after failed attempts. When Close began before Run (a shutdown
// right after start, before Run's goroutine was scheduled), Run returns nil
// at once: Close drains the queue and reports its own error.
func (w *Writer) Run(ctx context.Context) error {
	if w.runCalled.Swap(true) {
		return ErrRunning
	}
	w.stateMu.Lock()
	if w.state == closedAlone {
		w.stateMu.Unlock()
		return nil
	}
	w.state = running
	w.stateMu.Unlock()
	defer close(w.done)
	batch := make([]store.Record, 0, w.opts.BatchSize)
	var (
		timer  clock.Timer
		timerC <-chan time.Time
	)
	for {
		// An empty batch waits for its first record; a filling one only for
		// its timer or a kick (see want).
		q := w.q
		if len(batch) > 0 {
			q = nil
		}
		now := false // write the batch as it is
		select {
		case r := <-q:
			batch = append(batch, r)
		case <-w.kick:
		case <-timerC:
			timer, timerC = nil, nil
			now = true
		case <-ctx.Done():
			now = true
		case <-w.stop:
			now = true
		}
		batch = w.fill(batch)
		if !now && len(batch) < w.opts.BatchSize {
			if len(batch) == 0 {
				continue // a kick left from the last batch
			}
			if timer == nil {
				timer = w.opts.Clock.NewTimer(w.opts.FlushInterval)
				timerC = timer.C()
			}
			if w.waitMore(len(batch)) {
				continue
			}
			batch = w.fill(batch) // queued before want was set
		}
		w.want.Store(0)
		if timer != nil {
			timer.Stop()
			timer, timerC = nil, nil
		}
		if ctx.Err() == nil && !w.isStopping() && w.write(ctx, batch) != interrupted {
			batch = batch[:0]
			continue
		}
		// Shutting down: write the batch in hand and everything queued.
		var dctx context.Context
		if w.isStopping() {
			dctx = w.closeCtx
		} else {
			var cancel context.CancelFunc
			dctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), w.opts.DrainTimeout)
			defer cancel()
		}
		w.runErr = w.drain(dctx, batch)
		return w.runErr
	}
}

// waitMore tells Enqueue to kick Run once the records a batch of n lacks
// are queued, and reports whether they are not queued yet (Run is to wait).
func (w *Writer) waitMore(n int) bool {
	lack := int64(w.opts.BatchSize - n)
	w.want.Store(lack)
	return int64(len(w.q)) < lack // queued before want was set: no kick comes
}

// isStopping reports whether Close has been called; after it returns true
// closeCtx may be read.
func (w *Writer) isStopping() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// fill adds queued records to batch, without waiting, up to BatchSize.
func (w *Writer) fill(batch []store.Record) []store.Record {
	for len(batch) < w.opts.BatchSize {
		select {
		case r := <-w.q:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// Close stops taking records, waits for Run to drain the queue (or drains
// it itself when Run was never started) and returns once everything queued
// is written or given up. ctx bounds the drain: when it ends first, Close
// returns an error wrapping ctx's and what is still queued is not written.
// Calling Close again only drains what is left.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.stopOnce.Do(func() {
		w.closeCtx = ctx
		close(w.stop)
	})
	var runErr error
	w.stateMu.Lock()
	alone := w.state != running
	if w.state == idle {
		w.state = closedAlone
		close(w.done) // Run never started: drain here, and Run never will
	}
	w.stateMu.Unlock()
	if !alone {
		select {
		case <-w.done:
			runErr = w.runErr
		case <-ctx.Done():
			return fmt.Errorf("reqlog: close: %w", ctx.Err())
		}
	}
	// Write what Run left (records enqueued after its drain, if its own
	// context ended it before Close).
	return errors.Join(runErr, w.drain(ctx, nil))
}

// drain writes batch and everything queued, in batches, until the queue is
// empty. Records it could not try before ctx ended are counted as failed
// and reported in the error.
func (w *Writer) drain(ctx context.Context, batch []store.Record) error {
	var lost uint64
	for {
		batch = w.fill(batch)
		if len(batch) == 0 {
			break
		}
		if ctx.Err() != nil || w.write(ctx, batch) == interrupted {
			lost += uint64(len(batch))
			// Not released: at shutdown this process's holds go with it
			// (store.HoldKeeper), pending spend included.
		}
		batch = batch[:0]
	}
	if lost == 0 {
		return nil
	}
	w.failed.Add(lost)
	w.onDrop(int(lost), DropShutdown)
	w.opts.Logger.Error("request log: records not written before the shutdown deadline, dropped", "records", lost, "err", ctx.Err())
	return fmt.Errorf("reqlog: %d records not written: %w", lost, ctx.Err())
}

// writeResult is the outcome of write.
type writeResult int

const (
	written     writeResult = iota
	gaveUp                  // every attempt failed; counted as failed and logged
	interrupted             // ctx ended during a backoff; nothing counted
)

// write tries batch up to MaxAttempts times with exponential backoff. Each
// attempt gets WriteTimeout, and an attempt already started is not cut
// short by ctx being canceled (only by its deadline), so a shutdown does not
// abort a write in flight.
func (w *Writer) write(ctx context.Context, batch []store.Record) writeResult {
	if len(batch) == 0 {
		w.settle()
		return written
	}
	var err error
	backoff := w.opts.RetryBackoff
	for attempt := 1; ; attempt++ {
		actx, cancel := w.attemptContext(ctx)
		err = w.w.WriteRecords(actx, batch)
		cancel()
		if err == nil {
			w.written.Add(uint64(len(batch)))
			w.settle()
			return written
		}
		if attempt >= w.opts.MaxAttempts {
			break
		}
		w.opts.Logger.Warn("request log: write failed, retrying", "records", len(batch), "attempt", attempt, "retry_in", backoff, "err", err)
		if clock.Sleep(ctx, w.opts.Clock, backoff) != nil {
			return interrupted
		}
		if backoff < w.opts.RetryBackoff<<8 {
			backoff *= 2
		}
	}
	w.failed.Add(uint64(len(batch)))
	w.onDrop(len(batch), DropWriteFailed)
	w.release(batch)
	w.settle()
	rows, usd := billing(batch)
	w.opts.Logger.Error("request log: write failed, records dropped", "records", len(batch), "ledger_rows", rows,
		"cost_usd", usd, "attempts", w.opts.MaxAttempts, "reason", DropWriteFailed, "err", err)
	return gaveUp
}

// attemptContext is a context for one write attempt: WriteTimeout long,
// never longer than ctx's deadline, not canceled by ctx's cancel alone.
func (w *Writer) attemptContext(ctx context.Context) (context.Context, context.CancelFunc) {
	timeout := w.opts.WriteTimeout
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d < timeout {
			timeout = d
		}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), timeout)
}
