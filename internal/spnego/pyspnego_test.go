package spnego

import (
	"context"
	"encoding/asn1"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/ntlm"
	"github.com/gopsrp/gopsrp/internal/peertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pyspnego's own SPNEGO (NegotiateProxy, pure Python, in
// ../shared/peers/pyspnego-0.12.0) talks to ours through
// testdata/pyspnego_peer.py under Debian's python3 with
// python3-cryptography.

// pyPeer is the child process; it implements gss.Initiator and
// gss.Acceptor by forwarding to it.
type pyPeer struct {
	t        *testing.T
	child    *peertest.Child
	complete bool
	// wholeWrap: the peer's wrap answers one token, which Wrap splits
	// into header and data by the plaintext's length (the data is as long
	// as the plaintext for NTLM and for Kerberos AES).
	wholeWrap bool
}

func startPyPeer(t *testing.T, args ...string) *pyPeer {
	t.Helper()
	src := peertest.PeerSource(t, peertest.Pyspnego, "spnego/_negotiate.py")
	py := peertest.Python(t, src, "cryptography", "spnego._negotiate")
	return startPeerScript(t, py, "pyspnego_peer.py", src, nil, args...)
}

// startPeerScript runs testdata/script under py with PYTHONPATH
// pythonPath, a users file for NTLM acceptors and an empty private
// Kerberos configuration.
func startPeerScript(t *testing.T, py, script, pythonPath string, env []string, args ...string) *pyPeer {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	require.NoError(t, os.WriteFile(users, []byte("EXAMPLE:alice:"+testPassword+"\n"), 0o600))
	// A private, empty Kerberos configuration: the peer must not read the
	// host's krb5.conf or find a ticket cache.
	krb5conf := filepath.Join(dir, "krb5.conf")
	require.NoError(t, os.WriteFile(krb5conf, nil, 0o600))

	cmd := exec.Command(py, append([]string{filepath.Join("testdata", script)}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+pythonPath, "NTLM_USER_FILE="+users,
		"KRB5_CONFIG="+krb5conf, "KRB5CCNAME=FILE:"+filepath.Join(dir, "ccache"))
	cmd.Env = append(cmd.Env, env...)
	return &pyPeer{t: t, child: peertest.Start(t, script, cmd)}
}

func (p *pyPeer) Step(_ context.Context, in []byte) ([]byte, error) {
	r, err := p.child.Call("step", peertest.Encode(in))
	if err != nil {
		return nil, err
	}
	require.Len(p.t, r, 2)
	p.complete = r[1] == "1"
	return peertest.Decode(p.t, r[0]), nil
}

func (p *pyPeer) Established() bool { return p.complete }

func (p *pyPeer) Wrap(msg []byte) ([]byte, []byte, error) {
	r, err := p.child.Call("wrap", peertest.Encode(msg))
	if err != nil {
		return nil, nil, err
	}
	if p.wholeWrap {
		require.Len(p.t, r, 1)
		tok := peertest.Decode(p.t, r[0])
		require.Greater(p.t, len(tok), len(msg))
		n := len(tok) - len(msg)
		return tok[:n], tok[n:], nil
	}
	require.Len(p.t, r, 2)
	return peertest.Decode(p.t, r[0]), peertest.Decode(p.t, r[1]), nil
}

func (p *pyPeer) Unwrap(header, data []byte) ([]byte, error) {
	r, err := p.child.Call("unwrap", peertest.Encode(header), peertest.Encode(data))
	if err != nil {
		return nil, err
	}
	require.Len(p.t, r, 1)
	return peertest.Decode(p.t, r[0]), nil
}

func (p *pyPeer) UserName() string {
	r, err := p.child.Call("name")
	require.NoError(p.t, err)
	return strings.Join(r, " ")
}

var (
	_ gss.Initiator = (*pyPeer)(nil)
	_ gss.Acceptor  = (*pyPeer)(nil)
)

// pyspnego's acceptor prefers Kerberos, so it answers our NTLM-only list
// (Kerberos could not start) with request-mic; NTLM's MICs follow.
func TestPyspnegoAcceptsOurClient(t *testing.T) {
	peer := startPyPeer(t, "accept")
	krb := newFakeInitiator(fakeOpts{name: "krb", rounds: 1, failStart: errNoKDC})
	c, err := NewClient(ClientMech{OID: oidKerberosMS, Initiator: krb}, ntlmClientMech(t, testPassword))
	require.NoError(t, err)
	ex, err := handshake(t, c, peer, nil)
	require.NoError(t, err, "peer stderr: %s", peer.child.Stderr())
	first := mustResp(t, ex.toClient[0])
	assert.Equal(t, stateRequestMIC, first.state)
	assert.True(t, first.supportedMech.Equal(ntlm.OID))
	assert.NotEmpty(t, mustResp(t, ex.toServer[1]).mechListMIC)
	last := mustResp(t, ex.toClient[len(ex.toClient)-1])
	assert.Equal(t, stateAcceptCompleted, last.state)
	assert.NotEmpty(t, last.mechListMIC)
	assert.Equal(t, testUser, peer.UserName())
	assert.True(t, c.Mech().Equal(ntlm.OID))
	checkWrap(t, c, peer)
}

func TestPyspnegoInitiatesToOurServer(t *testing.T) {
	peer := startPyPeer(t, "initiate", testUser, testPassword)
	s, err := NewServer(acceptMech(oidKerberos, krbLike, nil), ntlmServerMech(t))
	require.NoError(t, err)
	ex, err := handshake(t, peer, s, nil)
	require.NoError(t, err, "peer stderr: %s", peer.child.Stderr())
	init := mustInit(t, ex.toServer[0])
	assert.Equal(t, []asn1.ObjectIdentifier{ntlm.OID}, init.mechTypes, "pyspnego drops Kerberos without gssapi")
	auth := mustResp(t, ex.toServer[1])
	assert.NotEmpty(t, auth.mechListMIC, "pyspnego sends the NTLM mechListMIC with the AUTHENTICATE")
	assert.Equal(t, stateAcceptCompleted, mustResp(t, ex.toClient[1]).state)
	assert.Equal(t, testUser, s.UserName())
	assert.True(t, s.Mech().Equal(ntlm.OID))
	checkWrap(t, peer, s)
}

func TestPyspnegoRejectsWrongPassword(t *testing.T) {
	peer := startPyPeer(t, "accept")
	c, err := NewClient(ntlmClientMech(t, "Hunter2-bad"))
	require.NoError(t, err)
	_, err = handshake(t, c, peer, nil)
	require.Error(t, err)
	assert.False(t, c.Established())
}
