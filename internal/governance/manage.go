package governance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/llmgate/llmgate/internal/store"
)

// Errors of the admin operations, for errors.Is. Invalid input is an
// *InputError.
var (
	ErrNotFound = store.ErrNotFound // no key or team by that id or name
	ErrConflict = store.ErrConflict // a team by that name exists
	// ErrNoStore: the Governor was built without a Store (Options.Store),
	// so it keeps no keys. llmgate serve always opens one (storage), with
	// request_log.persist false too: persist only keeps the rows of
	// requests without a virtual key out of the store.
	ErrNoStore = errors.New("this gateway keeps no virtual keys: it was started without a key store (storage)")
)

// InputError is an admin request that cannot be honoured as given: Field
// names the JSON field at fault, Msg says what is wrong and what to send.
type InputError struct {
	Field string
	Msg   string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Msg }

func invalid(field, format string, args ...any) error {
	return &InputError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Expiry is an expiry time in JSON: an RFC 3339 time, or "never" (or "")
// for none. The zero value is "never".
type Expiry struct{ time.Time }

// UnmarshalJSON reads an RFC 3339 time, "never" or "".
func (e *Expiry) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("expires_at: want an RFC 3339 time or \"never\": %w", err)
	}
	if s == "" || s == "never" {
		e.Time = time.Time{}
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("expires_at: %q is not an RFC 3339 time like 2026-01-31T00:00:00Z (or \"never\")", s)
	}
	e.Time = t.UTC()
	return nil
}

// MarshalJSON writes an RFC 3339 time, or "never".
func (e Expiry) MarshalJSON() ([]byte, error) {
	if e.IsZero() {
		return []byte(`"never"`), nil
	}
	return json.Marshal(e.UTC().Format(time.RFC3339Nano))
}

// KeySpec describes a key to create (POST /admin/keys). Zero limits mean
// none.
type KeySpec struct {
	Name  string `json:"name"`
	Owner string `json:"owner,omitempty"`
	// Team must exist (CreateTeam) when set.
	Team string `json:"team,omitempty"`
	// Models the key may ask for; * is a wildcard ("gpt-4o*", "claude-*").
	// Empty: every model.
	Models      []string `json:"models,omitempty"`
	RPM         int      `json:"rpm,omitempty"`
	TPM         int      `json:"tpm,omitempty"`
	MaxParallel int      `json:"max_parallel,omitempty"`
	BudgetUSD   float64  `json:"budget_usd,omitempty"`
	// BudgetPeriod is daily, weekly, monthly (default) or total.
	BudgetPeriod string `json:"budget_period,omitempty"`
	// SoftBudget is the share of the budget (0-1, e.g. 0.8) at which a
	// warning is logged, counted and sent to governance.budget_webhook.
	SoftBudget float64 `json:"soft_budget,omitempty"`
	// BalanceUSD, when set, makes the key prepaid with this opening
	// balance: its requests draw on the balance, which top-ups refill.
	BalanceUSD *float64          `json:"balance_usd,omitempty"`
	ExpiresAt  *Expiry           `json:"expires_at,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
}

// KeyPatch changes some of a key's fields (PATCH /admin/keys/{id}); nil
// fields stay as they are.
type KeyPatch struct {
	Name         *string            `json:"name,omitempty"`
	Owner        *string            `json:"owner,omitempty"`
	Team         *string            `json:"team,omitempty"`
	Models       *[]string          `json:"models,omitempty"`
	RPM          *int               `json:"rpm,omitempty"`
	TPM          *int               `json:"tpm,omitempty"`
	MaxParallel  *int               `json:"max_parallel,omitempty"`
	BudgetUSD    *float64           `json:"budget_usd,omitempty"`
	BudgetPeriod *string            `json:"budget_period,omitempty"`
	SoftBudget   *float64           `json:"soft_budget,omitempty"`
	Prepaid      *bool              `json:"prepaid,omitempty"`
	ExpiresAt    *Expiry            `json:"expires_at,omitempty"`
	Metadata     *map[string]string `json:"metadata,omitempty"`
}

// TeamSpec describes a team to create (POST /admin/teams).
type TeamSpec struct {
	Name         string            `json:"name"`
	BudgetUSD    float64           `json:"budget_usd,omitempty"`
	BudgetPeriod string            `json:"budget_period,omitempty"`
	SoftBudget   float64           `json:"soft_budget,omitempty"`
	RPM          int               `json:"rpm,omitempty"`
	TPM          int               `json:"tpm,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
}

// TeamPatch changes some of a team's fields; nil fields stay.
type TeamPatch struct {
	BudgetUSD    *float64           `json:"budget_usd,omitempty"`
	BudgetPeriod *string            `json:"budget_period,omitempty"`
	SoftBudget   *float64           `json:"soft_budget,omitempty"`
	RPM          *int               `json:"rpm,omitempty"`
	TPM          *int               `json:"tpm,omitempty"`
	Metadata     *map[string]string `json:"metadata,omitempty"`
}

// BudgetState is a budget's current period.
type BudgetState struct {
	Period       string     `json:"period"`
	PeriodStart  time.Time  `json:"period_start"`
	ResetsAt     *time.Time `json:"resets_at,omitempty"` // nil for total budgets
	LimitUSD     float64    `json:"limit_usd"`
	SpentUSD     float64    `json:"spent_usd"`
	ReservedUSD  float64    `json:"reserved_usd"` // held by requests in flight
	RemainingUSD float64    `json:"remaining_usd"`
}

// BalanceState is a prepaid key's balance.
type BalanceState struct {
	ToppedUpUSD  float64 `json:"topped_up_usd"`
	SpentUSD     float64 `json:"spent_usd"`
	ReservedUSD  float64 `json:"reserved_usd"`
	RemainingUSD float64 `json:"remaining_usd"`
}

// TopUpInfo is one top-up of a key's balance.
type TopUpInfo struct {
	ID        string    `json:"id"`
	AmountUSD float64   `json:"amount_usd"`
	Note      string    `json:"note,omitempty"`
	Time      time.Time `json:"time"`
}

// KeyInfo is a key as the admin API shows it: never its secret.
type KeyInfo struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Owner        string            `json:"owner,omitempty"`
	Team         string            `json:"team,omitempty"`
	Hint         string            `json:"hint"`
	Status       string            `json:"status"` // active, expired or revoked
	Models       []string          `json:"models"`
	RPM          int               `json:"rpm"`
	TPM          int               `json:"tpm"`
	MaxParallel  int               `json:"max_parallel"`
	BudgetUSD    float64           `json:"budget_usd"`
	BudgetPeriod string            `json:"budget_period,omitempty"`
	SoftBudget   float64           `json:"soft_budget,omitempty"`
	Prepaid      bool              `json:"prepaid"`
	ExpiresAt    *time.Time        `json:"expires_at,omitempty"`
	RevokedAt    *time.Time        `json:"revoked_at,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	Budget       *BudgetState      `json:"budget,omitempty"`
	Balance      *BalanceState     `json:"balance,omitempty"`
	TopUps       []TopUpInfo       `json:"topups,omitempty"` // Key only, not Keys
}

// NewKey is a created key and its secret, which is shown only here.
type NewKey struct {
	Key    KeyInfo `json:"key"`
	Secret string  `json:"secret"`
}

// TeamInfo is a team as the admin API shows it.
type TeamInfo struct {
	Name         string            `json:"name"`
	BudgetUSD    float64           `json:"budget_usd"`
	BudgetPeriod string            `json:"budget_period,omitempty"`
	SoftBudget   float64           `json:"soft_budget,omitempty"`
	RPM          int               `json:"rpm"`
	TPM          int               `json:"tpm"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	Keys         int               `json:"keys"` // keys not revoked
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	Budget       *BudgetState      `json:"budget,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// checkLimits validates the limits shared by keys and teams.
func checkLimits(rpm, tpm, par int, budget float64, period string, soft float64) error {
	switch {
	case rpm < 0:
		return invalid("rpm", "must not be negative (0: no limit), got %d", rpm)
	case tpm < 0:
		return invalid("tpm", "must not be negative (0: no limit), got %d", tpm)
	case par < 0:
		return invalid("max_parallel", "must not be negative (0: no limit), got %d", par)
	case budget < 0 || budget != budget:
		return invalid("budget_usd", "must not be negative (0: no budget), got %v", budget)
	case soft < 0 || soft >= 1 || soft != soft:
		return invalid("soft_budget", "is a share of the budget: between 0 and 1 (e.g. 0.8 warns at 80%%), got %v", soft)
	}
	if period != "" && !validBudgetPeriod(Period(period)) {
		return invalid("budget_period", "unknown period %q: use daily, weekly, monthly or total", period)
	}
	return nil
}

func checkModels(models []string) error {
	for i, m := range models {
		if strings.TrimSpace(m) == "" {
			return invalid(fmt.Sprintf("models[%d]", i), "is empty: give a model name or a pattern like gpt-4o* (an empty list allows every model)")
		}
	}
	return nil
}

func (g *Governor) needStore() error {
	if g.st == nil {
		return ErrNoStore
	}
	return nil
}

// checkTeam makes sure a key's team exists.
func (g *Governor) checkTeam(ctx context.Context, team string) error {
	if team == "" {
		return nil
	}
	if _, err := g.st.Team(ctx, team); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return invalid("team", "team %q does not exist: create it first (llmgate teams create %s)", team, team)
		}
		return err
	}
	return nil
}

// CreateKey creates a key and returns it with its secret, which is not
// kept: only its hash is.
func (g *Governor) CreateKey(ctx context.Context, s KeySpec) (NewKey, error) {
	if err := g.needStore(); err != nil {
		return NewKey{}, err
	}
	now := g.clk.Now().UTC()
	if strings.TrimSpace(s.Name) == "" {
		return NewKey{}, invalid("name", "is required: name the key after who or what uses it (e.g. ci-bot)")
	}
	if s.BudgetPeriod == "" && s.BudgetUSD > 0 {
		s.BudgetPeriod = string(Monthly)
	}
	if err := checkLimits(s.RPM, s.TPM, s.MaxParallel, s.BudgetUSD, s.BudgetPeriod, s.SoftBudget); err != nil {
		return NewKey{}, err
	}
	if err := checkModels(s.Models); err != nil {
		return NewKey{}, err
	}
	if s.BalanceUSD != nil && (*s.BalanceUSD < 0 || *s.BalanceUSD != *s.BalanceUSD) {
		return NewKey{}, invalid("balance_usd", "must not be negative, got %v", *s.BalanceUSD)
	}
	if s.ExpiresAt != nil && !s.ExpiresAt.IsZero() && !s.ExpiresAt.After(now) {
		return NewKey{}, invalid("expires_at", "%s is in the past", s.ExpiresAt.Format(time.RFC3339))
	}
	if err := g.checkTeam(ctx, s.Team); err != nil {
		return NewKey{}, err
	}
	secret := NewSecret()
	k := store.Key{ID: newKeyID(), Hash: hashSecret(g.o.Pepper, secret), Hint: hint(secret),
		Name: s.Name, Owner: s.Owner, Team: s.Team, Models: slices.Clone(s.Models),
		RPM: s.RPM, TPM: s.TPM, MaxParallel: s.MaxParallel,
		BudgetUSD: s.BudgetUSD, BudgetPeriod: s.BudgetPeriod, SoftBudget: s.SoftBudget, Prepaid: s.BalanceUSD != nil,
		Metadata: maps.Clone(s.Metadata), CreatedAt: now, UpdatedAt: now}
	if s.ExpiresAt != nil {
		k.ExpiresAt = s.ExpiresAt.Time
	}
	if err := g.st.CreateKey(ctx, k); err != nil {
		return NewKey{}, err
	}
	if s.BalanceUSD != nil && *s.BalanceUSD > 0 {
		if _, err := g.ledger.AddCredit(ctx, balanceKey(k.ID), store.TopUp{KeyID: k.ID, Amount: nanos(*s.BalanceUSD),
			Note: "opening balance", Time: now}); err != nil {
			return NewKey{}, fmt.Errorf("the key %s was created, but its opening balance was not credited (top it up again): %w", k.ID, err)
		}
	}
	g.keys.invalidate(k.ID)
	info, err := g.keyInfo(ctx, &k)
	if err != nil {
		return NewKey{}, err
	}
	return NewKey{Key: info, Secret: secret}, nil
}

func balanceKey(id string) store.SpendKey {
	return store.SpendKey{Scope: scopeBalance, Subject: id, Start: store.Epoch}
}

// budgetState reads the current period of a budget.
func (g *Governor) budgetState(ctx context.Context, scope, subject string, limit float64, period string) (*BudgetState, error) {
	now := g.clk.Now()
	p := Period(period)
	sk := store.SpendKey{Scope: scope, Subject: subject, Start: p.Start(now)}
	sps, err := g.ledger.Spends(ctx, []store.SpendKey{sk})
	if err != nil {
		return nil, err
	}
	sp := sps[0]
	b := &BudgetState{Period: period, PeriodStart: sk.Start, ResetsAt: timePtr(p.End(sk.Start)), LimitUSD: limit,
		SpentUSD: usd(sp.Settled()), ReservedUSD: usd(sp.InFlight())}
	b.RemainingUSD = max(usd(nanos(limit)-sp.Spent-sp.Reserved), 0)
	return b, nil
}

func (g *Governor) keyInfo(ctx context.Context, k *store.Key) (KeyInfo, error) {
	now := g.clk.Now()
	info := KeyInfo{ID: k.ID, Name: k.Name, Owner: k.Owner, Team: k.Team, Hint: k.Hint, Status: "active",
		Models: k.Models, RPM: k.RPM, TPM: k.TPM, MaxParallel: k.MaxParallel, BudgetUSD: k.BudgetUSD,
		BudgetPeriod: k.BudgetPeriod, SoftBudget: k.SoftBudget, Prepaid: k.Prepaid,
		ExpiresAt: timePtr(k.ExpiresAt), RevokedAt: timePtr(k.RevokedAt), Metadata: k.Metadata,
		CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt}
	if info.Models == nil {
		info.Models = []string{}
	}
	switch {
	case k.Revoked():
		info.Status = "revoked"
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		info.Status = "expired"
	}
	if k.BudgetUSD > 0 {
		b, err := g.budgetState(ctx, scopeKey, k.ID, k.BudgetUSD, k.BudgetPeriod)
		if err != nil {
			return info, err
		}
		info.Budget = b
	}
	if k.Prepaid {
		sps, err := g.ledger.Spends(ctx, []store.SpendKey{balanceKey(k.ID)})
		if err != nil {
			return info, err
		}
		sp := sps[0]
		info.Balance = &BalanceState{ToppedUpUSD: usd(sp.Credit), SpentUSD: usd(sp.Settled()), ReservedUSD: usd(sp.InFlight()),
			RemainingUSD: max(usd(sp.Credit-sp.Spent-sp.Reserved), 0)}
	}
	return info, nil
}

// Keys lists the keys f selects, oldest first, with their spend.
func (g *Governor) Keys(ctx context.Context, f store.KeyFilter) ([]KeyInfo, error) {
	if err := g.needStore(); err != nil {
		return nil, err
	}
	ks, err := g.st.Keys(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, 0, len(ks))
	for i := range ks {
		info, err := g.keyInfo(ctx, &ks[i])
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Key returns one key with its spend and top-ups.
func (g *Governor) Key(ctx context.Context, id string) (KeyInfo, error) {
	if err := g.needStore(); err != nil {
		return KeyInfo{}, err
	}
	k, err := g.st.Key(ctx, id)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("key %q: %w", id, err)
	}
	info, err := g.keyInfo(ctx, &k)
	if err != nil {
		return info, err
	}
	tops, err := g.st.TopUps(ctx, id)
	if err != nil {
		return info, err
	}
	for _, t := range tops {
		info.TopUps = append(info.TopUps, TopUpInfo{ID: t.ID, AmountUSD: usd(t.Amount), Note: t.Note, Time: t.Time})
	}
	return info, nil
}

// UpdateKey applies p to the key. The change takes effect at once on this
// gateway and within governance.key_cache_ttl on other replicas.
func (g *Governor) UpdateKey(ctx context.Context, id string, p KeyPatch) (KeyInfo, error) {
	if err := g.needStore(); err != nil {
		return KeyInfo{}, err
	}
	k, err := g.st.Key(ctx, id)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("key %q: %w", id, err)
	}
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	if p.Name != nil {
		if strings.TrimSpace(*p.Name) == "" {
			return KeyInfo{}, invalid("name", "must not be empty")
		}
		k.Name = *p.Name
	}
	if p.Owner != nil {
		k.Owner = *p.Owner
	}
	if p.Team != nil && *p.Team != k.Team {
		if err := g.checkTeam(ctx, *p.Team); err != nil {
			return KeyInfo{}, err
		}
		k.Team = *p.Team
	}
	if p.Models != nil {
		if err := checkModels(*p.Models); err != nil {
			return KeyInfo{}, err
		}
		k.Models = slices.Clone(*p.Models)
	}
	set(&k.RPM, p.RPM)
	set(&k.TPM, p.TPM)
	set(&k.MaxParallel, p.MaxParallel)
	if p.BudgetUSD != nil {
		k.BudgetUSD = *p.BudgetUSD
	}
	if p.BudgetPeriod != nil {
		k.BudgetPeriod = *p.BudgetPeriod
	}
	if k.BudgetPeriod == "" && k.BudgetUSD > 0 {
		k.BudgetPeriod = string(Monthly)
	}
	if p.SoftBudget != nil {
		k.SoftBudget = *p.SoftBudget
	}
	if p.Prepaid != nil {
		k.Prepaid = *p.Prepaid
	}
	if p.ExpiresAt != nil {
		k.ExpiresAt = p.ExpiresAt.Time
	}
	if p.Metadata != nil {
		k.Metadata = maps.Clone(*p.Metadata)
	}
	if err := checkLimits(k.RPM, k.TPM, k.MaxParallel, k.BudgetUSD, k.BudgetPeriod, k.SoftBudget); err != nil {
		return KeyInfo{}, err
	}
	k.UpdatedAt = g.clk.Now().UTC()
	if err := g.st.UpdateKey(ctx, k); err != nil {
		return KeyInfo{}, fmt.Errorf("key %q: %w", id, err)
	}
	g.keys.invalidate(id)
	return g.keyInfo(ctx, &k)
}

// RevokeKey revokes the key: it is refused from now on (on other replicas
// within governance.key_cache_ttl) but stays listed, with its spend.
// Revoking a revoked key changes nothing.
func (g *Governor) RevokeKey(ctx context.Context, id string) (KeyInfo, error) {
	if err := g.needStore(); err != nil {
		return KeyInfo{}, err
	}
	k, err := g.st.Key(ctx, id)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("key %q: %w", id, err)
	}
	if !k.Revoked() {
		now := g.clk.Now().UTC()
		k.RevokedAt, k.UpdatedAt = now, now
		if err := g.st.UpdateKey(ctx, k); err != nil {
			return KeyInfo{}, fmt.Errorf("key %q: %w", id, err)
		}
	}
	g.keys.invalidate(id)
	g.limits.forgetKey(id)
	return g.keyInfo(ctx, &k)
}

// DeleteKey deletes the key. Its requests stay in the usage ledger.
func (g *Governor) DeleteKey(ctx context.Context, id string) error {
	if err := g.needStore(); err != nil {
		return err
	}
	if err := g.st.DeleteKey(ctx, id); err != nil {
		return fmt.Errorf("key %q: %w", id, err)
	}
	g.keys.invalidate(id)
	g.limits.forgetKey(id)
	return nil
}

// TopUp adds amountUSD to a key's prepaid balance, making the key prepaid
// if it was not.
func (g *Governor) TopUp(ctx context.Context, id string, amountUSD float64, note string) (KeyInfo, error) {
	if err := g.needStore(); err != nil {
		return KeyInfo{}, err
	}
	if !(amountUSD > 0) || amountUSD > 1e9 {
		return KeyInfo{}, invalid("amount_usd", "must be a positive amount in USD, got %v", amountUSD)
	}
	k, err := g.st.Key(ctx, id)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("key %q: %w", id, err)
	}
	now := g.clk.Now().UTC()
	if _, err := g.ledger.AddCredit(ctx, balanceKey(id), store.TopUp{KeyID: id, Amount: nanos(amountUSD), Note: note, Time: now}); err != nil {
		return KeyInfo{}, err
	}
	if !k.Prepaid {
		k.Prepaid, k.UpdatedAt = true, now
		if err := g.st.UpdateKey(ctx, k); err != nil {
			return KeyInfo{}, fmt.Errorf("key %q: %w", id, err)
		}
		g.keys.invalidate(id)
	}
	return g.Key(ctx, id)
}

// CreateTeam creates a team.
func (g *Governor) CreateTeam(ctx context.Context, s TeamSpec) (TeamInfo, error) {
	if err := g.needStore(); err != nil {
		return TeamInfo{}, err
	}
	if !validName(s.Name) {
		return TeamInfo{}, invalid("name", "%q is not a team name: use 1-64 letters, digits, '-', '_' or '.'", s.Name)
	}
	if s.BudgetPeriod == "" && s.BudgetUSD > 0 {
		s.BudgetPeriod = string(Monthly)
	}
	if err := checkLimits(s.RPM, s.TPM, 0, s.BudgetUSD, s.BudgetPeriod, s.SoftBudget); err != nil {
		return TeamInfo{}, err
	}
	now := g.clk.Now().UTC()
	t := store.Team{Name: s.Name, BudgetUSD: s.BudgetUSD, BudgetPeriod: s.BudgetPeriod, SoftBudget: s.SoftBudget,
		RPM: s.RPM, TPM: s.TPM, Metadata: maps.Clone(s.Metadata), CreatedAt: now, UpdatedAt: now}
	if err := g.st.CreateTeam(ctx, t); err != nil {
		return TeamInfo{}, fmt.Errorf("team %q: %w", s.Name, err)
	}
	g.teams.invalidate(s.Name)
	return g.teamInfo(ctx, &t)
}

func (g *Governor) teamInfo(ctx context.Context, t *store.Team) (TeamInfo, error) {
	info := TeamInfo{Name: t.Name, BudgetUSD: t.BudgetUSD, BudgetPeriod: t.BudgetPeriod, SoftBudget: t.SoftBudget,
		RPM: t.RPM, TPM: t.TPM, Metadata: t.Metadata, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
	ks, err := g.st.Keys(ctx, store.KeyFilter{Team: t.Name})
	if err != nil {
		return info, err
	}
	info.Keys = len(ks)
	if t.BudgetUSD > 0 {
		if info.Budget, err = g.budgetState(ctx, scopeTeam, t.Name, t.BudgetUSD, t.BudgetPeriod); err != nil {
			return info, err
		}
	}
	return info, nil
}

// Teams lists every team by name.
func (g *Governor) Teams(ctx context.Context) ([]TeamInfo, error) {
	if err := g.needStore(); err != nil {
		return nil, err
	}
	ts, err := g.st.Teams(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TeamInfo, 0, len(ts))
	for i := range ts {
		info, err := g.teamInfo(ctx, &ts[i])
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Team returns one team with its spend.
func (g *Governor) Team(ctx context.Context, name string) (TeamInfo, error) {
	if err := g.needStore(); err != nil {
		return TeamInfo{}, err
	}
	t, err := g.st.Team(ctx, name)
	if err != nil {
		return TeamInfo{}, fmt.Errorf("team %q: %w", name, err)
	}
	return g.teamInfo(ctx, &t)
}

// UpdateTeam applies p to the team.
func (g *Governor) UpdateTeam(ctx context.Context, name string, p TeamPatch) (TeamInfo, error) {
	if err := g.needStore(); err != nil {
		return TeamInfo{}, err
	}
	t, err := g.st.Team(ctx, name)
	if err != nil {
		return TeamInfo{}, fmt.Errorf("team %q: %w", name, err)
	}
	if p.BudgetUSD != nil {
		t.BudgetUSD = *p.BudgetUSD
	}
	if p.BudgetPeriod != nil {
		t.BudgetPeriod = *p.BudgetPeriod
	}
	if t.BudgetPeriod == "" && t.BudgetUSD > 0 {
		t.BudgetPeriod = string(Monthly)
	}
	if p.SoftBudget != nil {
		t.SoftBudget = *p.SoftBudget
	}
	if p.RPM != nil {
		t.RPM = *p.RPM
	}
	if p.TPM != nil {
		t.TPM = *p.TPM
	}
	if p.Metadata != nil {
		t.Metadata = maps.Clone(*p.Metadata)
	}
	if err := checkLimits(t.RPM, t.TPM, 0, t.BudgetUSD, t.BudgetPeriod, t.SoftBudget); err != nil {
		return TeamInfo{}, err
	}
	t.UpdatedAt = g.clk.Now().UTC()
	if err := g.st.UpdateTeam(ctx, t); err != nil {
		return TeamInfo{}, fmt.Errorf("team %q: %w", name, err)
	}
	g.teams.invalidate(name)
	return g.teamInfo(ctx, &t)
}
