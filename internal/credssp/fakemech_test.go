package credssp

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// A tiny challenge-response mechanism standing in for NTLM:
//
//	initiator → "FAKE1"
//	acceptor  → "FAKE2" challenge(16)
//	initiator → "FAKE3" HMAC-SHA256(password, challenge) user
//
// Wrap seals with AES-GCM under SHA256(password || challenge): a 16-byte
// header (the tag) and the ciphertext, with per-direction sequence numbers.

type fakeSealer struct {
	aead           cipher.AEAD
	outDir, inDir  byte
	seqOut, seqIn  uint64
	established    bool
	corruptNextOut bool // test hook: flip a plaintext byte of the next Wrap
}

func (f *fakeSealer) init(password string, challenge []byte, initiator bool) {
	k := sha256.Sum256(append([]byte(password), challenge...))
	b, _ := aes.NewCipher(k[:])
	f.aead, _ = cipher.NewGCM(b)
	f.outDir, f.inDir = 'S', 'C'
	if initiator {
		f.outDir, f.inDir = 'C', 'S'
	}
	f.established = true
}

func fakeNonce(dir byte, seq uint64) []byte {
	n := make([]byte, 12)
	n[0] = dir
	binary.BigEndian.PutUint64(n[4:], seq)
	return n
}

func (f *fakeSealer) Wrap(msg []byte) ([]byte, []byte, error) {
	if !f.established {
		return nil, nil, fmt.Errorf("fake: %w", gss.ErrNotEstablished)
	}
	if f.corruptNextOut {
		f.corruptNextOut = false
		msg = append([]byte(nil), msg...)
		msg[0] ^= 1
	}
	sealed := f.aead.Seal(nil, fakeNonce(f.outDir, f.seqOut), msg, nil)
	f.seqOut++
	n := len(msg)
	return sealed[n:], sealed[:n], nil
}

func (f *fakeSealer) Unwrap(header, data []byte) ([]byte, error) {
	if !f.established {
		return nil, fmt.Errorf("fake: %w", gss.ErrNotEstablished)
	}
	if len(header) != 16 {
		return nil, fmt.Errorf("fake: header of %d bytes: %w", len(header), gss.ErrBadToken)
	}
	ct := append(append([]byte(nil), data...), header...)
	plain, err := f.aead.Open(nil, fakeNonce(f.inDir, f.seqIn), ct, nil)
	if err != nil {
		return nil, fmt.Errorf("fake: %w", gss.ErrIntegrity)
	}
	f.seqIn++
	return plain, nil
}

type fakeInitiator struct {
	fakeSealer
	user, password string
	step           int
}

func (f *fakeInitiator) Established() bool { return f.established }

func (f *fakeInitiator) Step(_ context.Context, in []byte) ([]byte, error) {
	f.step++
	switch f.step {
	case 1:
		return []byte("FAKE1"), nil
	case 2:
		if len(in) != 21 || !bytes.HasPrefix(in, []byte("FAKE2")) {
			return nil, fmt.Errorf("fake: bad challenge: %w", gss.ErrBadToken)
		}
		ch := in[5:]
		m := hmac.New(sha256.New, []byte(f.password))
		m.Write(ch)
		f.init(f.password, ch, true)
		return append(append([]byte("FAKE3"), m.Sum(nil)...), f.user...), nil
	default:
		return nil, fmt.Errorf("fake: unexpected step: %w", gss.ErrBadToken)
	}
}

type fakeAcceptor struct {
	fakeSealer
	passwords map[string]string
	challenge []byte
	user      string
}

func (f *fakeAcceptor) Established() bool { return f.established }
func (f *fakeAcceptor) UserName() string  { return f.user }

func (f *fakeAcceptor) Step(_ context.Context, in []byte) ([]byte, error) {
	switch {
	case bytes.Equal(in, []byte("FAKE1")) && f.challenge == nil:
		f.challenge = make([]byte, 16)
		rand.Read(f.challenge)
		return append([]byte("FAKE2"), f.challenge...), nil
	case bytes.HasPrefix(in, []byte("FAKE3")) && len(in) >= 37 && f.challenge != nil:
		user := string(in[37:])
		pw, ok := f.passwords[user]
		m := hmac.New(sha256.New, []byte(pw))
		m.Write(f.challenge)
		if !ok || !hmac.Equal(m.Sum(nil), in[5:37]) {
			return nil, fmt.Errorf("fake: wrong password: %w", gss.ErrAuthFailed)
		}
		f.user = user
		f.init(pw, f.challenge, false)
		return nil, nil
	default:
		return nil, fmt.Errorf("fake: unexpected token: %w", gss.ErrBadToken)
	}
}

var (
	_ gss.Initiator = (*fakeInitiator)(nil)
	_ gss.Acceptor  = (*fakeAcceptor)(nil)
)
