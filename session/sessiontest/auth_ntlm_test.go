package sessiontest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/ntlm"
	"github.com/gopsrp/gopsrp/internal/sealedbody"
	"github.com/gopsrp/gopsrp/internal/spnego"
	"github.com/gopsrp/gopsrp/wsman"
)

// ntlmInitiator returns a raw NTLM client, or one wrapped in SPNEGO.
func ntlmInitiator(t *testing.T, wrapped bool, user, pass string, cb *gss.ChannelBindings) gss.Initiator {
	t.Helper()
	c, err := ntlm.NewClient(ntlm.ClientConfig{Username: user, Password: pass, ChannelBindings: cb})
	require.NoError(t, err)
	if !wrapped {
		return c
	}
	sc, err := spnego.NewClient(spnego.ClientMech{OID: ntlm.OID, Initiator: c})
	require.NoError(t, err)
	return sc
}

var ntlmVariants = []struct {
	name    string
	wrapped bool
}{{"raw NTLM", false}, {"SPNEGO NTLM", true}}

func TestNTLMSealedShell(t *testing.T) {
	t.Parallel()
	for _, v := range ntlmVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newAuthServer(t, false, func(s *Server) { s.Auth = AuthConfig{Negotiate: true} })
			rc := dial(t, s)
			ini := ntlmInitiator(t, v.wrapped, `WORKGROUP\Alice`, "pw-a", nil)
			r := rc.handshake("Negotiate", ini)
			require.Equal(t, 200, r.status)
			require.True(t, ini.Established())
			assert.Equal(t, "alice", shellLifecycle(t, rc, ini, sealedbody.ProtocolSPNEGO))

			// Plaintext on the authenticated connection: refused as Windows does.
			pr := rc.plain(nil, env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes())
			assert.Equal(t, 500, pr.status)
		})
	}
}

func TestNTLMWrongCredentials(t *testing.T) {
	t.Parallel()
	for _, v := range ntlmVariants {
		for _, c := range []struct{ name, user, pass string }{
			{"wrong password", "alice", "pw-b"},
			{"unknown user", "mallory", "pw-a"},
		} {
			t.Run(v.name+" "+c.name, func(t *testing.T) {
				t.Parallel()
				s := newAuthServer(t, false, nil)
				rc := dial(t, s)
				r := rc.handshake("Negotiate", ntlmInitiator(t, v.wrapped, c.user, c.pass, nil))
				assert.Equal(t, 401, r.status)
				assert.Equal(t, []string{"Negotiate"}, r.header.Values("WWW-Authenticate"))
				assert.Empty(t, r.body)
				assert.Empty(t, s.Shells())
			})
		}
	}
}

func TestNTLMChannelBindingsStrict(t *testing.T) {
	t.Parallel()
	for _, v := range ntlmVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newAuthServer(t, true, func(s *Server) { s.CbtHardeningLevel = CbtStrict })
			// Without bindings: refused.
			r := dial(t, s).handshake("Negotiate", ntlmInitiator(t, v.wrapped, "alice", "pw-a", nil))
			assert.Equal(t, 401, r.status)
			// With the bindings of another certificate: refused.
			other, _ := selfSignedCert()
			r = dial(t, s).handshake("Negotiate", ntlmInitiator(t, v.wrapped, "alice", "pw-a", gss.TLSServerEndPoint(other.Leaf)))
			assert.Equal(t, 401, r.status)
			// With the channel's bindings: accepted, and sealing works over TLS too.
			rc := dial(t, s)
			ini := ntlmInitiator(t, v.wrapped, "alice", "pw-a", gss.TLSServerEndPoint(s.Certificate()))
			require.Equal(t, 200, rc.handshake("Negotiate", ini).status)
			assert.Equal(t, "alice", shellLifecycle(t, rc, ini, sealedbody.ProtocolSPNEGO))
		})
	}
}

func TestNTLMChannelBindingsRelaxed(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t, true, nil)
	r := dial(t, s).handshake("Negotiate", ntlmInitiator(t, true, "alice", "pw-a", nil))
	assert.Equal(t, 200, r.status, "no bindings is fine when Relaxed")
	other, _ := selfSignedCert()
	r = dial(t, s).handshake("Negotiate", ntlmInitiator(t, true, "alice", "pw-a", gss.TLSServerEndPoint(other.Leaf)))
	assert.Equal(t, 401, r.status, "wrong bindings are not")
}

func TestNTLMTamperedBody(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t, false, nil)
	rc := dial(t, s)
	ini := ntlmInitiator(t, true, "alice", "pw-a", nil)
	require.Equal(t, 200, rc.handshake("Negotiate", ini).status)
	ct, body, err := sealedbody.Seal(ini, sealedbody.ProtocolSPNEGO, env{action: wsman.ActionCreate, body: createBody("", "pool")}.bytes(), 0)
	require.NoError(t, err)
	body[len(body)-30] ^= 0x40
	r := rc.post(nil, ct, body)
	assert.Equal(t, 400, r.status)
	assert.True(t, r.close)
	assert.Empty(t, s.Shells(), "nothing processed")
}
