package spnego

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// A fake mechanism for the state machine tests. The initiator sends
// rounds tokens "<name>-I<k>"; the acceptor answers each but the last with
// "<name>-A<k>" and the last with "<name>-A<k>" only when mutual (then the
// initiator completes on it, like Kerberos with an AP-REP) or nothing (the
// initiator completed when it sent its last token, like NTLM).
//
// Its MIC and Wrap imitate NTLM's state: a per-direction sequence number
// and a "cipher position" that ResetCipherState rewinds. Both enter the
// signature, so a side that resets when the other does not breaks the
// first Unwrap, which is what the reset tests look for.

var (
	oidFakeKrb  = asn1.ObjectIdentifier{1, 2, 3, 4, 1}
	oidFakeNTLM = ntlmOID // the fake takes NTLM's OID to get its MIC rule
	oidFakeX    = asn1.ObjectIdentifier{1, 2, 3, 4, 3}
	oidUnknown  = asn1.ObjectIdentifier{1, 2, 3, 4, 9}
)

var errNoKDC = errors.New("fake: no KDC reachable")

type fakeOpts struct {
	name      string
	rounds    int
	mutual    bool
	failStart error // the initiator's first Step fails with it
	badCreds  bool  // the acceptor refuses the last token
}

// fakeCrypto is the signing state of one side.
type fakeCrypto struct {
	key    string
	out    int // 0: initiator→acceptor, 1: acceptor→initiator
	seq    [2]uint32
	pos    [2]uint64
	resets []string
}

func (f *fakeCrypto) mac(dir int, msg []byte) []byte {
	h := hmac.New(sha256.New, []byte(fmt.Sprintf("%s/%d", f.key, dir)))
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], f.seq[dir])
	binary.BigEndian.PutUint64(b[4:], f.pos[dir])
	h.Write(b[:])
	h.Write(msg)
	sum := h.Sum(nil)[:16]
	f.seq[dir]++
	f.pos[dir] += uint64(len(msg)) + 16
	return sum
}

func (f *fakeCrypto) MIC(msg []byte) ([]byte, error) { return f.mac(f.out, msg), nil }

func (f *fakeCrypto) VerifyMIC(msg, mic []byte) error {
	if !hmac.Equal(f.mac(1-f.out, msg), mic) {
		return fmt.Errorf("fake: bad MIC: %w", gss.ErrIntegrity)
	}
	return nil
}

func (f *fakeCrypto) ResetCipherState(outgoing bool) {
	dir := 1 - f.out
	if outgoing {
		dir = f.out
	}
	f.pos[dir] = 0
	f.resets = append(f.resets, fmt.Sprintf("reset(%v)", outgoing))
}

func (f *fakeCrypto) Wrap(msg []byte) ([]byte, []byte, error) {
	data := bytes.Clone(msg)
	for i := range data {
		data[i] ^= 0x5a
	}
	return f.mac(f.out, msg), data, nil
}

func (f *fakeCrypto) Unwrap(header, data []byte) ([]byte, error) {
	msg := bytes.Clone(data)
	for i := range msg {
		msg[i] ^= 0x5a
	}
	if !hmac.Equal(f.mac(1-f.out, msg), header) {
		return nil, fmt.Errorf("fake: bad signature: %w", gss.ErrIntegrity)
	}
	return msg, nil
}

type fakeInitiator struct {
	fakeCrypto
	o           fakeOpts
	k           int // tokens sent
	established bool
	steps       int
}

func newFakeInitiator(o fakeOpts) *fakeInitiator {
	return &fakeInitiator{o: o, fakeCrypto: fakeCrypto{key: o.name, out: 0}}
}

func (f *fakeInitiator) Step(_ context.Context, in []byte) ([]byte, error) {
	f.steps++
	if f.established {
		return nil, errors.New("fake: step after establishment")
	}
	if f.k == 0 {
		if in != nil {
			return nil, errors.New("fake: first step with a token")
		}
		if f.o.failStart != nil {
			return nil, f.o.failStart
		}
	} else if want := fmt.Sprintf("%s-A%d", f.o.name, f.k-1); string(in) != want {
		return nil, fmt.Errorf("fake: got %q, want %q: %w", in, want, gss.ErrBadToken)
	}
	if f.k == f.o.rounds {
		// The mutual answer to the last token.
		f.established = true
		return nil, nil
	}
	out := fmt.Sprintf("%s-I%d", f.o.name, f.k)
	f.k++
	if f.k == f.o.rounds && !f.o.mutual {
		f.established = true
	}
	return []byte(out), nil
}

func (f *fakeInitiator) Established() bool { return f.established }

func (f *fakeInitiator) ServerAuthenticated() bool { return f.established && f.o.mutual }

type fakeAcceptor struct {
	fakeCrypto
	o           fakeOpts
	k           int
	established bool
}

func newFakeAcceptor(o fakeOpts) *fakeAcceptor {
	return &fakeAcceptor{o: o, fakeCrypto: fakeCrypto{key: o.name, out: 1}}
}

func (f *fakeAcceptor) Step(_ context.Context, in []byte) ([]byte, error) {
	if f.established {
		return nil, errors.New("fake: step after establishment")
	}
	if want := fmt.Sprintf("%s-I%d", f.o.name, f.k); string(in) != want {
		return nil, fmt.Errorf("fake: got %q, want %q: %w", in, want, gss.ErrBadToken)
	}
	out := fmt.Sprintf("%s-A%d", f.o.name, f.k)
	f.k++
	if f.k < f.o.rounds {
		return []byte(out), nil
	}
	if f.o.badCreds {
		return nil, fmt.Errorf("fake: wrong password: %w", gss.ErrAuthFailed)
	}
	f.established = true
	if f.o.mutual {
		return []byte(out), nil
	}
	return nil, nil
}

func (f *fakeAcceptor) Established() bool { return f.established }

func (f *fakeAcceptor) UserName() string { return "FAKE\\" + f.o.name }

// The shapes used by the tests.
var (
	krbLike  = fakeOpts{name: "krb", rounds: 1, mutual: true}
	ntlmLike = fakeOpts{name: "ntlm", rounds: 2}
	xLike    = fakeOpts{name: "x", rounds: 2}
)

// bareInitiator and bareAcceptor hide the optional interfaces (MICer,
// CipherResetter, ServerAuthenticator) of the fakes.
type bareInitiator struct{ gss.Initiator }

type bareAcceptor struct{ gss.Acceptor }

func acceptMech(oid asn1.ObjectIdentifier, o fakeOpts, made **fakeAcceptor) AcceptMech {
	return AcceptMech{OID: oid, New: func() (gss.Acceptor, error) {
		a := newFakeAcceptor(o)
		if made != nil {
			*made = a
		}
		return a, nil
	}}
}
