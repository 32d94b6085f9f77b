package ntlm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/peertest"
)

// gss-ntlmssp is an independent NTLMSSP implementation, driven through
// MIT's GSSAPI by python3-gssapi (testdata/gssntlmssp_peer.py, TEST-PEERS.md).

// peer is the Python child process of testdata/gssntlmssp_peer.py.
type peer struct {
	t     *testing.T
	child *peertest.Child
}

// startPeer runs the peer with args ("accept", or "initiate" user
// password) and users in its NTLM_USER_FILE; it is stopped at cleanup.
func startPeer(t *testing.T, users string, args ...string) *peer {
	t.Helper()
	py := peertest.GSSNTLMSSP(t)
	dir := t.TempDir()
	userFile := filepath.Join(dir, "users")
	if err := os.WriteFile(userFile, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{"testdata/gssntlmssp_peer.py"}, args...)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GSSNTLMSSP_DEBUG=") && !strings.HasPrefix(kv, "NTLM_USER_FILE=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "NTLM_USER_FILE="+userFile)
	return &peer{t: t, child: peertest.Start(t, "gss-ntlmssp peer", cmd)}
}

// call sends a command with a binary argument and returns the fields of
// an "ok" answer, or an error carrying an "err" answer.
func (p *peer) call(cmd string, arg []byte) ([]string, error) {
	p.t.Helper()
	return p.child.Call(cmd, peertest.Encode(arg))
}

// exchangeWithPeer checks sealing both ways between our context and the
// peer, interleaved, over several messages (RC4 persistence and sequence
// numbers on both sides).
func exchangeWithPeer(t *testing.T, ours gss.Sealer, p *peer) {
	t.Helper()
	for i := range 5 {
		msg := []byte(strings.Repeat(fmt.Sprintf("<s:Envelope n=%d/>", i), i*40+1))
		h, d, err := ours.Wrap(msg)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.call("unwrap", append(h, d...))
		if err != nil {
			t.Fatalf("message %d: peer unwrap: %v", i, err)
		}
		if got := peertest.Decode(t, res[0]); !bytes.Equal(got, msg) || res[1] != "1" {
			t.Fatalf("message %d: peer unwrapped %q (encrypted %s)", i, got, res[1])
		}

		reply := append(msg, " reply"...)
		res, err = p.call("wrap", reply)
		if err != nil {
			t.Fatalf("message %d: peer wrap: %v", i, err)
		}
		tok := peertest.Decode(t, res[0])
		if len(tok) != 16+len(reply) {
			t.Fatalf("peer token of %d bytes for %d", len(tok), len(reply))
		}
		got, err := ours.Unwrap(tok[:16], tok[16:])
		if err != nil {
			t.Fatalf("message %d: our unwrap of the peer's: %v", i, err)
		}
		if !bytes.Equal(got, reply) {
			t.Fatalf("message %d: unwrapped %q", i, got)
		}
	}
}

// authenticateToPeer runs our client with cfg against a gss-ntlmssp
// acceptor that knows alice's password Secret-1, up to our AUTHENTICATE,
// which it returns unsent.
func authenticateToPeer(t *testing.T, cfg ClientConfig) (*peer, *Client, []byte) {
	t.Helper()
	p := startPeer(t, "EXAMPLE:alice:Secret-1\n", "accept")
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	neg, _ := c.Step(ctx, nil)
	res, err := p.call("step", neg)
	if err != nil {
		t.Fatalf("peer refused NEGOTIATE: %v", err)
	}
	auth, err := c.Step(ctx, peertest.Decode(t, res[0]))
	if err != nil {
		t.Fatalf("CHALLENGE from gss-ntlmssp: %v", err)
	}
	return p, c, auth
}

// authenticateFromPeer runs a gss-ntlmssp initiator with alice's password
// against our server, up to its AUTHENTICATE, which it returns unread.
func authenticateFromPeer(t *testing.T, password string) (*peer, *Server, []byte) {
	t.Helper()
	p := startPeer(t, "", "initiate", `EXAMPLE\alice`, password)
	s, err := NewServer(testServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.call("step", nil)
	if err != nil {
		t.Fatal(err)
	}
	chal, err := s.Step(context.Background(), peertest.Decode(t, res[0]))
	if err != nil {
		t.Fatalf("NEGOTIATE from gss-ntlmssp: %v", err)
	}
	res, err = p.call("step", chal)
	if err != nil {
		t.Fatalf("peer refused our CHALLENGE: %v", err)
	}
	return p, s, peertest.Decode(t, res[0])
}

func TestPeerGssNtlmsspAcceptsClient(t *testing.T) {
	p, c, auth := authenticateToPeer(t, ClientConfig{Username: `EXAMPLE\alice`, Password: "Secret-1", Workstation: "GOCLIENT"})
	res, err := p.call("step", auth)
	if err != nil {
		t.Fatalf("peer refused AUTHENTICATE: %v", err)
	}
	if res[1] != "1" {
		t.Fatal("peer context not complete")
	}
	if res, err := p.call("name", nil); err != nil || !strings.Contains(strings.ToLower(res[0]), "alice") {
		t.Fatalf("peer's initiator name %v, %v", res, err)
	}
	exchangeWithPeer(t, c, p)
}

func TestPeerGssNtlmsspRefusesWrongPassword(t *testing.T) {
	p, _, auth := authenticateToPeer(t, ClientConfig{Username: `EXAMPLE\alice`, Password: "not-it"})
	if _, err := p.call("step", auth); err == nil {
		t.Fatal("gss-ntlmssp accepted a wrong password")
	}
}

func TestPeerGssNtlmsspInitiatesToServer(t *testing.T) {
	p, s, auth := authenticateFromPeer(t, "Secret-1")
	if out, err := s.Step(context.Background(), auth); err != nil || out != nil {
		t.Fatalf("AUTHENTICATE from gss-ntlmssp: %v", err)
	}
	if s.UserName() != `EXAMPLE\alice` {
		t.Errorf("user %q", s.UserName())
	}
	exchangeWithPeer(t, s, p)
}

func TestPeerGssNtlmsspWrongPasswordToServer(t *testing.T) {
	_, s, auth := authenticateFromPeer(t, "not-it")
	if _, err := s.Step(context.Background(), auth); !errors.Is(err, gss.ErrAuthFailed) {
		t.Fatalf("err = %v, want ErrAuthFailed", err)
	}
}

// gss-ntlmssp checks the MIC: a corrupted one is refused, so the MIC it
// accepts in TestPeerGssNtlmsspAcceptsClient is right.
func TestPeerGssNtlmsspChecksClientMIC(t *testing.T) {
	p, _, auth := authenticateToPeer(t, ClientConfig{Username: `EXAMPLE\alice`, Password: "Secret-1"})
	if len(auth) < authHeaderWithMIC {
		t.Fatal("no MIC in the AUTHENTICATE")
	}
	auth[authMICOffset] ^= 0xff
	if _, err := p.call("step", auth); err == nil {
		t.Fatal("gss-ntlmssp accepted a corrupted MIC")
	}
}
