// Package endpointtest starts the emulated endpoint (session/sessiontest) as
// the authentication tests of several packages want it: a default Windows
// host with users, the given schemes and encryption required. Test-only.
package endpointtest

import (
	"testing"

	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// Start starts an endpoint with users and the schemes of enabled, over TLS
// if useTLS, after configure (if not nil) has set anything else; it is
// closed when the test ends.
func Start(t testing.TB, useTLS bool, users map[string]string, enabled sessiontest.AuthConfig, configure func(*sessiontest.Server)) *sessiontest.Server {
	t.Helper()
	srv := sessiontest.NewUnstartedServer()
	srv.Users = users
	srv.Auth = enabled
	if configure != nil {
		configure(srv)
	}
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}
