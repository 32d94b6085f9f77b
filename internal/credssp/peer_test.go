package credssp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/peertest"
	"github.com/gopsrp/gopsrp/internal/sealedbody"
)

// pyspnego's CredSSP (pure Python, ../shared/peers/pyspnego-0.12.0) as the
// peer, through testdata/pyspnego_peer.py under Debian's python3 with
// python3-cryptography.

type pyPeer struct {
	t     *testing.T
	child *peertest.Child
}

func startPeer(t *testing.T, args ...string) *pyPeer {
	t.Helper()
	src := peertest.PeerSource(t, peertest.Pyspnego, "spnego/_credssp.py")
	py := peertest.Python(t, src, "cryptography", "spnego._credssp")
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("WORKGROUP:alice:Passw0rd!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{filepath.Join("testdata", "pyspnego_peer.py")}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+src, "NTLM_USER_FILE="+users)
	return &pyPeer{t: t, child: peertest.Start(t, "pyspnego CredSSP peer", cmd)}
}

// send writes a line of the given kind with base64 fields.
func (p *pyPeer) send(kind string, fields ...[]byte) {
	p.t.Helper()
	var b strings.Builder
	b.WriteString(kind)
	for _, x := range fields {
		b.WriteString(" " + base64.StdEncoding.EncodeToString(x))
	}
	p.child.Send(b.String())
}

// recv reads a line of the given kind and returns its decoded fields.
func (p *pyPeer) recv(kind string) [][]byte {
	p.t.Helper()
	line := p.child.ReadLine()
	f := strings.Split(line, " ")
	if f[0] != kind {
		p.t.Fatalf("peer sent %q, want %s", line, kind)
	}
	var out [][]byte
	for _, s := range f[1:] {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			p.t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// echo sends sealed WinRM bodies to the peer and opens its answers.
func (p *pyPeer) echo(s gss.Sealer) {
	p.t.Helper()
	for _, n := range []int{1, 1000, sealedbody.CredSSPChunkSize} {
		msg := bytes.Repeat([]byte("x"), n)
		h, d, err := s.Wrap(msg)
		if err != nil {
			p.t.Fatal(err)
		}
		p.send("MSG", h, d)
		f := p.recv("MSG")
		got, err := s.Unwrap(f[0], f[1])
		if err != nil {
			p.t.Fatalf("unwrap pyspnego's message: %v", err)
		}
		if !bytes.Equal(got, append([]byte("echo:"), msg...)) {
			p.t.Fatalf("echo of %d bytes differs", n)
		}
		// Both sides split the records the same way (pyspnego's
		// _tls_trailer_length is the reference).
		if len(f[0]) != len(h) && n == 1000 {
			p.t.Errorf("header %d bytes, pyspnego's %d", len(h), len(f[0]))
		}
	}
}

// Our Server against pyspnego's CredSSP client.
func TestPyspnegoClient(t *testing.T) {
	for _, pw := range []string{"Passw0rd!", "Wr0ng"} {
		t.Run(pw, func(t *testing.T) {
			p := startPeer(t, "client", `WORKGROUP\alice`, pw)
			s := fakeServer(t, ServerConfig{NewInner: newSPNEGOAcceptor}, nil)
			ctx := context.Background()
			for !s.Established() {
				line := p.child.ReadLine()
				f := strings.SplitN(line, " ", 2)
				if f[0] != "TOKEN" || len(f) != 2 {
					if pw == "Wr0ng" && strings.HasPrefix(line, "ERROR") {
						return // the client saw our errorCode
					}
					t.Fatalf("peer: %s", line)
				}
				in, _ := base64.StdEncoding.DecodeString(f[1])
				out, err := s.Step(ctx, in)
				if err != nil {
					if pw == "Wr0ng" && errors.Is(err, gss.ErrAuthFailed) && len(out) > 0 {
						p.send("TOKEN", out)
						if line := p.child.ReadLine(); !strings.HasPrefix(line, "ERROR") || !strings.Contains(line, "NTStatus") {
							t.Fatalf("peer after errorCode: %s", line)
						}
						return
					}
					t.Fatalf("server: %v", err)
				}
				if !s.Established() {
					p.send("TOKEN", out)
				}
			}
			if pw == "Wr0ng" {
				t.Fatal("established with a wrong password")
			}
			p.recv("DONE")
			if d, u, pw, ok := s.Credentials(); !ok || d != "WORKGROUP" || u != "alice" || pw != "Passw0rd!" {
				t.Fatalf("credentials %q %q %v", d, u, ok)
			}
			p.echo(s)
		})
	}
}

// Our Client against pyspnego's CredSSP server.
func TestPyspnegoServer(t *testing.T) {
	for _, tc := range []struct {
		name, password string
		tlsVersion     uint16
		inner          func(t *testing.T, user, password string) gss.Initiator
	}{
		{"SPNEGO-TLS1.3", "Passw0rd!", tls.VersionTLS13, newSPNEGOInitiator},
		{"SPNEGO-eager-TLS1.2", "Passw0rd!", tls.VersionTLS12, newEagerSPNEGOInitiator},
		{"NTLM-TLS1.2", "Passw0rd!", tls.VersionTLS12, newNTLMInitiator},
		{"wrong password", "Wr0ng", tls.VersionTLS13, newSPNEGOInitiator},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPeer(t, "server")
			c := fakeClient(t, ClientConfig{
				Username:  `WORKGROUP\alice`,
				Password:  tc.password,
				Inner:     tc.inner(t, `WORKGROUP\alice`, tc.password),
				TLSConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tc.tlsVersion},
			}, "", "")
			ctx := context.Background()
			var in []byte
			for {
				out, err := c.Step(ctx, in)
				if err != nil {
					var se *StatusError
					if tc.password == "Wr0ng" && errors.As(err, &se) {
						t.Logf("refused: %v", err)
						return
					}
					t.Fatalf("client: %v", err)
				}
				p.send("TOKEN", out)
				line := p.child.ReadLine()
				f := strings.SplitN(line, " ", 2)
				if f[0] != "TOKEN" {
					t.Fatalf("peer: %s", line)
				}
				in, _ = base64.StdEncoding.DecodeString(f[1])
				if c.Established() {
					break
				}
			}
			if tc.password == "Wr0ng" {
				t.Fatal("established with a wrong password")
			}
			done := p.recv("DONE")
			if string(done[0]) != "WORKGROUP" || string(done[1]) != "alice" || string(done[2]) != "Passw0rd!" {
				t.Fatalf("delegated %q %q", done[0], done[1])
			}
			p.echo(c)
		})
	}
}
