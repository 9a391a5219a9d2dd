// Package governance is llmgate's control of who may spend what: virtual
// keys and teams, per-key and per-team rate limits (RPM, TPM, requests in
// flight), budgets per period, prepaid balances, a gateway-wide spend guard
// and a per-request cost cap.
//
// A Governor implements gateway.Authenticator (it recognises virtual keys,
// "sk-lg-...", through a small cache so the hot path does no database round
// trip) and gateway.Admitter: before a request is sent it checks the key's
// permissions and limits and reserves the request's worst-case cost
// (estimated input tokens plus its output cap, at the model's price) on
// every budget that applies, all or none, atomically; when the request ends
// its Ticket settles the reservation to the real cost. Spend can therefore
// never pass a budget by more than what requests in flight reserved.
//
// With one gateway the spend counters live in memory and are written behind
// to the store every second; with several replicas (Options.Shared, on
// PostgreSQL) every reservation is one conditional UPDATE in the database.
// Rate limits live in process too, unless governance.redis is set: then
// every replica draws from the same buckets in Redis (redislimit.go).
// The admin operations (CreateKey, TopUp, ...) are methods too; package
// admin serves them over HTTP.
package governance

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/llmgate/llmgate/internal/catalog"
	"github.com/llmgate/llmgate/internal/clock"
	"github.com/llmgate/llmgate/internal/config"
	"github.com/llmgate/llmgate/internal/gateway"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/store"
)

// KeyStore stores virtual keys (store/sqlite and store/postgres implement
// it; see storetest.GovernanceStore for the semantics).
type KeyStore interface {
	CreateKey(ctx context.Context, k store.Key) error
	Key(ctx context.Context, id string) (store.Key, error)
	KeyByHash(ctx context.Context, hash string) (store.Key, error)
	Keys(ctx context.Context, f store.KeyFilter) ([]store.Key, error)
	UpdateKey(ctx context.Context, k store.Key) error
	DeleteKey(ctx context.Context, id string) error
}

// TeamStore stores teams.
type TeamStore interface {
	CreateTeam(ctx context.Context, t store.Team) error
	Team(ctx context.Context, name string) (store.Team, error)
	Teams(ctx context.Context) ([]store.Team, error)
	UpdateTeam(ctx context.Context, t store.Team) error
}

// SpendStore stores spend counters and top-ups.
type SpendStore interface {
	ReserveSpend(ctx context.Context, holds []store.Hold) ([]store.Spend, int, error)
	SettleSpend(ctx context.Context, sts []store.Settlement) ([]store.Spend, error)
	Spends(ctx context.Context, keys []store.SpendKey) ([]store.Spend, error)
	SpendsSince(ctx context.Context, since time.Time) ([]store.Spend, error)
	PutSpent(ctx context.Context, sps []store.Spend) error
	AddCredit(ctx context.Context, k store.SpendKey, t store.TopUp) (store.Spend, error)
	TopUps(ctx context.Context, keyID string) ([]store.TopUp, error)
}

// Store is everything a Governor keeps.
type Store interface {
	KeyStore
	TeamStore
	SpendStore
}

// Prices is the price table (pricing.Table implements it).
type Prices interface {
	// Price returns the price of model served by provider, if known.
	Price(provider, model string) (catalog.Price, bool)
	// Check returns an error when requests for an unpriced model must be
	// refused (governance.unknown_price: block).
	Check(provider, model string) error
}

// Options configures a Governor. Zero values take the documented defaults.
type Options struct {
	// Store keeps keys, teams and spend. Nil means no virtual keys: every
	// sk-lg- key is refused, and only the spend guard and the cost cap
	// apply, with counters in memory.
	Store Store
	// Shared keeps spend counters in Store, reserved with atomic
	// conditional updates, for several gateway replicas on one PostgreSQL
	// database. False keeps them in memory (one gateway), written behind to
	// Store every FlushInterval.
	Shared bool
	// Config is the governance section of the configuration.
	Config config.Governance
	// Prices prices worst-case costs; nil prices nothing, so budgets never
	// hold anything back.
	Prices Prices
	Logger *slog.Logger
	Clock  clock.Clock
	// Client sends budget webhooks. Default: an http.Client with
	// WebhookTimeout.
	Client *http.Client
	// WebhookTimeout bounds one webhook call. Default 5s.
	WebhookTimeout time.Duration
	// Pepper is mixed into every key hash; optional. Changing it
	// invalidates every key.
	Pepper string
	// FlushInterval is how often in-memory spend is written to Store.
	// Default 1s.
	FlushInterval time.Duration
	// ChargesOnRecords says the request log writes each request's charges
	// with its record, in one transaction (store.Record.Charges), so that
	// after any crash the counters equal the sum of the rows that survived.
	// Not Shared: the in-memory ledger never writes spent counters itself.
	// Shared: a settlement leaves the spend held by this replica, as
	// pending, until its record moves it to spent
	// (store.Settlement.OnRecord). Needs a Store.
	ChargesOnRecords bool
	// HoldTTL is how long this replica's budget reservations on a shared
	// store (Shared, on PostgreSQL) count after its last heartbeat: Run
	// renews them every HoldTTL/4 until Close, and releases dead replicas'
	// holds. Default Config.HoldTTL, else store.DefaultHoldTTL.
	HoldTTL time.Duration
	// RateLeaseTTL is how long a request in flight counts against its
	// key's max_parallel in Redis (Config.Redis) after its replica last
	// renewed it (Run renews every TTL/3 until Close). Default
	// Config.HoldTTL, else DefaultRateLeaseTTL.
	RateLeaseTTL time.Duration
}

// Governor enforces governance; see the package documentation. Create it
// with New and keep Run running while it serves. It is safe for concurrent
// use.
type Governor struct {
	o       Options
	cfg     config.Governance
	st      Store // nil: no virtual keys
	prices  Prices
	log     *slog.Logger
	clk     clock.Clock
	keys    *keyCache
	teams   *teamCache
	limits  rateLimiter
	ledger  ledger
	mem     *memLedger // nil when Shared
	notify  *notifier
	met     *govMetrics
	guarded bool // a spend guard or cost cap applies to every request
	// chargesOnRecords: records carry their charges to the store
	// (Options.ChargesOnRecords with a Store).
	chargesOnRecords bool

	rdb *redis.Client // nil: rate limits in process

	keeper             store.HoldKeeper // nil: reservations are not per replica
	holdStop, holdDone chan struct{}
	holdStartOnce      sync.Once
	holdStopOnce       sync.Once

	ranOnce sync.Once
}

// forgetAfter is how far back memory keeps counters: the longest period
// (a month) and a day.
const forgetAfter = 32 * 24 * time.Hour

// New returns a Governor. With a Store and not Shared it loads the current
// spend counters from it.
func New(ctx context.Context, o Options) (*Governor, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.HoldTTL <= 0 {
		o.HoldTTL = o.Config.HoldTTL
	}
	if o.RateLeaseTTL <= 0 {
		o.RateLeaseTTL = o.Config.HoldTTL
	}
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = 5 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.WebhookTimeout}
	}
	ttl := o.Config.KeyCacheTTL
	if ttl <= 0 {
		ttl = config.DefaultKeyCacheTTL
	}
	g := &Governor{o: o, cfg: o.Config, st: o.Store, prices: o.Prices, log: o.Logger, clk: o.Clock,
		keys: newKeyCache(ttl), teams: newTeamCache(ttl), met: newGovMetrics(), limits: &limiter{}}
	if o.Config.Redis.Addr != "" {
		rdb, err := dialRedis(ctx, o.Config.Redis)
		if err != nil {
			return nil, err
		}
		g.rdb = rdb
		g.limits = newRedisLimiter(rdb, o.Config.Redis.Prefix, o.RateLeaseTTL, o.Logger)
	}
	g.chargesOnRecords = o.ChargesOnRecords && o.Store != nil
	g.guarded = o.Config.SpendGuard.Hourly > 0 || o.Config.SpendGuard.Daily > 0 || o.Config.MaxRequestCost > 0
	if o.Store != nil && o.Shared {
		g.ledger = o.Store
		if hk, ok := o.Store.(store.HoldKeeper); ok {
			if o.HoldTTL <= 0 {
				g.o.HoldTTL = store.DefaultHoldTTL
			}
			g.keeper, g.holdStop, g.holdDone = hk, make(chan struct{}), make(chan struct{})
		}
	} else {
		var persist SpendStore
		if o.Store != nil {
			persist = o.Store
		}
		mem, err := newMemLedger(ctx, persist, o.Clock.Now().Add(-forgetAfter), o.Logger)
		if err != nil {
			g.Close()
			return nil, err
		}
		mem.chargesOnRecords = o.ChargesOnRecords && persist != nil
		g.mem, g.ledger = mem, mem
	}
	g.notify = newNotifier(o.Config.BudgetWebhook, o.Client, o.WebhookTimeout, o.Logger, g.met)
	return g, nil
}

var (
	_ gateway.Authenticator = (*Governor)(nil)
	_ gateway.Admitter      = (*Governor)(nil)
)

// CountUnpriced counts one request priced without a price, for
// llmgate_unpriced_requests_total (pricing.Table.OnUnpriced).
func (g *Governor) CountUnpriced() { g.met.unpriced.Inc() }

// Collector returns the governance metrics (refusals by reason, soft-budget
// warnings, webhook failures) for a Prometheus registry.
func (g *Governor) Collector() prometheus.Collector { return g.met }

// Run writes in-memory spend to the store every FlushInterval and delivers
// budget webhooks, until ctx is done; then it writes what is left and
// delivers the queued webhooks (each bounded by WebhookTimeout, all within
// 15s) and returns. Call it once, after the server stopped sending
// requests it returns only when everything is drained.
func (g *Governor) Run(ctx context.Context) error {
	started := false
	g.ranOnce.Do(func() { started = true })
	if !started {
		return errors.New("governance: Run called twice")
	}
	if rl, ok := g.limits.(*redisLimiter); ok {
		rl.startHeartbeat() // renews max_parallel leases until Close
	}
	if g.keeper != nil {
		g.holdStartOnce.Do(func() {
			g.renewHolds()
			go g.holdHeartbeat() // renews budget holds until Close
		})
	}
	var wg sync.WaitGroup
	nctx, stopNotify := context.WithCancel(context.Background())
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.notify.run(nctx)
	}()
	var err error
	for {
		t := g.clk.NewTimer(g.o.FlushInterval)
		select {
		case <-t.C():
			if ferr := g.flush(ctx); ferr != nil {
				g.log.Error("governance: spend counters not written yet; retrying", "err", ferr)
			}
			continue
		case <-ctx.Done():
			t.Stop()
		}
		break
	}
	fctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if ferr := g.flush(fctx); ferr != nil {
		err = ferr
		g.log.Error("governance: spend counters could not be written at shutdown", "err", ferr)
	}
	stopNotify()
	wg.Wait()
	return err
}

// Close stops renewing this replica's max_parallel leases and releases the
// connection to Redis (governance.redis), if any. Call it after Run has
// returned; requests settled later are not counted.
func (g *Governor) Close() {
	if rl, ok := g.limits.(*redisLimiter); ok {
		rl.stopHeartbeat()
	}
	if g.keeper != nil {
		g.holdStopOnce.Do(func() { close(g.holdStop) })
		started := true
		g.holdStartOnce.Do(func() { started = false })
		if started {
			<-g.holdDone
		}
	}
	if g.rdb != nil {
		_ = g.rdb.Close()
	}
}

// holdHeartbeat renews this replica's budget holds every HoldTTL/4 until
// Close.
func (g *Governor) holdHeartbeat() {
	defer close(g.holdDone)
	t := time.NewTicker(g.o.HoldTTL / 4)
	defer t.Stop()
	for {
		select {
		case <-g.holdStop:
			return
		case <-t.C:
			g.renewHolds()
		}
	}
}

// renewHolds renews this replica's holds once and releases dead
// replicas' holds.
func (g *Governor) renewHolds() {
	ctx, cancel := context.WithTimeout(context.Background(), g.o.HoldTTL/4)
	defer cancel()
	n, err := g.keeper.RenewHolds(ctx, g.o.HoldTTL)
	switch {
	case err != nil:
		g.log.Warn("governance: could not renew this replica's budget reservations; they are released if this lasts longer than the hold TTL",
			"hold_ttl", g.o.HoldTTL.String(), "err", err)
	case n > 0:
		g.log.Info("governance: released the budget reservations of a replica that stopped renewing them", "usd", usd(n))
	}
}

func (g *Governor) flush(ctx context.Context) error {
	if g.mem == nil {
		return nil
	}
	return g.mem.flush(ctx, g.clk.Now().Add(-forgetAfter))
}

// Authenticate recognises a virtual key: (nil, nil) for a credential that
// is not one (a provider key to pass through), the key's principal for a
// valid key, a 401 *provider.Error for an unknown, malformed, expired or
// revoked one, and a 503 when the store cannot be read. A key is looked up
// by its hash through the cache (governance.key_cache_ttl), so a key
// revoked through another replica stops working within that TTL.
func (g *Governor) Authenticate(ctx context.Context, credential string) (*gateway.Principal, error) {
	if !strings.HasPrefix(credential, KeyPrefix) {
		return nil, nil
	}
	if !IsVirtualKey(credential) {
		g.met.deny("unknown_key")
		return nil, authError(fmt.Sprintf("the key you sent starts like an llmgate key (%s) but is not one: check that it was copied whole", KeyPrefix))
	}
	if g.st == nil {
		g.met.deny("unknown_key")
		return nil, authError("this gateway keeps no virtual keys (it was started without a key store); use the master key or a provider key")
	}
	now := g.clk.Now()
	h := hashSecret(g.o.Pepper, credential)
	e := g.keys.get(h, now)
	if e == nil {
		k, err := g.st.KeyByHash(ctx, h)
		switch {
		case errors.Is(err, store.ErrNotFound):
			e = &keyEntry{hash: h}
		case err != nil:
			g.log.Error("governance: reading a virtual key", "err", err)
			return nil, &provider.Error{Kind: provider.KindUnavailable, Cause: err,
				Message: "llmgate could not check your key: its store is unavailable; retry shortly"}
		default:
			e = &keyEntry{hash: h, key: &k}
			e.principal = &gateway.Principal{KeyID: k.ID, Team: k.Team, Ref: e}
		}
		e.expires = now.Add(g.keys.ttl)
		g.keys.put(e, now)
	}
	if subtle.ConstantTimeCompare([]byte(e.hash), []byte(h)) != 1 || e.key == nil {
		g.met.deny("unknown_key")
		return nil, authError(fmt.Sprintf("the llmgate key %s is not known to this gateway: check that it was copied whole, or ask your gateway admin for one (llmgate keys create)", hint(credential)))
	}
	k := e.key
	if k.Revoked() {
		g.met.deny("revoked_key")
		return nil, authError(fmt.Sprintf("the llmgate key %s (%s) was revoked on %s: ask your gateway admin for a new key",
			k.Hint, describeKey(k), k.RevokedAt.Format(time.RFC3339)))
	}
	if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		g.met.deny("expired_key")
		return nil, authError(fmt.Sprintf("the llmgate key %s (%s) expired on %s: ask your gateway admin to extend it (llmgate keys update %s --expires 720h) or for a new key",
			k.Hint, describeKey(k), k.ExpiresAt.Format(time.RFC3339), k.ID))
	}
	return e.principal, nil
}

func authError(msg string) *provider.Error {
	return &provider.Error{Kind: provider.KindAuth, Code: "invalid_api_key", Message: msg}
}

// describeKey names a key in messages: its id, and its name if it has one.
func describeKey(k *store.Key) string {
	if k.Name == "" {
		return k.ID
	}
	return fmt.Sprintf("%s %q", k.ID, k.Name)
}

// team returns the key's team (nil when the key has none or it does not
// exist), through the cache.
func (g *Governor) team(ctx context.Context, name string, now time.Time) (*store.Team, error) {
	if name == "" || g.st == nil {
		return nil, nil
	}
	if e, ok := g.teams.get(name, now); ok {
		return e.team, nil
	}
	t, err := g.st.Team(ctx, name)
	e := teamEntry{expires: now.Add(g.teams.ttl)}
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		e.team = &t
	}
	g.teams.put(name, e)
	return e.team, nil
}
