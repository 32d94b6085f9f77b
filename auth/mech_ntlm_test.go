package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/ntlm"
)

// ntlmAcceptor returns a server-side NTLM context knowing alice.
func ntlmAcceptor(t testing.TB) func(cb *gss.ChannelBindings) gss.Acceptor {
	return func(cb *gss.ChannelBindings) gss.Acceptor {
		s, err := ntlm.NewServer(ntlm.ServerConfig{
			Password: func(domain, user string) (string, bool) {
				if strings.EqualFold(user, "alice") {
					return alice["alice"], true
				}
				return "", false
			},
			ChannelBindings:        cb,
			RequireChannelBindings: cb != nil,
		})
		if err != nil {
			t.Error(err)
		}
		return s
	}
}

func TestNTLMTransport(t *testing.T) {
	t.Parallel()
	for _, useTLS := range []bool{false, true} {
		fs := newFakeServer(t, useTLS, alice, false)
		fs.newAcceptor = ntlmAcceptor(t)
		m := &NTLM{Username: `CORP\alice`, Password: alice["alice"]}
		tr := newTestTransport(t, fs, m)
		for _, body := range []string{"<a/>", strings.Repeat("payload ", 5000), "<b/>"} {
			mustDo(t, tr, fs.srv.URL, body)
		}
		fs.check(t)
		// Probe, NEGOTIATE, AUTHENTICATE.
		if chs := channels(tr); len(chs) != 1 || chs[0].handshake != 3 {
			t.Errorf("tls=%v: round trips %d, want 3", useTLS, chs[0].handshake)
		}
		if fs.sealed.Load() != 3 {
			t.Errorf("tls=%v: %d sealed", useTLS, fs.sealed.Load())
		}
	}
}

func TestNTLMTransportRefusals(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, false, alice, false)
	fs.newAcceptor = ntlmAcceptor(t)
	m := &NTLM{Username: "alice", Password: "not-the-Passw0rd"}
	tr := newTestTransport(t, fs, m)
	_, _, err := do(context.Background(), tr, fs.srv.URL, "x")
	if !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("wrong password: %v", err)
	}
	tr2 := newTestTransport(t, fs, &NTLM{Username: "alice", Password: alice["alice"]})
	tr2.TrustedHosts = nil
	_, _, err = do(context.Background(), tr2, fs.srv.URL, "x")
	if !errors.Is(err, ErrUntrustedHost) {
		t.Fatalf("untrusted: %v", err)
	}
	if fs.authPosts.Load() != 2 {
		t.Errorf("%d handshake posts, want 2 (none for the untrusted host)", fs.authPosts.Load())
	}
}
