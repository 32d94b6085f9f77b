package credssp

import (
	"errors"
	"net"
	"sync"
	"time"
)

// memConn is the net.Conn under the inner crypto/tls session: what TLS
// writes is collected for the next token, and what TLS reads comes from the
// tokens Step receives.
//
// During the handshake, TLS runs in its own goroutine and Read blocks until
// Step supplies the next token; before blocking it signals blocked, which
// tells Step that TLS has written all it can and waits for the peer. After
// the handshake Read never blocks: with no input left it returns
// errWouldBlock, a temporary net.Error that crypto/tls passes back to the
// caller without failing the connection.
type memConn struct {
	mu       sync.Mutex
	in       [][]byte // pending input, in order
	out      []byte   // written by TLS since the last take
	blocking bool
	closed   bool

	blocked   chan struct{} // Read is waiting for input (unbuffered)
	feed      chan []byte   // the next token for a waiting Read (unbuffered)
	closeOnce sync.Once
	closeCh   chan struct{}
}

func newMemConn() *memConn {
	return &memConn{
		blocking: true,
		blocked:  make(chan struct{}),
		feed:     make(chan []byte),
		closeCh:  make(chan struct{}),
	}
}

// wouldBlockError is returned by Read when no input is left after the
// handshake.
type wouldBlockError struct{}

func (wouldBlockError) Error() string   { return "credssp: no more TLS input" }
func (wouldBlockError) Timeout() bool   { return true }
func (wouldBlockError) Temporary() bool { return true }

var errWouldBlock net.Error = wouldBlockError{}

// Read implements net.Conn.
func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	for {
		for len(c.in) > 0 && len(c.in[0]) == 0 {
			c.in = c.in[1:]
		}
		if len(c.in) > 0 {
			n := copy(p, c.in[0])
			c.in[0] = c.in[0][n:]
			c.mu.Unlock()
			return n, nil
		}
		if c.closed {
			c.mu.Unlock()
			return 0, net.ErrClosed
		}
		if !c.blocking {
			c.mu.Unlock()
			return 0, errWouldBlock
		}
		c.mu.Unlock()
		// Rendezvous with Step: both channels are unbuffered, so a signal
		// is never stale and Step returns only once TLS waits.
		select {
		case c.blocked <- struct{}{}:
			select {
			case b := <-c.feed:
				c.mu.Lock()
				c.in = append(c.in, b)
				continue
			case <-c.closeCh:
			}
		case <-c.closeCh:
		}
		c.mu.Lock()
	}
}

// Write implements net.Conn: it keeps p for the next token.
func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	c.out = append(c.out, p...)
	return len(p), nil
}

// supply queues input for Read when no Read is waiting (before the
// handshake goroutine starts, or after the handshake). The slices are read
// in place, not copied.
func (c *memConn) supply(bufs ...[]byte) {
	c.mu.Lock()
	c.in = append(c.in, bufs...)
	c.mu.Unlock()
}

// discardInput drops unread input.
func (c *memConn) discardInput() {
	c.mu.Lock()
	c.in = nil
	c.mu.Unlock()
}

// take returns what TLS wrote since the last take, and gives the next
// writes a fresh buffer of capacity hint, so the result is never reused.
func (c *memConn) take(hint int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.out
	c.out = make([]byte, 0, hint)
	return out
}

// setNonBlocking switches Read to its post-handshake behaviour.
func (c *memConn) setNonBlocking() {
	c.mu.Lock()
	c.blocking = false
	c.mu.Unlock()
}

// Close implements net.Conn; it also releases a reader blocked in the
// handshake goroutine.
func (c *memConn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.in = nil
		c.mu.Unlock()
		close(c.closeCh)
	})
	return nil
}

// memAddr is the address of both ends of a memConn.
type memAddr struct{}

func (memAddr) Network() string { return "credssp" }
func (memAddr) String() string  { return "credssp" }

// LocalAddr implements net.Conn.
func (c *memConn) LocalAddr() net.Addr { return memAddr{} }

// RemoteAddr implements net.Conn.
func (c *memConn) RemoteAddr() net.Addr { return memAddr{} }

// SetDeadline implements net.Conn; deadlines do not apply in memory.
func (c *memConn) SetDeadline(time.Time) error { return nil }

// SetReadDeadline implements net.Conn.
func (c *memConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline implements net.Conn.
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// isWouldBlock reports whether err is the end of the supplied input.
func isWouldBlock(err error) bool {
	var w wouldBlockError
	return errors.As(err, &w)
}
