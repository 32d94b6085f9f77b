package ntlm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gopsrp/gopsrp/internal/gss"
)

var testUsers = map[string]string{`EXAMPLE\alice`: "Secret-1", `\bob@example.test`: "Pa55-w0rd"}

func testServerConfig() ServerConfig {
	return ServerConfig{
		Password: func(domain, user string) (string, bool) {
			p, ok := testUsers[domain+`\`+user]
			return p, ok
		},
		NetBIOSDomain: "EXAMPLE", NetBIOSComputer: "HOST", DNSDomain: "example.test", DNSComputer: "host.example.test",
	}
}

// handshake runs NEGOTIATE, CHALLENGE, AUTHENTICATE and returns the
// server's error.
func handshake(t *testing.T, ccfg ClientConfig, scfg ServerConfig) (*Client, *Server, error) {
	t.Helper()
	c, err := NewClient(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(scfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	neg, err := c.Step(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	chal, err := s.Step(ctx, neg)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := c.Step(ctx, chal)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Established() {
		t.Fatal("client not established")
	}
	out, err := s.Step(ctx, auth)
	if err == nil && (len(out) != 0 || !s.Established()) {
		t.Fatalf("server: out %x, established %v", out, s.Established())
	}
	return c, s, err
}

func TestRoundTrip(t *testing.T) {
	c, s, err := handshake(t, ClientConfig{Username: `EXAMPLE\alice`, Password: "Secret-1"}, testServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	if s.UserName() != `EXAMPLE\alice` {
		t.Errorf("user %q", s.UserName())
	}
	for i := range 50 {
		msg := bytes.Repeat([]byte(fmt.Sprintf("message %d;", i)), i)
		exchange(t, c, s, msg)
		exchange(t, s, c, append(msg, 'r'))
	}
}

// exchange wraps msg on one side and unwraps it on the other.
func exchange(t *testing.T, from, to gss.Sealer, msg []byte) {
	t.Helper()
	h, d, err := from.Wrap(msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 16 || len(d) != len(msg) {
		t.Fatalf("header %d bytes, data %d for %d", len(h), len(d), len(msg))
	}
	if len(msg) > 8 && bytes.Equal(d, msg) {
		t.Fatal("data not sealed")
	}
	got, err := to.Unwrap(h, d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("unwrapped %q, want %q", got, msg)
	}
}

func TestRoundTripUPNAndNTHash(t *testing.T) {
	hash := ntowfv1("Pa55-w0rd")
	_, s, err := handshake(t, ClientConfig{Username: "bob@example.test", NTHash: hash}, testServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	if s.UserName() != "bob@example.test" {
		t.Errorf("user %q", s.UserName())
	}
}

func TestAuthFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ClientConfig
	}{
		{"wrong password", ClientConfig{Username: `EXAMPLE\alice`, Password: "wrong"}},
		{"unknown user", ClientConfig{Username: `EXAMPLE\mallory`, Password: "Secret-1"}},
		{"wrong domain", ClientConfig{Username: `OTHER\alice`, Password: "Secret-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, s, err := handshake(t, tc.cfg, testServerConfig())
			if !errors.Is(err, gss.ErrAuthFailed) {
				t.Fatalf("err = %v, want ErrAuthFailed", err)
			}
			if s.Established() || s.UserName() != "" {
				t.Fatal("established after a failure")
			}
			if _, _, err := s.Wrap([]byte("x")); !errors.Is(err, gss.ErrNotEstablished) {
				t.Fatalf("wrap after failure: %v", err)
			}
			if _, err := s.Step(context.Background(), []byte("NTLMSSP\x00")); !errors.Is(err, gss.ErrAuthFailed) {
				t.Fatalf("step after failure: %v", err)
			}
		})
	}
}

func TestSecretsNotInErrors(t *testing.T) {
	_, _, err := handshake(t, ClientConfig{Username: `EXAMPLE\alice`, Password: "Guess-123"}, testServerConfig())
	for _, secret := range []string{"Guess-123", "Secret-1"} {
		if bytes.Contains([]byte(err.Error()), []byte(secret)) {
			t.Fatalf("error %q shows a password", err)
		}
	}
}

func TestTamperedAuthenticate(t *testing.T) {
	c, _ := NewClient(ClientConfig{Username: `EXAMPLE\alice`, Password: "Secret-1"})
	s, _ := NewServer(testServerConfig())
	ctx := context.Background()
	neg, _ := c.Step(ctx, nil)
	chal, _ := s.Step(ctx, neg)
	auth, err := c.Step(ctx, chal)
	if err != nil {
		t.Fatal(err)
	}
	// Dropping KEY_EXCH from the flags is caught by the MIC.
	auth[63] &^= byte(flagKeyExch >> 24)
	if _, err := s.Step(ctx, auth); !errors.Is(err, gss.ErrAuthFailed) || !errors.Is(err, gss.ErrIntegrity) {
		t.Fatalf("err = %v, want ErrAuthFailed and ErrIntegrity", err)
	}
}

func TestUnwrapTamperedAndReplayed(t *testing.T) {
	c, s, err := handshake(t, ClientConfig{Username: `EXAMPLE\alice`, Password: "Secret-1"}, testServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	h0, d0, _ := c.Wrap([]byte("first message"))
	h1, d1, _ := c.Wrap([]byte("second message"))

	// Out of order: message 1 before 0.
	if _, err := s.Unwrap(h1, d1); !errors.Is(err, gss.ErrSequence) {
		t.Fatalf("out of order: %v", err)
	}
	// Tampered data, then tampered checksum: refused, and nothing changes.
	bad := bytes.Clone(d0)
	bad[3] ^= 1
	if got, err := s.Unwrap(h0, bad); !errors.Is(err, gss.ErrIntegrity) || got != nil {
		t.Fatalf("tampered data: %q, %v", got, err)
	}
	badH := bytes.Clone(h0)
	badH[5] ^= 1
	if _, err := s.Unwrap(badH, d0); !errors.Is(err, gss.ErrIntegrity) {
		t.Fatalf("tampered checksum: %v", err)
	}
	if _, err := s.Unwrap(h0[:15], d0); !errors.Is(err, gss.ErrBadToken) {
		t.Fatalf("short signature: %v", err)
	}
	// The genuine messages still open in order.
	for _, m := range []struct{ h, d []byte }{{h0, d0}, {h1, d1}} {
		if _, err := s.Unwrap(m.h, m.d); err != nil {
			t.Fatal(err)
		}
	}
	// Replay.
	if _, err := s.Unwrap(h0, d0); !errors.Is(err, gss.ErrSequence) {
		t.Fatalf("replay: %v", err)
	}
	exchange(t, c, s, []byte("third"))
}

func TestTruncatedTokens(t *testing.T) {
	c, _ := NewClient(ClientConfig{Username: `EXAMPLE\alice`, Password: "Secret-1"})
	ctx := context.Background()
	neg, _ := c.Step(ctx, nil)
	s0, _ := NewServer(testServerConfig())
	chal, _ := s0.Step(ctx, neg)
	auth, _ := c.Step(ctx, chal)

	for n := range len(neg) {
		s, _ := NewServer(testServerConfig())
		if _, err := s.Step(ctx, neg[:n]); n < 16 && !errors.Is(err, gss.ErrBadToken) {
			t.Fatalf("NEGOTIATE[:%d]: %v", n, err)
		}
	}
	for n := range len(chal) {
		c2, _ := NewClient(ClientConfig{Username: `EXAMPLE\alice`, Password: "Secret-1"})
		c2.Step(ctx, nil)
		if _, err := c2.Step(ctx, chal[:n]); err == nil {
			t.Fatalf("CHALLENGE[:%d] accepted", n)
		}
	}
	for n := range len(auth) {
		s, _ := NewServer(testServerConfig())
		s.Step(ctx, neg)
		_, err := s.Step(ctx, auth[:n])
		if !errors.Is(err, gss.ErrBadToken) && !errors.Is(err, gss.ErrAuthFailed) {
			t.Fatalf("AUTHENTICATE[:%d]: %v", n, err)
		}
	}
	if _, err := c.Unwrap(nil, nil); !errors.Is(err, gss.ErrBadToken) {
		t.Fatalf("empty wrap: %v", err)
	}
}

func TestChannelBindings(t *testing.T) {
	tlsA := &gss.ChannelBindings{ApplicationData: []byte("tls-server-end-point:AAAA")}
	tlsB := &gss.ChannelBindings{ApplicationData: []byte("tls-server-end-point:BBBB")}
	for _, tc := range []struct {
		name           string
		client, server *gss.ChannelBindings
		require        bool
		want           error
	}{
		{"match", tlsA, tlsA, false, nil},
		{"match required", tlsA, tlsA, true, nil},
		{"mismatch", tlsA, tlsB, false, gss.ErrChannelBindings},
		{"client bound, server has no TLS", tlsA, nil, false, gss.ErrChannelBindings},
		{"missing, relaxed", nil, tlsA, false, nil},
		{"missing, required", nil, tlsA, true, gss.ErrChannelBindings},
		{"none at all", nil, nil, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scfg := testServerConfig()
			scfg.ChannelBindings, scfg.RequireChannelBindings = tc.server, tc.require
			c, s, err := handshake(t, ClientConfig{Username: `EXAMPLE\alice`, Password: "Secret-1", ChannelBindings: tc.client}, scfg)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil {
				exchange(t, c, s, []byte("bound"))
			}
		})
	}
}

func TestMICAndResetCipherState(t *testing.T) {
	c, s, err := handshake(t, ClientConfig{Username: `EXAMPLE\alice`, Password: "Secret-1"}, testServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	// SPNEGO: the mechListMIC takes SeqNum 0, then both sides reset the
	// RC4 stream of that direction; the next wrap is SeqNum 1 from a fresh
	// stream.
	mechList := []byte("mechTypes DER")
	mic, err := c.MIC(mechList)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyMIC([]byte("other"), mic); !errors.Is(err, gss.ErrIntegrity) {
		t.Fatalf("wrong message: %v", err)
	}
	if err := s.VerifyMIC(mechList, mic); err != nil {
		t.Fatal(err)
	}
	c.ResetCipherState(true)
	s.ResetCipherState(false)
	h, d, _ := c.Wrap([]byte("after reset"))
	if seq := h[12]; seq != 1 {
		t.Fatalf("seq %d, want 1", seq)
	}
	// The sealed bytes are those of a fresh RC4 stream.
	fresh := newDirection(nil, c.out.sealKey)
	want := make([]byte, len("after reset"))
	fresh.rc4.XORKeyStream(want, []byte("after reset"))
	if !bytes.Equal(d, want) {
		t.Fatal("RC4 stream was not reset")
	}
	if got, err := s.Unwrap(h, d); err != nil || string(got) != "after reset" {
		t.Fatalf("unwrap: %q, %v", got, err)
	}
	// And the other direction.
	smic, _ := s.MIC(mechList)
	if err := c.VerifyMIC(mechList, smic); err != nil {
		t.Fatal(err)
	}
	s.ResetCipherState(true)
	c.ResetCipherState(false)
	exchange(t, s, c, []byte("server after reset"))
}

func TestNotEstablished(t *testing.T) {
	c, _ := NewClient(ClientConfig{Username: "u", Password: "p"})
	if _, _, err := c.Wrap([]byte("x")); !errors.Is(err, gss.ErrNotEstablished) {
		t.Fatal(err)
	}
	if _, err := c.Unwrap(make([]byte, 16), nil); !errors.Is(err, gss.ErrNotEstablished) {
		t.Fatal(err)
	}
	if _, err := c.MIC(nil); !errors.Is(err, gss.ErrNotEstablished) {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []ClientConfig{{}, {Username: `DOM\`}, {Username: "u", NTHash: []byte{1}}} {
		if _, err := NewClient(cfg); err == nil {
			t.Errorf("NewClient(%+v) accepted", cfg)
		}
	}
	if _, err := NewServer(ServerConfig{}); err == nil {
		t.Error("NewServer without Password accepted")
	}
}

func TestIsTokenAndOID(t *testing.T) {
	if !IsToken(vecChallenge) || IsToken([]byte("NTLMSSP")) || IsToken([]byte{0x60, 0x28}) {
		t.Fatal("IsToken")
	}
	if OID.String() != "1.3.6.1.4.1.311.2.2.10" {
		t.Fatal(OID)
	}
}
