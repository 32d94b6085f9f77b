package sessiontest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Listen makes a server that is not started yet listen on addr
// ("127.0.0.1:5985"; port 0 picks one) instead of the port
// NewUnstartedServer picked, so that a standalone endpoint can take the
// port clients expect. The host must be a loopback address: the endpoint
// is for tests and never listens beyond this machine.
func (s *Server) Listen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("sessiontest: listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("sessiontest: listen %q: not a loopback address", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sessiontest: %w", err)
	}
	_ = s.ts.Listener.Close() // the port NewUnstartedServer picked, never served
	s.ts.Listener = l
	return nil
}

// pausableListener is the server's listening socket, which PauseListener
// closes and ResumeListener opens again on the same address, as a WinRM
// service restart or a host that refuses connections for a while would.
// Accept blocks while it is paused, so that the HTTP server keeps serving
// once it resumes.
type pausableListener struct {
	addr net.Addr

	mu      sync.Mutex
	inner   net.Listener  // nil while paused
	changed chan struct{} // closed and replaced when inner changes
	closed  bool
}

func newPausableListener(l net.Listener) *pausableListener {
	return &pausableListener{addr: l.Addr(), inner: l, changed: make(chan struct{})}
}

func (p *pausableListener) Accept() (net.Conn, error) {
	for {
		p.mu.Lock()
		inner, changed, closed := p.inner, p.changed, p.closed
		p.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		if inner == nil {
			<-changed // paused: wait for Resume or Close
			continue
		}
		c, err := inner.Accept()
		if err == nil {
			return c, nil
		}
		p.mu.Lock()
		swapped := p.inner != inner || p.closed
		p.mu.Unlock()
		if !swapped {
			return nil, err
		}
	}
}

func (p *pausableListener) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var err error
	if p.inner != nil {
		err = p.inner.Close()
		p.inner = nil
	}
	close(p.changed)
	return err
}

func (p *pausableListener) Addr() net.Addr { return p.addr }

// pause closes the socket: connections are refused until resume.
func (p *pausableListener) pause() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.inner == nil {
		return nil
	}
	err := p.inner.Close()
	p.inner = nil
	close(p.changed)
	p.changed = make(chan struct{})
	return err
}

// resume listens on the same address again.
func (p *pausableListener) resume() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return net.ErrClosed
	}
	if p.inner != nil {
		return nil
	}
	l, err := net.Listen("tcp", p.addr.String())
	if err != nil {
		return fmt.Errorf("sessiontest: listen again on %v: %w", p.addr, err)
	}
	p.inner = l
	close(p.changed)
	p.changed = make(chan struct{})
	return nil
}

// PauseListener closes the server's listening socket and every client
// connection, as a WinRM service restart or a network outage would: new
// connections are refused until ResumeListener. Shells, their commands and
// their output survive. It fails if the server was not started.
func (s *Server) PauseListener() error {
	p := s.listener
	if p == nil {
		return errors.New("sessiontest: PauseListener: the server is not started")
	}
	err := p.pause()
	s.ts.CloseClientConnections()
	return err
}

// ResumeListener listens again on the address PauseListener closed.
func (s *Server) ResumeListener() error {
	p := s.listener
	if p == nil {
		return errors.New("sessiontest: ResumeListener: the server is not started")
	}
	return p.resume()
}

// RestartListener closes the listening socket and every client connection,
// refuses connections for down, and listens again on the same address: a
// WinRM service restart that keeps its shells. It blocks for down.
func (s *Server) RestartListener(down time.Duration) error {
	if err := s.PauseListener(); err != nil {
		return err
	}
	t := time.NewTimer(down)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
		return net.ErrClosed
	}
	return s.ResumeListener()
}
