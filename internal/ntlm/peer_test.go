package ntlm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// gss-ntlmssp is an independent NTLMSSP implementation, driven through
// MIT's GSSAPI by python3-gssapi (TEST-PEERS.md).
const (
	peerPython = "/usr/bin/python3"
	peerPlugin = "/usr/lib/x86_64-linux-gnu/gssntlmssp/gssntlmssp.so"
	peerMechD  = "/etc/gss/mech.d"
)

// requirePeer skips the test when gss-ntlmssp or python3-gssapi is
// missing, or fails it under CI=true.
func requirePeer(t *testing.T) {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("gss-ntlmssp peer: %s (install the Debian packages gss-ntlmssp and python3-gssapi)", what)
		}
		t.Skipf("gss-ntlmssp peer: %s (install the Debian packages gss-ntlmssp and python3-gssapi)", what)
	}
	if _, err := os.Stat(peerPlugin); err != nil {
		missing(peerPlugin + " not found")
	}
	conf, _ := filepath.Glob(filepath.Join(peerMechD, "*"))
	found := false
	for _, f := range conf {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte("1.3.6.1.4.1.311.2.2.10")) {
			found = true
		}
	}
	if !found {
		missing("no mechanism configuration for NTLM in " + peerMechD)
	}
	if err := exec.Command(peerPython, "-c", "import gssapi").Run(); err != nil {
		missing(peerPython + " cannot import gssapi")
	}
}

// peer is the Python child process of testdata/gssntlmssp_peer.py.
type peer struct {
	t     *testing.T
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startPeer runs the peer with args ("accept", or "initiate" user
// password) and users in its NTLM_USER_FILE; it is stopped at cleanup.
func startPeer(t *testing.T, users string, args ...string) *peer {
	t.Helper()
	requirePeer(t)
	dir := t.TempDir()
	userFile := filepath.Join(dir, "users")
	if err := os.WriteFile(userFile, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(peerPython, append([]string{"testdata/gssntlmssp_peer.py"}, args...)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GSSNTLMSSP_DEBUG=") && !strings.HasPrefix(kv, "NTLM_USER_FILE=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "NTLM_USER_FILE="+userFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("peer stderr:\n%s", stderr.String())
		}
	})
	return &peer{t: t, stdin: stdin, out: bufio.NewReader(stdout)}
}

// call sends a command with a binary argument and returns the fields of
// an "ok" answer, or an error carrying an "err" answer.
func (p *peer) call(cmd string, arg []byte) ([]string, error) {
	p.t.Helper()
	a := "-"
	if len(arg) > 0 {
		a = base64.StdEncoding.EncodeToString(arg)
	}
	if _, err := fmt.Fprintf(p.stdin, "%s %s\n", cmd, a); err != nil {
		p.t.Fatalf("peer: write: %v", err)
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		p.t.Fatalf("peer: read: %v", err)
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		p.t.Fatal("peer: empty answer")
	}
	if fields[0] != "ok" {
		return nil, errors.New(strings.TrimSpace(line))
	}
	return fields[1:], nil
}

func peerBytes(t *testing.T, s string) []byte {
	t.Helper()
	if s == "-" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
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
		if got := peerBytes(t, res[0]); !bytes.Equal(got, msg) || res[1] != "1" {
			t.Fatalf("message %d: peer unwrapped %q (encrypted %s)", i, got, res[1])
		}

		reply := append(msg, " reply"...)
		res, err = p.call("wrap", reply)
		if err != nil {
			t.Fatalf("message %d: peer wrap: %v", i, err)
		}
		tok := peerBytes(t, res[0])
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

func TestPeerGssNtlmsspAcceptsClient(t *testing.T) {
	p := startPeer(t, "EXAMPLE:alice:Secret-1\n", "accept")
	c, err := NewClient(ClientConfig{Username: `EXAMPLE\alice`, Password: "Secret-1", Workstation: "GOCLIENT"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	neg, _ := c.Step(ctx, nil)
	res, err := p.call("step", neg)
	if err != nil {
		t.Fatalf("peer refused NEGOTIATE: %v", err)
	}
	auth, err := c.Step(ctx, peerBytes(t, res[0]))
	if err != nil {
		t.Fatalf("CHALLENGE from gss-ntlmssp: %v", err)
	}
	res, err = p.call("step", auth)
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
	p := startPeer(t, "EXAMPLE:alice:Secret-1\n", "accept")
	c, _ := NewClient(ClientConfig{Username: `EXAMPLE\alice`, Password: "not-it"})
	ctx := context.Background()
	neg, _ := c.Step(ctx, nil)
	res, err := p.call("step", neg)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := c.Step(ctx, peerBytes(t, res[0]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.call("step", auth); err == nil {
		t.Fatal("gss-ntlmssp accepted a wrong password")
	}
}

func TestPeerGssNtlmsspInitiatesToServer(t *testing.T) {
	p := startPeer(t, "", "initiate", `EXAMPLE\alice`, "Secret-1")
	s, err := NewServer(testServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := p.call("step", nil)
	if err != nil {
		t.Fatal(err)
	}
	chal, err := s.Step(ctx, peerBytes(t, res[0]))
	if err != nil {
		t.Fatalf("NEGOTIATE from gss-ntlmssp: %v", err)
	}
	res, err = p.call("step", chal)
	if err != nil {
		t.Fatalf("peer refused our CHALLENGE: %v", err)
	}
	if out, err := s.Step(ctx, peerBytes(t, res[0])); err != nil || out != nil {
		t.Fatalf("AUTHENTICATE from gss-ntlmssp: %v", err)
	}
	if s.UserName() != `EXAMPLE\alice` {
		t.Errorf("user %q", s.UserName())
	}
	exchangeWithPeer(t, s, p)
}

func TestPeerGssNtlmsspWrongPasswordToServer(t *testing.T) {
	p := startPeer(t, "", "initiate", `EXAMPLE\alice`, "not-it")
	s, _ := NewServer(testServerConfig())
	ctx := context.Background()
	res, err := p.call("step", nil)
	if err != nil {
		t.Fatal(err)
	}
	chal, err := s.Step(ctx, peerBytes(t, res[0]))
	if err != nil {
		t.Fatal(err)
	}
	res, err = p.call("step", chal)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Step(ctx, peerBytes(t, res[0])); !errors.Is(err, gss.ErrAuthFailed) {
		t.Fatalf("err = %v, want ErrAuthFailed", err)
	}
}

// gss-ntlmssp checks the MIC: a corrupted one is refused, so the MIC it
// accepts in TestPeerGssNtlmsspAcceptsClient is right.
func TestPeerGssNtlmsspChecksClientMIC(t *testing.T) {
	p := startPeer(t, "EXAMPLE:alice:Secret-1\n", "accept")
	c, _ := NewClient(ClientConfig{Username: `EXAMPLE\alice`, Password: "Secret-1"})
	ctx := context.Background()
	neg, _ := c.Step(ctx, nil)
	res, err := p.call("step", neg)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := c.Step(ctx, peerBytes(t, res[0]))
	if err != nil {
		t.Fatal(err)
	}
	if len(auth) < authHeaderWithMIC {
		t.Fatal("no MIC in the AUTHENTICATE")
	}
	auth[authMICOffset] ^= 0xff
	if _, err := p.call("step", auth); err == nil {
		t.Fatal("gss-ntlmssp accepted a corrupted MIC")
	}
}
