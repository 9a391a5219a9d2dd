package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llmgate/llmgate/internal/mock"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/provider/anthropic"
	"github.com/llmgate/llmgate/internal/provider/gemini"
	"github.com/llmgate/llmgate/internal/provider/openai"
)

// The real coding-agent CLIs, run headless against the gateway and mock
// upstreams. .ci/run installs them (pinned) under .tools/agents; in CI
// (LLMGATE_REQUIRE_AGENTS=1) a missing CLI fails the test, elsewhere it
// skips. LLMGATE_AGENTS_CAPTURE=dir writes every body the CLIs send to dir,
// to refresh the codec fixtures.
const (
	claudeVersion = "2.1.197"
	codexVersion  = "0.169.0"

	// toolWord in a prompt makes the mock call the shell tool; the command
	// prints it.
	toolWord   = "hi-from-tool"
	agentLimit = 3 * time.Minute // one CLI run, tool round trip included
)

// agentBin returns the path of an agent CLI installed by .ci/run, after
// checking its version.
func agentBin(t *testing.T, name, version string) string {
	t.Helper()
	dir := os.Getenv("LLMGATE_AGENTS_DIR")
	if dir == "" {
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, ".tools", "agents")
	}
	bin := filepath.Join(dir, "node_modules", ".bin", name)
	missing := func(why string) {
		msg := fmt.Sprintf("%s %s: %s; bash .ci/run installs it (npm install --prefix .tools/agents)", name, version, why)
		if os.Getenv("LLMGATE_REQUIRE_AGENTS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(bin); err != nil {
		missing("not installed at " + bin)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		missing(fmt.Sprintf("%s --version failed: %v: %s", bin, err, out))
	}
	if !strings.Contains(string(out), version) {
		missing(fmt.Sprintf("%s --version says %q", bin, strings.TrimSpace(string(out))))
	}
	return bin
}

// agentRun is one finished CLI run.
type agentRun struct {
	stdout, stderr string
	err            error
}

func (r agentRun) String() string {
	return fmt.Sprintf("err: %v\n--- stdout\n%s\n--- stderr\n%s", r.err, r.stdout, r.stderr)
}

// runAgent runs bin in dir with only env (plus PATH), stdin closed, in its
// own process group, killed as a group when ctx ends.
func runAgent(t *testing.T, dir string, env []string, bin string, args ...string) agentRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), agentLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "TERM=dumb", "NO_COLOR=1"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("killed after %v: %w", agentLimit, err)
	}
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what it left running
	}
	return agentRun{stdout.String(), stderr.String(), err}
}

// shellCall makes the mock call the agent's shell tool when the last user
// message has toolWord: Claude Code's Bash, Codex's exec_command.
func shellCall(tools []string, lastUser string) (string, string) {
	if !strings.Contains(lastUser, toolWord) {
		return "", ""
	}
	switch {
	case slices.Contains(tools, "Bash"):
		return "Bash", `{"command":"echo ` + toolWord + `","description":"Print a word"}`
	case slices.Contains(tools, "exec_command"):
		return "exec_command", `{"cmd":"echo ` + toolWord + `"}`
	}
	return "", ""
}

// agentGate is a gateway whose mocks answer plain prompts with "answer from
// the <format> upstream" and call the shell tool for toolWord.
func agentGate(t *testing.T) *gate {
	o := gateOptions{MockFor: map[string]mock.Options{}}
	for _, f := range formats {
		o.MockFor[f] = mock.Options{Call: shellCall}
	}
	return newGate(t, o)
}

// plainAnswer is what the mocks answer to a prompt of at most 8 words.
func plainAnswer(prompt string) string { return "Mock reply to: " + prompt }

// toolAnswer starts what the mocks answer to a tool result: its first
// words follow ("hi-from-tool"; Gemini's functionResponse wraps it as
// {"output":"hi-from-tool"}).
const toolAnswer = "Mock reply to tool result: "

// capture writes what the CLIs sent the gateway to $LLMGATE_AGENTS_CAPTURE.
func capture(t *testing.T, g *gate) {
	dir := os.Getenv("LLMGATE_AGENTS_CAPTURE")
	if dir == "" {
		return
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	for i, in := range g.inbound() {
		if len(in.Body) == 0 {
			continue
		}
		p := filepath.Join(dir, fmt.Sprintf("%s.%d.json", name, i+1))
		if err := os.WriteFile(p, in.Body, 0o644); err != nil {
			t.Errorf("capture: %v", err)
		}
	}
}

// claudeEnv is the environment of a headless, isolated Claude Code.
func claudeEnv(t *testing.T, g *gate) []string {
	home := t.TempDir()
	return []string{
		"HOME=" + home,
		"CLAUDE_CONFIG_DIR=" + filepath.Join(home, ".claude"),
		"ANTHROPIC_BASE_URL=" + g.URL,
		"ANTHROPIC_API_KEY=sk-ant-e2e-not-a-key",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"DISABLE_AUTOUPDATER=1",
		"DISABLE_UPDATES=1",
		"DISABLE_TELEMETRY=1",
		"DISABLE_ERROR_REPORTING=1",
		"CLAUDE_CODE_MAX_RETRIES=0",
	}
}

// TestClaudeCodeCLI runs the real claude -p against the gateway, for a
// model served by each upstream format: a plain prompt, then a tool round
// trip (the mock calls Bash, Claude Code runs echo and sends the result
// back, the mock answers it).
func TestClaudeCodeCLI(t *testing.T) {
	bin := agentBin(t, "claude", claudeVersion)
	for _, up := range formats {
		model := modelFor[up]
		t.Run(model+"_via_"+up, func(t *testing.T) {
			t.Run("plain", func(t *testing.T) {
				g := agentGate(t)
				prompt := "Say hello in one word."
				run := runAgent(t, t.TempDir(), claudeEnv(t, g), bin, "-p", prompt, "--model", model)
				capture(t, g)
				if run.err != nil {
					t.Fatalf("claude -p failed:\n%v", run)
				}
				reqs := g.upstreamRequests(up)
				if len(reqs) == 0 {
					t.Fatalf("the %s upstream got no request:\n%v", up, run)
				}
				// The mock echoes the first words of the last user text:
				// Claude Code's <system-reminder> with the date, then the
				// prompt.
				if !strings.Contains(run.stdout, "Mock reply to:") {
					t.Errorf("the mock's answer is not in the output:\n%v", run)
				}
				checkClaudeUpstream(t, g, up, reqs[len(reqs)-1], false)
			})
			t.Run("tool", func(t *testing.T) {
				g := agentGate(t)
				work := t.TempDir()
				prompt := "Run the shell command `echo " + toolWord + "` and tell me what it printed."
				run := runAgent(t, work, claudeEnv(t, g), bin, "-p", prompt, "--model", model, "--allowedTools", "Bash")
				capture(t, g)
				if run.err != nil {
					t.Fatalf("claude -p failed:\n%v", run)
				}
				if i := strings.Index(run.stdout, toolAnswer); i < 0 || !strings.Contains(run.stdout[i:], toolWord) {
					t.Errorf("output lacks %q and the tool's output: the tool result did not reach the model and back:\n%v", toolAnswer, run)
				}
				reqs := g.upstreamRequests(up)
				if len(reqs) < 2 {
					t.Fatalf("the %s upstream got %d requests, want the prompt and the tool result:\n%v", up, len(reqs), run)
				}
				checkClaudeUpstream(t, g, up, reqs[len(reqs)-1], true)
			})
		})
	}
}

// checkClaudeUpstream checks that what the upstream of format up received
// is a valid request of its format carrying Claude Code's conversation: the
// system prompt, the mid-conversation system message where Claude Code
// sends one, and after a tool call, the call and its result.
func checkClaudeUpstream(t *testing.T, g *gate, up string, rec mock.Recorded, tool bool) {
	t.Helper()
	var (
		req *provider.Request
		err error
	)
	switch up {
	case fmtOpenAI:
		if rec.Path != "/v1/chat/completions" {
			t.Errorf("upstream path %s", rec.Path)
		}
		req, err = openai.Client{}.DecodeRequest(rec.Body)
		if err == nil {
			checkOpenAIBody(t, rec.Body)
		}
	case fmtGemini:
		if want := "/v1beta/models/" + upGE + ":streamGenerateContent"; rec.Path != want {
			t.Errorf("upstream path %s, want %s", rec.Path, want)
		}
		req, err = gemini.Client{}.DecodeRequest(rec.Body)
	case fmtAnthropic:
		if rec.Path != "/v1/messages" {
			t.Errorf("upstream path %s", rec.Path)
		}
		// Passthrough: byte for byte what Claude Code sent, but the model.
		var in []byte
		for _, r := range g.inbound() {
			if r.Path == "/v1/messages" {
				in = r.Body
			}
		}
		want := bytes.Replace(in, []byte(`"model":"`+modelAN+`"`), []byte(`"model":"`+upAN+`"`), 1)
		if !bytes.Equal(rec.Body, want) {
			t.Errorf("the Anthropic upstream did not get Claude Code's body unchanged (%d bytes, want %d)", len(rec.Body), len(want))
		}
		req, err = anthropic.Client{}.DecodeRequest(rec.Body)
	}
	if err != nil {
		t.Fatalf("the %s upstream got an invalid request: %v\n%.2000s", up, err, rec.Body)
	}
	sys := req.AllSystem()
	if len(sys) == 0 || !slices.ContainsFunc(sys, func(p provider.Part) bool { return strings.Contains(p.Text, "Claude") }) {
		t.Errorf("no Claude Code system prompt upstream")
	}
	// For names it does not know (gpt-4o, gemini-*), Claude Code sends the
	// agent list as a {"role":"system"} message in messages[]: it must
	// arrive (OpenAI: a system message, Gemini: in systemInstruction).
	if up != fmtAnthropic && !slices.ContainsFunc(sys, func(p provider.Part) bool { return strings.HasPrefix(p.Text, "Available agent types") }) {
		t.Errorf("Claude Code's mid-conversation system message did not reach the %s upstream", up)
	}
	if len(req.Tools) < 10 || !slices.ContainsFunc(req.Tools, func(x provider.Tool) bool { return x.Name == "Bash" }) {
		t.Errorf("%d tools upstream, want Claude Code's (Bash among them)", len(req.Tools))
	}
	if !tool {
		return
	}
	var call *provider.ToolCall
	var result *provider.ToolResult
	for _, m := range req.Messages {
		for _, p := range m.Parts {
			switch {
			case p.ToolCall != nil:
				call = p.ToolCall
			case p.ToolResult != nil:
				result = p.ToolResult
			}
		}
	}
	if call == nil || call.Name != "Bash" || !bytes.Contains(call.Arguments, []byte("echo "+toolWord)) {
		t.Fatalf("no Bash call in the second request upstream: %+v", call)
	}
	if result == nil || result.IsError || len(result.Content) == 0 || !strings.Contains(result.Content[0].Text, toolWord) {
		t.Fatalf("tool result upstream %+v, want the output of echo", result)
	}
	if up != fmtGemini && result.ToolCallID != call.ID {
		t.Errorf("the result answers %q, the call was %q", result.ToolCallID, call.ID)
	}
}

// checkOpenAIBody checks a chat completions body from Claude Code: no
// Anthropic member, and a model name Claude Code does not know (gpt-4o)
// gets its mid-conversation system message as a system message in place.
func checkOpenAIBody(t *testing.T, body []byte) {
	t.Helper()
	for _, f := range []string{"cache_control", "context_management", "thinking", "output_config", "input_schema", "anthropic"} {
		if bytes.Contains(body, []byte(`"`+f+`"`)) {
			t.Errorf("the OpenAI upstream got Anthropic's %s", f)
		}
	}
	// What OpenAI would refuse for gpt-4o: reasoning_effort (from Claude
	// Code's adaptive thinking), and more than 16384 output tokens.
	if bytes.Contains(body, []byte(`"reasoning_effort"`)) {
		t.Errorf("reasoning_effort sent to gpt-4o")
	}
	var w struct {
		MaxCompletionTokens int    `json:"max_completion_tokens"`
		MaxTokens           int    `json:"max_tokens"`
		User                string `json:"user"`
		Messages            []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		t.Fatal(err)
	}
	if mt := max(w.MaxCompletionTokens, w.MaxTokens); mt == 0 || mt > 16384 {
		t.Errorf("max tokens %d for gpt-4o (at most 16384)", mt)
	}
	if len(w.User) > 64 {
		t.Errorf("user is %d characters; OpenAI takes 64", len(w.User))
	}
	if len(w.Messages) < 3 || w.Messages[0].Role != "system" || w.Messages[1].Role != "user" || w.Messages[2].Role != "system" ||
		!bytes.Contains(w.Messages[2].Content, []byte("Available agent types")) {
		var roles []string
		for _, m := range w.Messages {
			roles = append(roles, m.Role)
		}
		t.Errorf("roles upstream %v, want system, user, then Claude Code's mid-conversation system message", roles)
	}
}

// codexEnv writes a Codex config that points at the gateway and returns
// the environment of an isolated codex exec.
func codexEnv(t *testing.T, g *gate, model string) []string {
	home := t.TempDir()
	codexHome := filepath.Join(home, ".codex")
	if err := os.MkdirAll(codexHome, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`model = %q
model_provider = "llmgate"

[model_providers.llmgate]
name = "llmgate"
base_url = "%s/v1"
env_key = "LLMGATE_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
`, model, g.URL)
	if err := os.WriteFile(filepath.Join(codexHome, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"HOME=" + home, "CODEX_HOME=" + codexHome, "LLMGATE_API_KEY=sk-e2e-not-a-key"}
}

// TestCodexCLI runs the real codex exec against the gateway's
// /v1/responses: passed through to an OpenAI upstream, and translated to
// Anthropic and Gemini upstreams.
func TestCodexCLI(t *testing.T) {
	bin := agentBin(t, "codex", codexVersion)
	for _, up := range formats {
		model := modelFor[up]
		t.Run(model+"_via_"+up, func(t *testing.T) {
			t.Run("plain", func(t *testing.T) {
				g := agentGate(t)
				prompt := "Say hello in one word."
				run := runAgent(t, t.TempDir(), codexEnv(t, g, model), bin,
					"exec", "--skip-git-repo-check", "--color", "never", prompt)
				capture(t, g)
				if run.err != nil {
					t.Fatalf("codex exec failed:\n%v", run)
				}
				if !strings.Contains(run.stdout, plainAnswer(prompt)) {
					t.Errorf("output lacks %q:\n%v", plainAnswer(prompt), run)
				}
				checkCodexUpstream(t, g, up, false)
			})
			t.Run("tool", func(t *testing.T) {
				g := agentGate(t)
				prompt := "Run `echo " + toolWord + "` in the shell."
				run := runAgent(t, t.TempDir(), codexEnv(t, g, model), bin,
					"exec", "--skip-git-repo-check", "--color", "never", "-s", "danger-full-access", prompt)
				capture(t, g)
				if run.err != nil {
					t.Fatalf("codex exec failed:\n%v", run)
				}
				// Codex wraps the command's output ("Chunk ID: ...
				// Output:\nhi-from-tool"), and the mock echoes its first
				// words.
				if !strings.Contains(run.stdout, toolAnswer) {
					t.Errorf("output lacks the answer to the tool result:\n%v", run)
				}
				checkCodexUpstream(t, g, up, true)
			})
		})
	}
}

// checkCodexUpstream checks what the upstream of format up received from
// Codex: a valid request of its format, and after a tool call, the
// exec_command call and its output.
func checkCodexUpstream(t *testing.T, g *gate, up string, tool bool) {
	t.Helper()
	reqs := g.upstreamRequests(up)
	want := 1
	if tool {
		want = 2
	}
	if len(reqs) < want {
		t.Fatalf("the %s upstream got %d requests, want %d", up, len(reqs), want)
	}
	rec := reqs[len(reqs)-1]
	if up == fmtOpenAI {
		if rec.Path != "/v1/responses" {
			t.Fatalf("upstream path %s, want /v1/responses", rec.Path)
		}
		var in []byte
		for _, r := range g.inbound() {
			if r.Path == "/v1/responses" {
				in = r.Body
			}
		}
		if want := bytes.Replace(in, []byte(`"model":"`+modelOA+`"`), []byte(`"model":"`+upOA+`"`), 1); !bytes.Equal(rec.Body, want) {
			t.Errorf("the Responses body was not passed through unchanged but for the model")
		}
		var w struct {
			Store *bool `json:"store"`
			Input []struct {
				Type   string          `json:"type"`
				Name   string          `json:"name"`
				Output json.RawMessage `json:"output"`
			} `json:"input"`
		}
		if err := json.Unmarshal(rec.Body, &w); err != nil {
			t.Fatal(err)
		}
		if w.Store == nil || *w.Store {
			t.Errorf("Codex sent store %v, want false", w.Store)
		}
		if tool {
			n := len(w.Input)
			if n < 2 || w.Input[n-2].Type != "function_call" || w.Input[n-2].Name != "exec_command" ||
				w.Input[n-1].Type != "function_call_output" || !bytes.Contains(w.Input[n-1].Output, []byte(toolWord)) {
				t.Errorf("the last input items are not the exec_command call and its output: %s", rec.Body[max(0, len(rec.Body)-600):])
			}
		}
		return
	}
	var (
		req *provider.Request
		err error
	)
	switch up {
	case fmtAnthropic:
		req, err = anthropic.Client{}.DecodeRequest(rec.Body)
	case fmtGemini:
		req, err = gemini.Client{}.DecodeRequest(rec.Body)
	}
	if err != nil {
		t.Fatalf("the %s upstream got an invalid request: %v", up, err)
	}
	if !tool {
		return
	}
	var call *provider.ToolCall
	var result *provider.ToolResult
	for _, m := range req.Messages {
		for _, p := range m.Parts {
			if p.ToolCall != nil {
				call = p.ToolCall
			}
			if p.ToolResult != nil {
				result = p.ToolResult
			}
		}
	}
	if call == nil || call.Name != "exec_command" {
		t.Fatalf("no exec_command call upstream: %+v", call)
	}
	if result == nil || len(result.Content) == 0 || !strings.Contains(result.Content[0].Text, toolWord) {
		t.Fatalf("tool result upstream %+v", result)
	}
}
