package sessiontest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// NewTLSServer serves HTTPS, and its Client (trusting the certificate) is
// the one option a session needs; with Users, Credentials adds the rest.
func TestNewTLSServerNeedsOneOption(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	srv := sessiontest.NewTLSServer()
	defer srv.Close()
	require.True(t, strings.HasPrefix(srv.URL, "https://127.0.0.1:"), srv.URL)
	require.NotNil(t, srv.Certificate())
	user, password := srv.Credentials()
	assert.Empty(t, user+password, "no Users, no credentials")
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	res, err := s.InvokeScript(ctx, "Write-Output ok")
	require.NoError(t, err)
	assert.Equal(t, []any{"ok"}, res.Output)
	require.NoError(t, s.Close(ctx))

	authed := sessiontest.NewUnstartedServer()
	authed.Users = map[string]string{"zoe": "pw-z", "alice": "pw-a"}
	authed.StartTLS()
	defer authed.Close()
	user, password = authed.Credentials()
	assert.Equal(t, "alice", user)
	assert.Equal(t, "pw-a", password)
	s, err = session.New(ctx, authed.URL, session.WithHTTPClient(authed.Client()), session.WithBasicAuth(authed.Credentials()))
	require.NoError(t, err)
	res, err = s.InvokeScript(ctx, "Write-Output authenticated")
	require.NoError(t, err)
	assert.Equal(t, []any{"authenticated"}, res.Output)
	require.NoError(t, s.Close(ctx))
}
