package e2e

import (
	"context"
	"encoding/base64"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"google.golang.org/genai"
)

// pngBase64 is a 1x1 PNG.
const pngBase64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

const imagePrompt = "Describe this image"

// TestImages sends an image part (a data URL, a base64 block, inline
// bytes) from every client SDK to every upstream format and checks that the
// upstream received the same bytes in its own image shape.
func TestImages(t *testing.T) {
	g := newGate(t, gateOptions{})
	png, err := base64.StdEncoding.DecodeString(pngBase64)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, in := range formats {
		for _, up := range formats {
			for _, stream := range []bool{false, true} {
				t.Run(in+"_to_"+up+"/"+mode(stream), func(t *testing.T) {
					g.reset()
					model := modelFor[up]
					var text string
					switch in {
					case fmtOpenAI:
						c := g.openai()
						p := openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{
							openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
								openai.TextContentPart(imagePrompt),
								openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + pngBase64}),
							})}}
						if stream {
							s := c.Chat.Completions.NewStreaming(ctx, p)
							var acc openai.ChatCompletionAccumulator
							for s.Next() {
								acc.AddChunk(s.Current())
							}
							if err := s.Err(); err != nil {
								t.Fatal(err)
							}
							text = acc.Choices[0].Message.Content
						} else {
							out, err := c.Chat.Completions.New(ctx, p)
							if err != nil {
								t.Fatal(err)
							}
							text = out.Choices[0].Message.Content
						}
					case fmtAnthropic:
						c := g.anthropic()
						p := anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 256, Messages: []anthropic.MessageParam{
							anthropic.NewUserMessage(anthropic.NewTextBlock(imagePrompt), anthropic.NewImageBlockBase64("image/png", pngBase64))}}
						var msg anthropic.Message
						if stream {
							s := c.Messages.NewStreaming(ctx, p)
							for s.Next() {
								if err := msg.Accumulate(s.Current()); err != nil {
									t.Fatal(err)
								}
							}
							if err := s.Err(); err != nil {
								t.Fatal(err)
							}
						} else {
							out, err := c.Messages.New(ctx, p)
							if err != nil {
								t.Fatal(err)
							}
							msg = *out
						}
						if len(msg.Content) > 0 {
							text = msg.Content[0].Text
						}
					case fmtGemini:
						c := g.gemini(t)
						contents := []*genai.Content{genai.NewContentFromParts([]*genai.Part{
							genai.NewPartFromText(imagePrompt), genai.NewPartFromBytes(png, "image/png")}, genai.RoleUser)}
						if stream {
							for chunk, err := range c.Models.GenerateContentStream(ctx, model, contents, nil) {
								if err != nil {
									t.Fatal(err)
								}
								text += chunk.Text()
							}
						} else {
							out, err := c.Models.GenerateContent(ctx, model, contents, nil)
							if err != nil {
								t.Fatal(err)
							}
							text = out.Text()
						}
					}
					if want := "Mock reply to: " + imagePrompt; text != want {
						t.Errorf("text %q, want %q", text, want)
					}
					checkUpstreamImage(t, g.lastUpstream(t, up).Body, up)
				})
			}
		}
	}
}

// checkUpstreamImage finds the image in the upstream's first user message.
func checkUpstreamImage(t *testing.T, raw []byte, up string) {
	t.Helper()
	body := decodeObject(t, raw)
	var parts []any
	switch up {
	case fmtOpenAI, fmtAnthropic:
		msgs, _ := body["messages"].([]any)
		if len(msgs) > 0 {
			parts, _ = asObject(msgs[0])["content"].([]any)
		}
	case fmtGemini:
		cs, _ := body["contents"].([]any)
		if len(cs) > 0 {
			parts, _ = asObject(cs[0])["parts"].([]any)
		}
	}
	found := false
	for _, p := range parts {
		p := asObject(p)
		switch up {
		case fmtOpenAI:
			if p["type"] == "image_url" && asObject(p["image_url"])["url"] == "data:image/png;base64,"+pngBase64 {
				found = true
			}
		case fmtAnthropic:
			src := asObject(p["source"])
			if p["type"] == "image" && src["type"] == "base64" && src["media_type"] == "image/png" && src["data"] == pngBase64 {
				found = true
			}
		case fmtGemini:
			d := asObject(p["inlineData"])
			if d["mimeType"] == "image/png" && d["data"] == pngBase64 {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("the %s upstream did not receive the image in its own shape:\n%s", up, raw)
	}
	if textOf(parts) != imagePrompt {
		t.Errorf("upstream text parts %q, want %q", textOf(parts), imagePrompt)
	}
}
