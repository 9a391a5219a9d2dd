// Command chaos runs llmgate's failure scenarios against in-process mock
// providers and prints what clients saw:
//
//	go run ./bench/chaos [-scenario all|random5xx|failover|blip|ratelimit|mixed|overload|budget] [-requests 1000] [-concurrency 16]
//
// Every scenario runs on the default configuration (no resilience tuning)
// and again straight against the faulty provider with a client that
// retries as the official SDKs do, and prints both.
//
// Everything runs on 127.0.0.1 and stops by itself. It exits 1 when a
// scenario misses one of its targets (see internal/chaos).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/llmgate/llmgate/internal/chaos"
)

func main() {
	os.Exit(run())
}

func run() int {
	scenario := flag.String("scenario", "all", "all, or one of: "+strings.Join(chaos.Scenarios(), ", "))
	var o chaos.Options
	flag.IntVar(&o.Requests, "requests", 1000, "client requests per scenario")
	flag.IntVar(&o.Concurrency, "concurrency", 16, "clients sending at once")
	flag.DurationVar(&o.MaxDuration, "max-duration", 2*time.Minute, "bound on each scenario's load phase")
	flag.Uint64Var(&o.Seed, "seed", 1, "seed of the random faults")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}

	names := []string{*scenario}
	if *scenario == "all" {
		names = chaos.Scenarios()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Printf("llmgate chaos: %d requests per scenario, %d at a time, seed %d; %d CPUs, load average %s\n\n",
		o.Requests, o.Concurrency, o.Seed, runtime.NumCPU(), loadAverage())
	var results []*chaos.Result
	for _, n := range names {
		r, err := chaos.Run(ctx, n, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		results = append(results, r)
	}
	if err := chaos.WriteTable(os.Stdout, results); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for _, r := range results {
		if len(r.Misses()) > 0 {
			return 1
		}
	}
	return 0
}

// loadAverage is the 1-minute load average (Linux), or "unknown": latency
// figures from a busy machine say more about the machine than the gateway.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}
