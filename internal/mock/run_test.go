package mock_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/mock"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestServe checks that Serve answers, logs the SDK base URLs, and on
// cancellation shuts down promptly even with a request hanging.
func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	m := mock.New(mock.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mock.Serve(ctx, ln, m, logger) }()

	root := "http://" + ln.Addr().String()
	resp, err := http.Get(root + "/v1beta/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{"openai_base_url=" + root + "/v1", "anthropic_base_url=" + root, "gemini_base_url=" + root} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}

	hung := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, root+"/v1/chat/completions", strings.NewReader(`{"messages":[]}`))
		req.Header.Set(mock.FaultHeader, "hang")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		hung <- err
	}()
	eventually(t, "the hanging request", func() bool { return m.Active() == 1 })

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancellation")
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("shutdown took %v with a hung request", time.Since(start))
	}
	if err := <-hung; err == nil {
		t.Error("the hung request got a response")
	}
}

func TestRunBadAddress(t *testing.T) {
	if err := mock.Run(context.Background(), "127.0.0.1:notaport", mock.Options{}, nil); err == nil {
		t.Fatal("Run accepted a bad address")
	}
}
