package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/llmgate/llmgate/internal/admin"
	"github.com/llmgate/llmgate/internal/governance"
)

// The keys, teams and topup commands talk to a running gateway's admin API
// (/admin/), authenticated with the master key.

// adminFlags are the flags every admin command takes.
type adminFlags struct {
	config, url string
	asJSON      bool
}

func (a *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.config, "config", "", "config file, for the listen address and master key (default $LLMGATE_CONFIG)")
	fs.StringVar(&a.config, "c", "", "shorthand for --config")
	fs.StringVar(&a.url, "url", "", "gateway URL (default http://<listen> from the config)")
	fs.BoolVar(&a.asJSON, "json", false, "print the admin API's JSON")
}

// adminClient calls the admin API of one gateway.
type adminClient struct {
	base, key string
	http      *http.Client
}

// client builds the admin client from the flags, the config and
// $LLMGATE_MASTER_KEY.
func (a *adminFlags) client(env Env) (*adminClient, error) {
	cfg, err := loadConfig(configPath(a.config, env.Getenv), env.Getenv)
	if err != nil {
		return nil, err
	}
	base := a.url
	if base == "" {
		base = "http://" + cfg.Listen
	}
	return &adminClient{base: strings.TrimRight(base, "/"), key: cfg.MasterKey,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}}}, nil
}

// errUnreachable wraps a failure to reach the gateway at all.
var errUnreachable = errors.New("no gateway answered")

// apiError is an error answer of the admin API.
type apiError struct {
	status int
	detail admin.ErrorDetail
}

func (e *apiError) Error() string {
	msg := e.detail.Message
	if msg == "" {
		msg = http.StatusText(e.status)
	}
	return fmt.Sprintf("%s (HTTP %d)", msg, e.status)
}

// do sends body (nil for none) as JSON and decodes the answer into out
// (nil to discard it).
// call makes one admin API call for the command name, printing a failure
// to stderr; it returns exitOK-or-worse as a code >= 0 when the command
// must stop, and -1 when the call succeeded and out holds the answer.
func (af *adminFlags) call(ctx context.Context, env Env, name, method, path string, body, out any) int {
	c, err := af.client(env)
	if err == nil {
		err = c.do(ctx, method, path, body, out)
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
		return exitInvalid
	}
	return -1
}

func (c *adminClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w at %s (is llmgate serve running? pass --url): %v", errUnreachable, c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		e := &apiError{status: resp.StatusCode}
		var eb admin.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Message != "" {
			e.detail = eb.Error
		} else {
			e.detail.Message = strings.TrimSpace(string(b))
		}
		if resp.StatusCode == http.StatusUnauthorized && c.key == "" {
			e.detail.Message += "; set LLMGATE_MASTER_KEY to the gateway's master key"
		}
		return e
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("the answer of %s %s is not the JSON expected: %w", method, path, err)
		}
	}
	return nil
}

// parseInterleaved parses flags that may come before or after positional
// arguments ("keys show ID --json") and returns the positional ones. It
// returns a non-negative exit code when the command should stop.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, int) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK
			}
			return nil, exitUsage
		}
		if fs.NArg() == 0 {
			return pos, -1
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// limitFlags are the flags that set a key's or team's limits.
type limitFlags struct {
	rpm, tpm, maxParallel  int
	budget, soft           float64
	period, meta           string
	owner, team, models    string
	balance                float64
	expires, name, newName string
}

func (l *limitFlags) registerLimits(fs *flag.FlagSet, withKeyOnly bool) {
	fs.IntVar(&l.rpm, "rpm", 0, "requests per minute (0: no limit)")
	fs.IntVar(&l.tpm, "tpm", 0, "tokens per minute (0: no limit)")
	fs.Float64Var(&l.budget, "budget", 0, "spend cap in USD per --period (0: none)")
	fs.StringVar(&l.period, "period", "", "budget period: daily, weekly, monthly (default) or total")
	fs.Float64Var(&l.soft, "soft-budget", 0, "share of the budget (0-1, e.g. 0.8) that logs a warning and calls governance.budget_webhook")
	fs.StringVar(&l.meta, "meta", "", "metadata as comma-separated key=value pairs")
	if withKeyOnly {
		fs.IntVar(&l.maxParallel, "max-parallel", 0, "requests in flight at once (0: no limit)")
		fs.StringVar(&l.owner, "owner", "", "who the key belongs to (an email, a service)")
		fs.StringVar(&l.team, "team", "", "team the key belongs to (must exist: llmgate teams create)")
		fs.StringVar(&l.models, "models", "", "comma-separated models the key may use, * as wildcard (e.g. 'gpt-4o*,claude-*'); empty: all")
		fs.StringVar(&l.expires, "expires", "", "expiry: a duration from now (720h, 30d), a day (2026-01-31), an RFC 3339 time, or never")
	}
}

func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return []string{}
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseMeta(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range splitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--meta %q: write key=value pairs separated by commas", kv)
		}
		m[k] = v
	}
	return m, nil
}

// parseExpiry reads --expires relative to now.
func parseExpiry(s string, now time.Time) (governance.Expiry, error) {
	if s == "" || s == "never" {
		return governance.Expiry{}, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n > 0 {
			return governance.Expiry{Time: now.UTC().AddDate(0, 0, n)}, nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		t := now.UTC().Add(d)
		if r := t.Truncate(time.Second); !r.Equal(t) { // whole seconds, never earlier than asked
			t = r.Add(time.Second)
		}
		return governance.Expiry{Time: t}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return governance.Expiry{Time: t}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return governance.Expiry{Time: t.UTC()}, nil
	}
	return governance.Expiry{}, fmt.Errorf("--expires %q: use a duration (720h, 30d), a day (2026-01-31), an RFC 3339 time or never", s)
}

// setFlags is the set of flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	m := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

func runKeys(ctx context.Context, env Env, args []string) int {
	sub := ""
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "create":
		return keysCreate(ctx, env, args)
	case "list", "ls":
		return keysList(ctx, env, args)
	case "show", "get":
		return keysShow(ctx, env, args)
	case "update":
		return keysUpdate(ctx, env, args)
	case "revoke":
		return keysSimple(ctx, env, args, "revoke", http.MethodPost, "/revoke", "Revoke a key: it is refused from now on, and stays listed with its spend.")
	case "delete", "rm":
		return keysSimple(ctx, env, args, "delete", http.MethodDelete, "", "Delete a key. Its requests stay in the usage ledger.")
	}
	w := env.Stderr
	code := exitUsage
	if sub == "help" || sub == "-h" || sub == "--help" {
		w, code = env.Stdout, exitOK
	} else if sub != "" {
		fmt.Fprintf(w, "llmgate keys: unknown subcommand %q\n\n", sub)
	}
	fmt.Fprint(w, `Usage: llmgate keys <create|list|show|update|revoke|delete> [flags]

Manage virtual keys (sk-lg-...) through a running gateway's admin API. The master key comes from
$LLMGATE_MASTER_KEY (or master_key in the config); the gateway from --url or the config's listen address.

  llmgate keys create --name ci-bot --team platform --rpm 60 --budget 50 --period monthly
  llmgate keys list [--team T] [--all]
  llmgate keys show KEY_ID
  llmgate keys update KEY_ID --rpm 120 --models 'gpt-4o*,claude-*'
  llmgate keys revoke KEY_ID
  llmgate keys delete KEY_ID
  llmgate topup KEY_ID --amount 25

Run "llmgate keys <subcommand> --help" for its flags.
`)
	return code
}

func keysCreate(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "keys create", "Create a virtual key. Its secret is printed once: store it now.")
	var (
		af adminFlags
		lf limitFlags
	)
	af.register(fs)
	lf.registerLimits(fs, true)
	fs.StringVar(&lf.name, "name", "", "name of the key: who or what uses it (required)")
	fs.Float64Var(&lf.balance, "balance", 0, "make the key prepaid with this opening balance in USD (top it up with llmgate topup)")
	pos, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(env.Stderr, "llmgate keys create: unexpected arguments %q (give the name with --name)\n", pos)
		return exitUsage
	}
	given := setFlags(fs)
	spec := governance.KeySpec{Name: lf.name, Owner: lf.owner, Team: lf.team, Models: splitList(lf.models),
		RPM: lf.rpm, TPM: lf.tpm, MaxParallel: lf.maxParallel, BudgetUSD: lf.budget, BudgetPeriod: lf.period, SoftBudget: lf.soft}
	if given["balance"] {
		spec.BalanceUSD = &lf.balance
	}
	var err error
	if spec.Metadata, err = parseMeta(lf.meta); err != nil {
		fmt.Fprintf(env.Stderr, "llmgate keys create: %v\n", err)
		return exitUsage
	}
	if lf.expires != "" {
		e, err := parseExpiry(lf.expires, time.Now())
		if err != nil {
			fmt.Fprintf(env.Stderr, "llmgate keys create: %v\n", err)
			return exitUsage
		}
		spec.ExpiresAt = &e
	}
	var nk governance.NewKey
	if code := af.call(ctx, env, "llmgate keys create", http.MethodPost, "/admin/keys", spec, &nk); code >= 0 {
		return code
	}
	if af.asJSON {
		printJSON(env.Stdout, nk)
		return exitOK
	}
	fmt.Fprintf(env.Stdout, "Created key %s %q", nk.Key.ID, nk.Key.Name)
	if nk.Key.Team != "" {
		fmt.Fprintf(env.Stdout, " in team %s", nk.Key.Team)
	}
	fmt.Fprintf(env.Stdout, ".\n\n  %s\n\nThis is the only time the key is shown: store it now (a secret manager, a CI secret).\n"+
		"Clients use it as their API key, with the gateway as their base URL.\n", nk.Secret)
	return exitOK
}

func keysList(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "keys list", "List virtual keys with their limits and spend this period.")
	var af adminFlags
	af.register(fs)
	team := fs.String("team", "", "only keys of this team")
	owner := fs.String("owner", "", "only keys of this owner")
	all := fs.Bool("all", false, "include revoked keys")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	c, err := af.client(env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate keys list: %v\n", err)
		return exitInvalid
	}
	q := url.Values{}
	for k, v := range map[string]string{"team": *team, "owner": *owner} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *all {
		q.Set("include_revoked", "true")
	}
	var list admin.KeyList
	if err := c.do(ctx, http.MethodGet, "/admin/keys?"+q.Encode(), nil, &list); err != nil {
		fmt.Fprintf(env.Stderr, "llmgate keys list: %v\n", err)
		return exitInvalid
	}
	if af.asJSON {
		printJSON(env.Stdout, list)
		return exitOK
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTEAM\tSTATUS\tRPM\tTPM\tBUDGET\tSPENT\tBALANCE\tEXPIRES")
	for _, k := range list.Keys {
		budget, spent, balance := "-", "-", "-"
		if b := k.Budget; b != nil {
			budget = fmt.Sprintf("%s/%s", money(b.LimitUSD), b.Period)
			spent = money(b.SpentUSD)
		}
		if b := k.Balance; b != nil {
			balance = money(b.RemainingUSD)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, dash(k.Team), k.Status,
			limit(k.RPM), limit(k.TPM), budget, spent, balance, when(k.ExpiresAt))
	}
	_ = tw.Flush()
	if len(list.Keys) == 0 {
		fmt.Fprintln(env.Stdout, "(no keys; create one with llmgate keys create --name NAME)")
	}
	return exitOK
}

func money(v float64) string { return "$" + strconv.FormatFloat(v, 'f', -1, 64) }

func limit(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func when(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// oneArg parses a command that takes exactly one positional argument.
func oneArg(env Env, fs *flag.FlagSet, args []string, what string) (string, int) {
	pos, code := parseInterleaved(fs, args)
	if code >= 0 {
		return "", code
	}
	if len(pos) != 1 {
		fmt.Fprintf(env.Stderr, "%s: give exactly one %s\n", fs.Name(), what)
		fs.Usage()
		return "", exitUsage
	}
	return pos[0], -1
}

func keysShow(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "keys show", "Show a key: its limits, spend this period, balance and top-ups.")
	var af adminFlags
	af.register(fs)
	id, code := oneArg(env, fs, args, "key id")
	if code >= 0 {
		return code
	}
	var k governance.KeyInfo
	if code := af.call(ctx, env, "llmgate keys show", http.MethodGet, "/admin/keys/"+url.PathEscape(id), nil, &k); code >= 0 {
		return code
	}
	if af.asJSON {
		printJSON(env.Stdout, k)
		return exitOK
	}
	printKey(env.Stdout, &k)
	return exitOK
}

func printKey(w io.Writer, k *governance.KeyInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t"+format+"\n", append([]any{name}, args...)...)
	}
	row("id", "%s", k.ID)
	row("name", "%s", k.Name)
	row("key", "%s (the secret itself is not kept)", k.Hint)
	row("status", "%s", k.Status)
	if k.Owner != "" {
		row("owner", "%s", k.Owner)
	}
	row("team", "%s", dash(k.Team))
	models := "all"
	if len(k.Models) > 0 {
		models = strings.Join(k.Models, ", ")
	}
	row("models", "%s", models)
	row("limits", "rpm %s, tpm %s, max parallel %s", limit(k.RPM), limit(k.TPM), limit(k.MaxParallel))
	if b := k.Budget; b != nil {
		resets := "never resets"
		if b.ResetsAt != nil {
			resets = "resets " + b.ResetsAt.UTC().Format(time.RFC3339)
		}
		soft := ""
		if k.SoftBudget > 0 {
			soft = fmt.Sprintf(", warns at %g%%", k.SoftBudget*100)
		}
		row("budget", "%s %s: %s spent, %s in flight, %s left (%s%s)", money(b.LimitUSD), b.Period, money(b.SpentUSD),
			money(b.ReservedUSD), money(b.RemainingUSD), resets, soft)
	} else {
		row("budget", "none")
	}
	if b := k.Balance; b != nil {
		row("balance", "%s left (%s topped up, %s spent, %s in flight)", money(b.RemainingUSD), money(b.ToppedUpUSD),
			money(b.SpentUSD), money(b.ReservedUSD))
	}
	row("expires", "%s", when(k.ExpiresAt))
	if k.RevokedAt != nil {
		row("revoked", "%s", k.RevokedAt.UTC().Format(time.RFC3339))
	}
	if len(k.Metadata) > 0 {
		keys := make([]string, 0, len(k.Metadata))
		for m := range k.Metadata {
			keys = append(keys, m)
		}
		sort.Strings(keys)
		var parts []string
		for _, m := range keys {
			parts = append(parts, m+"="+k.Metadata[m])
		}
		row("metadata", "%s", strings.Join(parts, ", "))
	}
	row("created", "%s", k.CreatedAt.UTC().Format(time.RFC3339))
	for _, t := range k.TopUps {
		row("top-up", "%s %s %s", t.Time.UTC().Format(time.RFC3339), money(t.AmountUSD), t.Note)
	}
	_ = tw.Flush()
}

func keysUpdate(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "keys update", "Change some of a key's settings; flags not given stay as they are.\nThe change applies at once on this gateway, and within governance.key_cache_ttl on other replicas.")
	var (
		af adminFlags
		lf limitFlags
	)
	af.register(fs)
	lf.registerLimits(fs, true)
	fs.StringVar(&lf.newName, "name", "", "new name")
	prepaid := fs.Bool("prepaid", false, "draw requests on the key's prepaid balance (--prepaid=false: stop)")
	id, code := oneArg(env, fs, args, "key id")
	if code >= 0 {
		return code
	}
	given := setFlags(fs)
	var p governance.KeyPatch
	if given["name"] {
		p.Name = &lf.newName
	}
	if given["owner"] {
		p.Owner = &lf.owner
	}
	if given["team"] {
		p.Team = &lf.team
	}
	if given["models"] {
		m := splitList(lf.models)
		p.Models = &m
	}
	if given["rpm"] {
		p.RPM = &lf.rpm
	}
	if given["tpm"] {
		p.TPM = &lf.tpm
	}
	if given["max-parallel"] {
		p.MaxParallel = &lf.maxParallel
	}
	if given["budget"] {
		p.BudgetUSD = &lf.budget
	}
	if given["period"] {
		p.BudgetPeriod = &lf.period
	}
	if given["soft-budget"] {
		p.SoftBudget = &lf.soft
	}
	if given["prepaid"] {
		p.Prepaid = prepaid
	}
	if given["meta"] {
		m, err := parseMeta(lf.meta)
		if err != nil {
			fmt.Fprintf(env.Stderr, "llmgate keys update: %v\n", err)
			return exitUsage
		}
		p.Metadata = &m
	}
	if given["expires"] {
		e, err := parseExpiry(lf.expires, time.Now())
		if err != nil {
			fmt.Fprintf(env.Stderr, "llmgate keys update: %v\n", err)
			return exitUsage
		}
		p.ExpiresAt = &e
	}
	if !anySetting(given) {
		fmt.Fprintln(env.Stderr, "llmgate keys update: nothing to change: give at least one setting, e.g. --rpm 120")
		return exitUsage
	}
	var k governance.KeyInfo
	if code := af.call(ctx, env, "llmgate keys update", http.MethodPatch, "/admin/keys/"+url.PathEscape(id), p, &k); code >= 0 {
		return code
	}
	if af.asJSON {
		printJSON(env.Stdout, k)
		return exitOK
	}
	printKey(env.Stdout, &k)
	return exitOK
}

// anySetting reports whether given holds a flag other than the admin
// flags (--config, --url, --json).
func anySetting(given map[string]bool) bool {
	for n := range given {
		switch n {
		case "config", "c", "url", "json":
		default:
			return true
		}
	}
	return false
}

// keysSimple runs revoke and delete: one id, one call.
func keysSimple(ctx context.Context, env Env, args []string, name, method, suffix, summary string) int {
	fs := newFlagSet(env, "keys "+name, summary)
	var af adminFlags
	af.register(fs)
	id, code := oneArg(env, fs, args, "key id")
	if code >= 0 {
		return code
	}
	var k governance.KeyInfo
	var out any
	if method != http.MethodDelete {
		out = &k
	}
	if code := af.call(ctx, env, "llmgate keys "+name, method, "/admin/keys/"+url.PathEscape(id)+suffix, nil, out); code >= 0 {
		return code
	}
	switch {
	case af.asJSON && out != nil:
		printJSON(env.Stdout, k)
	case method == http.MethodDelete:
		fmt.Fprintf(env.Stdout, "Deleted key %s.\n", id)
	default:
		fmt.Fprintf(env.Stdout, "Revoked key %s %q at %s: it is refused from now on (on other replicas within governance.key_cache_ttl).\n",
			k.ID, k.Name, when(k.RevokedAt))
	}
	return exitOK
}

func runTopUp(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "topup", "Add to a key's prepaid balance (making the key prepaid if it was not):\n  llmgate topup KEY_ID --amount 25 --note 'invoice 42'")
	var af adminFlags
	af.register(fs)
	amount := fs.Float64("amount", 0, "USD to add (required)")
	note := fs.String("note", "", "a note kept with the top-up")
	id, code := oneArg(env, fs, args, "key id")
	if code >= 0 {
		return code
	}
	if *amount <= 0 {
		fmt.Fprintln(env.Stderr, "llmgate topup: give the amount in USD with --amount, e.g. --amount 25")
		return exitUsage
	}
	var k governance.KeyInfo
	if code := af.call(ctx, env, "llmgate topup", http.MethodPost, "/admin/keys/"+url.PathEscape(id)+"/topup",
		admin.TopUpRequest{AmountUSD: *amount, Note: *note}, &k); code >= 0 {
		return code
	}
	if af.asJSON {
		printJSON(env.Stdout, k)
		return exitOK
	}
	if b := k.Balance; b != nil {
		fmt.Fprintf(env.Stdout, "Added %s to key %s %q: balance %s (%s topped up in all, %s spent).\n",
			money(*amount), k.ID, k.Name, money(b.RemainingUSD), money(b.ToppedUpUSD), money(b.SpentUSD))
	}
	return exitOK
}

func runTeams(ctx context.Context, env Env, args []string) int {
	sub := ""
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "create":
		return teamsWrite(ctx, env, args, true)
	case "update":
		return teamsWrite(ctx, env, args, false)
	case "list", "ls":
		return teamsList(ctx, env, args)
	case "show", "get":
		return teamsShow(ctx, env, args)
	}
	w := env.Stderr
	code := exitUsage
	if sub == "help" || sub == "-h" || sub == "--help" {
		w, code = env.Stdout, exitOK
	} else if sub != "" {
		fmt.Fprintf(w, "llmgate teams: unknown subcommand %q\n\n", sub)
	}
	fmt.Fprint(w, `Usage: llmgate teams <create|list|show|update> [flags]

Teams hold a budget and rate limits that all their keys share.

  llmgate teams create platform --budget 500 --period monthly --soft-budget 0.8 --rpm 600
  llmgate teams list
  llmgate teams show platform
  llmgate teams update platform --budget 800
`)
	return code
}

func teamsWrite(ctx context.Context, env Env, args []string, create bool) int {
	name := "teams update"
	summary := "Change some of a team's settings; flags not given stay as they are."
	if create {
		name, summary = "teams create", "Create a team: llmgate teams create NAME [flags]."
	}
	fs := newFlagSet(env, name, summary)
	var (
		af adminFlags
		lf limitFlags
	)
	af.register(fs)
	lf.registerLimits(fs, false)
	team, code := oneArg(env, fs, args, "team name")
	if code >= 0 {
		return code
	}
	meta, err := parseMeta(lf.meta)
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate %s: %v\n", name, err)
		return exitUsage
	}
	c, err := af.client(env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate %s: %v\n", name, err)
		return exitInvalid
	}
	var t governance.TeamInfo
	if create {
		err = c.do(ctx, http.MethodPost, "/admin/teams", governance.TeamSpec{Name: team, BudgetUSD: lf.budget, BudgetPeriod: lf.period,
			SoftBudget: lf.soft, RPM: lf.rpm, TPM: lf.tpm, Metadata: meta}, &t)
	} else {
		given := setFlags(fs)
		var p governance.TeamPatch
		if given["budget"] {
			p.BudgetUSD = &lf.budget
		}
		if given["period"] {
			p.BudgetPeriod = &lf.period
		}
		if given["soft-budget"] {
			p.SoftBudget = &lf.soft
		}
		if given["rpm"] {
			p.RPM = &lf.rpm
		}
		if given["tpm"] {
			p.TPM = &lf.tpm
		}
		if given["meta"] {
			p.Metadata = &meta
		}
		err = c.do(ctx, http.MethodPatch, "/admin/teams/"+url.PathEscape(team), p, &t)
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate %s: %v\n", name, err)
		return exitInvalid
	}
	if af.asJSON {
		printJSON(env.Stdout, t)
		return exitOK
	}
	printTeam(env.Stdout, &t)
	return exitOK
}

func printTeam(w io.Writer, t *governance.TeamInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "team:\t%s\n", t.Name)
	fmt.Fprintf(tw, "keys:\t%d\n", t.Keys)
	fmt.Fprintf(tw, "limits:\trpm %s, tpm %s (shared by its keys)\n", limit(t.RPM), limit(t.TPM))
	if b := t.Budget; b != nil {
		resets := "never resets"
		if b.ResetsAt != nil {
			resets = "resets " + b.ResetsAt.UTC().Format(time.RFC3339)
		}
		soft := ""
		if t.SoftBudget > 0 {
			soft = fmt.Sprintf(", warns at %g%%", t.SoftBudget*100)
		}
		fmt.Fprintf(tw, "budget:\t%s %s: %s spent, %s in flight, %s left (%s%s)\n", money(b.LimitUSD), b.Period,
			money(b.SpentUSD), money(b.ReservedUSD), money(b.RemainingUSD), resets, soft)
	} else {
		fmt.Fprintf(tw, "budget:\tnone\n")
	}
	_ = tw.Flush()
}

func teamsList(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "teams list", "List teams with their limits and spend this period.")
	var af adminFlags
	af.register(fs)
	if code := parse(fs, args); code >= 0 {
		return code
	}
	var list admin.TeamList
	if code := af.call(ctx, env, "llmgate teams list", http.MethodGet, "/admin/teams", nil, &list); code >= 0 {
		return code
	}
	if af.asJSON {
		printJSON(env.Stdout, list)
		return exitOK
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TEAM\tKEYS\tRPM\tTPM\tBUDGET\tSPENT\tLEFT")
	for _, t := range list.Teams {
		budget, spent, left := "-", "-", "-"
		if b := t.Budget; b != nil {
			budget, spent, left = fmt.Sprintf("%s/%s", money(b.LimitUSD), b.Period), money(b.SpentUSD), money(b.RemainingUSD)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Keys, limit(t.RPM), limit(t.TPM), budget, spent, left)
	}
	_ = tw.Flush()
	if len(list.Teams) == 0 {
		fmt.Fprintln(env.Stdout, "(no teams; create one with llmgate teams create NAME)")
	}
	return exitOK
}

func teamsShow(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "teams show", "Show a team: its limits and spend this period.")
	var af adminFlags
	af.register(fs)
	name, code := oneArg(env, fs, args, "team name")
	if code >= 0 {
		return code
	}
	var t governance.TeamInfo
	if code := af.call(ctx, env, "llmgate teams show", http.MethodGet, "/admin/teams/"+url.PathEscape(name), nil, &t); code >= 0 {
		return code
	}
	if af.asJSON {
		printJSON(env.Stdout, t)
		return exitOK
	}
	printTeam(env.Stdout, &t)
	return exitOK
}
