package auth

import (
	"context"
	"net"
	"net/http/httptrace"
	"sync/atomic"
)

// trackedConn tags a connection a channel's transport dialled, so that the
// channel can tell which connection a request actually went out on.
type trackedConn struct {
	net.Conn
	closed atomic.Bool
}

// Close marks the connection closed (http.Transport closes connections the
// server hung up on) and closes it.
func (c *trackedConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

// unwrapConn finds the trackedConn under c: c itself, or under a *tls.Conn
// (or any wrapper with NetConn), possibly twice over a TLS proxy.
func unwrapConn(c net.Conn) *trackedConn {
	for range 4 {
		switch v := c.(type) {
		case *trackedConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// dialFunc is the shape of http.Transport.DialContext.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// trackDial wraps dial so that every connection it makes is a trackedConn.
func trackDial(dial dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &trackedConn{Conn: c}, nil
	}
}

// connTrace records the connection a request got from http.Transport. It
// is set again on every attempt of a silent retry.
type connTrace struct {
	conn atomic.Pointer[trackedConn]
	// got is set once GotConn ran, so that a nil conn means "unknown".
	got atomic.Bool
	// wrote is set when the whole request went out on conn.
	wrote atomic.Bool
}

// withConnTrace returns ctx with a ClientTrace feeding a new connTrace;
// any trace already in ctx still runs.
func withConnTrace(ctx context.Context) (context.Context, *connTrace) {
	ct := &connTrace{}
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			ct.wrote.Store(false)
			ct.conn.Store(unwrapConn(info.Conn))
			ct.got.Store(true)
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			ct.wrote.Store(info.Err == nil)
		},
	}), ct
}
