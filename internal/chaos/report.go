package chaos

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Targets each scenario is held to (see Result.Misses).
const (
	// FailoverLatencyBudget is how much slower than a healthy gateway the
	// requests served after the primary's breaker opened may be, at p99.
	FailoverLatencyBudget = 5 * time.Millisecond
	// Random5xxSuccess and Random5xxAttempts are the random5xx targets.
	Random5xxSuccess  = 0.99
	Random5xxAttempts = 1.6
)

// Misses lists the targets r falls short of; none means every target held.
// Every scenario must leave nothing hanging: no client timeouts, nothing in
// flight in the gateway or the mocks, no more goroutines than before.
// Failover must succeed every time and, after the breaker opened, stay
// within FailoverLatencyBudget of the healthy p99; random5xx must reach
// Random5xxSuccess with at most Random5xxAttempts upstream calls per
// request.
func (r *Result) Misses() []string {
	var out []string
	miss := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if r.ClientTimeouts > 0 {
		miss("%d requests hit the client's deadline", r.ClientTimeouts)
	}
	if r.InFlight > 0 || r.UpstreamActive > 0 {
		miss("still in flight at the end: %d in the gateway, %d upstream", r.InFlight, r.UpstreamActive)
	}
	if r.GoroutinesAfter > r.GoroutinesBefore {
		miss("goroutines grew from %d to %d", r.GoroutinesBefore, r.GoroutinesAfter)
	}
	switch r.Scenario {
	case Failover:
		if r.OK != r.Requests {
			miss("success %.2f%%, want 100%%", 100*r.SuccessRate())
		}
		if r.Baseline != nil && r.AfterOpen > 0 && r.P99AfterOpen > r.PairedBaselineP99+FailoverLatencyBudget {
			miss("p99 after the breaker opened %v, more than %v above the healthy p99 %v",
				round(r.P99AfterOpen), FailoverLatencyBudget, round(r.PairedBaselineP99))
		}
		if r.AfterOpen == 0 {
			miss("no request was served with the primary's breaker open")
		}
	case Random5xx:
		if r.SuccessRate() < Random5xxSuccess {
			miss("success %.2f%%, want >= %.0f%%", 100*r.SuccessRate(), 100*Random5xxSuccess)
		}
		if r.AttemptsPerRequest() > Random5xxAttempts {
			miss("%.2f upstream attempts per request, want <= %.1f", r.AttemptsPerRequest(), Random5xxAttempts)
		}
	}
	return out
}

// WriteTable prints results as a table, then a few lines per scenario:
// statuses, what it did, failover's latency comparison and missed targets.
func WriteTable(w io.Writer, rs []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\tok\tsuccess\tpartial\tfailed\tp50\tp99\tattempts/req\tin flight (gw/up)\tclient timeouts\tgoroutines\telapsed\t")
	row := func(r *Result) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f%%\t%d\t%d\t%v\t%v\t%.2f\t%d/%d\t%d\t%d→%d\t%v\t\n",
			r.Scenario, r.Requests, r.OK, 100*r.SuccessRate(), r.Partial, r.Failed, round(r.P50), round(r.P99),
			r.AttemptsPerRequest(), r.InFlight, r.UpstreamActive, r.ClientTimeouts,
			r.GoroutinesBefore, r.GoroutinesAfter, r.Elapsed.Round(time.Millisecond))
	}
	for _, r := range rs {
		if r.Baseline != nil {
			row(r.Baseline)
		}
		row(r)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs {
		fmt.Fprintln(w)
		for _, x := range []*Result{r.Baseline, r} {
			if x != nil {
				fmt.Fprintf(w, "%s: %s\n  statuses: %s\n", x.Scenario, x.About, x.statusList())
			}
		}
		if r.Scenario == Failover && r.Baseline != nil {
			fmt.Fprintf(w, "  p99 after the breaker opened: %v (%d requests) vs healthy p99 %v over the same request positions: %+.2fms (target <= +%v)\n",
				round(r.P99AfterOpen), r.AfterOpen, round(r.PairedBaselineP99),
				float64(r.P99AfterOpen-r.PairedBaselineP99)/float64(time.Millisecond), FailoverLatencyBudget)
		}
		if m := r.Misses(); len(m) > 0 {
			for _, s := range m {
				fmt.Fprintf(w, "  MISSED: %s\n", s)
			}
		} else {
			fmt.Fprintf(w, "  targets met\n")
		}
	}
	return nil
}

// round keeps three significant-ish digits of a latency.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
