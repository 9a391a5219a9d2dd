package e2e

import (
	"flag"
	"testing"
)

var runKnownBugs = flag.Bool("known-bugs", false, "run the subtests of known, unfixed bugs instead of skipping them")

// knownBugs are failures these tests found in other packages, by subtest
// name, each with its proposed fix. skipKnownBug skips them (go test
// -known-bugs runs them); delete an entry together with its fix.
var knownBugs = map[string]string{}

// skipKnownBug skips t if it is a known bug.
func skipKnownBug(t *testing.T) {
	t.Helper()
	if b, ok := knownBugs[t.Name()]; ok && !*runKnownBugs {
		t.Skip("BUG: " + b)
	}
}
