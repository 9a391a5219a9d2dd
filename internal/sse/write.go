package sse

import (
	"bytes"
	"io"
)

// AppendEvent appends one event in wire form to dst: an optional
// "event: name" line, one "data:" line per line of data, and the blank line.
func AppendEvent(dst []byte, name string, data []byte) []byte {
	if name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	for {
		i := bytes.IndexByte(data, '\n')
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, data...)
			dst = append(dst, '\n')
			break
		}
		dst = append(dst, bytes.TrimSuffix(data[:i], []byte{'\r'})...)
		dst = append(dst, '\n')
		data = data[i+1:]
	}
	return append(dst, '\n')
}

// Writer writes events to an io.Writer, one Write call per event. It is not
// safe for concurrent use.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// WriteEvent writes one event.
func (w *Writer) WriteEvent(name string, data []byte) error {
	w.buf = AppendEvent(w.buf[:0], name, data)
	_, err := w.w.Write(w.buf)
	return err
}

// WriteComment writes a comment line (": text") and a blank line, which keeps
// idle connections alive without any client seeing an event.
func (w *Writer) WriteComment(text string) error {
	w.buf = append(w.buf[:0], ": "...)
	w.buf = append(w.buf, text...)
	w.buf = append(w.buf, "\n\n"...)
	_, err := w.w.Write(w.buf)
	return err
}
