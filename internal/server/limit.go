package server

import (
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// overCapBody is what a connection over the cap is told before it is
// closed, in a body each client SDK can read (OpenAI's error.message,
// Anthropic's type and error.type, Gemini's error.code and error.status).
const overCapBody = `{"type":"error","error":{"type":"overloaded_error","code":503,"status":"UNAVAILABLE","message":"llmgate has too many open connections (server.max_connections); retry shortly"}}`

var overCapResponse = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: application/json\r\n" +
	"Retry-After: 1\r\n" +
	"Connection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(overCapBody)) + "\r\n" +
	"\r\n" + overCapBody)

// maxLingering bounds the rejected connections drained at once (see
// reject); past it they are closed without waiting.
const maxLingering = 64

// LimitListener returns a Listener that keeps at most max connections
// from l open at once. Unlike golang.org/x/net/netutil.LimitListener, which
// stops accepting and leaves clients waiting in the kernel's backlog for
// as long as the cap is reached, a connection over the cap is accepted,
// answered 503 with Retry-After and closed at once, so a client is never
// held without an answer; onReject (may be nil) counts it. max <= 0 returns
// l unchanged. It is safe for concurrent use.
func LimitListener(l net.Listener, max int, onReject func()) net.Listener {
	if max <= 0 {
		return l
	}
	return &limitListener{Listener: l, slots: make(chan struct{}, max), linger: make(chan struct{}, maxLingering), onReject: onReject}
}

type limitListener struct {
	net.Listener
	slots    chan struct{} // one token per open connection
	linger   chan struct{} // one token per rejected connection being drained
	onReject func()
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			l.reject(c)
		}
	}
}

// reject answers c 503 and closes it. The write goes to a fresh socket's
// empty send buffer, so it does not block Accept. Closing a socket with
// unread request bytes makes the kernel send a reset that can destroy the
// answer before the client reads it, so the write side is shut first and
// what the client sent is drained for up to a second on a goroutine (at
// most maxLingering at once) before the close.
func (l *limitListener) reject(c net.Conn) {
	if l.onReject != nil {
		l.onReject()
	}
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write(overCapResponse); err != nil {
		_ = c.Close()
		return
	}
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		_ = c.Close()
		return
	}
	select {
	case l.linger <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	_ = cw.CloseWrite()
	go func() {
		defer func() { <-l.linger }()
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<20))
		_ = c.Close()
	}()
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
