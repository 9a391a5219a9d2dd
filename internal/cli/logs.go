package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/llmgate/llmgate/internal/server"
	"github.com/llmgate/llmgate/internal/store"
)

func runLogs(ctx context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "logs", `Show recent requests from the request log, newest first. It asks the running gateway (which also
holds entries not yet written to disk); when none answers, it reads the store directly.`)
	var (
		cfgPath  = fs.String("config", "", "config file (default $LLMGATE_CONFIG; none: zero-config defaults)")
		gwURL    = fs.String("url", "", "gateway URL (default http://<listen> from the config)")
		limit    = fs.Int("limit", 20, "how many requests")
		provider = fs.String("provider", "", "only requests served by this provider")
		model    = fs.String("model", "", "only requests for this model (as asked)")
		status   = fs.String("status", "", "ok or error")
		asJSON   = fs.Bool("json", false, "print JSON lines instead of a table")
		dataDir  = fs.String("data-dir", "", "directory of the embedded SQLite store")
	)
	fs.StringVar(cfgPath, "c", "", "shorthand for --config")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if *status != "" && *status != "ok" && *status != "error" {
		fmt.Fprintln(env.Stderr, "llmgate logs: --status must be ok or error")
		return exitUsage
	}
	if *limit < 1 {
		fmt.Fprintln(env.Stderr, "llmgate logs: --limit must be at least 1")
		return exitUsage
	}
	cfg, err := loadConfig(configPath(*cfgPath, env.Getenv), env.Getenv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate logs: %v\n", err)
		return exitInvalid
	}
	if *dataDir != "" {
		cfg.Storage.DataDir = *dataDir
	}
	f := store.Filter{Limit: *limit, Provider: *provider, Model: *model, Status: *status}
	base := *gwURL
	if base == "" {
		base = "http://" + cfg.Listen
	}
	recs, err := logsFromGateway(ctx, base, cfg.MasterKey, f)
	if err != nil {
		st, _, serr := openStore(ctx, cfg)
		if serr != nil {
			fmt.Fprintf(env.Stderr, "llmgate logs: no gateway answered at %s (%v), and the store could not be read: %v\n", base, err, serr)
			return exitInvalid
		}
		defer st.Close()
		if recs, err = st.Records(ctx, f); err != nil {
			fmt.Fprintf(env.Stderr, "llmgate logs: reading the store: %v\n", err)
			return exitInvalid
		}
	}
	printRecords(env.Stdout, recs, *asJSON)
	return exitOK
}

func logsFromGateway(ctx context.Context, base, key string, f store.Filter) ([]store.Record, error) {
	q := url.Values{"limit": {strconv.Itoa(f.Limit)}}
	for k, v := range map[string]string{"provider": f.Provider, "model": f.Model, "status": f.Status} {
		if v != "" {
			q.Set(k, v)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/logs?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{Timeout: time.Second}).DialContext}}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET /logs: HTTP %d: %s", resp.StatusCode, b)
	}
	var body struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("GET /logs: %w", err)
	}
	out := make([]store.Record, 0, len(body.Data))
	for _, raw := range body.Data {
		var r struct {
			ID           string    `json:"id"`
			Time         time.Time `json:"time"`
			ClientFormat string    `json:"client_format"`
			Op           string    `json:"op"`
			ModelAsked   string    `json:"model_asked"`
			Provider     string    `json:"provider"`
			ModelServed  string    `json:"model_served"`
			Status       int       `json:"status"`
			ErrorKind    string    `json:"error_kind"`
			Error        string    `json:"error"`
			Attempts     int       `json:"attempts"`
			Fallback     bool      `json:"fallback"`
			Stream       bool      `json:"stream"`
			LatencyMS    float64   `json:"latency_ms"`
			TTFTMS       float64   `json:"ttft_ms"`
			InputTokens  int       `json:"input_tokens"`
			OutputTokens int       `json:"output_tokens"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, err
		}
		out = append(out, store.Record{ID: r.ID, Time: r.Time, ClientFormat: r.ClientFormat, Op: r.Op,
			ModelAsked: r.ModelAsked, Provider: r.Provider, ModelServed: r.ModelServed, Status: r.Status,
			ErrorKind: r.ErrorKind, ErrorMessage: r.Error, Attempts: r.Attempts, Fallback: r.Fallback, Stream: r.Stream,
			Latency: time.Duration(r.LatencyMS * float64(time.Millisecond)), TTFT: time.Duration(r.TTFTMS * float64(time.Millisecond)),
			InputTokens: r.InputTokens, OutputTokens: r.OutputTokens})
	}
	return out, nil
}

func printRecords(w io.Writer, recs []store.Record, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range recs {
			_ = enc.Encode(server.LogRecord(r))
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tID\tFORMAT\tMODEL\tSERVED BY\tSTATUS\tATTEMPTS\tLATENCY\tTTFT\tTOKENS IN/OUT\tERROR")
	for _, r := range recs {
		served := r.Provider
		if r.ModelServed != "" {
			served += "/" + r.ModelServed
		}
		ttft := "-"
		if r.TTFT > 0 {
			ttft = r.TTFT.Round(time.Millisecond).String()
		}
		errs := r.ErrorKind
		if r.ErrorMessage != "" {
			errs += ": " + truncate(r.ErrorMessage, 60)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%d/%d\t%s\n", r.Time.Local().Format("15:04:05"), r.ID,
			r.ClientFormat, r.ModelAsked, served, r.Status, r.Attempts, r.Latency.Round(time.Millisecond), ttft,
			r.InputTokens, r.OutputTokens, errs)
	}
	_ = tw.Flush()
	if len(recs) == 0 {
		fmt.Fprintln(w, "(no requests logged yet)")
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
