package credssp

import (
	"crypto/tls"
	"errors"
	"testing"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// FuzzUnwrap feeds arbitrary sealed parts to an established server: they
// must be refused with a typed error, never panic or hang.
func FuzzUnwrap(f *testing.F) {
	seed := func(v uint16) {
		s, err := NewServer(ServerConfig{NewInner: func() (gss.Acceptor, error) {
			return &fakeAcceptor{passwords: map[string]string{"alice": "secret"}}, nil
		}})
		if err != nil {
			f.Fatal(err)
		}
		defer s.Close()
		c, err := NewClient(ClientConfig{Inner: &fakeInitiator{user: "alice", password: "secret"},
			TLSConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: v}})
		if err != nil {
			f.Fatal(err)
		}
		defer c.Close()
		if err := runExchange(c, s); err != nil {
			f.Fatal(err)
		}
		h, d, err := c.Wrap([]byte("<s:Envelope/>"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(h, d)
	}
	seed(tls.VersionTLS12)
	seed(tls.VersionTLS13)
	f.Add([]byte{0x17, 3, 3, 0, 0}, []byte{})
	f.Add([]byte{0x15, 3, 3, 0, 2}, []byte{2, 40})
	f.Fuzz(func(t *testing.T, header, data []byte) {
		s, err := NewServer(ServerConfig{NewInner: func() (gss.Acceptor, error) {
			return &fakeAcceptor{passwords: map[string]string{"alice": "secret"}}, nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c, err := NewClient(ClientConfig{Inner: &fakeInitiator{user: "alice", password: "secret"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := runExchange(c, s); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Unwrap(header, data); err != nil &&
			!errors.Is(err, gss.ErrBadToken) && !errors.Is(err, gss.ErrIntegrity) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
