// Package sse reads and writes server-sent event streams.
//
// The Reader follows the WHATWG parsing rules (LF, CRLF or CR line ends;
// comment lines; one leading space after the colon removed; multi-line data
// joined by LF) with two deliberate differences that real LLM upstreams need:
// events of any size up to a configurable limit (not bufio.Scanner's 64 KiB),
// and a final event that is not followed by a blank line is still delivered.
//
// Each Event also carries Raw, the bytes exactly as read, so a passthrough
// proxy can forward an event untouched. Event slices alias the Reader's buffer
// and stay valid only until the next call to Next: the hot path allocates
// nothing per event.
package sse

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// DefaultMaxEventSize bounds one event (all its lines) when no limit is set.
const DefaultMaxEventSize = 16 << 20

// ErrEventTooLarge is returned when an event exceeds the Reader's limit.
var ErrEventTooLarge = errors.New("sse: event exceeds the size limit")

// Event is one server-sent event. Byte slices alias the Reader's buffer.
type Event struct {
	// Name is the value of the last "event:" field, nil if none.
	Name []byte
	// Data is the "data:" lines joined by "\n", nil if none.
	Data []byte
	// ID is the value of the last "id:" field, nil if none.
	ID []byte
	// Raw is every byte of the event as read, including comment lines,
	// blank lines before it, and the blank line that ended it.
	Raw []byte
	// HasData is true when at least one "data:" field was present (Data may
	// still be empty).
	HasData bool
}

// IsComment reports whether the event carries no field at all: only
// comments (": keep-alive") or blank lines.
func (e *Event) IsComment() bool { return !e.HasData && e.Name == nil && e.ID == nil }

// Reader reads events from a stream. It is not safe for concurrent use.
type Reader struct {
	r   io.Reader
	max int

	buf      []byte
	off, end int // unconsumed bytes are buf[off:end]
	err      error

	scratch []byte // data of multi-line events

	pooled *[]byte // the initial buffer, from bufPool; nil once released
}

// initialBuf is the size of a new Reader's buffer, which grows for larger
// events.
const initialBuf = 4096

// bufPool holds initial buffers given back by Release: a stream per
// request would otherwise allocate (and zero) one each.
var bufPool = sync.Pool{New: func() any { b := make([]byte, initialBuf); return &b }}

// errReleased is what Next returns after Release.
var errReleased = errors.New("sse: reader released")

// NewReader returns a Reader with DefaultMaxEventSize.
func NewReader(r io.Reader) *Reader {
	p := bufPool.Get().(*[]byte)
	return &Reader{r: r, max: DefaultMaxEventSize, buf: *p, pooled: p}
}

// Release gives the Reader's buffer back for reuse by later Readers. The
// events it returned are invalid afterwards, and Next returns an error.
// Calling it is optional (a Reader that is dropped is collected as usual);
// calling it twice is harmless.
func (r *Reader) Release() {
	if r.pooled != nil {
		bufPool.Put(r.pooled) // its initial buffer, even when buf has grown since
		r.pooled = nil
	}
	r.buf, r.off, r.end = nil, 0, 0
	r.scratch = nil
	r.err = errReleased
}

// SetMaxEventSize sets the largest event Next accepts; n <= 0 restores the
// default.
func (r *Reader) SetMaxEventSize(n int) {
	if n <= 0 {
		n = DefaultMaxEventSize
	}
	r.max = n
}

type span struct{ start, end int } // offsets relative to the event start

// Next returns the next event. At the end of the stream it returns io.EOF;
// a partial last event that had fields is returned first. Read errors from
// the underlying reader are returned as they are.
func (r *Reader) Next() (Event, error) {
	var (
		p           int // scan position, relative to the event start r.off
		name, id    span
		hasName     bool
		hasID       bool
		data        span
		dataLines   int
		sawField    bool
		sawAnything bool
	)
	r.scratch = r.scratch[:0]
	for {
		// Find the next complete line in buf[p:end].
		b := r.buf[r.off:r.end]
		i := lineEnd(b[p:])
		if i < 0 || (b[p+i] == '\r' && p+i+1 == len(b) && r.err == nil) {
			// Need more bytes (a lone CR at the end may start a CRLF).
			if r.err != nil {
				// End of stream: deliver a last event without its blank line.
				if len(b) > p {
					// An unterminated final line: treat it as a line.
					i = len(b) - p
				} else if sawField || sawAnything {
					return r.finish(p, name, id, hasName, hasID, data, dataLines, sawField), nil
				} else {
					return Event{}, r.err
				}
			} else {
				if err := r.fill(); err != nil {
					return Event{}, err
				}
				continue
			}
		}
		lineStart, lineEnd := p, p+i
		next := lineEnd
		if next < len(b) {
			if b[next] == '\r' && next+1 < len(b) && b[next+1] == '\n' {
				next += 2
			} else {
				next++
			}
		}
		p = next
		line := b[lineStart:lineEnd]
		if len(line) == 0 {
			if sawField {
				return r.finish(p, name, id, hasName, hasID, data, dataLines, sawField), nil
			}
			if sawAnything { // comment-only block: deliver so passthrough keeps it
				return r.finish(p, name, id, hasName, hasID, data, dataLines, sawField), nil
			}
			continue // blank lines before an event join its Raw
		}
		sawAnything = true
		if line[0] == ':' {
			continue
		}
		field, value := line, line[:0]
		valStart := lineEnd
		if c := bytes.IndexByte(line, ':'); c >= 0 {
			field = line[:c]
			valStart = lineStart + c + 1
			if valStart < lineEnd && b[valStart] == ' ' {
				valStart++
			}
			value = b[valStart:lineEnd]
		}
		switch string(field) {
		case "data":
			sawField = true
			dataLines++
			switch dataLines {
			case 1:
				data = span{valStart, lineEnd}
			case 2:
				r.scratch = append(r.scratch, b[data.start:data.end]...)
				fallthrough
			default:
				r.scratch = append(r.scratch, '\n')
				r.scratch = append(r.scratch, value...)
			}
		case "event":
			sawField = true
			hasName = true
			name = span{valStart, lineEnd}
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				sawField = true
				hasID = true
				id = span{valStart, lineEnd}
			}
		default:
			// "retry" and unknown fields are ignored.
		}
	}
}

// lineEnd returns the index of the first CR or LF in b, or -1. Two
// IndexByte calls: bytes.IndexAny builds a byte set on every call, which
// showed in stream decoders' profiles.
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	head := b
	if i >= 0 {
		head = b[:i]
	}
	if j := bytes.IndexByte(head, '\r'); j >= 0 {
		return j
	}
	return i
}

func (r *Reader) finish(p int, name, id span, hasName, hasID bool, data span, dataLines int, sawField bool) Event {
	b := r.buf[r.off:r.end]
	ev := Event{Raw: b[:p:p], HasData: dataLines > 0}
	if hasName {
		ev.Name = b[name.start:name.end:name.end]
	}
	if hasID {
		ev.ID = b[id.start:id.end:id.end]
	}
	switch {
	case dataLines == 1:
		ev.Data = b[data.start:data.end:data.end]
	case dataLines > 1:
		ev.Data = r.scratch
	}
	r.off += p
	return ev
}

// fill reads more bytes. When the buffer is full it first drops consumed
// events (offsets in Next are relative to the event start, so they survive),
// then grows the buffer up to the limit.
func (r *Reader) fill() error {
	if r.end == len(r.buf) && r.off > 0 {
		r.end = copy(r.buf, r.buf[r.off:r.end])
		r.off = 0
	}
	if r.end == len(r.buf) {
		if len(r.buf) >= r.max {
			return ErrEventTooLarge
		}
		n := 2 * len(r.buf)
		if n > r.max {
			n = r.max
		}
		nb := make([]byte, n)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	n, err := r.r.Read(r.buf[r.end:])
	r.end += n
	if err != nil {
		r.err = err
		if n > 0 || err == io.EOF {
			return nil
		}
		return err
	}
	return nil
}
