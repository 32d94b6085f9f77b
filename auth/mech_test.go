package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gopsrp/gopsrp/internal/credssp"
	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/kdctest"
	"github.com/gopsrp/gopsrp/internal/kerberos"
	"github.com/gopsrp/gopsrp/internal/ntlm"
	"github.com/gopsrp/gopsrp/internal/sealedbody"
	"github.com/gopsrp/gopsrp/internal/spnego"
)

// spnegoAcceptor returns SPNEGO server contexts offering NTLM, and
// Kerberos when kt is set.
func spnegoAcceptor(t testing.TB, kt *keytab.Keytab) func(cb *gss.ChannelBindings) gss.Acceptor {
	newNTLM := ntlmAcceptor(t)
	return func(cb *gss.ChannelBindings) gss.Acceptor {
		mechs := []spnego.AcceptMech{{OID: ntlm.OID, New: func() (gss.Acceptor, error) { return newNTLM(cb), nil }}}
		if kt != nil {
			newKrb := func() (gss.Acceptor, error) {
				return kerberos.NewServer(kerberos.ServerConfig{Keytab: kt, ChannelBindings: cb})
			}
			mechs = append([]spnego.AcceptMech{{OID: kerberos.OID, New: newKrb}, {OID: kerberos.OIDMS, New: newKrb}}, mechs...)
		}
		s, err := spnego.NewServer(mechs...)
		if err != nil {
			t.Error(err)
		}
		return s
	}
}

// byName rewrites a test server URL to use the host name localhost.
func byName(url string) string { return strings.Replace(url, "127.0.0.1", "localhost", 1) }

func TestNegotiateTransportNTLM(t *testing.T) {
	t.Parallel()
	for _, useTLS := range []bool{false, true} {
		fs := newFakeServer(t, useTLS, alice, false)
		fs.newAcceptor = spnegoAcceptor(t, nil)
		tr := newTestTransport(t, fs, &Negotiate{Username: "alice", Password: alice["alice"], DisableKerberos: true})
		mustDo(t, tr, fs.srv.URL, "<a/>")
		mustDo(t, tr, fs.srv.URL, "<b/>")
		fs.check(t)
		// Probe, NegTokenInit(NEGOTIATE), AUTHENTICATE; the final 200
		// carries the mechListMIC.
		if chs := channels(tr); len(chs) != 1 || chs[0].handshake != 3 {
			t.Errorf("tls=%v: round trips %d, want 3", useTLS, chs[0].handshake)
		}
	}
}

// TestNegotiateFallsBackToNTLM: towards a host name with no reachable KDC
// SPNEGO drops Kerberos and uses NTLM, which cannot authenticate the
// server: over http:// an untrusted host is offered Kerberos only, so the
// handshake stops before any NTLM token (an NTLMv2 response an impostor
// could crack) leaves; a trusted host gets the NTLM fallback.
func TestNegotiateFallsBackToNTLM(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = NOWHERE.TEST\n dns_lookup_kdc = false\n[realms]\n NOWHERE.TEST = {\n  kdc = 127.0.0.1:1\n }\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fs := newFakeServer(t, false, alice, false)
	fs.newAcceptor = spnegoAcceptor(t, nil)
	m := &Negotiate{Username: "alice", Password: alice["alice"], Kerberos: &Kerberos{ConfigPath: conf}}
	tr := newTestTransport(t, fs, m)
	tr.TrustedHosts = nil
	_, _, err = do(context.Background(), tr, byName(fs.srv.URL), "x")
	if !errors.Is(err, ErrUntrustedHost) {
		t.Fatalf("err = %v, want ErrUntrustedHost", err)
	}
	if fs.handshakes.Load() != 0 || fs.sealed.Load() != 0 {
		t.Errorf("handshakes %d, sealed %d", fs.handshakes.Load(), fs.sealed.Load())
	}
	tr.TrustedHosts = []string{"localhost"}
	mustDo(t, tr, byName(fs.srv.URL), "trusted now")
	fs.check(t)
}

func TestCredSSPTransport(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, false, alice, false)
	fs.scheme = "CredSSP"
	fs.protocol, fs.chunk = sealedbody.ProtocolCredSSP, sealedbody.CredSSPChunkSize
	inner := spnegoAcceptor(t, nil)
	var delegated []string
	fs.newAcceptor = func(*gss.ChannelBindings) gss.Acceptor {
		s, err := credssp.NewServer(credssp.ServerConfig{NewInner: func() (gss.Acceptor, error) { return inner(nil), nil }})
		if err != nil {
			t.Error(err)
		}
		return &credsspRecorder{Server: s, got: &delegated}
	}
	tr := newTestTransport(t, fs, &CredSSP{Username: `CORP\alice`, Password: alice["alice"]})
	mustDo(t, tr, fs.srv.URL, "<small/>")
	mustDo(t, tr, fs.srv.URL, strings.Repeat("<big/>", 8000)) // several 16 KiB parts
	fs.check(t)
	chs := channels(tr)
	if len(chs) != 1 {
		t.Fatalf("%d channels", len(chs))
	}
	// Probe, TLS ClientHello, TLS Finished (TLS 1.3: a bare 401 answers
	// it), SPNEGO NEGOTIATE, AUTHENTICATE with pubKeyAuth (as Windows
	// expects them, in one TSRequest), credentials.
	if chs[0].handshake != 6 {
		t.Errorf("round trips %d, want 6", chs[0].handshake)
	}
	if len(delegated) != 1 || delegated[0] != alice["alice"] {
		t.Errorf("the server received %d delegated credentials", len(delegated))
	}
	tr.TrustedHosts = nil
	tr.CloseIdleConnections()
	if _, _, err := do(context.Background(), tr, fs.srv.URL, "x"); !errors.Is(err, ErrUntrustedHost) {
		t.Errorf("untrusted CredSSP over http: %v", err)
	}
}

// credsspRecorder notes the password the server received.
type credsspRecorder struct {
	*credssp.Server
	got *[]string
}

func (r *credsspRecorder) Step(ctx context.Context, in []byte) ([]byte, error) {
	out, err := r.Server.Step(ctx, in)
	if r.Server.Established() {
		if _, _, pw, ok := r.Server.Credentials(); ok {
			*r.got = append(*r.got, pw)
		}
	}
	return out, err
}

func TestKerberosTransport(t *testing.T) {
	t.Parallel()
	kdc := kdctest.Start(t)
	kdc.AddUser(t, "alice", alice["alice"])
	kt, err := keytab.Load(kdc.AddService(t, "HTTP/localhost"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tls    bool
		scheme string
		mech   Mechanism
		rounds int
	}{
		{"kerberos http", false, "Kerberos", &Kerberos{Username: "alice", Password: alice["alice"], ConfigPath: kdc.ConfPath}, 2},
		{"kerberos https", true, "Kerberos", &Kerberos{Username: "alice", Password: alice["alice"], ConfigPath: kdc.ConfPath}, 2},
		{"negotiate http", false, "Negotiate", &Negotiate{Username: "alice", Password: alice["alice"], Kerberos: &Kerberos{ConfigPath: kdc.ConfPath}}, 2},
		{"negotiate https", true, "Negotiate", &Negotiate{Username: "alice", Password: alice["alice"], Kerberos: &Kerberos{ConfigPath: kdc.ConfPath}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t, tc.tls, alice, false)
			fs.scheme = tc.scheme
			if tc.scheme == "Kerberos" {
				fs.protocol = sealedbody.ProtocolKerberos
				fs.newAcceptor = func(cb *gss.ChannelBindings) gss.Acceptor {
					s, err := kerberos.NewServer(kerberos.ServerConfig{Keytab: kt, ChannelBindings: cb, RequireChannelBindings: cb != nil})
					if err != nil {
						t.Error(err)
					}
					return s
				}
			} else {
				fs.newAcceptor = spnegoAcceptor(t, kt)
			}
			tr := newTestTransport(t, fs, tc.mech)
			tr.TrustedHosts = nil // mutual authentication suffices
			if tc.tls {
				tr.Base.TLSClientConfig.ServerName = "example.com"
			}
			url := byName(fs.srv.URL)
			mustDo(t, tr, url, "<a/>")
			mustDo(t, tr, url, strings.Repeat("<b/>", 3000))
			fs.check(t)
			chs := channels(tr)
			if len(chs) != 1 || chs[0].handshake != tc.rounds || !chs[0].serverOK {
				t.Errorf("round trips %d (want %d), server authenticated %v", chs[0].handshake, tc.rounds, chs[0].serverOK)
			}
		})
	}
	t.Run("IP address", func(t *testing.T) {
		fs := newFakeServer(t, false, alice, false)
		fs.scheme = "Kerberos"
		tr := newTestTransport(t, fs, &Kerberos{Username: "alice", Password: alice["alice"], ConfigPath: kdc.ConfPath})
		_, _, err := do(context.Background(), tr, fs.srv.URL, "x")
		if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "IP address") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		fs := newFakeServer(t, false, alice, false)
		fs.scheme = "Kerberos"
		tr := newTestTransport(t, fs, &Kerberos{Username: "alice", Password: "Wrong-Passw0rd", ConfigPath: kdc.ConfPath})
		_, _, err := do(context.Background(), tr, byName(fs.srv.URL), "x")
		if !errors.Is(err, ErrHandshake) || !errors.Is(err, ErrLogonFailed) || strings.Contains(err.Error(), "Wrong-Passw0rd") {
			t.Errorf("err = %v", err)
		}
		t.Logf("wrong password: %v", err)
	})
}
