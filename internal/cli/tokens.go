package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/internal/provider"
	"github.com/llmgate/llmgate/internal/tokens"
)

// maxTokensInput bounds what llmgate tokens reads.
const maxTokensInput = 64 << 20

func runTokens(_ context.Context, env Env, args []string) int {
	fs := newFlagSet(env, "tokens", `Count the tokens of a prompt for a model, offline: plain text, or a whole JSON request
(OpenAI chat, Anthropic messages or Gemini generateContent) with its messages, tools and images.
OpenAI models get a real tokenizer count; other models an estimate.

  echo "How many tokens is this?" | llmgate tokens --model gpt-4o
  llmgate tokens --file request.json`)
	model := fs.String("model", "", "model to count for (default: the request's \"model\" field)")
	file := fs.String("file", "", "read this file instead of stdin")
	format := fs.String("format", "", "request format: openai, anthropic or gemini (default: guessed from the JSON)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	var in io.Reader = os.Stdin
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			fmt.Fprintf(env.Stderr, "llmgate tokens: %v\n", err)
			return exitInvalid
		}
		defer f.Close()
		in = f
	}
	data, err := io.ReadAll(io.LimitReader(in, maxTokensInput+1))
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate tokens: reading the input: %v\n", err)
		return exitInvalid
	}
	if len(data) > maxTokensInput {
		fmt.Fprintf(env.Stderr, "llmgate tokens: the input is larger than %d bytes\n", maxTokensInput)
		return exitInvalid
	}
	res, err := countTokens(data, *model, provider.Format(*format))
	if err != nil {
		fmt.Fprintf(env.Stderr, "llmgate tokens: %v\n", err)
		return exitUsage
	}
	if *asJSON {
		printJSON(env.Stdout, res)
		return exitOK
	}
	how := "estimate: no offline tokenizer for this model; the provider's count may differ by 10-20%"
	if res.Exact {
		how = "tokenizer " + res.Encoding
	}
	fmt.Fprintf(env.Stdout, "%d tokens (%s, model %s, %s)\n", res.Tokens, res.Kind, res.Model, how)
	return exitOK
}

// tokenCount is what llmgate tokens reports.
type tokenCount struct {
	Model    string `json:"model"`
	Kind     string `json:"kind"` // text or request
	Format   string `json:"format,omitempty"`
	Tokens   int    `json:"tokens"`
	Exact    bool   `json:"exact"`
	Encoding string `json:"encoding,omitempty"`
}

// countTokens counts data as a JSON request when it is a JSON object with
// messages or contents, else as plain text.
func countTokens(data []byte, model string, format provider.Format) (tokenCount, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed) {
		fields, err := jsonscan.Fields(trimmed, "model", "messages", "contents", "system")
		if err == nil && (fields[1] != nil || fields[2] != nil) {
			if model == "" {
				model, _ = jsonscan.String(fields[0])
			}
			if model == "" {
				return tokenCount{}, fmt.Errorf("the request names no model: pass --model")
			}
			if format == "" {
				switch {
				case fields[2] != nil:
					format = provider.FormatGemini
				case fields[3] != nil:
					format = provider.FormatAnthropic
				default:
					format = provider.FormatOpenAI
				}
			}
			cc, ok := clientCodecs()[format]
			if !ok {
				return tokenCount{}, fmt.Errorf("--format %q: use openai, anthropic or gemini", format)
			}
			req, err := cc.DecodeRequest(trimmed)
			if err != nil {
				return tokenCount{}, fmt.Errorf("the input is not a valid %s request: %w", format, err)
			}
			return tokenCount{Model: model, Kind: "request", Format: string(format), Tokens: tokens.EstimateRequest(model, req),
				Exact: tokens.Exact(model), Encoding: tokens.Encoding(model)}, nil
		}
	}
	if model == "" {
		return tokenCount{}, fmt.Errorf("pass --model (e.g. --model gpt-4o) to count plain text")
	}
	return tokenCount{Model: model, Kind: "text", Tokens: tokens.Count(model, string(data)),
		Exact: tokens.Exact(model), Encoding: tokens.Encoding(model)}, nil
}
