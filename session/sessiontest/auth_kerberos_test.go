package sessiontest

import (
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/kdctest"
	"github.com/gopsrp/gopsrp/internal/kerberos"
	"github.com/gopsrp/gopsrp/internal/sealedbody"
	"github.com/gopsrp/gopsrp/internal/spnego"
)

// TestKerberos authenticates against a real MIT KDC (kdctest): the
// Kerberos scheme, a raw Kerberos token under Negotiate and SPNEGO with
// Kerberos, each followed by a sealed shell lifecycle; then channel
// bindings with CbtHardeningLevel Strict over HTTPS.
func TestKerberos(t *testing.T) {
	t.Parallel()
	kdc := kdctest.Start(t)
	kdc.AddUser(t, "carol", "Kerb-pw1")
	kt, err := keytab.Load(kdc.AddService(t, "HTTP/localhost"))
	require.NoError(t, err)
	cfg := kdc.Config(t)
	client := func(t *testing.T, pass string, cb *gss.ChannelBindings) *kerberos.Client {
		c, err := kerberos.NewClient(kerberos.ClientConfig{Username: "carol", Password: pass, Config: cfg, SPN: "HTTP/localhost", ChannelBindings: cb})
		require.NoError(t, err)
		return c
	}
	withKeytab := func(s *Server) { s.Keytab = kt }

	t.Run("schemes", func(t *testing.T) {
		for _, v := range []struct {
			name, scheme, protocol string
			spnego                 bool
		}{
			{"Kerberos", "Kerberos", sealedbody.ProtocolKerberos, false},
			{"Negotiate raw Kerberos", "Negotiate", sealedbody.ProtocolSPNEGO, false},
			{"Negotiate SPNEGO Kerberos", "Negotiate", sealedbody.ProtocolSPNEGO, true},
		} {
			t.Run(v.name, func(t *testing.T) {
				s := newAuthServer(t, false, withKeytab)
				var ini gss.Initiator = client(t, "Kerb-pw1", nil)
				if v.spnego {
					ini, err = spnego.NewClient(spnego.ClientMech{OID: kerberos.OIDMS, Initiator: ini}, spnego.ClientMech{OID: kerberos.OID, Initiator: ini})
					require.NoError(t, err)
				}
				rc := dial(t, s)
				r := rc.handshake(v.scheme, ini)
				require.Equal(t, 200, r.status)
				require.NotEmpty(t, r.token(t, v.scheme), "the AP-REP comes on the 200")
				require.True(t, ini.Established())
				assert.Equal(t, "carol", shellLifecycle(t, rc, ini, v.protocol))
			})
		}
	})

	t.Run("config reports Kerberos", func(t *testing.T) {
		s := newAuthServer(t, false, withKeytab)
		assert.Equal(t, []string{"Negotiate", "Kerberos"}, dial(t, s).plain(nil, nil).header.Values("WWW-Authenticate"))
	})

	t.Run("no keytab", func(t *testing.T) {
		s := newAuthServer(t, false, func(s *Server) { s.Auth = AuthConfig{Negotiate: true, Kerberos: true} })
		r := dial(t, s).handshake("Kerberos", client(t, "Kerb-pw1", nil))
		assert.Equal(t, 401, r.status)
	})

	t.Run("strict bindings", func(t *testing.T) {
		s := newAuthServer(t, true, func(s *Server) { s.Keytab = kt; s.CbtHardeningLevel = CbtStrict })
		r := dial(t, s).handshake("Kerberos", client(t, "Kerb-pw1", nil))
		assert.Equal(t, 401, r.status, "no bindings")
		other, _ := selfSignedCert()
		r = dial(t, s).handshake("Kerberos", client(t, "Kerb-pw1", gss.TLSServerEndPoint(other.Leaf)))
		assert.Equal(t, 401, r.status, "bindings of another channel")
		rc := dial(t, s)
		ini := client(t, "Kerb-pw1", gss.TLSServerEndPoint(s.Certificate()))
		require.Equal(t, 200, rc.handshake("Kerberos", ini).status)
		assert.Equal(t, "carol", shellLifecycle(t, rc, ini, sealedbody.ProtocolKerberos))
	})
}
