package auth

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/sealedbody"
)

// A toy mechanism for the transport's tests. The exchange:
//
//	client: NEG|user
//	server: CHAL|nonce            (401)
//	client: AUTH|user|cbhash|mac  mac = HMAC(password, nonce|cbhash)
//	server: (200) or, mutual, DONE|HMAC(password, "server"|nonce)
//
// Both sides then seal with AES-CTR and an HMAC over a per-direction
// sequence number that Unwrap checks strictly, so a message sealed out of
// order or under another context fails.

// fakeMech is the client side as a Mechanism.
type fakeMech struct {
	user, password string
	httpScheme     string // default "Negotiate"
	mutual         bool   // the server proves itself; the initiator reports it
	claimsServer   bool   // mayAuthenticateServer answer

	mu      sync.Mutex
	targets []target
	tokens  []string // every token the initiators produced, for leak checks
	keys    [][]byte
}

func (m *fakeMech) String() string { return redacted("Fake", m.user, m.password != "") }
func (m *fakeMech) scheme() string {
	if m.httpScheme != "" {
		return m.httpScheme
	}
	return "Negotiate"
}
func (m *fakeMech) protocol() string                  { return sealedbody.ProtocolSPNEGO }
func (m *fakeMech) chunkSize() int                    { return 0 }
func (m *fakeMech) mayAuthenticateServer(string) bool { return m.claimsServer }

func (m *fakeMech) newInitiator(t target) (gss.Initiator, error) {
	m.mu.Lock()
	m.targets = append(m.targets, t)
	m.mu.Unlock()
	return &fakeInitiator{m: m, cb: t.bindings}, nil
}

func (m *fakeMech) lastTarget() target {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.targets[len(m.targets)-1]
}

// secrets returns every token and key the client side produced.
func (m *fakeMech) secrets() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := append([]string(nil), m.tokens...)
	for _, k := range m.keys {
		s = append(s, hex.EncodeToString(k), string(k))
	}
	return s
}

type fakeInitiator struct {
	m           *fakeMech
	cb          *gss.ChannelBindings
	nonce       []byte
	established bool
	serverOK    bool
	fakeSealer
}

func (c *fakeInitiator) Step(_ context.Context, in []byte) ([]byte, error) {
	var out []byte
	switch {
	case in == nil && c.nonce == nil:
		out = []byte("NEG|" + c.m.user)
	case bytes.HasPrefix(in, []byte("CHAL|")) && c.nonce == nil:
		c.nonce = in[5:]
		cbh := c.cb.Hash()
		out = []byte("AUTH|" + c.m.user + "|" + hex.EncodeToString(cbh[:]) + "|" + hex.EncodeToString(fakeMAC(c.m.password, c.nonce, cbh[:])))
		c.initKeys(c.m.password, c.nonce, true)
		c.m.mu.Lock()
		c.m.keys = append(c.m.keys, c.key)
		c.m.mu.Unlock()
		if !c.m.mutual {
			c.established = true
		}
	case bytes.HasPrefix(in, []byte("DONE|")) && c.nonce != nil && !c.established:
		want := hex.EncodeToString(fakeMAC(c.m.password, []byte("server"), c.nonce))
		if string(in[5:]) != want {
			return nil, fmt.Errorf("fake: server proof: %w", gss.ErrAuthFailed)
		}
		c.established, c.serverOK = true, true
	default:
		return nil, fmt.Errorf("fake: unexpected token %q: %w", in, gss.ErrBadToken)
	}
	if out != nil {
		c.m.mu.Lock()
		c.m.tokens = append(c.m.tokens, string(out), b64(out))
		c.m.mu.Unlock()
	}
	return out, nil
}

func (c *fakeInitiator) Established() bool         { return c.established }
func (c *fakeInitiator) ServerAuthenticated() bool { return c.serverOK }

// fakeAcceptor is the server side.
type fakeAcceptor struct {
	users       map[string]string
	mutual      bool
	cb          *gss.ChannelBindings // what the server expects
	user        string
	nonce       []byte
	established bool
	fakeSealer
}

func (a *fakeAcceptor) Step(_ context.Context, in []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(in, []byte("NEG|")) && a.nonce == nil:
		a.user = string(in[4:])
		a.nonce = make([]byte, 16)
		rand.Read(a.nonce)
		a.nonce = []byte(hex.EncodeToString(a.nonce))
		return append([]byte("CHAL|"), a.nonce...), nil
	case bytes.HasPrefix(in, []byte("AUTH|")) && a.nonce != nil:
		f := strings.Split(string(in), "|")
		if len(f) != 4 || f[1] != a.user {
			return nil, gss.ErrBadToken
		}
		cbh := a.cb.Hash()
		if f[2] != hex.EncodeToString(cbh[:]) {
			return nil, gss.ErrChannelBindings
		}
		pw, ok := a.users[a.user]
		if !ok || f[3] != hex.EncodeToString(fakeMAC(pw, a.nonce, cbh[:])) {
			return nil, gss.ErrAuthFailed
		}
		a.initKeys(pw, a.nonce, false)
		a.established = true
		if a.mutual {
			return []byte("DONE|" + hex.EncodeToString(fakeMAC(pw, []byte("server"), a.nonce))), nil
		}
		return nil, nil
	}
	return nil, gss.ErrBadToken
}

func (a *fakeAcceptor) Established() bool { return a.established }
func (a *fakeAcceptor) UserName() string  { return a.user }

func fakeMAC(key string, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, []byte(key))
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// fakeSealer seals with AES-CTR + HMAC-SHA256 and strict sequence numbers.
type fakeSealer struct {
	key              []byte
	sendKey, recvKey []byte
	sendSeq, recvSeq uint64
}

func (s *fakeSealer) initKeys(password string, nonce []byte, initiator bool) {
	s.key = fakeMAC(password, []byte("key"), nonce)
	c2s, s2c := fakeMAC(string(s.key), []byte("c2s")), fakeMAC(string(s.key), []byte("s2c"))
	if initiator {
		s.sendKey, s.recvKey = c2s, s2c
	} else {
		s.sendKey, s.recvKey = s2c, c2s
	}
}

func (s *fakeSealer) stream(key []byte, seq uint64, dst, src []byte) {
	blk, _ := aes.NewCipher(key[:16])
	iv := make([]byte, 16)
	binary.BigEndian.PutUint64(iv, seq)
	cipher.NewCTR(blk, iv).XORKeyStream(dst, src)
}

func (s *fakeSealer) Wrap(msg []byte) ([]byte, []byte, error) {
	if s.sendKey == nil {
		return nil, nil, gss.ErrNotEstablished
	}
	data := make([]byte, len(msg))
	s.stream(s.sendKey, s.sendSeq, data, msg)
	header := binary.BigEndian.AppendUint64(nil, s.sendSeq)
	header = append(header, fakeMAC(string(s.sendKey), header, data)[:16]...)
	s.sendSeq++
	return header, data, nil
}

func (s *fakeSealer) Unwrap(header, data []byte) ([]byte, error) {
	if s.recvKey == nil {
		return nil, gss.ErrNotEstablished
	}
	if len(header) != 24 {
		return nil, fmt.Errorf("fake: header length %d: %w", len(header), gss.ErrBadToken)
	}
	if !hmac.Equal(header[8:], fakeMAC(string(s.recvKey), header[:8], data)[:16]) {
		return nil, fmt.Errorf("fake: %w", gss.ErrIntegrity)
	}
	seq := binary.BigEndian.Uint64(header)
	if seq != s.recvSeq {
		return nil, fmt.Errorf("fake: got %d, want %d: %w", seq, s.recvSeq, gss.ErrSequence)
	}
	s.recvSeq++
	out := make([]byte, len(data))
	s.stream(s.recvKey, seq, out, data)
	return out, nil
}
