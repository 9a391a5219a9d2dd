package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/llmgate/llmgate/internal/admin"
	"github.com/llmgate/llmgate/internal/store"
)

func runUsage(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "usage", `Report spend and tokens by key, team, model, provider or day, from the usage ledger (one row per
request). It asks the running gateway's admin API; when no gateway answers, it reads the store directly.

  llmgate usage --by team --since 7d
  llmgate usage --by day --key key_... --since 2025-03-01`)
	var af adminFlags
	af.register(fs)
	by := fs.String("by", "key", "group by key, team, model, provider or day")
	since := fs.String("since", "30d", "from: a day (2025-03-01), an RFC 3339 time or a duration back from now (24h, 7d); \"\" for all time")
	until := fs.String("until", "", "until (exclusive), in the same forms; default now")
	key := fs.String("key", "", "only this key id")
	team := fs.String("team", "", "only this team")
	dataDir := fs.String("data-dir", "", "directory of the embedded SQLite store, when reading it directly")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	now := time.Now()
	q := store.UsageQuery{GroupBy: store.GroupBy(*by), KeyID: *key, Team: *team}
	var err error
	if q.Since, err = admin.ParseTime(*since, now); err == nil {
		q.Until, err = admin.ParseTime(*until, now)
	}
	if err == nil {
		err = q.Validate()
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate usage: %v\n", err)
		return exitUsage
	}
	c, err := af.client(env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate usage: %v\n", err)
		return exitInvalid
	}
	v := url.Values{"group_by": {*by}}
	for k, s := range map[string]string{"key": *key, "team": *team} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339Nano))
	}
	var rep admin.UsageReport
	err = c.do(ctx, http.MethodGet, "/admin/usage?"+v.Encode(), nil, &rep)
	var ae *apiError
	if errors.Is(err, errUnreachable) || errors.As(err, &ae) && ae.status == http.StatusForbidden {
		// No gateway (or one without an admin API): read the store itself.
		fmt.Fprintf(env.Stderr, "llmgate usage: %v; reading the store directly\n", err)
		rep, err = usageFromStore(ctx, env, af.config, *dataDir, q)
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate usage: %v\n", err)
		return exitInvalid
	}
	if af.asJSON {
		printJSON(env.Stdout, rep)
		return exitOK
	}
	printUsage(env.Stdout, &rep)
	return exitOK
}

// keyNamer is a store that can list keys, to name them in reports.
type keyNamer interface {
	Keys(ctx context.Context, f store.KeyFilter) ([]store.Key, error)
}

func usageFromStore(ctx context.Context, env Env, cfgFlag, dataDir string, q store.UsageQuery) (admin.UsageReport, error) {
	cfg, err := loadConfig(configPath(cfgFlag, env.Getenv), env.Getenv)
	if err != nil {
		return admin.UsageReport{}, err
	}
	if dataDir != "" {
		cfg.Storage.DataDir = dataDir
	}
	st, _, err := openStore(ctx, cfg)
	if err != nil {
		return admin.UsageReport{}, err
	}
	defer st.Close()
	ur, ok := st.(store.UsageReporter)
	if !ok {
		return admin.UsageReport{}, fmt.Errorf("the %s store cannot report usage", cfg.Storage.Driver)
	}
	names := map[string]string{}
	if kn, ok := st.(keyNamer); ok && q.GroupBy == store.GroupKey {
		if ks, err := kn.Keys(ctx, store.KeyFilter{IncludeRevoked: true}); err == nil {
			for _, k := range ks {
				names[k.ID] = k.Name
			}
		}
	}
	return admin.Report(ctx, ur, q, names)
}

func printUsage(w io.Writer, rep *admin.UsageReport) {
	span := "all time"
	switch {
	case rep.Since != nil && rep.Until != nil:
		span = rep.Since.Local().Format(time.DateTime) + " to " + rep.Until.Local().Format(time.DateTime)
	case rep.Since != nil:
		span = "since " + rep.Since.Local().Format(time.DateTime)
	case rep.Until != nil:
		span = "until " + rep.Until.Local().Format(time.DateTime)
	}
	fmt.Fprintf(w, "Usage by %s, %s\n\n", rep.GroupBy, span)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tNAME\tREQUESTS\tERRORS\tINPUT\tOUTPUT\tCACHED\tCOST")
	row := func(r admin.UsageRow) {
		group := r.Group
		if group == "" {
			group = "(none)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", group, r.Name, r.Requests, r.Errors, r.InputTokens,
			r.OutputTokens, r.CachedTokens, fmt.Sprintf("$%.6f", r.CostUSD))
	}
	for _, r := range rep.Rows {
		row(r)
	}
	if len(rep.Rows) > 1 {
		row(rep.Total)
	}
	_ = tw.Flush()
	if len(rep.Rows) == 0 {
		fmt.Fprintln(w, "(no requests in this range)")
	}
}
