package mock

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseFault(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		want       Fault
		err        string // substring of the error; "" for success
	}{
		{name: "empty", spec: ""},
		{name: "none", spec: "none"},
		{name: "status with rate and retry", spec: "status=503,rate=1,retry_after=2s",
			want: Fault{Status: 503, Rate: 1, RetryAfter: 2 * time.Second}},
		{name: "retry_after in bare seconds", spec: "status=429, retry_after=1.5",
			want: Fault{Status: 429, RetryAfter: 1500 * time.Millisecond}},
		{name: "hang", spec: "hang", want: Fault{Hang: true}},
		{name: "stream faults", spec: "cut_after=3,error_event_after=2,token_delay=20ms",
			want: Fault{CutAfter: 3, ErrorEventAfter: 2, TokenDelay: 20 * time.Millisecond}},
		{name: "latency", spec: "latency=200ms", want: Fault{Latency: 200 * time.Millisecond}},
		{name: "first token delay", spec: "first_token_delay=1s,token_delay=5ms",
			want: Fault{FirstTokenDelay: time.Second, TokenDelay: 5 * time.Millisecond}},
		{name: "first token delay needs a value", spec: "first_token_delay", err: "needs a value"},
		{name: "booleans", spec: "malformed,context_length=true,hang=false", want: Fault{Malformed: true, ContextLength: true}},
		{name: "spaces and empty items", spec: " status = 500 ,, rate=0.25 ", want: Fault{Status: 500, Rate: 0.25}},
		{name: "later wins", spec: "status=500,status=502", want: Fault{Status: 502}},
		{name: "none resets", spec: "status=500,none", want: Fault{}},
		{name: "zero latency", spec: "latency=0", want: Fault{}},
		{name: "unknown key", spec: "explode", err: "unknown key"},
		{name: "status not a number", spec: "status=abc", err: "want an integer"},
		{name: "status not an error", spec: "status=200", err: "400..599"},
		{name: "status needs a value", spec: "status", err: "needs a value"},
		{name: "rate zero", spec: "status=500,rate=0", err: "probability"},
		{name: "rate above one", spec: "rate=1.5", err: "probability"},
		{name: "rate NaN", spec: "rate=NaN", err: "probability"},
		{name: "latency without unit", spec: "latency=200", err: "duration"},
		{name: "negative delay", spec: "token_delay=-1s", err: "between"},
		{name: "huge delay", spec: "latency=1000h", err: "between"},
		{name: "cut_after zero", spec: "cut_after=0", err: ">= 1"},
		{name: "bad boolean", spec: "hang=maybe", err: "true or false"},
		{name: "none with value", spec: "none=1", err: "takes no value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFault(tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseFault(%q) error = %v, want one containing %q", tc.spec, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFault(%q): %v", tc.spec, err)
			}
			if got != tc.want {
				t.Fatalf("ParseFault(%q) = %+v, want %+v", tc.spec, got, tc.want)
			}
		})
	}
}

func TestFaultIsFlagValue(t *testing.T) {
	var f Fault
	fs := flag.NewFlagSet("mock", flag.ContinueOnError)
	fs.Var(&f, "fault", "fault spec")
	if err := fs.Parse([]string{"-fault", "status=529,rate=0.5"}); err != nil {
		t.Fatal(err)
	}
	if f != (Fault{Status: 529, Rate: 0.5}) || f.String() != "status=529,rate=0.5" {
		t.Fatalf("flag value = %+v (%s)", f, f)
	}
	if (Fault{}).String() != "none" {
		t.Error("zero Fault does not print as none")
	}
}

// FuzzParseFault checks that ParseFault never panics and that whatever it
// accepts prints back to a spec that parses to the same Fault.
func FuzzParseFault(f *testing.F) {
	for _, s := range []string{"", "none", "status=503,rate=1,retry_after=2s", "hang", "cut_after=3",
		"latency=200ms", "token_delay=20ms", "first_token_delay=300ms", "malformed", "error_event_after=2", "context_length",
		"retry_after=0.5", "rate=0.001,status=429", "hang=false,,", "status=5e2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		got, err := ParseFault(spec)
		if err != nil {
			return
		}
		again, err := ParseFault(got.String())
		if err != nil {
			t.Fatalf("ParseFault(%q).String() = %q does not parse: %v", spec, got.String(), err)
		}
		if again != got {
			t.Fatalf("round trip of %q: %+v became %+v", spec, got, again)
		}
	})
}
