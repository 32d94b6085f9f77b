package sessiontest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/credssp"
	"github.com/gopsrp/gopsrp/internal/sealedbody"
	"github.com/gopsrp/gopsrp/wsman"
)

func credsspInitiator(t *testing.T, wrapped bool, user, pass string) *credssp.Client {
	t.Helper()
	c, err := credssp.NewClient(credssp.ClientConfig{Username: user, Password: pass, Inner: ntlmInitiator(t, wrapped, user, pass, nil)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestCredSSPSealedShellAndDelegation(t *testing.T) {
	t.Parallel()
	for _, v := range ntlmVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newAuthServer(t, false, func(s *Server) { s.Auth = AuthConfig{CredSSP: true} })
			rc := dial(t, s)
			ini := credsspInitiator(t, v.wrapped, `WORKGROUP\alice`, "pw-a")
			r := rc.handshake("CredSSP", ini)
			require.Equal(t, 200, r.status)
			require.True(t, ini.Established())
			assert.Equal(t, []DelegatedCredential{{User: "alice", Domain: "WORKGROUP", UserName: "alice", Password: "pw-a"}}, s.DelegatedCredentials())
			assert.Equal(t, "alice", shellLifecycle(t, rc, ini, sealedbody.ProtocolCredSSP))

			// A 40 KB message travels in 16 KiB TLS chunks both ways.
			big := strings.Repeat("y", 40000)
			rep := rc.sealed(ini, sealedbody.ProtocolCredSSP, env{action: wsman.ActionCreate, body: createBody("", big)}.bytes())
			require.Equal(t, 200, rep.status, string(rep.body))
			id := rep.tree.find("Body", "Shell", "ShellId").Text
			ct, body, err := sealedbody.Seal(ini, sealedbody.ProtocolCredSSP, env{action: wsman.ActionReceive, shellID: id, body: receiveBody("")}.bytes(), sealedbody.CredSSPChunkSize)
			require.NoError(t, err)
			resp := rc.post(nil, ct, body)
			assert.Contains(t, resp.header.Get("Content-Type"), sealedbody.TypeMultiEncrypted)
			rep = rc.openReply(ini, resp)
			assert.Equal(t, [][]byte{[]byte("opened:" + big)}, rep.streams(t))
		})
	}
}

func TestCredSSPWrongPassword(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t, false, func(s *Server) { s.Auth = AuthConfig{CredSSP: true} })
	rc := dial(t, s)
	ini := credsspInitiator(t, true, "alice", "wrong")
	var in []byte
	var last *response
	for i := 0; i < 10; i++ {
		out, err := ini.Step(t.Context(), in)
		if err != nil {
			break // the client read the server's errorCode
		}
		last = rc.post(map[string][]string{"Authorization": {"CredSSP " + b64bytes(out)}}, "", nil)
		require.Equal(t, 401, last.status)
		in = last.token(t, "CredSSP")
		if len(in) == 0 {
			break
		}
	}
	require.NotNil(t, last)
	assert.Equal(t, 401, last.status)
	assert.Empty(t, s.DelegatedCredentials())
	r := rc.plain(nil, env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes())
	assert.Equal(t, 401, r.status)
}
