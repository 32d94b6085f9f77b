package spnego

import (
	"testing"

	"github.com/gopsrp/gopsrp/internal/ntlm"
	"github.com/gopsrp/gopsrp/internal/peertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// MIT krb5's SPNEGO with gss-ntlmssp's NTLM inside, through python3-gssapi
// (testdata/mit_spnego_peer.py): an implementation independent of both
// pyspnego and ours, including its NTLM crypto-state reset.

func TestMITSPNEGOAcceptsOurClient(t *testing.T) {
	py := peertest.GSSNTLMSSP(t)
	peer := startPeerScript(t, py, "mit_spnego_peer.py", "", nil, "accept")
	peer.wholeWrap = true
	krb := newFakeInitiator(fakeOpts{name: "krb", rounds: 1, failStart: errNoKDC})
	c, err := NewClient(ClientMech{OID: oidKerberosMS, Initiator: krb}, ntlmClientMech(t, testPassword))
	require.NoError(t, err)
	ex, err := handshake(t, c, peer, nil)
	require.NoError(t, err, "peer stderr: %s", peer.child.Stderr())
	// Windows' shape: CHALLENGE with accept-incomplete, then
	// accept-completed with the NTLM signature as mechListMIC.
	require.Len(t, ex.toClient, 2)
	challenge := mustResp(t, ex.toClient[0])
	assert.Equal(t, stateAcceptIncomplete, challenge.state)
	assert.True(t, challenge.supportedMech.Equal(ntlm.OID))
	final := mustResp(t, ex.toClient[1])
	assert.Equal(t, stateAcceptCompleted, final.state)
	assert.Len(t, final.mechListMIC, 16)
	assert.True(t, c.Mech().Equal(ntlm.OID))
	assert.Equal(t, testUser, peer.UserName())
	checkWrap(t, c, peer)
}

func TestMITSPNEGOInitiatesToOurServer(t *testing.T) {
	py := peertest.GSSNTLMSSP(t)
	peer := startPeerScript(t, py, "mit_spnego_peer.py", "", nil, "initiate", testUser, testPassword)
	peer.wholeWrap = true
	s, err := NewServer(acceptMech(oidKerberos, krbLike, nil), ntlmServerMech(t))
	require.NoError(t, err)
	ex, err := handshake(t, peer, s, nil)
	require.NoError(t, err, "peer stderr: %s", peer.child.Stderr())
	require.Len(t, ex.toServer, 2)
	auth := mustResp(t, ex.toServer[1])
	assert.NotEmpty(t, auth.responseToken)
	assert.Len(t, auth.mechListMIC, 16, "MIT sends the NTLM mechListMIC with the AUTHENTICATE")
	assert.Equal(t, testUser, s.UserName())
	checkWrap(t, peer, s)
}
