package kerberos_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"

	"github.com/gopsrp/gopsrp/internal/kerberos"
	"github.com/gopsrp/gopsrp/internal/peertest"
)

// mitPeer is MIT libgssapi as a Kerberos acceptor, through python3-gssapi
// (testdata/mit_acceptor.py) in a child process.
type mitPeer struct {
	t     *testing.T
	child *peertest.Child
}

func startMITPeer(t *testing.T, r *realm) *mitPeer {
	t.Helper()
	py := peertest.Python(t, "", "gssapi")
	cmd := exec.Command(py, "testdata/mit_acceptor.py")
	cmd.Env = append(os.Environ(), r.kdc.Env()...)
	cmd.Env = append(cmd.Env, "KRB5_KTNAME=FILE:"+r.ktPath)
	return &mitPeer{t: t, child: peertest.Start(t, "MIT acceptor", cmd)}
}

// call sends one command and returns the answer's fields after "ok".
func (p *mitPeer) call(cmd string, args ...[]byte) ([]string, error) {
	p.t.Helper()
	line := []string{cmd}
	for _, a := range args {
		line = append(line, peertest.Encode(a))
	}
	return p.child.Call(line...)
}

// establishWithMIT authenticates a client with cfg to the MIT acceptor
// and checks MIT's AP-REP; it returns the client and the fields of MIT's
// answer to the AP-REQ (token, initiator, complete, delegated).
func establishWithMIT(t *testing.T, peer *mitPeer, cfg kerberos.ClientConfig) (*kerberos.Client, []string) {
	t.Helper()
	c, err := kerberos.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Step(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := peer.call("step", tok)
	if err != nil {
		t.Fatalf("MIT refused the AP-REQ: %v", err)
	}
	if len(f) < 4 || f[1] != "alice@EXAMPLE.TEST" || f[2] != "1" {
		t.Fatalf("MIT accepted %v", f)
	}
	if _, err := c.Step(context.Background(), peertest.Decode(t, f[0])); err != nil {
		t.Fatalf("verify MIT's AP-REP: %v", err)
	}
	return c, f
}

func TestMITAcceptor(t *testing.T) {
	r := startRealm(t)
	for _, tc := range []struct {
		name  string
		etype int32
	}{{"aes256", etypeID.AES256_CTS_HMAC_SHA1_96}, {"aes128", etypeID.AES128_CTS_HMAC_SHA1_96}} {
		t.Run(tc.name, func(t *testing.T) {
			peer := startMITPeer(t, r)
			c, _ := establishWithMIT(t, peer, kerberos.ClientConfig{
				Username: testUser, Password: testPassword, Config: configWithEnctype(t, r.kdc, tc.etype), SPN: testSPN,
			})
			if !c.Established() || !c.ServerAuthenticated() {
				t.Fatal("not established with mutual authentication")
			}
			for _, n := range []int{0, 1, 16, 33, 4096} {
				msg := bytes.Repeat([]byte("go->mit "), n/8+1)[:n]
				h, d, err := c.Wrap(msg)
				if err != nil {
					t.Fatal(err)
				}
				f, err := peer.call("unwrap", append(append([]byte{}, h...), d...))
				if err != nil {
					t.Fatalf("MIT unwrap of %d bytes: %v", n, err)
				}
				if got := peertest.Decode(t, f[0]); !bytes.Equal(got, msg) {
					t.Fatalf("MIT unwrapped %q, want %q", got, msg)
				}
				msg = bytes.Repeat([]byte("mit->go "), n/8+1)[:n]
				f, err = peer.call("wrapiov", msg)
				if err != nil {
					t.Fatalf("MIT wrap_iov: %v", err)
				}
				mh, md := peertest.Decode(t, f[0]), peertest.Decode(t, f[1])
				if len(mh) != 60 || len(md) != n {
					t.Fatalf("MIT IOV layout: header %d data %d", len(mh), len(md))
				}
				got, err := c.Unwrap(mh, md)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("unwrap MIT's token: %q, %v", got, err)
				}
			}
			f, err := peer.call("mic", []byte("signed"))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.VerifyMIC([]byte("signed"), peertest.Decode(t, f[0])); err != nil {
				t.Fatalf("verify MIT's MIC: %v", err)
			}
		})
	}
}

func TestMITAcceptorDelegation(t *testing.T) {
	r := startRealm(t)
	backendKT := addBackend(t, r)
	for _, delegate := range []bool{true, false} {
		t.Run(map[bool]string{true: "delegate", false: "nodelegate"}[delegate], func(t *testing.T) {
			peer := startMITPeer(t, r)
			_, f := establishWithMIT(t, peer, kerberos.ClientConfig{
				Username: testUser, Password: testPassword, Config: r.kdc.Config(t), SPN: testSPN, Delegate: delegate,
			})
			if want := map[bool]string{true: "1", false: "0"}[delegate]; f[3] != want {
				t.Fatalf("MIT delegated_creds present = %s, want %s", f[3], want)
			}
			if !delegate {
				return
			}
			// MIT uses the delegated TGT for a second hop, which our
			// acceptor with the backend's keytab accepts as alice.
			f, err := peer.call("initdeleg", []byte(backendSPN+"@"+r.kdc.Realm))
			if err != nil {
				t.Fatalf("MIT second hop with the delegated credential: %v", err)
			}
			s, _ := kerberos.NewServer(kerberos.ServerConfig{Keytab: backendKT})
			if _, err := s.Step(context.Background(), peertest.Decode(t, f[0])); err != nil {
				t.Fatalf("accept MIT's second-hop AP-REQ: %v", err)
			}
			if s.UserName() != "alice@EXAMPLE.TEST" {
				t.Fatalf("second hop authenticated %q", s.UserName())
			}
		})
	}
}
