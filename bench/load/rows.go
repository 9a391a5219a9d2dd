package main

import (
	"fmt"
	"strings"
)

// The benchmark's table: every path of issue 11, each measured through
// llmgate beside the bare proxy in the same alternating rounds.
//
// A scenario is one kind of load (connections, and the request the bare
// proxy forwards to the mock); its rows are the llmgate paths measured
// against that one proxy measurement. Rows 1-3 share a scenario: the bare
// proxy does the same work for all three, only llmgate's configuration
// (request log, virtual key) differs.

// wire is the wire format of a request and its answer.
type wire uint8

const (
	wireOpenAI    wire = iota // POST /v1/chat/completions; streams end with data: [DONE]
	wireAnthropic             // POST /v1/messages; streams end with event message_stop
)

// request is what a client sends one target.
type request struct {
	Wire   wire
	Model  string
	Stream bool
	// Header holds extra request headers (a virtual key's Authorization).
	Header map[string]string
}

func (r request) path() string {
	if r.Wire == wireAnthropic {
		return "/v1/messages"
	}
	return "/v1/chat/completions"
}

// body is the request body: a short chat, as instant for the mock as a
// request can be, in the request's wire format.
func (r request) body() []byte {
	s := ""
	if r.Stream {
		s = `"stream":true,`
	}
	if r.Wire == wireAnthropic {
		return fmt.Appendf(nil, `{"model":%q,%s"max_tokens":64,"system":"You are a load test.","messages":[{"role":"user","content":"Say hello to the llmgate load benchmark please"}]}`, r.Model, s)
	}
	return fmt.Appendf(nil, `{"model":%q,%s"max_tokens":64,"messages":[{"role":"system","content":"You are a load test."},{"role":"user","content":"Say hello to the llmgate load benchmark please"}]}`, r.Model, s)
}

// headers are every header the request carries besides Content-Type.
func (r request) headers() map[string]string {
	h := map[string]string{"Authorization": "Bearer bench"}
	if r.Wire == wireAnthropic {
		h["Anthropic-Version"] = "2023-06-01"
		h["X-Api-Key"] = "bench"
	}
	for k, v := range r.Header {
		h[k] = v
	}
	return h
}

// check is how a row's target is judged.
type check uint8

const (
	checkRatios    check = iota // req/s, CPU/req and p99 against the bare proxy's
	checkAddedP50               // (llmgate p50 - direct p50) / (proxy p50 - direct p50)
	checkAddedTTFT              // llmgate's time to first content token - the proxy's
)

// upstream names the mock a scenario's bare proxy (and llmgate's route)
// forwards to.
type upstream uint8

const (
	upInstant    upstream = iota // llmgate mock: instant answers
	upFirstToken                 // llmgate mock --first-token-delay
)

// Models the gateway's configuration routes (gatewayConfig).
const (
	fastModel   = "gpt-4o-mini"      // openai provider "mock" -> the instant mock
	claudeModel = "claude-haiku-4-5" // anthropic provider "mock-an" -> the instant mock's /v1/messages
	ftdModel    = "gpt-4o-mini-ftd"  // -> the first-token-delay mock
	slowModel   = "gpt-4o-mini-slow" // -> the slow h2c mock (open-streams test)
)

// gateways: the llmgate processes the rows use.
const (
	gwDefault = "llmgate"       // request log on SQLite (the default), master key set
	gwNoLog   = "llmgate-nolog" // request_log: {persist: false}
)

// row is one path through llmgate.
type row struct {
	N       int    // the number the table gives it; 0 for the extra rows
	Name    string // as printed
	Slug    string // in -only, file names and JSON
	Gateway string // gwDefault or gwNoLog
	Req     request
	// VirtualKey sends the request with the virtual key created at start.
	VirtualKey bool
	Check      check
}

// scenario is one kind of load and the rows measured beside one bare
// proxy (and, for Direct, the mock without anything in between).
type scenario struct {
	Name     string // as printed
	Slug     string
	Conns    int
	Upstream upstream
	Bare     request // what the bare proxy (and the mock, direct) gets
	Direct   bool
	Rows     []row
}

// scenarios is the benchmark's table for conns connections on the
// many-connection rows.
func scenarios(conns int) []scenario {
	chat := request{Wire: wireOpenAI, Model: fastModel}
	stream := request{Wire: wireOpenAI, Model: fastModel, Stream: true}
	toClaude := request{Wire: wireOpenAI, Model: claudeModel}
	toClaudeStream := request{Wire: wireOpenAI, Model: claudeModel, Stream: true}
	anChat := request{Wire: wireAnthropic, Model: claudeModel}
	anStream := request{Wire: wireAnthropic, Model: claudeModel, Stream: true}
	return []scenario{
		{Name: "chat", Slug: "chat", Conns: conns, Bare: chat, Rows: []row{
			{N: 1, Name: "passthrough chat, request log on SQLite", Slug: "chat", Gateway: gwDefault, Req: chat},
			{N: 2, Name: "passthrough chat, request log off", Slug: "chat-nolog", Gateway: gwNoLog, Req: chat},
			{N: 3, Name: "virtual key with rpm + tpm + budget", Slug: "chat-key", Gateway: gwDefault, Req: chat, VirtualKey: true},
		}},
		{Name: "translated chat", Slug: "translated", Conns: conns, Bare: anChat, Rows: []row{
			{N: 4, Name: "OpenAI client -> Anthropic upstream", Slug: "translated", Gateway: gwDefault, Req: toClaude},
		}},
		{Name: "stream", Slug: "stream", Conns: conns, Bare: stream, Rows: []row{
			{N: 5, Name: "passthrough stream", Slug: "stream", Gateway: gwDefault, Req: stream},
		}},
		{Name: "translated stream", Slug: "translated-stream", Conns: conns, Bare: anStream, Rows: []row{
			{N: 6, Name: "translated stream (OpenAI -> Anthropic)", Slug: "translated-stream", Gateway: gwDefault, Req: toClaudeStream},
		}},
		{Name: "chat", Slug: "chat-c1", Conns: 1, Bare: chat, Direct: true, Rows: []row{
			{Name: "passthrough chat, added p50", Slug: "chat-c1", Gateway: gwDefault, Req: chat, Check: checkAddedP50},
		}},
		{Name: "first token", Slug: "first-token", Conns: 1, Upstream: upFirstToken,
			Bare: request{Wire: wireOpenAI, Model: fastModel, Stream: true}, Rows: []row{
				{Name: "passthrough stream, time to first token", Slug: "first-token", Gateway: gwDefault,
					Req: request{Wire: wireOpenAI, Model: ftdModel, Stream: true}, Check: checkAddedTTFT},
			}},
	}
}

// label is how the scenario's load is printed: "chat, 32 conns".
func (s *scenario) label() string {
	unit := "conns"
	if s.Conns == 1 {
		unit = "conn"
	}
	return fmt.Sprintf("%s, %d %s", s.Name, s.Conns, unit)
}

// filterScenarios keeps the rows whose slug is one of the comma-separated
// words of only ("" keeps all), and the scenarios left with a row.
func filterScenarios(scs []scenario, only string) []scenario {
	if only == "" {
		return scs
	}
	words := strings.Split(only, ",")
	var out []scenario
	for _, sc := range scs {
		var rows []row
		for _, r := range sc.Rows {
			for _, w := range words {
				if w = strings.TrimSpace(w); w != "" && r.Slug == w {
					rows = append(rows, r)
					break
				}
			}
		}
		if len(rows) > 0 {
			sc.Rows = rows
			out = append(out, sc)
		}
	}
	return out
}
