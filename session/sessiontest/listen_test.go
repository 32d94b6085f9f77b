package sessiontest

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Listen takes a chosen loopback address and refuses any other; the
// server then serves there, with TLSCertificate when it is set.
func TestListenAndTLSCertificate(t *testing.T) {
	t.Parallel()
	s := NewUnstartedServer()
	defer s.Close()
	for _, bad := range []string{"0.0.0.0:0", "example.com:80", "no-port"} {
		assert.Error(t, s.Listen(bad), bad)
	}
	// Find a free port, then ask for it by number.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	require.NoError(t, s.Listen(addr))

	cert, leaf := selfSignedCert()
	cert.Leaf = nil // StartTLS parses it
	s.TLSCertificate = &cert
	s.StartTLS()
	assert.True(t, strings.HasPrefix(s.URL, "https://"+addr+"/"), s.URL)
	assert.Equal(t, leaf.Raw, s.Certificate().Raw)

	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, err)
	defer conn.Close()
	assert.Equal(t, leaf.Raw, conn.ConnectionState().PeerCertificates[0].Raw)
}
