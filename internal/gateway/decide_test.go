package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/provider"
)

func TestDecide(t *testing.T) {
	up := func(k provider.Kind, status int) *provider.Error {
		return &provider.Error{Kind: k, UpstreamStatus: status, Message: "x"}
	}
	rl := up(provider.KindRateLimited, 429)
	rl3 := &provider.Error{Kind: provider.KindRateLimited, UpstreamStatus: 429, RetryAfter: 3 * time.Second}
	local := &provider.Error{Kind: provider.KindUnavailable, Cause: errLocal}
	lost := &provider.Error{Kind: provider.KindConnect, Cause: errConnLost}
	unservable := &provider.Error{Kind: provider.KindBadRequest, Cause: errUnservable}
	paced := &provider.Error{Kind: provider.KindRateLimited, Cause: errors.Join(errPaced, errors.New("wait"))}
	missingKey := &provider.Error{Kind: provider.KindAuth, Message: "OPENAI_API_KEY is not set"}
	localCtx := &provider.Error{Kind: provider.KindContextLength}
	fresh, committed, ended, onCtx := attemptState{}, attemptState{committed: true}, attemptState{ended: true}, attemptState{usedContext: true}

	tests := []struct {
		name string
		err  *provider.Error
		s    attemptState
		want verdict
	}{
		{"success", nil, fresh, verdict{act: actStop, outcome: OutcomeSuccess, counted: true}},
		{"503 overloaded moves on and counts a failure", up(provider.KindOverloaded, 503), fresh, verdict{act: actNext, outcome: OutcomeFailure, unhealthy: true, counted: true}},
		{"500", up(provider.KindServer, 500), fresh, verdict{act: actNext, outcome: OutcomeFailure, unhealthy: true, counted: true}},
		{"timeout", &provider.Error{Kind: provider.KindTimeout}, fresh, verdict{act: actNext, outcome: OutcomeFailure, unhealthy: true, counted: true}},
		{"connection refused", &provider.Error{Kind: provider.KindConnect}, fresh, verdict{act: actNext, outcome: OutcomeFailure, unhealthy: true, counted: true}},
		{"garbage", &provider.Error{Kind: provider.KindBadGateway}, fresh, verdict{act: actNext, outcome: OutcomeFailure, unhealthy: true, counted: true}},
		{"429 without Retry-After cools 1s, not a failure", rl, fresh, verdict{act: actNext, outcome: OutcomeIgnore, unhealthy: true, cooldown: time.Second, counted: true}},
		{"429 cools for the time asked", rl3, fresh, verdict{act: actNext, outcome: OutcomeIgnore, unhealthy: true, cooldown: 3 * time.Second, counted: true}},
		{"quota exhausted: another route", up(provider.KindQuota, 429), fresh, verdict{act: actDrop, outcome: OutcomeIgnore, unhealthy: true, counted: true}},
		{"upstream 404 model: another route", up(provider.KindNotFound, 404), fresh, verdict{act: actDrop, outcome: OutcomeIgnore, unhealthy: true, counted: true}},
		{"missing gateway key: another route, health untouched", missingKey, fresh, verdict{act: actDrop, outcome: OutcomeIgnore, counted: true}},
		{"client's 400 stops", up(provider.KindBadRequest, 400), fresh, verdict{act: actStop, outcome: OutcomeIgnore, counted: true}},
		{"context length: context fallback", up(provider.KindContextLength, 400), fresh, verdict{act: actContext, outcome: OutcomeIgnore, counted: true}},
		{"context length found locally", localCtx, fresh, verdict{act: actContext, outcome: OutcomeIgnore, counted: true}},
		{"context length on the fallback chain stops", up(provider.KindContextLength, 400), onCtx, verdict{act: actStop, outcome: OutcomeIgnore, counted: true}},
		{"client left", &provider.Error{Kind: provider.KindCanceled}, fresh, verdict{act: actStop, outcome: OutcomeIgnore, counted: true}},
		{"deadline passed", &provider.Error{Kind: provider.KindTimeout}, ended, verdict{act: actStop, outcome: OutcomeIgnore, counted: true}},
		{"gateway out of file descriptors: not the upstream's fault", local, fresh, verdict{act: actNext, outcome: OutcomeIgnore, counted: true}},
		{"connection lost before any response: retried, in health, not counted by the breaker", lost, fresh, verdict{act: actNext, outcome: OutcomeIgnore, unhealthy: true, counted: true}},
		{"route cannot express the request: not an attempt", unservable, fresh, verdict{act: actDrop, outcome: OutcomeIgnore}},
		{"held back by pacing: not an attempt", paced, fresh, verdict{act: actNext, outcome: OutcomeIgnore, paced: true}},
		{"stream cut after commit counts a failure and stops", up(provider.KindBadGateway, 0), committed, verdict{act: actStop, outcome: OutcomeFailure, unhealthy: true, counted: true}},
		{"429 in a committed stream stops without cooling", rl, committed, verdict{act: actStop, outcome: OutcomeIgnore, unhealthy: true, counted: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.err, tt.s); got != tt.want {
				t.Errorf("decide = %+v (%s), want %+v (%s)", got, got.act, tt.want, tt.want.act)
			}
		})
	}
}

// TestLocalExhaustionIsNotTheUpstreams: the gateway's own "too many open
// files" while dialing must not eject a healthy deployment.
func TestLocalExhaustionIsNotTheUpstreams(t *testing.T) {
	ctx := context.Background()
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.EADDRNOTAVAIL} {
		err := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", errno)}
		perr := transportError(ctx, ctx, err)
		if v := decide(perr, attemptState{}); v.outcome != OutcomeIgnore || v.act != actNext || v.unhealthy {
			t.Errorf("%v: %+v, want the next route and nothing counted against the upstream", errno, v)
		}
		if perr.Kind != provider.KindUnavailable || !strings.Contains(perr.Message, "open-file limit") {
			t.Errorf("%v: %v, want a 503 that says to raise the open-file limit", errno, perr)
		}
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	if v := decide(transportError(ctx, ctx, refused), attemptState{}); v.outcome != OutcomeFailure {
		t.Errorf("a refused connection: %+v, want a failure of the upstream", v)
	}
}

// TestConnectionLostIsRetriedNotCounted: a connection reset or closed
// before any response is retried and shows in health, but one lost
// connection (over HTTP/2, hundreds of requests) must not eject the
// deployment; a refused or reset dial still counts.
func TestConnectionLostIsRetriedNotCounted(t *testing.T) {
	ctx := context.Background()
	for _, err := range []error{
		&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)},
		&net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)},
		fmt.Errorf("Post \"http://x/v1\": %w", io.EOF),
		io.ErrUnexpectedEOF,
	} {
		perr := transportError(ctx, ctx, err)
		v := decide(perr, attemptState{})
		if perr.Kind != provider.KindConnect || v.act != actNext || v.outcome != OutcomeIgnore || !v.unhealthy {
			t.Errorf("%v: %s %+v, want a retried connect error, in health, ignored by the breaker", err, perr.Kind, v)
		}
		if v := decide(perr, attemptState{committed: true}); v.act != actStop {
			t.Errorf("%v on a committed stream: %+v, want stop", err, v)
		}
	}
	dialReset := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNRESET)}
	if v := decide(transportError(ctx, ctx, dialReset), attemptState{}); v.outcome != OutcomeFailure {
		t.Errorf("a dial reset: %+v, want a failure of the upstream", v)
	}
}
