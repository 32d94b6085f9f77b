package credssp

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/ntlm"
	"github.com/gopsrp/gopsrp/internal/spnego"
)

// The inner mechanisms as WinRM peers use them: raw NTLM and NTLM in SPNEGO.

var testUsers = map[string]string{"alice": "Passw0rd!"}

func ntlmPassword(_, user string) (string, bool) {
	pw, ok := testUsers[strings.ToLower(user)]
	return pw, ok
}

func newNTLMAcceptor() (gss.Acceptor, error) {
	return ntlm.NewServer(ntlm.ServerConfig{Password: ntlmPassword})
}

func newSPNEGOAcceptor() (gss.Acceptor, error) {
	return spnego.NewServer(spnego.AcceptMech{OID: ntlm.OID, New: newNTLMAcceptor})
}

func newNTLMInitiator(t *testing.T, user, password string) gss.Initiator {
	t.Helper()
	c, err := ntlm.NewClient(ntlm.ClientConfig{Username: user, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustNTLMClient(b *testing.B) gss.Initiator {
	c, err := ntlm.NewClient(ntlm.ClientConfig{Username: "alice", Password: "Passw0rd!"})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func newSPNEGOInitiator(t *testing.T, user, password string) gss.Initiator {
	t.Helper()
	c, err := spnego.NewClient(spnego.ClientMech{OID: ntlm.OID, Initiator: newNTLMInitiator(t, user, password)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eagerSPNEGO seals with the NTLM context as soon as it is complete, before
// the acceptor's mechListMIC arrives, as pyspnego and Windows do: the
// client then sends the AUTHENTICATE together with pubKeyAuth.
type eagerSPNEGO struct {
	*spnego.Client
	mech *ntlm.Client
}

func (e eagerSPNEGO) Wrap(msg []byte) ([]byte, []byte, error) {
	if e.Client.Established() {
		return e.Client.Wrap(msg)
	}
	return e.mech.Wrap(msg)
}

func newEagerSPNEGOInitiator(t *testing.T, user, password string) gss.Initiator {
	t.Helper()
	m := newNTLMInitiator(t, user, password).(*ntlm.Client)
	c, err := spnego.NewClient(spnego.ClientMech{OID: ntlm.OID, Initiator: m})
	if err != nil {
		t.Fatal(err)
	}
	return eagerSPNEGO{c, m}
}

var innerMechs = []struct {
	name     string
	client   func(t *testing.T, user, password string) gss.Initiator
	acceptor func() (gss.Acceptor, error)
}{
	{"NTLM", newNTLMInitiator, newNTLMAcceptor},
	{"SPNEGO-NTLM", newSPNEGOInitiator, newSPNEGOAcceptor},
	{"SPNEGO-NTLM-eager", newEagerSPNEGOInitiator, newSPNEGOAcceptor},
}

func TestRealMechanisms(t *testing.T) {
	for _, m := range innerMechs {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(m.name+"/"+tls.VersionName(v), func(t *testing.T) {
				s := fakeServer(t, ServerConfig{NewInner: m.acceptor}, nil)
				c := fakeClient(t, ClientConfig{
					Username:  `WORKGROUP\alice`,
					Password:  "Passw0rd!",
					Inner:     m.client(t, `WORKGROUP\alice`, "Passw0rd!"),
					TLSConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: v},
				}, "", "")
				if cerr, serr := exchange(t, c, s); cerr != nil || serr != nil {
					t.Fatalf("client %v, server %v", cerr, serr)
				}
				d, u, pw, ok := s.Credentials()
				if !ok || d != "WORKGROUP" || u != "alice" || pw != "Passw0rd!" {
					t.Fatalf("credentials %q %q %v", d, u, ok)
				}
				if !strings.Contains(strings.ToLower(s.UserName()), "alice") {
					t.Fatalf("user name %q", s.UserName())
				}
				sealBothWays(t, c, s)
			})
		}
	}
}

func TestRealMechanismsWrongPassword(t *testing.T) {
	for _, m := range innerMechs {
		t.Run(m.name, func(t *testing.T) {
			s := fakeServer(t, ServerConfig{NewInner: m.acceptor}, nil)
			c := fakeClient(t, ClientConfig{
				Username: "alice",
				Password: "Wr0ngPassw0rd",
				Inner:    m.client(t, "alice", "Wr0ngPassw0rd"),
			}, "", "")
			cerr, serr := exchange(t, c, s)
			if !errors.Is(serr, gss.ErrAuthFailed) {
				t.Fatalf("server error %v", serr)
			}
			var se *StatusError
			if !errors.As(cerr, &se) || se.Code != StatusLogonFailure {
				t.Fatalf("client error %v", cerr)
			}
			for _, e := range []error{cerr, serr} {
				if strings.Contains(e.Error(), "Wr0ng") || strings.Contains(e.Error(), "Passw0rd") {
					t.Fatalf("password in error %q", e)
				}
			}
			if _, _, _, ok := s.Credentials(); ok {
				t.Fatal("credentials after a refusal")
			}
		})
	}
}
