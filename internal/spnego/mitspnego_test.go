package spnego

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gopsrp/gopsrp/internal/ntlm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// MIT krb5's SPNEGO with gss-ntlmssp's NTLM inside, through python3-gssapi
// (testdata/mit_spnego_peer.py): an implementation independent of both
// pyspnego and ours, including its NTLM crypto-state reset.

// gssNTLMSSPLib is where Debian's gss-ntlmssp puts its plugin (registered
// in /etc/gss/mech.d), whatever the architecture.
const gssNTLMSSPLib = "/usr/lib/*/gssntlmssp/gssntlmssp.so"

// requireMITSPNEGO skips the test (fails it under CI=true) without
// python3-gssapi and gss-ntlmssp.
func requireMITSPNEGO(t *testing.T) {
	t.Helper()
	fail := func(why string) {
		msg := "MIT SPNEGO + gss-ntlmssp peer: " + why + " (needs Debian's python3-gssapi and gss-ntlmssp)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if libs, _ := filepath.Glob(gssNTLMSSPLib); len(libs) == 0 {
		fail("no " + gssNTLMSSPLib)
	}
	if out, err := exec.Command(peerPython, "-c", "import gssapi").CombinedOutput(); err != nil {
		fail(fmt.Sprintf("%v: %s", err, out))
	}
}

func TestMITSPNEGOAcceptsOurClient(t *testing.T) {
	requireMITSPNEGO(t)
	peer := startPeerScript(t, "mit_spnego_peer.py", "", nil, "accept")
	peer.wholeWrap = true
	krb := newFakeInitiator(fakeOpts{name: "krb", rounds: 1, failStart: errNoKDC})
	c, err := NewClient(ClientMech{OID: oidKerberosMS, Initiator: krb}, ntlmClientMech(t, testPassword))
	require.NoError(t, err)
	ex, err := handshake(t, c, peer, nil)
	require.NoError(t, err, "peer stderr: %s", peer.stderr)
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
	requireMITSPNEGO(t)
	peer := startPeerScript(t, "mit_spnego_peer.py", "", nil, "initiate", testUser, testPassword)
	peer.wholeWrap = true
	s, err := NewServer(acceptMech(oidKerberos, krbLike, nil), ntlmServerMech(t))
	require.NoError(t, err)
	ex, err := handshake(t, peer, s, nil)
	require.NoError(t, err, "peer stderr: %s", peer.stderr)
	require.Len(t, ex.toServer, 2)
	auth := mustResp(t, ex.toServer[1])
	assert.NotEmpty(t, auth.responseToken)
	assert.Len(t, auth.mechListMIC, 16, "MIT sends the NTLM mechListMIC with the AUTHENTICATE")
	assert.Equal(t, testUser, s.UserName())
	checkWrap(t, peer, s)
}
