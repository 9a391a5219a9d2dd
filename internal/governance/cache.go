package governance

import (
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/store"
)

// keyEntry is what the cache knows about one secret hash.
type keyEntry struct {
	hash string
	// key is the stored key, nil when no key has this hash (cached too, so
	// that a client retrying a bad key does not reach the database each
	// time). It is never modified once cached.
	key       *store.Key
	principal *gateway.Principal // shared by every request of the key
	expires   time.Time          // when the entry must be reloaded
}

// cacheMax bounds each cache. When full, expired entries are swept; if
// none expired, unknown-key entries are simply not cached.
const cacheMax = 100_000

// keyCache maps secret hashes to keys for at most ttl, so the hot path does
// no database round trip. A change made through this gateway invalidates
// its entries at once; a change made through another replica is seen
// within ttl. It is safe for concurrent use.
type keyCache struct {
	ttl time.Duration

	mu sync.RWMutex // protects following
	m  map[string]*keyEntry
}

func newKeyCache(ttl time.Duration) *keyCache {
	return &keyCache{ttl: ttl, m: make(map[string]*keyEntry)}
}

// get returns the live entry for hash, if any.
func (c *keyCache) get(hash string, now time.Time) *keyEntry {
	c.mu.RLock()
	e := c.m[hash]
	c.mu.RUnlock()
	if e == nil || !now.Before(e.expires) {
		return nil
	}
	return e
}

func (c *keyCache) put(e *keyEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= cacheMax {
		for h, old := range c.m {
			if !now.Before(old.expires) {
				delete(c.m, h)
			}
		}
		if len(c.m) >= cacheMax && e.key == nil {
			return
		}
	}
	c.m[e.hash] = e
}

// invalidate drops every entry of the key with that id (admin changes are
// rare, so a scan is fine), and every unknown-key entry, since a key
// just created may be one of them.
func (c *keyCache) invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, e := range c.m {
		if e.key == nil || e.key.ID == id {
			delete(c.m, h)
		}
	}
}

// teamEntry is what the cache knows about one team.
type teamEntry struct {
	team    *store.Team // nil: no such team
	expires time.Time
}

// teamCache maps team names to teams for at most ttl, like keyCache.
type teamCache struct {
	ttl time.Duration

	mu sync.RWMutex // protects following
	m  map[string]teamEntry
}

func newTeamCache(ttl time.Duration) *teamCache {
	return &teamCache{ttl: ttl, m: make(map[string]teamEntry)}
}

func (c *teamCache) get(name string, now time.Time) (teamEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[name]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return teamEntry{}, false
	}
	return e, true
}

func (c *teamCache) put(name string, e teamEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= cacheMax {
		clear(c.m)
	}
	c.m[name] = e
}

func (c *teamCache) invalidate(name string) {
	c.mu.Lock()
	delete(c.m, name)
	c.mu.Unlock()
}
