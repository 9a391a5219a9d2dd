package chaos

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Targets each scenario is held to (see Result.Misses), all on the
// default configuration.
const (
	// FailoverLatencyBudget is how much slower than a healthy gateway the
	// requests served after the primary was ejected may be, at p99.
	FailoverLatencyBudget = 5 * time.Millisecond
	// Random5xxSuccess and Random5xxAttempts are the random5xx targets.
	Random5xxSuccess  = 0.99
	Random5xxAttempts = 1.5
	// RateLimitAttempts bounds attempts per request with a 429-always
	// primary and a healthy fallback.
	RateLimitAttempts = 2.0
	// BlipRecovery bounds how long after a single route recovers its first
	// request succeeds.
	BlipRecovery = 30 * time.Second
	// EjectionTime is the default first ejection, which bounds how often a
	// dead primary is probed.
	EjectionTime = 5 * time.Second
)

// Misses lists the targets r falls short of; none means every target held.
// Every scenario must leave nothing hanging (no client timeouts, nothing
// in flight, no more goroutines than before), answer every failure with
// the real error in the client's format and x-should-retry: false, never
// refuse a request without an upstream attempt, and serve at least as many
// requests as the direct client did.
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
	for w, n := range r.WrongFailures {
		miss("%d failures: %s", n, w)
	}
	if r.Refused > 0 && r.Scenario != Budget {
		miss("%d requests were refused without an upstream attempt", r.Refused)
	}
	if r.Direct != nil && r.SuccessRate() < r.Direct.SuccessRate() {
		miss("success %.2f%% is below the direct client's %.2f%%", 100*r.SuccessRate(), 100*r.Direct.SuccessRate())
	}
	switch r.Scenario {
	case Failover:
		if r.OK != r.Requests {
			miss("success %.2f%%, want 100%%", 100*r.SuccessRate())
		}
		if r.Baseline != nil && r.AfterOpen > 0 && r.P99AfterOpen > r.PairedBaselineP99+FailoverLatencyBudget {
			miss("p99 after the primary was ejected %v, more than %v above the healthy p99 %v",
				round(r.P99AfterOpen), FailoverLatencyBudget, round(r.PairedBaselineP99))
		}
		if r.AfterOpen == 0 {
			miss("no request was served with the primary ejected")
		}
		if limit := r.failoverPrimaryLimit(); r.PrimaryCalls > limit {
			miss("the dead primary got %d requests, want at most %d (5 to eject it, those in flight, one probe per ejection)", r.PrimaryCalls, limit)
		}
	case Random5xx:
		if r.SuccessRate() < Random5xxSuccess {
			miss("success %.2f%%, want >= %.0f%%", 100*r.SuccessRate(), 100*Random5xxSuccess)
		}
		if r.AttemptsPerRequest() > Random5xxAttempts {
			miss("%.2f upstream attempts per request, want <= %.1f", r.AttemptsPerRequest(), Random5xxAttempts)
		}
	case Blip:
		if r.FirstOKAfterRecovery < 0 || r.FirstOKAfterRecovery > BlipRecovery {
			miss("first success %v after the route recovered, want within %v", r.FirstOKAfterRecovery, BlipRecovery)
		}
	case RateLimit:
		if r.OK != r.Requests {
			miss("success %.2f%%, want 100%%", 100*r.SuccessRate())
		}
		if r.AttemptsPerRequest() > RateLimitAttempts {
			miss("%.2f upstream attempts per request, want <= %.0f", r.AttemptsPerRequest(), RateLimitAttempts)
		}
	case Overload:
		if r.RetryAfter == 0 {
			miss("no failure said when to retry (Retry-After) although every route was ejected")
		}
	case Budget:
		if r.SpentUSD > r.BudgetUSD*(1+1e-9) {
			miss("the key spent $%.6f of its $%.6f budget", r.SpentUSD, r.BudgetUSD)
		}
	}
	return out
}

// failoverPrimaryLimit is the most requests a dead primary may get: the
// failures that eject it, the requests in flight then, and one probe per
// ejection period after.
func (r *Result) failoverPrimaryLimit() int {
	return 5 + r.Concurrency + int(r.Elapsed/EjectionTime) + 1
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
		if r.Direct != nil {
			row(r.Direct)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs {
		fmt.Fprintln(w)
		for _, x := range []*Result{r.Baseline, r, r.Direct} {
			if x != nil {
				fmt.Fprintf(w, "%s: %s\n  statuses: %s\n", x.Scenario, x.About, x.statusList())
			}
		}
		if r.Direct != nil {
			fmt.Fprintf(w, "  through llmgate %.2f%% vs direct %.2f%% success; %.2f vs %.2f upstream attempts per request\n",
				100*r.SuccessRate(), 100*r.Direct.SuccessRate(), r.AttemptsPerRequest(), r.Direct.AttemptsPerRequest())
		}
		switch r.Scenario {
		case Failover:
			fmt.Fprintf(w, "  the dead primary got %d requests (limit %d)\n", r.PrimaryCalls, r.failoverPrimaryLimit())
		case Blip:
			fmt.Fprintf(w, "  first success %v after the route recovered (direct: %v); %d refused without an attempt\n",
				round(r.FirstOKAfterRecovery), round(r.directFirstOK()), r.Refused)
		case Overload:
			fmt.Fprintf(w, "  %d of %d failures carried Retry-After\n", r.RetryAfter, r.Failed)
		case Budget:
			fmt.Fprintf(w, "  spent $%.6f of a $%.6f budget\n", r.SpentUSD, r.BudgetUSD)
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

func (r *Result) directFirstOK() time.Duration {
	if r.Direct == nil {
		return -1
	}
	return r.Direct.FirstOKAfterRecovery
}
