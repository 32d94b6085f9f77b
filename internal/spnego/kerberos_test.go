package spnego

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/kdctest"
	"github.com/gopsrp/gopsrp/internal/kerberos"
	"github.com/gopsrp/gopsrp/internal/ntlm"
	"github.com/gopsrp/gopsrp/internal/peertest"
)

// Kerberos inside SPNEGO against a real MIT KDC (kdctest, which skips
// without krb5-kdc, or fails under CI=true).

const (
	krbUser     = "alice"
	krbPassword = "Passw0rd!"
	krbSPN      = "HTTP/localhost"
)

func TestKerberosInSPNEGO(t *testing.T) {
	k := kdctest.Start(t)
	k.AddUser(t, krbUser, krbPassword)
	ktPath := k.AddService(t, krbSPN)
	kt, err := keytab.Load(ktPath)
	require.NoError(t, err)

	krbClient := func(t *testing.T, spn string, mutual bool) gss.Initiator {
		c, err := kerberos.NewClient(kerberos.ClientConfig{
			Username: krbUser, Password: krbPassword, Config: k.Config(t), SPN: spn, DisableMutual: !mutual,
		})
		require.NoError(t, err)
		return c
	}
	krbAccept := func(oid []int) AcceptMech {
		return AcceptMech{OID: oid, New: func() (gss.Acceptor, error) {
			return kerberos.NewServer(kerberos.ServerConfig{Keytab: kt})
		}}
	}
	// What a Windows host offers.
	windowsServer := func(t *testing.T) *Server {
		s, err := NewServer(krbAccept(kerberos.OIDMS), krbAccept(kerberos.OID), ntlmServerMech(t))
		require.NoError(t, err)
		return s
	}

	t.Run("optimistic AP-REQ, mutual", func(t *testing.T) {
		c, err := NewClient(ClientMech{kerberos.OIDMS, krbClient(t, krbSPN, true)}, ntlmClientMech(t, testPassword))
		require.NoError(t, err)
		s := windowsServer(t)
		ex, err := handshake(t, c, s, nil)
		require.NoError(t, err)
		// One round trip: the AP-REP arrives with accept-completed (on
		// WinRM, in the HTTP 200).
		require.Len(t, ex.toServer, 1)
		init := mustInit(t, ex.toServer[0])
		assert.Equal(t, byte(0x60), init.mechToken[0], "the Kerberos token keeps its own framing")
		final := mustResp(t, ex.toClient[0])
		assert.Equal(t, stateAcceptCompleted, final.state)
		assert.True(t, final.supportedMech.Equal(kerberos.OIDMS))
		assert.NotEmpty(t, final.responseToken)
		assert.Empty(t, final.mechListMIC)
		assert.True(t, c.ServerAuthenticated())
		assert.Equal(t, "alice@"+k.Realm, s.UserName())
		checkWrap(t, c, s)
	})

	t.Run("without mutual authentication", func(t *testing.T) {
		c, err := NewClient(ClientMech{kerberos.OID, krbClient(t, krbSPN, false)})
		require.NoError(t, err)
		s := windowsServer(t)
		ex, err := handshake(t, c, s, nil)
		require.NoError(t, err)
		final := mustResp(t, ex.toClient[0])
		assert.Equal(t, stateAcceptCompleted, final.state)
		assert.Empty(t, final.responseToken)
		assert.False(t, c.ServerAuthenticated())
		checkWrap(t, c, s)
	})

	t.Run("not preferred: Kerberos mechListMIC both ways", func(t *testing.T) {
		c, err := NewClient(ClientMech{oidFakeX, newFakeInitiator(xLike)}, ClientMech{kerberos.OID, krbClient(t, krbSPN, true)})
		require.NoError(t, err)
		s, err := NewServer(krbAccept(kerberos.OID))
		require.NoError(t, err)
		ex, err := handshake(t, c, s, nil)
		require.NoError(t, err)
		assert.Equal(t, stateRequestMIC, mustResp(t, ex.toClient[0]).state)
		apRep := mustResp(t, ex.toClient[1])
		assert.NotEmpty(t, apRep.responseToken)
		assert.NotEmpty(t, apRep.mechListMIC, "the acceptor completes first and signs with the AP-REP")
		assert.NotEmpty(t, mustResp(t, ex.toServer[2]).mechListMIC)
		assert.Equal(t, vecRespDone, hexString(ex.toClient[2]))
		checkWrap(t, c, s)
	})

	t.Run("no ticket for the target: fallback to NTLM", func(t *testing.T) {
		// An IP address has no service principal: the TGS-REQ fails, and
		// the client offers NTLM alone.
		kc := krbClient(t, "HTTP/127.0.0.1", true)
		c, err := NewClient(ClientMech{kerberos.OIDMS, kc}, ClientMech{kerberos.OID, krbClient(t, "HTTP/127.0.0.1", true)},
			ntlmClientMech(t, testPassword))
		require.NoError(t, err)
		s := windowsServer(t)
		ex, err := handshake(t, c, s, nil)
		require.NoError(t, err)
		assert.Len(t, mustInit(t, ex.toServer[0]).mechTypes, 1)
		assert.True(t, c.Mech().Equal(ntlm.OID))
		assert.True(t, s.Mech().Equal(ntlm.OID))
		assert.Equal(t, testUser, s.UserName())
		checkWrap(t, c, s)
	})

	t.Run("MIT SPNEGO acceptor", func(t *testing.T) {
		py := peertest.GSSNTLMSSP(t)
		peer := startPeerScript(t, py, "mit_spnego_peer.py", "", append(k.Env(), "KRB5_KTNAME=FILE:"+ktPath), "accept")
		peer.wholeWrap = true
		c, err := NewClient(ClientMech{kerberos.OIDMS, krbClient(t, krbSPN, true)}, ntlmClientMech(t, testPassword))
		require.NoError(t, err)
		ex, err := handshake(t, c, peer, nil)
		require.NoError(t, err, "peer stderr: %s", peer.child.Stderr())
		final := mustResp(t, ex.toClient[0])
		assert.Equal(t, stateAcceptCompleted, final.state)
		assert.True(t, final.supportedMech.Equal(kerberos.OIDMS), "MIT answers with the OID we listed: %v", final.supportedMech)
		assert.True(t, c.ServerAuthenticated())
		assert.Equal(t, "alice@"+k.Realm, peer.UserName())
		checkWrap(t, c, peer)
	})

	t.Run("tampered AP-REP", func(t *testing.T) {
		c, err := NewClient(ClientMech{kerberos.OIDMS, krbClient(t, krbSPN, true)})
		require.NoError(t, err)
		s := windowsServer(t)
		flip := func(dir string, n int, tok []byte) []byte {
			if dir != "s2c" {
				return tok
			}
			r := mustResp(t, tok)
			r.responseToken = bytes.Clone(r.responseToken)
			r.responseToken[len(r.responseToken)-3] ^= 1
			out, err := r.marshal()
			require.NoError(t, err)
			return out
		}
		_, err = handshake(t, c, s, flip)
		require.Error(t, err)
		assert.False(t, c.Established())
		assert.ErrorIs(t, err, gss.ErrIntegrity)
	})
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
