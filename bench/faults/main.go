// Command faults runs llmgate's crash and replica fault tests from one
// command and prints the figures they measure:
//
//	go run ./bench/faults
//
// The checks are the e2e tests themselves (this program runs them with
// `go test -v` and keeps their figure lines), so the benchmark and the
// test suite cannot drift apart:
//
//   - TestSIGKILLKeepsCountersEqualToTheLedger: one gateway on SQLite,
//     SIGKILLed under load; rows lost vs the flush window, counters vs
//     ledger after the restart.
//   - TestSIGKILLReleasesHoldsOfTheDeadReplica: two replicas on PostgreSQL
//     and Redis; how soon the survivor admits the dead one's keys again.
//   - TestThreeReplicasKill9: three replicas on PostgreSQL and Redis, one
//     SIGKILLed under load; overshoot, hold release time, rows lost vs the
//     window, ejection reach, Idempotency-Key across replicas.
//   - TestEjectionReachesTheOtherReplica: ejection shared through Redis.
//   - TestHostileTraffic: one gateway process under hostile traffic; model
//     names built to escape the upstream path (0 may), 150 clients
//     trickling their bodies (each cut by body_read_timeout), upstream 200s
//     that are not their format's answer, streamed or not (0 passed on as
//     a 200).
//
// It needs PostgreSQL (LLMGATE_TEST_POSTGRES_DSN, default
// postgres://postgres@127.0.0.1:5432/test) and Redis
// (LLMGATE_TEST_REDIS_ADDR, default 127.0.0.1:6379), and fails, never
// skips, when one is missing. The exit status is go test's.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

var tests = []string{
	"TestSIGKILLKeepsCountersEqualToTheLedger",
	"TestSIGKILLReleasesHoldsOfTheDeadReplica",
	"TestThreeReplicasKill9",
	"TestEjectionReachesTheOtherReplica",
	"TestHostileTraffic",
}

// figure is a t.Logf or t.Errorf line of a test: "    file_test.go:123: text".
var figure = regexp.MustCompile(`^\s+\w+_test\.go:\d+: `)

func main() {
	count := flag.Int("count", 1, "runs of each test")
	race := flag.Bool("race", false, "run with the race detector")
	flag.Parse()
	args := []string{"test", "-count", fmt.Sprint(*count), "-v",
		"-run", "^(" + strings.Join(tests, "|") + ")$"}
	if *race {
		args = append(args, "-race")
	}
	args = append(args, "./internal/e2e", "./internal/fleet")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), args...)
	cmd.Env = append(os.Environ(), "LLMGATE_REQUIRE_POSTGRES=1", "LLMGATE_REQUIRE_REDIS=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "=== RUN"):
			fmt.Println(strings.TrimPrefix(line, "=== RUN   "))
		case figure.MatchString(line):
			fmt.Println("   ", figure.ReplaceAllString(line, ""))
		case strings.HasPrefix(line, "--- "), strings.HasPrefix(line, "ok "),
			strings.HasPrefix(line, "FAIL"), strings.HasPrefix(line, "panic"):
			fmt.Println(line)
		}
	}
	if err := cmd.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
}
