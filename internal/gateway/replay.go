package gateway

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"sync"
	"time"
)

// maxReplayBody bounds a response kept for replay (idempotency, stale-if-error).
const maxReplayBody = 8 << 20

// saved is a complete response that can be written again.
type saved struct {
	status int
	header http.Header
	body   []byte
}

func (s *saved) writeTo(w http.ResponseWriter, extra map[string]string) {
	h := w.Header()
	for k, v := range s.header {
		h[k] = v
	}
	for k, v := range extra {
		h.Set(k, v)
	}
	w.WriteHeader(s.status)
	_, _ = w.Write(s.body)
}

// capture is a ResponseWriter that writes through and keeps a copy of what
// was written, up to maxReplayBody.
type capture struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
	over   bool
}

func (c *capture) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *capture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if !c.over {
		if c.buf.Len()+len(p) > maxReplayBody {
			c.over = true
			c.buf = bytes.Buffer{}
		} else {
			c.buf.Write(p)
		}
	}
	return c.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (c *capture) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// result returns the captured response when it is complete and worth
// keeping (a 2xx under the size bound).
func (c *capture) result() (*saved, bool) {
	if c.over || c.status < 200 || c.status > 299 {
		return nil, false
	}
	return &saved{status: c.status, header: c.ResponseWriter.Header().Clone(), body: bytes.Clone(c.buf.Bytes())}, true
}

// replayCache keeps responses by key for a TTL, bounded in entries. Lookups
// for a key in flight wait for its owner. It is safe for concurrent use.
type replayCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex // protects following
	entries map[[32]byte]*replayEntry
}

type replayEntry struct {
	done     chan struct{} // closed when the owner finished
	bodyHash [32]byte
	resp     *saved // nil while in flight, or when the owner failed
	expires  time.Time
	at       time.Time
}

func newReplayCache(ttl time.Duration, max int, now func() time.Time) *replayCache {
	return &replayCache{ttl: ttl, max: max, now: now, entries: make(map[[32]byte]*replayEntry)}
}

// begin looks key up. If a finished response is cached it returns it. If
// the key is in flight, it waits for the owner (or ctx) and tries again. If
// the key is unknown, the caller becomes its owner: it must call finish.
// conflict reports a key reused with a different body.
func (c *replayCache) begin(done <-chan struct{}, key, bodyHash [32]byte) (resp *saved, owner bool, conflict bool) {
	for {
		c.mu.Lock()
		e, ok := c.entries[key]
		now := c.now()
		if ok && e.resp != nil && now.After(e.expires) {
			delete(c.entries, key)
			ok = false
		}
		if !ok {
			c.evictLocked(now)
			c.entries[key] = &replayEntry{done: make(chan struct{}), bodyHash: bodyHash, at: now}
			c.mu.Unlock()
			return nil, true, false
		}
		if e.bodyHash != bodyHash {
			c.mu.Unlock()
			return nil, false, true
		}
		if e.resp != nil {
			c.mu.Unlock()
			return e.resp, false, false
		}
		ch := e.done
		c.mu.Unlock()
		select {
		case <-ch:
		case <-done:
			return nil, false, false
		}
	}
}

// finish stores the owner's response (nil when it failed, which frees the
// key for a retry) and wakes waiters.
func (c *replayCache) finish(key [32]byte, resp *saved) {
	c.mu.Lock()
	e := c.entries[key]
	if e != nil {
		if resp == nil {
			delete(c.entries, key)
		} else {
			e.resp, e.expires = resp, c.now().Add(c.ttl)
		}
		close(e.done)
	}
	c.mu.Unlock()
}

// store keeps resp under key (stale-if-error), replacing what was there.
func (c *replayCache) store(key [32]byte, resp *saved) {
	c.mu.Lock()
	now := c.now()
	if _, ok := c.entries[key]; !ok {
		c.evictLocked(now)
	}
	done := make(chan struct{})
	close(done)
	c.entries[key] = &replayEntry{done: done, resp: resp, expires: now.Add(c.ttl), at: now}
	c.mu.Unlock()
}

// get returns a finished, unexpired response.
func (c *replayCache) get(key [32]byte) (*saved, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || e.resp == nil || c.now().After(e.expires) {
		return nil, false
	}
	return e.resp, true
}

// evictLocked makes room for one entry: expired ones first, else the oldest
// finished one.
func (c *replayCache) evictLocked(now time.Time) {
	if len(c.entries) < c.max {
		return
	}
	var oldestKey [32]byte
	var oldest *replayEntry
	for k, e := range c.entries {
		if e.resp != nil && now.After(e.expires) {
			delete(c.entries, k)
			continue
		}
		if e.resp != nil && (oldest == nil || e.at.Before(oldest.at)) {
			oldest, oldestKey = e, k
		}
	}
	if len(c.entries) >= c.max && oldest != nil {
		delete(c.entries, oldestKey)
	}
}

func hashKey(parts ...string) [32]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
