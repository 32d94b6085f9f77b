package sessiontest

import (
	"fmt"
	"net"
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
