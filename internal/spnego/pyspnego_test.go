package spnego

import (
	"bufio"
	"bytes"
	"context"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/ntlm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pyspnego's own SPNEGO (NegotiateProxy, pure Python, in
// ../shared/peers/pyspnego-0.12.0) talks to ours through
// testdata/pyspnego_peer.py under Debian's python3 with
// python3-cryptography.

const peerPython = "/usr/bin/python3"

// requirePyspnego returns pyspnego's PYTHONPATH, or skips the test (fails
// it under CI=true) when the peer cannot run.
func requirePyspnego(t *testing.T) string {
	t.Helper()
	fail := func(why string) {
		msg := "pyspnego SPNEGO peer: " + why +
			" (needs Debian's /usr/bin/python3, python3-cryptography and ../shared/peers/pyspnego-0.12.0)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "peers", "pyspnego-0.12.0", "src")
	if _, err := os.Stat(filepath.Join(src, "spnego", "_negotiate.py")); err != nil {
		fail(err.Error())
	}
	if _, err := os.Stat(peerPython); err != nil {
		fail(err.Error())
	}
	cmd := exec.Command(peerPython, "-c", "import cryptography, spnego._negotiate")
	cmd.Env = append(os.Environ(), "PYTHONPATH="+src)
	if out, err := cmd.CombinedOutput(); err != nil {
		fail(fmt.Sprintf("%v: %s", err, out))
	}
	return src
}

// pyPeer is the child process; it implements gss.Initiator and
// gss.Acceptor by forwarding to it.
type pyPeer struct {
	t        *testing.T
	stdin    io.WriteCloser
	out      *bufio.Reader
	stderr   *bytes.Buffer
	complete bool
	// wholeWrap: the peer's wrap answers one token, which Wrap splits
	// into header and data by the plaintext's length (the data is as long
	// as the plaintext for NTLM and for Kerberos AES).
	wholeWrap bool
}

func startPyPeer(t *testing.T, args ...string) *pyPeer {
	t.Helper()
	return startPeerScript(t, "pyspnego_peer.py", requirePyspnego(t), nil, args...)
}

// startPeerScript runs testdata/script with PYTHONPATH pythonPath, a users
// file for NTLM acceptors and an empty private Kerberos configuration.
func startPeerScript(t *testing.T, script, pythonPath string, env []string, args ...string) *pyPeer {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	require.NoError(t, os.WriteFile(users, []byte("EXAMPLE:alice:"+testPassword+"\n"), 0o600))
	// A private, empty Kerberos configuration: the peer must not read the
	// host's krb5.conf or find a ticket cache.
	krb5conf := filepath.Join(dir, "krb5.conf")
	require.NoError(t, os.WriteFile(krb5conf, nil, 0o600))

	cmd := exec.Command(peerPython, append([]string{filepath.Join("testdata", script)}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+pythonPath, "NTLM_USER_FILE="+users,
		"KRB5_CONFIG="+krb5conf, "KRB5CCNAME=FILE:"+filepath.Join(dir, "ccache"))
	cmd.Env = append(cmd.Env, env...)
	p := &pyPeer{t: t, stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	var err error
	p.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p.out = bufio.NewReaderSize(stdout, 1<<20)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		p.stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return p
}

func (p *pyPeer) call(args ...string) ([]string, error) {
	p.t.Helper()
	if _, err := fmt.Fprintln(p.stdin, strings.Join(args, " ")); err != nil {
		p.t.Fatalf("write to peer: %v (stderr: %s)", err, p.stderr)
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		p.t.Fatalf("read from peer: %v (stderr: %s)", err, p.stderr)
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		p.t.Fatalf("empty answer from peer (stderr: %s)", p.stderr)
	}
	if fields[0] != "ok" {
		return nil, fmt.Errorf("pyspnego: %s", strings.TrimSpace(line))
	}
	return fields[1:], nil
}

func b64(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return base64.StdEncoding.EncodeToString(b)
}

func unb64(t *testing.T, s string) []byte {
	t.Helper()
	if s == "-" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

func (p *pyPeer) Step(_ context.Context, in []byte) ([]byte, error) {
	r, err := p.call("step", b64(in))
	if err != nil {
		return nil, err
	}
	require.Len(p.t, r, 2)
	p.complete = r[1] == "1"
	return unb64(p.t, r[0]), nil
}

func (p *pyPeer) Established() bool { return p.complete }

func (p *pyPeer) Wrap(msg []byte) ([]byte, []byte, error) {
	r, err := p.call("wrap", b64(msg))
	if err != nil {
		return nil, nil, err
	}
	if p.wholeWrap {
		require.Len(p.t, r, 1)
		tok := unb64(p.t, r[0])
		require.Greater(p.t, len(tok), len(msg))
		n := len(tok) - len(msg)
		return tok[:n], tok[n:], nil
	}
	require.Len(p.t, r, 2)
	return unb64(p.t, r[0]), unb64(p.t, r[1]), nil
}

func (p *pyPeer) Unwrap(header, data []byte) ([]byte, error) {
	r, err := p.call("unwrap", b64(header), b64(data))
	if err != nil {
		return nil, err
	}
	require.Len(p.t, r, 1)
	return unb64(p.t, r[0]), nil
}

func (p *pyPeer) UserName() string {
	r, err := p.call("name")
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
	require.NoError(t, err, "peer stderr: %s", peer.stderr)
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
	require.NoError(t, err, "peer stderr: %s", peer.stderr)
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
