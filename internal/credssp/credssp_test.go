package credssp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/sealedbody"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runExchange runs the token exchange between c and s to completion.
func runExchange(c gss.Initiator, s gss.Acceptor) error {
	ctx := context.Background()
	var in []byte
	for range 20 {
		out, err := c.Step(ctx, in)
		if err != nil {
			return err
		}
		if in, err = s.Step(ctx, out); err != nil {
			return err
		}
		if c.Established() && s.Established() {
			return nil
		}
	}
	return errors.New("exchange did not finish")
}

// exchange runs the token exchange between c and s. When the server
// refuses with a token, the client reads it, so both errors are returned.
func exchange(t *testing.T, c gss.Initiator, s gss.Acceptor) (clientErr, serverErr error) {
	t.Helper()
	ctx := context.Background()
	var in []byte
	for range 20 {
		out, err := c.Step(ctx, in)
		if err != nil {
			return err, nil
		}
		sout, err := s.Step(ctx, out)
		if err != nil {
			if len(sout) > 0 {
				_, cerr := c.Step(ctx, sout)
				return cerr, err
			}
			return nil, err
		}
		if c.Established() {
			if !s.Established() {
				t.Fatal("client established, server not")
			}
			if len(sout) > 0 {
				t.Fatalf("server answered authInfo with %d bytes", len(sout))
			}
			return nil, nil
		}
		in = sout
	}
	t.Fatal("exchange did not finish")
	return nil, nil
}

type pair struct {
	c *Client
	s *Server
}

func fakeServer(t *testing.T, cfg ServerConfig, passwords map[string]string) *Server {
	t.Helper()
	if cfg.NewInner == nil {
		cfg.NewInner = func() (gss.Acceptor, error) { return &fakeAcceptor{passwords: passwords}, nil }
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func fakeClient(t *testing.T, cfg ClientConfig, user, password string) *Client {
	t.Helper()
	if cfg.Inner == nil {
		cfg.Inner = &fakeInitiator{user: user, password: password}
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func established(t *testing.T, tlsVersion uint16) pair {
	t.Helper()
	s := fakeServer(t, ServerConfig{}, map[string]string{"alice": "secret"})
	c := fakeClient(t, ClientConfig{
		Username:  `EXAMPLE\alice`,
		Password:  "delegated-pw",
		TLSConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tlsVersion},
	}, "alice", "secret")
	if cerr, serr := exchange(t, c, s); cerr != nil || serr != nil {
		t.Fatalf("client %v, server %v", cerr, serr)
	}
	return pair{c, s}
}

func TestFakeMechanism(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			p := established(t, v)
			if got := p.c.ch.tls.ConnectionState().Version; got != v {
				t.Fatalf("TLS version %x", got)
			}
			d, u, pw, ok := p.s.Credentials()
			if !ok || d != "EXAMPLE" || u != "alice" || pw != "delegated-pw" {
				t.Fatalf("credentials %q %q %q %v", d, u, pw, ok)
			}
			if p.s.UserName() != "alice" || p.c.Version() != Version || p.s.Version() != Version {
				t.Fatalf("user %q versions %d %d", p.s.UserName(), p.c.Version(), p.s.Version())
			}
			sealBothWays(t, p.c, p.s)
		})
	}
}

// sealBothWays sends WinRM bodies each way, including a multi-chunk one.
func sealBothWays(t *testing.T, c, s gss.Sealer) {
	t.Helper()
	for _, n := range []int{0, 1, 100, sealedbody.CredSSPChunkSize, 3*sealedbody.CredSSPChunkSize + 123} {
		body := bytes.Repeat([]byte("<s:Envelope/>"), n/13+1)[:n]
		for _, dir := range []struct {
			name     string
			from, to gss.Sealer
		}{{"client→server", c, s}, {"server→client", s, c}} {
			ct, sealed, err := sealedbody.Seal(dir.from, sealedbody.ProtocolCredSSP, body, sealedbody.CredSSPChunkSize)
			if err != nil {
				t.Fatalf("%s %d: seal: %v", dir.name, n, err)
			}
			if multi := n > sealedbody.CredSSPChunkSize; multi != strings.HasPrefix(ct, sealedbody.TypeMultiEncrypted) {
				t.Fatalf("%s %d: content type %s", dir.name, n, ct)
			}
			if bytes.Contains(sealed, []byte("Envelope")) {
				t.Fatalf("%s %d: plaintext visible", dir.name, n)
			}
			got, err := sealedbody.Open(dir.to, ct, sealed, 0)
			if err != nil {
				t.Fatalf("%s %d: open: %v", dir.name, n, err)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("%s %d: body differs", dir.name, n)
			}
		}
	}
}

func TestWrapHeaderSplit(t *testing.T) {
	for _, tc := range []struct {
		v    uint16
		want int
	}{{tls.VersionTLS13, 17}, {tls.VersionTLS12, 16}} {
		p := established(t, tc.v)
		h, d, err := p.c.Wrap([]byte("hello"))
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != tc.want {
			t.Errorf("%s: header %d bytes, want %d", tls.VersionName(tc.v), len(h), tc.want)
		}
		if h[0] != 0x17 || len(h)+len(d) < 5+5 {
			t.Errorf("not an application-data record: %x", h)
		}
		// Any split of the records opens.
		rec := append(append([]byte(nil), h...), d...)
		got, err := p.s.Unwrap(rec[:3], rec[3:])
		if err != nil || string(got) != "hello" {
			t.Fatalf("unwrap: %q %v", got, err)
		}
	}
}

func TestUnwrapTampered(t *testing.T) {
	p := established(t, tls.VersionTLS13)
	h, d, err := p.c.Wrap([]byte("some message"))
	if err != nil {
		t.Fatal(err)
	}
	d = append([]byte(nil), d...)
	d[len(d)-1] ^= 1
	if _, err := p.s.Unwrap(h, d); !errors.Is(err, gss.ErrIntegrity) {
		t.Fatalf("tampered: %v", err)
	}
	p = established(t, tls.VersionTLS12)
	h, d, _ = p.c.Wrap([]byte("some message"))
	if _, err := p.s.Unwrap(h, d[:len(d)-1]); !errors.Is(err, gss.ErrBadToken) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestWrongPassword(t *testing.T) {
	s := fakeServer(t, ServerConfig{}, map[string]string{"alice": "secret"})
	c := fakeClient(t, ClientConfig{Username: "alice", Password: "DelegatedSecret1"}, "alice", "InnerWrongPw")
	cerr, serr := exchange(t, c, s)
	if !errors.Is(serr, gss.ErrAuthFailed) {
		t.Fatalf("server error %v", serr)
	}
	var se *StatusError
	if !errors.As(cerr, &se) || se.Code != StatusLogonFailure || !errors.Is(cerr, gss.ErrAuthFailed) {
		t.Fatalf("client error %v", cerr)
	}
	for _, e := range []error{cerr, serr} {
		if strings.Contains(e.Error(), "DelegatedSecret1") || strings.Contains(e.Error(), "InnerWrongPw") || strings.Contains(e.Error(), "secret") {
			t.Fatalf("secret in error %q", e)
		}
	}
	if _, _, _, ok := s.Credentials(); ok || s.Established() || c.Established() {
		t.Fatal("established after a refusal")
	}
	// The context stays failed.
	if _, err := c.Step(context.Background(), nil); err == nil {
		t.Fatal("step after failure")
	}
}

// corruptingAcceptor alters the first value it seals (the server's
// pubKeyAuth), as a server bound to another TLS key would send.
type corruptingAcceptor struct{ *fakeAcceptor }

func (a corruptingAcceptor) Wrap(msg []byte) ([]byte, []byte, error) {
	return a.fakeAcceptor.Wrap(append([]byte{msg[0] ^ 0xff}, msg[1:]...))
}

func TestServerKeyMismatch(t *testing.T) {
	s := fakeServer(t, ServerConfig{NewInner: func() (gss.Acceptor, error) {
		return corruptingAcceptor{&fakeAcceptor{passwords: map[string]string{"alice": "secret"}}}, nil
	}}, nil)
	c := fakeClient(t, ClientConfig{Username: "alice", Password: "pw"}, "alice", "secret")
	cerr, serr := exchange(t, c, s)
	if serr != nil || !errors.Is(cerr, gss.ErrIntegrity) {
		t.Fatalf("client %v server %v", cerr, serr)
	}
	if _, _, _, ok := s.Credentials(); ok {
		t.Fatal("credentials delegated to a mismatched server")
	}
}

// A client bound to another key (a man in the middle's) is refused.
func TestClientKeyMismatch(t *testing.T) {
	s := fakeServer(t, ServerConfig{}, map[string]string{"alice": "secret"})
	inner := &fakeInitiator{user: "alice", password: "secret"}
	inner.corruptNextOut = true
	c := fakeClient(t, ClientConfig{Username: "alice", Password: "pw", Inner: inner}, "", "")
	// corruptNextOut is armed for the first Wrap: pubKeyAuth.
	cerr, serr := exchange(t, c, s)
	if cerr != nil || !errors.Is(serr, gss.ErrIntegrity) {
		t.Fatalf("client %v server %v", cerr, serr)
	}
}

func TestServerVersionBelowMinimum(t *testing.T) {
	s := fakeServer(t, ServerConfig{}, map[string]string{"alice": "secret"})
	s.version = 4
	c := fakeClient(t, ClientConfig{Username: "alice", Password: "pw"}, "alice", "secret")
	cerr, _ := exchange(t, c, s)
	var ve *VersionError
	if !errors.As(cerr, &ve) || ve.Version != 4 || ve.Min != DefaultMinVersion || !errors.Is(cerr, gss.ErrUnsupported) {
		t.Fatalf("client error %v", cerr)
	}
}

// A client that allows old servers talks the pre-nonce binding (version 4:
// the key itself, answered with its first byte incremented).
func TestLegacyVersion(t *testing.T) {
	for _, v := range []int{2, 3, 4, 5} {
		s := fakeServer(t, ServerConfig{}, map[string]string{"alice": "secret"})
		s.version = v
		c := fakeClient(t, ClientConfig{Username: "alice", Password: "pw", MinServerVersion: 2}, "alice", "secret")
		if cerr, serr := exchange(t, c, s); cerr != nil || serr != nil {
			t.Fatalf("v%d: client %v server %v", v, cerr, serr)
		}
		if (c.nonce != nil) != (v >= 5) {
			t.Fatalf("v%d: nonce %x", v, c.nonce)
		}
		if _, u, _, ok := s.Credentials(); !ok || u != "alice" {
			t.Fatalf("v%d: no credentials", v)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := NewClient(ClientConfig{}); err == nil {
		t.Error("nil Inner accepted")
	}
	for _, v := range []int{-1, 1, 7} {
		if _, err := NewClient(ClientConfig{Inner: &fakeInitiator{}, MinServerVersion: v}); err == nil {
			t.Errorf("MinServerVersion %d accepted", v)
		}
	}
	if _, err := NewServer(ServerConfig{}); err == nil {
		t.Error("nil NewInner accepted")
	}
	newInner := func() (gss.Acceptor, error) { return nil, nil }
	for _, v := range []int{-1, 1, 7} {
		if _, err := NewServer(ServerConfig{NewInner: newInner, MinClientVersion: v}); err == nil || !strings.Contains(err.Error(), "MinClientVersion") {
			t.Errorf("MinClientVersion %d: %v", v, err)
		}
	}
	for v, want := range map[int]int{0: DefaultMinVersion, 2: 2, Version: Version} {
		if s, err := NewServer(ServerConfig{NewInner: newInner, MinClientVersion: v}); err != nil || s.minVersion != want {
			t.Errorf("MinClientVersion %d: %v", v, err)
		}
	}
	if _, err := NewServer(ServerConfig{NewInner: func() (gss.Acceptor, error) { return nil, nil }, Certificate: tls.Certificate{Certificate: [][]byte{{1, 2}}}}); err == nil {
		t.Error("bad certificate accepted")
	}
}

func TestNotEstablished(t *testing.T) {
	c := fakeClient(t, ClientConfig{}, "a", "b")
	if _, _, err := c.Wrap([]byte("x")); !errors.Is(err, gss.ErrNotEstablished) {
		t.Fatal(err)
	}
	if _, err := c.Unwrap(nil, []byte("x")); !errors.Is(err, gss.ErrNotEstablished) {
		t.Fatal(err)
	}
	s := fakeServer(t, ServerConfig{}, nil)
	if _, _, err := s.Wrap([]byte("x")); !errors.Is(err, gss.ErrNotEstablished) {
		t.Fatal(err)
	}
	if _, err := s.Unwrap(nil, []byte("x")); !errors.Is(err, gss.ErrNotEstablished) {
		t.Fatal(err)
	}
}

// A TLS config that verifies the server refuses an untrusted certificate.
func TestTLSVerification(t *testing.T) {
	s := fakeServer(t, ServerConfig{}, map[string]string{"alice": "secret"})
	c := fakeClient(t, ClientConfig{TLSConfig: &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "host"}}, "alice", "secret")
	cerr, _ := exchange(t, c, s)
	if !errors.Is(cerr, gss.ErrAuthFailed) {
		t.Fatalf("client error %v", cerr)
	}
}

// An ECDSA server certificate binds its EC point.
func TestECDSACertificate(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ec"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	s := fakeServer(t, ServerConfig{Certificate: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}, map[string]string{"alice": "secret"})
	if want := elliptic.MarshalCompressed(elliptic.P256(), key.X, key.Y); len(s.pubKey) != 65 || s.pubKey[0] != 4 || !bytes.Equal(s.pubKey[1:33], want[1:]) {
		t.Fatalf("EC public key %x", s.pubKey)
	}
	c := fakeClient(t, ClientConfig{Username: "alice", Password: "pw"}, "alice", "secret")
	if cerr, serr := exchange(t, c, s); cerr != nil || serr != nil {
		t.Fatalf("client %v server %v", cerr, serr)
	}
}

func TestOversizedToken(t *testing.T) {
	s := fakeServer(t, ServerConfig{}, nil)
	if _, err := s.Step(context.Background(), make([]byte, maxToken+1)); !errors.Is(err, gss.ErrBadToken) {
		t.Fatalf("handshake: %v", err)
	}
	// A TSRequest larger than 64 KiB inside valid TLS records is refused.
	c := fakeClient(t, ClientConfig{TLSConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}}, "alice", "secret")
	s = fakeServer(t, ServerConfig{}, map[string]string{"alice": "secret"})
	ctx := context.Background()
	var in []byte
	for !s.ch.ready {
		out, err := c.Step(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if in, err = s.Step(ctx, out); err != nil {
			t.Fatal(err)
		}
	}
	// Finish the client's TLS 1.2 handshake without its first TSRequest.
	if _, done, err := c.ch.handshake(ctx, in); !done || err != nil {
		t.Fatalf("client handshake: %v %v", done, err)
	}
	huge, err := c.ch.seal((&tsRequest{Version: 6, NegoTokens: [][]byte{make([]byte, maxMessage)}}).marshal())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Step(ctx, huge); !errors.Is(err, gss.ErrBadToken) {
		t.Fatalf("huge TSRequest: %v", err)
	}
}

func TestGarbageTokens(t *testing.T) {
	ctx := context.Background()
	s := fakeServer(t, ServerConfig{}, nil)
	if _, err := s.Step(ctx, []byte("GET / HTTP/1.1\r\n\r\n")); !errors.Is(err, gss.ErrBadToken) {
		t.Fatalf("server: %v", err)
	}
	c := fakeClient(t, ClientConfig{}, "a", "b")
	if _, err := c.Step(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step(ctx, []byte("HTTP/1.1 500 Internal Server Error\r\n\r\n")); err == nil {
		t.Fatal("garbage server hello accepted")
	}
}

// Close ends the handshake goroutine of a context abandoned mid-handshake.
func TestCloseMidHandshake(t *testing.T) {
	defer goleak.VerifyNone(t)
	c, err := NewClient(ClientConfig{Inner: &fakeInitiator{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := c.Step(context.Background(), nil); !errors.Is(err, gss.ErrNotEstablished) {
		t.Fatalf("step after close: %v", err)
	}
}

// A context dropped without Close is cleaned up by the garbage collector.
func TestAbandonedWithoutClose(t *testing.T) {
	func() {
		s, err := NewServer(ServerConfig{NewInner: func() (gss.Acceptor, error) { return &fakeAcceptor{}, nil }})
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewClient(ClientConfig{Inner: &fakeInitiator{}})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Step(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Step(context.Background(), out); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		if err := goleak.Find(); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client may send its first TSRequest in the same token as its TLS 1.3
// Finished; the server answers both.
func TestFirstRequestWithFinished(t *testing.T) {
	s := fakeServer(t, ServerConfig{}, map[string]string{"alice": "secret"})
	c := fakeClient(t, ClientConfig{Username: "alice", Password: "pw"}, "alice", "secret")
	ctx := context.Background()
	var in []byte
	for c.state != clientHandshakeAck {
		out, err := c.Step(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if c.state == clientHandshakeAck {
			first, err := c.Step(ctx, nil) // as if the server had answered with nothing
			if err != nil {
				t.Fatal(err)
			}
			in = append(out, first...)
			break
		}
		if in, err = s.Step(ctx, out); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		sout, err := s.Step(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if s.Established() {
			break
		}
		if in, err = c.Step(ctx, sout); err != nil {
			t.Fatal(err)
		}
	}
	if !c.Established() || !s.Established() {
		t.Fatal("not established")
	}
}
