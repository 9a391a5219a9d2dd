package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/llmgate/llmgate/internal/provider"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuf is the largest buffer kept for reuse: one huge answer must
// not pin its memory for the life of the process.
const maxPooledBuf = 1 << 20

func getBuf() *bytes.Buffer {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	return buf
}

func putBuf(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBuf {
		bufPool.Put(buf)
	}
}

// readBody reads a complete upstream body, bounded.
func (g *Gateway) readBody(ctx context.Context, resp *http.Response, buf *bytes.Buffer, wd *watchdog) *provider.Error {
	if resp.ContentLength > g.opts.MaxResponseBytes {
		return g.tooLarge() // without reading it
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, g.opts.MaxResponseBytes+1))
	if err != nil {
		if wd.timedOut.Load() || ctx.Err() != nil {
			return wd.streamErr(ctx, err)
		}
		return &provider.Error{Kind: provider.KindBadGateway, Message: "the upstream connection broke while sending its answer", Cause: err}
	}
	if n > g.opts.MaxResponseBytes {
		return g.tooLarge()
	}
	return nil
}

func (g *Gateway) tooLarge() *provider.Error {
	return &provider.Error{Kind: provider.KindBadGateway,
		Message: fmt.Sprintf("the upstream answer is larger than %d bytes (resilience.max_response_bytes); llmgate dropped it", g.opts.MaxResponseBytes)}
}

// writeUnary reads a complete answer and writes it in the client's format.
func (g *Gateway) writeUnary(ctx context.Context, w http.ResponseWriter, x *exchange, d *Deployment, resp *http.Response, passthrough bool, wd *watchdog) *provider.Error {
	buf := getBuf()
	defer putBuf(buf)
	if perr := g.readBody(ctx, resp, buf, wd); perr != nil {
		return perr
	}
	u := d.Upstream.For(x.c.Format)
	var out []byte
	if passthrough {
		out = buf.Bytes()
		if !json.Valid(out) {
			return garbage(u, out)
		}
		x.usage, _ = u.Pass.ResponseUsage(out)
		if g.opts.StoreContent {
			if r, err := u.Codec.DecodeResponse(out); err == nil {
				x.text.WriteString(r.Text())
			}
		}
	} else {
		r, err := u.Codec.DecodeResponse(buf.Bytes())
		if err != nil {
			return garbage(u, buf.Bytes())
		}
		x.usage = r.Usage
		if g.opts.StoreContent {
			x.text.WriteString(r.Text())
		}
		if out, err = encodeResponse(x, r); err != nil {
			return provider.AsError(err)
		}
	}
	if x.usage.IsZero() {
		g.estimateUsage(x, d)
	}
	x.served = d
	h := w.Header()
	h.Set("Content-Type", "application/json")
	g.setHeaders(h, x, d)
	w.WriteHeader(http.StatusOK)
	x.committed = true
	_, _ = w.Write(out)
	return nil
}

func garbage(u *Upstream, body []byte) *provider.Error {
	snip := body
	if len(snip) > 120 {
		snip = snip[:120]
	}
	return &provider.Error{Kind: provider.KindBadGateway,
		Message: fmt.Sprintf("provider %s sent an answer that is not valid %s JSON (starts %q)", u.Name, u.Format, snip)}
}

// writeRaw forwards a non-chat answer (embeddings, responses) unchanged.
func (g *Gateway) writeRaw(ctx context.Context, w http.ResponseWriter, x *exchange, d *Deployment, resp *http.Response, wd *watchdog) *provider.Error {
	buf := getBuf()
	defer putBuf(buf)
	if perr := g.readBody(ctx, resp, buf, wd); perr != nil {
		return perr
	}
	x.usage, _ = d.Upstream.Pass.ResponseUsage(buf.Bytes())
	x.served = d
	h := w.Header()
	h.Set("Content-Type", resp.Header.Get("Content-Type"))
	g.setHeaders(h, x, d)
	w.WriteHeader(http.StatusOK)
	x.committed = true
	_, _ = w.Write(buf.Bytes())
	return nil
}
