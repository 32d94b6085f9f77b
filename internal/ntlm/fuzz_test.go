package ntlm

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// classified reports whether err wraps one of the gss sentinels.
func classified(err error) bool {
	for _, e := range []error{gss.ErrBadToken, gss.ErrAuthFailed, gss.ErrUnsupported, gss.ErrChannelBindings, gss.ErrIntegrity, gss.ErrSequence} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzChallenge feeds the client arbitrary CHALLENGE messages: it must
// refuse them with a classified error or produce a parsable AUTHENTICATE.
func FuzzChallenge(f *testing.F) {
	f.Add(vecChallenge)
	s, _ := NewServer(testServerConfig())
	c, _ := NewClient(ClientConfig{Username: "u", Password: "p"})
	neg, _ := c.Step(context.Background(), nil)
	chal, _ := s.Step(context.Background(), neg)
	f.Add(chal)
	f.Add(vecChallenge[:48])
	f.Fuzz(func(t *testing.T, data []byte) {
		c := vectorClient()
		c.Step(context.Background(), nil)
		auth, err := c.Step(context.Background(), data)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if _, err := parseAuthenticate(auth); err != nil {
			t.Fatalf("our AUTHENTICATE does not parse: %v", err)
		}
	})
}

// FuzzAuthenticate feeds the server arbitrary AUTHENTICATE messages after
// the vector's CHALLENGE.
func FuzzAuthenticate(f *testing.F) {
	f.Add(vectorAuthenticate())
	c := vectorClient()
	c.Step(context.Background(), nil)
	c.channelBindings = &gss.ChannelBindings{ApplicationData: []byte("tls-server-end-point:x")}
	auth, _ := c.Step(context.Background(), vecChallenge)
	f.Add(auth)
	f.Add(vectorAuthenticate()[:88])
	f.Fuzz(func(t *testing.T, data []byte) {
		s, _ := NewServer(ServerConfig{Password: func(domain, user string) (string, bool) { return "Password", true }})
		s.step, s.serverChallenge, s.challenge = 1, vecServerChallenge, vecChallenge
		_, err := s.Step(context.Background(), data)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error %v", err)
			}
			if s.Established() {
				t.Fatal("established after an error")
			}
		}
	})
}

// FuzzUnwrap opens arbitrary signature+data with the vector keys. A
// refused message must change nothing: the genuine vector still opens.
func FuzzUnwrap(f *testing.F) {
	genuine := unhex("010000007fb38ec5c55d497600000000" + "54e50165bf1936dc996020c1811b0f06fb5f")
	f.Add(genuine)
	f.Add(unhex("01000000255405955d31d8c401000000" + "64c308e09ea236e7f4232553c94a01e700fa"))
	f.Add(genuine[:16])
	f.Fuzz(func(t *testing.T, data []byte) {
		_, server := vectorContexts(0xE2888235)
		// unwrap decrypts in place: keep data to compare, and leave the
		// shared vector alone.
		in := bytes.Clone(data)
		n := min(len(in), 16)
		got, err := server.unwrap(in[:n], in[n:])
		if err != nil {
			if got != nil || !classified(err) {
				t.Fatalf("failed unwrap returned %x, %v", got, err)
			}
			if !bytes.Equal(in, data) {
				t.Fatalf("failed unwrap changed its input to %x", in)
			}
			g := bytes.Clone(genuine)
			got, err := server.unwrap(g[:16], g[16:])
			if err != nil || !bytes.Equal(got, vecPlaintext) {
				t.Fatalf("genuine message after a refused one: %x, %v", got, err)
			}
			return
		}
		if !bytes.Equal(data, genuine) {
			t.Fatalf("accepted a message other than the vector: %x", data)
		}
	})
}
