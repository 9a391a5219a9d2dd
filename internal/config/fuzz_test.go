package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/config"
)

// FuzzLoad feeds arbitrary text to Parse. It must never panic, must return
// exactly one of a config and an error, and a config it accepts must print
// (String) as YAML that loads back to the same printed config.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(issueConfig))
	f.Add([]byte("providers: {a: &a {type: openai, <<: *a}}\nmodels: {m: {route: [a/x, a/x]}}\n"))
	f.Add([]byte("providers: {p: {type: openai, headers: {X: \"${A:-${B:-c}}$$${\"}}}\n"))
	f.Add([]byte("a: &a [*a]\n<<: {x: 1}\n"))
	f.Add([]byte("providers:\n  x: {type: openai, api_key: $${K}, rpm: 0x10, stream_usage: on}\n---\n"))
	f.Add([]byte(""))
	examples, _ := filepath.Glob("../../examples/*.yaml")
	for _, name := range examples {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	getenv := env{"K": "v", "A": "", "B": "b: [x]"}.get
	f.Fuzz(func(t *testing.T, data []byte) {
		// A hang would stall fuzzing silently; crash with the input instead.
		watchdog := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("Parse hangs on %q", data)) })
		defer watchdog.Stop()
		c, err := config.Parse("fuzz.yaml", data, getenv)
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v; want exactly one", c != nil, err)
		}
		if err != nil {
			_ = err.Error()
			return
		}
		printed := c.String()
		c2, err := config.Parse("printed.yaml", []byte(printed), getenv)
		if err != nil {
			t.Fatalf("printed config does not load: %v\n%s", err, printed)
		}
		if again := c2.String(); again != printed {
			t.Fatalf("printed config changed on reload:\n%s\nwant:\n%s", again, printed)
		}
	})
}
