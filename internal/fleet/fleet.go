// Package fleet shares resilience state between gateway replicas through
// Redis, so that N replicas behind a load balancer act on an outage (or a
// provider's rate limit) as one gateway would:
//
//   - ejections, recoveries and 429 cooldowns of deployments, and the
//     rate limits learned from upstream headers, travel as events on one
//     pub/sub channel (each replica applies the others' at once, well
//     within a second), and ejections and cooldowns also sit under keys
//     with a TTL, so a replica that starts late reads the current ones;
//   - Idempotency-Key and stale-if-error answers are stored under keys
//     with a TTL (Replay).
//
// Resilience state must never fail closed: when Redis cannot be reached,
// every replica goes on with its own local state, and Status says so.
package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmgate/llmgate/internal/config"
)

// Event kinds.
const (
	Eject  = "eject"  // a deployment is ejected until Until
	Close  = "close"  // it recovered
	Cool   = "cool"   // it answered 429: rest until Until
	Limits = "limits" // rate-limit headers it sent (Header)
)

// Event is one change to a deployment's state, as replicas share it.
type Event struct {
	From       string            `json:"from"` // the replica that saw it
	Kind       string            `json:"kind"`
	Deployment string            `json:"dep"`             // provider/model
	Until      int64             `json:"until,omitempty"` // Unix milliseconds
	Header     map[string]string `json:"header,omitempty"`
}

// UntilTime is Until as a time.
func (e Event) UntilTime() time.Time { return time.UnixMilli(e.Until) }

// Dial connects to the Redis server c names (governance.redis).
func Dial(c config.Redis) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: c.Addr, Password: c.Password, DB: c.DB,
		DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
}

// Status is how the shared state is doing, for GET /health.
type Status struct {
	// Shared is true while events reach Redis; false means this replica
	// runs on its local state only.
	Shared bool      `json:"shared"`
	Error  string    `json:"error,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	// Dropped counts events not shared because Redis was unreachable or
	// the outgoing queue was full.
	Dropped int64 `json:"dropped,omitempty"`
}

// Bus publishes this replica's events and hands the other replicas' to a
// handler. Create it with NewBus, Start it once, Close it to stop its two
// goroutines (the subscriber and the publisher).
type Bus struct {
	rdb     *redis.Client
	prefix  string
	channel string
	id      string
	log     *slog.Logger

	out    chan Event
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex    // protects following
	ps      *redis.PubSub // the current subscription; Close closes it
	err     error
	since   time.Time
	dropped int64
}

// NewBus returns a bus over rdb; prefix starts every key and the channel
// name ("llmgate:" by default).
func NewBus(rdb *redis.Client, prefix string, log *slog.Logger) *Bus {
	if prefix == "" {
		prefix = "llmgate:"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	ctx, cancel := context.WithCancel(context.Background())
	return &Bus{rdb: rdb, prefix: prefix, channel: prefix + "resilience", id: hex.EncodeToString(id[:]),
		log: log, out: make(chan Event, 1024), ctx: ctx, cancel: cancel, since: time.Now()}
}

// ID is this replica's id in events.
func (b *Bus) ID() string { return b.id }

// Start subscribes to the other replicas' events and hands each to apply,
// after the ejections and cooldowns already in force; apply runs on the
// bus's subscriber goroutine, one event at a time.
func (b *Bus) Start(apply func(Event)) {
	b.wg.Add(2)
	go b.publish()
	go b.subscribe(apply)
}

// Close stops the bus and waits for its goroutines.
func (b *Bus) Close() {
	b.cancel()
	b.mu.Lock()
	if b.ps != nil {
		_ = b.ps.Close() // unblocks a read in progress
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// Publish shares e with the other replicas. It never blocks: when the
// queue is full the event is dropped (and counted), because local state
// stays right and the next event carries the news again.
func (b *Bus) Publish(e Event) {
	e.From = b.id
	select {
	case b.out <- e:
	default:
		b.mu.Lock()
		b.dropped++
		b.mu.Unlock()
	}
}

// Status reports whether the shared state is reachable.
func (b *Bus) Status() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Status{Shared: b.err == nil, Since: b.since, Dropped: b.dropped}
	if b.err != nil {
		s.Error = "redis unreachable, using this replica's own resilience state: " + b.err.Error()
	}
	return s
}

func (b *Bus) setErr(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if (err == nil) == (b.err == nil) {
		if err != nil {
			b.err = err
		}
		return
	}
	b.err, b.since = err, time.Now()
	if err != nil {
		b.log.Warn("fleet: shared resilience state unreachable; each replica uses its own until it is back", "err", err)
	} else {
		b.log.Info("fleet: shared resilience state reachable again")
	}
}

func (b *Bus) stateKey(kind, dep string) string { return b.prefix + kind + ":" + dep }

// publish sends queued events, one round trip each.
func (b *Bus) publish() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case e := <-b.out:
			msg, err := json.Marshal(e)
			if err != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
			pipe := b.rdb.TxPipeline()
			pipe.Publish(ctx, b.channel, msg)
			switch e.Kind {
			case Eject, Cool:
				if ttl := time.Until(e.UntilTime()); ttl > 0 {
					pipe.Set(ctx, b.stateKey(e.Kind, e.Deployment), strconv.FormatInt(e.Until, 10), ttl)
				}
			case Close:
				pipe.Del(ctx, b.stateKey(Eject, e.Deployment))
			}
			_, err = pipe.Exec(ctx)
			cancel()
			if err != nil && b.ctx.Err() == nil {
				b.mu.Lock()
				b.dropped++
				b.mu.Unlock()
				b.setErr(err)
			}
		}
	}
}

// subscribe applies the other replicas' events until Close, reconnecting
// after errors.
func (b *Bus) subscribe(apply func(Event)) {
	defer b.wg.Done()
	for b.ctx.Err() == nil {
		err := b.session(apply)
		if b.ctx.Err() != nil {
			return
		}
		b.setErr(err)
		select {
		case <-b.ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// session subscribes, catches up on the state already in force, and
// applies events until an error.
func (b *Bus) session(apply func(Event)) error {
	ps := b.rdb.Subscribe(b.ctx, b.channel)
	defer ps.Close()
	b.mu.Lock()
	b.ps = ps
	b.mu.Unlock()
	if b.ctx.Err() != nil { // Close ran before the subscription was stored
		return b.ctx.Err()
	}
	if _, err := ps.Receive(b.ctx); err != nil { // the subscription's confirmation
		return err
	}
	if err := b.catchUp(apply); err != nil {
		return err
	}
	b.setErr(nil)
	for {
		m, err := ps.ReceiveTimeout(b.ctx, 5*time.Second)
		if err != nil {
			if b.ctx.Err() != nil {
				return b.ctx.Err()
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet: check the connection is alive.
				if err := ps.Ping(b.ctx); err != nil {
					return err
				}
				continue
			}
			return err
		}
		switch m := m.(type) {
		case *redis.Message:
			var e Event
			if json.Unmarshal([]byte(m.Payload), &e) != nil || e.From == b.id || e.Deployment == "" {
				continue
			}
			apply(e)
		case *redis.Pong:
		}
	}
}

// catchUp applies the ejections and cooldowns other replicas set before
// this one subscribed.
func (b *Bus) catchUp(apply func(Event)) error {
	for _, kind := range []string{Eject, Cool} {
		pattern := b.prefix + kind + ":*"
		iter := b.rdb.Scan(b.ctx, 0, pattern, 200).Iterator()
		for iter.Next(b.ctx) {
			key := iter.Val()
			v, err := b.rdb.Get(b.ctx, key).Result()
			if err != nil {
				continue // expired in between
			}
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				continue
			}
			apply(Event{Kind: kind, Deployment: strings.TrimPrefix(key, b.prefix+kind+":"), Until: ms})
		}
		if err := iter.Err(); err != nil {
			return err
		}
	}
	return nil
}
