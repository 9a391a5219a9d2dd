package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// child is one server process the benchmark started: a mock, the bare
// proxy or the gateway. Its stdout and stderr go to a log file in the run's
// temporary directory. stop ends it; the benchmark stops every child it
// started, on success, on error and on Ctrl-C.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	addr    string        // host:port it listens on, once known
	done    chan struct{} // closed when the process has exited
	err     error         // its exit status, once done is closed
}

// startChild starts argv[0] with the rest of argv as arguments.
func startChild(name, dir string, argv []string) (*child, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating the log of %s: %w", name, err)
	}
	defer f.Close() // the child keeps its own copy of the descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = dir
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { // owned by c: stop waits for it
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

var listeningRE = regexp.MustCompile(`listening on http://(\S+)`)

// waitListening waits for the "listening on http://ADDR" line that llmgate
// serve, llmgate mock and the proxy print, and returns ADDR.
func (c *child) waitListening(ctx context.Context, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(c.logPath); err == nil {
			if m := listeningRE.FindSubmatch(b); m != nil {
				c.addr = string(m[1])
				return c.addr, nil
			}
		}
		select {
		case <-c.done:
			return "", fmt.Errorf("%s exited before listening (%v):\n%s", c.name, c.err, c.logTail())
		case <-ctx.Done():
			return "", fmt.Errorf("%s did not start listening within %s:\n%s", c.name, timeout, c.logTail())
		case <-tick.C:
		}
	}
}

// waitReady polls url until it answers 200.
func (c *child) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-c.done:
			t.Stop()
			return fmt.Errorf("%s exited while starting (%v):\n%s", c.name, c.err, c.logTail())
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: GET %s did not answer 200 within %s:\n%s", c.name, url, timeout, c.logTail())
		case <-t.C:
		}
	}
}

// stop asks the process to end (SIGTERM), and kills it if it has not after
// grace. It returns once the process has exited.
func (c *child) stop(grace time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// alive reports an error if the process has exited.
func (c *child) alive() error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited during the run (%v):\n%s", c.name, c.err, c.logTail())
	default:
		return nil
	}
}

// logTail is the end of the child's log, for error messages.
func (c *child) logTail() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return "(no log)"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return "  " + strings.ReplaceAll(strings.TrimRight(string(b), "\n"), "\n", "\n  ")
}

// children is the set of processes started, stopped together.
type children []*child

func (cs children) stopAll(grace time.Duration) {
	// The gateway and proxy first, so they do not log the mocks going away.
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].stop(grace)
	}
}

// moduleRoot finds the directory of llmgate's go.mod, so the benchmark can
// be run from anywhere inside the repository.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside llmgate's module: run the benchmark from the repository")
	}
	return filepath.Dir(mod), nil
}

// buildLlmgate builds ./cmd/llmgate into dir and returns the binary's path.
func buildLlmgate(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "llmgate")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/llmgate")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/llmgate: %w\n%s", err, out)
	}
	return bin, nil
}
