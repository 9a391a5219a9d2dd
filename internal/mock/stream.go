package mock

import (
	"errors"
	"net/http"
	"time"

	"github.com/llmgate/llmgate/internal/sse"
)

var (
	errClientGone = errors.New("client went away")
	errEnded      = errors.New("stream ended by an injected error event")
)

// stream writes one streamed reply, event by event, flushing each and
// applying the stream faults (token_delay, cut_after, error_event_after,
// malformed). It is not safe for concurrent use.
type stream struct {
	x         *exchange
	rc        *http.ResponseController
	n         int   // events written
	content   bool  // an event with content has been sent
	err       error // sticky: once set, send does nothing
	buf       []byte
	crlf      bool // Gemini's \r\n line endings
	jsonArray bool // Gemini streamGenerateContent without alt=sse
}

// startStream sends the 200 headers of a stream.
func (x *exchange) startStream() *stream {
	s := &stream{x: x, rc: http.NewResponseController(x.w), buf: make([]byte, 0, 512)}
	x.setHeaders(false)
	if x.ep.kind == epStreamGenerate && !x.ep.sse {
		s.jsonArray = true
		x.setContentType(false)
	} else {
		s.crlf = x.ep.format == fmtGemini
		x.setContentType(true)
	}
	x.w.WriteHeader(http.StatusOK)
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.err = errClientGone
		x.gone = true
	}
	return s
}

// send writes one event; name is the SSE event name ("" for none). It
// reports whether the stream goes on.
func (s *stream) send(name string, data []byte) bool { return s.emit(name, data, false) }

// sendContent is send for an event that carries the model's output (a text
// delta, the start of a tool call): the first such event waits
// FirstTokenDelay, when set, instead of TokenDelay.
func (s *stream) sendContent(name string, data []byte) bool { return s.emit(name, data, true) }

func (s *stream) emit(name string, data []byte, content bool) bool {
	if s.err != nil {
		return false
	}
	x := s.x
	var delay time.Duration
	if s.n > 0 {
		delay = x.tokenDelay()
	}
	if content && !s.content {
		s.content = true
		if d := x.firstTokenDelay(); d > 0 {
			delay = d
		}
	}
	if !x.wait(delay) || x.clientGone() {
		s.err = errClientGone
		return false
	}
	if x.failing {
		f := &x.fault
		if f.CutAfter > 0 && s.n >= f.CutAfter {
			_ = s.rc.Flush()
			x.abort()
		}
		if f.ErrorEventAfter > 0 && s.n >= f.ErrorEventAfter {
			ename, edata := x.streamErrorEvent(s.n)
			s.write(ename, edata)
			if s.err == nil {
				s.err = errEnded
			}
			return false
		}
	}
	s.write(name, data)
	s.n++
	if x.failing && x.fault.Malformed && s.n == 1 {
		s.writeGarbage()
	}
	return s.err == nil
}

func (s *stream) write(name string, data []byte) {
	switch {
	case s.jsonArray:
		if s.n == 0 {
			s.buf = append(s.buf[:0], '[')
		} else {
			s.buf = append(s.buf[:0], ",\r\n"...)
		}
		s.buf = append(s.buf, data...)
	case s.crlf:
		s.buf = append(append(append(s.buf[:0], "data: "...), data...), "\r\n\r\n"...)
	default:
		s.buf = sse.AppendEvent(s.buf[:0], name, data)
	}
	s.flush()
}

func (s *stream) flush() {
	_, err := s.x.w.Write(s.buf)
	if err == nil {
		err = s.rc.Flush()
	}
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.err = errClientGone
		s.x.gone = true
	}
}

// writeGarbage writes an event whose data is cut-off JSON, under the event
// name clients dispatch on.
func (s *stream) writeGarbage() {
	x := s.x
	switch {
	case s.jsonArray:
		s.buf = append(s.buf[:0], `,{"candidates":[{"content":{"parts":[{"text":"gar`...)
	case s.crlf:
		s.buf = append(s.buf[:0], "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"gar\r\n\r\n"...)
	case x.ep.format == fmtAnthropic:
		s.buf = append(s.buf[:0], "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"gar\n\n"...)
	case x.ep.kind == epResponses:
		s.buf = append(s.buf[:0], "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"gar\n\n"...)
	default:
		s.buf = append(s.buf[:0], "data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"gar\n\n"...)
	}
	s.flush()
}

// end finishes the stream cleanly (the closing bracket of a JSON array
// stream; SSE streams just end).
func (s *stream) end() {
	if s.jsonArray && (s.err == nil || s.err == errEnded) {
		if s.n == 0 {
			s.buf = append(s.buf[:0], "[]"...)
		} else {
			s.buf = append(s.buf[:0], ']')
		}
		s.flush()
	}
}
