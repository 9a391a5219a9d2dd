package mock

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Fault describes what goes wrong with one response. The zero value is a
// healthy response. A Fault is a plain value, safe to copy and to share.
//
// The failure modes (Status, ContextLength, Hang, Malformed, CutAfter,
// ErrorEventAfter) apply together with probability Rate; Latency, TokenDelay,
// FirstTokenDelay and RetryAfter are conditions, not failures, and always
// apply.
// When several failure modes are set, the first in this order wins: Hang,
// Status, ContextLength, Malformed (non-streaming), then the stream faults.
type Fault struct {
	// Status, when non-zero (400..599), replaces the reply with an error of
	// this HTTP status, its body in the endpoint's own error format.
	Status int
	// Rate is the probability (0, 1] that the failure modes apply to a
	// request. Zero means always.
	Rate float64
	// RetryAfter, when positive, adds Retry-After (whole seconds, rounded up)
	// and retry-after-ms headers to a Status error (and a Gemini RetryInfo).
	RetryAfter time.Duration
	// Latency delays the response headers. Zero means Options.Latency.
	Latency time.Duration
	// TokenDelay delays every stream event after the first. Zero means
	// Options.TokenDelay.
	TokenDelay time.Duration
	// FirstTokenDelay delays the first stream event that carries the
	// model's output (a text delta, or the start of a tool call), in place
	// of TokenDelay for that event: the opening events (OpenAI's role chunk,
	// Anthropic's message_start) go out at once, and the answer starts after
	// this long, as with a model that thinks first. Zero means
	// Options.FirstTokenDelay.
	FirstTokenDelay time.Duration
	// Hang never answers: the handler returns only when the client gives up
	// (or the mock is closed), and then without a response.
	Hang bool
	// CutAfter, when positive, aborts the connection after that many stream
	// events (after that many body bytes for a non-streaming reply), so the
	// client sees a broken stream rather than a clean end. Every SSE event
	// counts (Anthropic pings, OpenAI's [DONE]); a stream with no more than
	// CutAfter events ends normally.
	CutAfter int
	// ErrorEventAfter, when positive, ends a stream after that many events
	// with an in-stream error event in the endpoint's format (a stream with
	// fewer events ends normally). Non-streaming replies ignore it.
	ErrorEventAfter int
	// Malformed answers 200 with a body that is not valid JSON, or, in a
	// stream, inserts a garbage event after the first.
	Malformed bool
	// ContextLength answers 400 in the format's own "context window
	// exceeded" shape.
	ContextLength bool
}

// IsZero reports whether f is a healthy response.
func (f Fault) IsZero() bool { return f == Fault{} }

// failing reports whether f has a failure mode that Rate gates.
func (f Fault) failing() bool {
	return f.Status != 0 || f.Hang || f.CutAfter > 0 || f.ErrorEventAfter > 0 || f.Malformed || f.ContextLength
}

// ParseFault parses a fault spec: a comma-separated list of key[=value]
// items, as in the X-Mock-Fault header and the CLI flag. Keys:
//
//	status=503            HTTP status 400..599 of an injected error
//	rate=0.5              probability (0, 1] that the failure modes apply
//	retry_after=2s        Retry-After / retry-after-ms on the error (bare number = seconds)
//	latency=200ms         delay before the response headers
//	token_delay=20ms      delay between stream events
//	first_token_delay=1s  delay before the first stream event with content
//	hang                  never answer
//	cut_after=3           abort the connection after 3 stream events
//	error_event_after=2   in-stream error event after 2 events
//	malformed             invalid JSON body / garbage stream event
//	context_length        400 "context window exceeded" in the endpoint's format
//	none                  no fault (also the empty string)
//
// Boolean keys also accept =true / =false. Later items override earlier ones.
func ParseFault(spec string) (Fault, error) {
	var f Fault
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, hasVal := strings.Cut(item, "=")
		key = strings.TrimSpace(key)
		val = strings.TrimSpace(val)
		if err := f.setKey(key, val, hasVal); err != nil {
			return Fault{}, fmt.Errorf("mock fault %q: %w", item, err)
		}
	}
	return f, nil
}

var errNeedValue = errors.New("needs a value")

func (f *Fault) setKey(key, val string, hasVal bool) error {
	switch key {
	case "none":
		if hasVal {
			return errors.New("takes no value")
		}
		*f = Fault{}
		return nil
	case "hang", "malformed", "context_length":
		on := true
		if hasVal {
			b, err := strconv.ParseBool(val)
			if err != nil {
				return fmt.Errorf("want true or false: %w", err)
			}
			on = b
		}
		switch key {
		case "hang":
			f.Hang = on
		case "malformed":
			f.Malformed = on
		default:
			f.ContextLength = on
		}
		return nil
	}
	if !hasVal || val == "" {
		if isKey(key) {
			return errNeedValue
		}
		return errors.New("unknown key")
	}
	switch key {
	case "status":
		n, err := strconv.Atoi(val)
		if err != nil {
			return fmt.Errorf("want an integer: %w", err)
		}
		if n < 400 || n > 599 {
			return errors.New("want an HTTP error status 400..599")
		}
		f.Status = n
	case "rate":
		r, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return fmt.Errorf("want a number: %w", err)
		}
		if !(r > 0 && r <= 1) {
			return errors.New("want a probability in (0, 1]")
		}
		f.Rate = r
	case "retry_after":
		d, err := parseDuration(val, true)
		if err != nil {
			return err
		}
		f.RetryAfter = d
	case "latency", "token_delay", "first_token_delay":
		d, err := parseDuration(val, false)
		if err != nil {
			return err
		}
		switch key {
		case "latency":
			f.Latency = d
		case "token_delay":
			f.TokenDelay = d
		default:
			f.FirstTokenDelay = d
		}
	case "cut_after", "error_event_after":
		n, err := strconv.Atoi(val)
		if err != nil {
			return fmt.Errorf("want an integer: %w", err)
		}
		if n < 1 {
			return errors.New("want a count of events >= 1")
		}
		if key == "cut_after" {
			f.CutAfter = n
		} else {
			f.ErrorEventAfter = n
		}
	default:
		return errors.New("unknown key")
	}
	return nil
}

func isKey(k string) bool {
	switch k {
	case "status", "rate", "retry_after", "latency", "token_delay", "first_token_delay", "cut_after", "error_event_after":
		return true
	}
	return false
}

// maxFaultDelay bounds parsed delays so that a typo cannot park a request
// for days.
const maxFaultDelay = time.Hour

// parseDuration parses a Go duration ("250ms", "2s"); with bareSeconds a
// plain number means seconds, as in an HTTP Retry-After header.
func parseDuration(s string, bareSeconds bool) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, ferr := strconv.ParseFloat(s, 64)
		switch {
		case ferr == nil && bareSeconds && secs >= 0 && secs <= maxFaultDelay.Seconds():
			d = time.Duration(secs * float64(time.Second))
		case ferr == nil && secs == 0:
			d = 0
		default:
			return 0, fmt.Errorf("want a duration such as 250ms or 2s: %w", err)
		}
	}
	if d < 0 || d > maxFaultDelay {
		return 0, fmt.Errorf("want a duration between 0 and %v", maxFaultDelay)
	}
	return d, nil
}

// String formats f as a spec that ParseFault reads back to f; "none" for
// the zero value.
func (f Fault) String() string {
	if f.IsZero() {
		return "none"
	}
	var b []byte
	add := func(s string) {
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = append(b, s...)
	}
	if f.Status != 0 {
		add("status=" + strconv.Itoa(f.Status))
	}
	if f.Rate != 0 {
		add("rate=" + strconv.FormatFloat(f.Rate, 'g', -1, 64))
	}
	if f.RetryAfter != 0 {
		add("retry_after=" + f.RetryAfter.String())
	}
	if f.Latency != 0 {
		add("latency=" + f.Latency.String())
	}
	if f.TokenDelay != 0 {
		add("token_delay=" + f.TokenDelay.String())
	}
	if f.FirstTokenDelay != 0 {
		add("first_token_delay=" + f.FirstTokenDelay.String())
	}
	if f.Hang {
		add("hang")
	}
	if f.CutAfter != 0 {
		add("cut_after=" + strconv.Itoa(f.CutAfter))
	}
	if f.ErrorEventAfter != 0 {
		add("error_event_after=" + strconv.Itoa(f.ErrorEventAfter))
	}
	if f.Malformed {
		add("malformed")
	}
	if f.ContextLength {
		add("context_length")
	}
	return string(b)
}

// Set parses spec into f, so that a *Fault is a flag.Value.
func (f *Fault) Set(spec string) error {
	p, err := ParseFault(spec)
	if err != nil {
		return err
	}
	*f = p
	return nil
}
