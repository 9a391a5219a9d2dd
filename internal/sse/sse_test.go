package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type got struct {
	name, data, id, raw string
	hasData             bool
}

func readAll(t testing.TB, r io.Reader, max int) ([]got, error) {
	rd := NewReader(r)
	defer rd.Release() // the next Reader reuses the buffer: tests see stale bytes in it
	rd.SetMaxEventSize(max)
	var out []got
	for {
		ev, err := rd.Next()
		if err != nil {
			return out, err
		}
		out = append(out, got{string(ev.Name), string(ev.Data), string(ev.ID), string(ev.Raw), ev.HasData})
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []got
	}{
		{"openai", "data: {\"a\":1}\n\ndata: [DONE]\n\n", []got{
			{data: `{"a":1}`, raw: "data: {\"a\":1}\n\n", hasData: true},
			{data: "[DONE]", raw: "data: [DONE]\n\n", hasData: true}}},
		{"anthropic", "event: ping\ndata: {\"type\":\"ping\"}\n\n", []got{
			{name: "ping", data: `{"type":"ping"}`, raw: "event: ping\ndata: {\"type\":\"ping\"}\n\n", hasData: true}}},
		{"crlf", "data: x\r\n\r\ndata: y\r\r", []got{
			{data: "x", raw: "data: x\r\n\r\n", hasData: true},
			{data: "y", raw: "data: y\r\r", hasData: true}}},
		{"multiline", "data: a\ndata: b\ndata:c\n\n", []got{
			{data: "a\nb\nc", raw: "data: a\ndata: b\ndata:c\n\n", hasData: true}}},
		{"comment kept for passthrough", ": keep-alive\n\ndata: z\n\n", []got{
			{raw: ": keep-alive\n\n"},
			{data: "z", raw: "data: z\n\n", hasData: true}}},
		{"leading blank lines join raw", "\n\n\ndata: z\n\n", []got{
			{data: "z", raw: "\n\n\ndata: z\n\n", hasData: true}}},
		{"no final blank line", "data: a\n\ndata: last", []got{
			{data: "a", raw: "data: a\n\n", hasData: true},
			{data: "last", raw: "data: last", hasData: true}}},
		{"empty data", "data\n\n", []got{{raw: "data\n\n", hasData: true}}},
		{"id and unknown field", "id: 7\nretry: 10\nfoo: bar\ndata: q\n\n", []got{
			{id: "7", data: "q", raw: "id: 7\nretry: 10\nfoo: bar\ndata: q\n\n", hasData: true}}},
		{"no space after colon", "event:x\ndata:y\n\n", []got{{name: "x", data: "y", raw: "event:x\ndata:y\n\n", hasData: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and one byte at a time (CR at a read boundary).
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				out, err := readAll(t, r, 0)
				if err != io.EOF {
					t.Fatalf("err = %v, want EOF", err)
				}
				if len(out) != len(tt.want) {
					t.Fatalf("got %d events %+v, want %+v", len(out), out, tt.want)
				}
				for i := range out {
					if out[i] != tt.want[i] {
						t.Errorf("event %d = %+v, want %+v", i, out[i], tt.want[i])
					}
				}
			}
		})
	}
}

func TestReaderLargeEvent(t *testing.T) {
	big := strings.Repeat("x", 200_000) // over bufio.Scanner's 64 KiB
	out, err := readAll(t, strings.NewReader("data: "+big+"\n\n"), 0)
	if err != io.EOF || len(out) != 1 || out[0].data != big {
		t.Fatalf("large event: err=%v n=%d", err, len(out))
	}
	_, err = readAll(t, strings.NewReader("data: "+big+"\n\n"), 100_000)
	if !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("over limit: err = %v, want ErrEventTooLarge", err)
	}
}

func TestReaderBrokenStream(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: part"), iotest.ErrReader(boom))
	out, err := readAll(t, r, 0)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the read error", err)
	}
	if len(out) < 1 || out[0].data != "a" {
		t.Fatalf("events before the break lost: %+v", out)
	}
}

// A released Reader returns an error from Next, and the Readers that reuse
// its buffer (grown or not) see only their own bytes.
func TestReaderRelease(t *testing.T) {
	big := strings.Repeat("y", 3*initialBuf)
	for _, first := range []string{"data: " + strings.Repeat("x", 3000) + "\n\n", "data: " + big + "\n\n"} {
		r := NewReader(strings.NewReader(first))
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		r.Release()
		if _, err := r.Next(); err == nil {
			t.Fatal("Next after Release returned no error")
		}
		r.Release() // twice is harmless
		for range 3 {
			out, err := readAll(t, strings.NewReader("data: a\n\nevent: b\ndata: c"), 0)
			if err != io.EOF || len(out) != 2 || out[0].data != "a" || out[1].name != "b" || out[1].data != "c" {
				t.Fatalf("after Release: err=%v events %+v", err, out)
			}
		}
	}
}

func TestWriterRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	_ = w.WriteEvent("message_start", []byte(`{"type":"message_start"}`))
	_ = w.WriteComment("ping")
	_ = w.WriteEvent("", []byte("line1\nline2"))
	want := "event: message_start\ndata: {\"type\":\"message_start\"}\n\n: ping\n\ndata: line1\ndata: line2\n\n"
	if b.String() != want {
		t.Fatalf("wrote %q, want %q", b.String(), want)
	}
	out, _ := readAll(t, &b, 0)
	if len(out) != 3 || out[0].name != "message_start" || out[2].data != "line1\nline2" {
		t.Fatalf("round trip: %+v", out)
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{"data: x\n\n", "event: a\r\ndata: b\r\n\r\n", ": c\n\n", "data: [DONE]", "\r\r\n\n", "id: \x00\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rd := NewReader(iotest.HalfReader(strings.NewReader(in)))
		defer rd.Release() // later inputs reuse the buffer: stale bytes must not leak
		rd.SetMaxEventSize(1 << 16)
		total := 0
		for i := 0; ; i++ {
			ev, err := rd.Next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrEventTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(ev.Raw) == 0 || !strings.Contains(in, string(ev.Raw)) {
				t.Fatalf("event %d with Raw %q, not from the input", i, ev.Raw)
			}
			if !bytes.Contains(ev.Raw, ev.Name) || (len(ev.Data) > 0 && !ev.HasData) {
				t.Fatalf("inconsistent event %+v", ev)
			}
			total += len(ev.Raw)
		}
		if total > len(in) {
			t.Fatalf("raw bytes %d exceed input %d", total, len(in))
		}
	})
}

func BenchmarkReader(b *testing.B) {
	ev := "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello\"}}]}\n\n"
	stream := strings.Repeat(ev, 100)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	r := strings.NewReader(stream)
	rd := NewReader(r)
	for b.Loop() {
		r.Reset(stream)
		rd = &Reader{r: r, max: DefaultMaxEventSize, buf: rd.buf[:cap(rd.buf)]}
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
	}
}
