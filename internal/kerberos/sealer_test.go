package kerberos

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gopsrp/gopsrp/internal/gss"
)

func randomKey(t testing.TB, etype int32) types.EncryptionKey {
	t.Helper()
	et, err := crypto.GetEtype(etype)
	if err != nil {
		t.Fatal(err)
	}
	k, err := types.GenerateEncryptionKey(et)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sealerPair returns an initiator and an acceptor sealer sharing key.
func sealerPair(t testing.TB, key types.EncryptionKey, acceptorSubkey bool) (ini, acc *sealer) {
	t.Helper()
	ini, err := newSealer(key, false, acceptorSubkey, 1000, 5000)
	if err != nil {
		t.Fatal(err)
	}
	acc, err = newSealer(key, true, acceptorSubkey, 5000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ini, acc
}

var enctypes = []struct {
	name string
	id   int32
}{
	{"aes256", etypeID.AES256_CTS_HMAC_SHA1_96},
	{"aes128", etypeID.AES128_CTS_HMAC_SHA1_96},
}

func TestCTSMatchesGokrb5(t *testing.T) {
	for _, et := range enctypes {
		key := randomKey(t, et.id)
		s, _ := sealerPair(t, key, false)
		for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 1000} {
			msg := make([]byte, n)
			rand.Read(msg)
			hdr, data, err := s.Wrap(msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(hdr) != 60 || len(data) != n {
				t.Fatalf("%s n=%d: header %d data %d, want 60 and %d", et.name, n, len(hdr), len(data), n)
			}
			// Undo the rotation by 28 and let gokrb5 decrypt it.
			body := append(append([]byte{}, hdr[16:]...), data...)
			c := append(append([]byte{}, body[28:]...), body[:28]...)
			e, _ := crypto.GetEtype(et.id)
			plain, err := e.DecryptMessage(key.KeyValue, c, usageInitiatorSeal)
			if err != nil {
				t.Fatalf("%s n=%d: gokrb5 cannot decrypt our token: %v", et.name, n, err)
			}
			want := append(append([]byte{}, msg...), hdr[:16]...)
			want[n+6], want[n+7] = 0, 0 // RRC is zero in the copy
			if !bytes.Equal(plain, want) {
				t.Fatalf("%s n=%d: decrypted\n%x\nwant\n%x", et.name, n, plain, want)
			}
		}
	}
}

func TestWrapUnwrapBothDirections(t *testing.T) {
	for _, et := range enctypes {
		for _, sub := range []bool{false, true} {
			ini, acc := sealerPair(t, randomKey(t, et.id), sub)
			for i, msg := range [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte("x"), 70000)} {
				h, d, err := ini.Wrap(msg)
				if err != nil {
					t.Fatal(err)
				}
				if h[2] != flagSealed|boolFlag(sub, flagAcceptorSubkey) {
					t.Fatalf("initiator flags %#x", h[2])
				}
				got, err := acc.Unwrap(h, d)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("%s sub=%v #%d: acceptor unwrap: %v", et.name, sub, i, err)
				}
				h, d, err = acc.Wrap(msg)
				if err != nil {
					t.Fatal(err)
				}
				if h[2] != flagSealed|flagSentByAcceptor|boolFlag(sub, flagAcceptorSubkey) {
					t.Fatalf("acceptor flags %#x", h[2])
				}
				got, err = ini.Unwrap(h, d)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("%s sub=%v #%d: initiator unwrap: %v", et.name, sub, i, err)
				}
			}
		}
	}
}

func boolFlag(b bool, f byte) byte {
	if b {
		return f
	}
	return 0
}

// TestUnwrapWindowsLayout covers tokens with EC 16 rotated by RRC+EC (the
// 76-byte header MS-KILE describes) and by RRC alone (RFC 4121).
func TestUnwrapWindowsLayout(t *testing.T) {
	for _, et := range enctypes {
		ini, acc := sealerPair(t, randomKey(t, et.id), true)
		acc.ec = windowsEC
		msg := []byte("<s:Envelope>windows</s:Envelope>")
		h, d, err := acc.Wrap(msg)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 76 {
			t.Fatalf("header %d bytes, want 76", len(h))
		}
		if got, err := ini.Unwrap(h, d); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%s: unwrap EC 16: %q, %v", et.name, got, err)
		}
		// The same token rotated the RFC 4121 way (by RRC only).
		h, d, _ = acc.Wrap(msg)
		tok := append(append([]byte{}, h...), d...)
		body := tok[16:]
		rotateRight(body, len(body)-44) // undo
		rotateRight(body, 28)
		if got, err := ini.Unwrap(tok[:10], tok[10:]); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%s: unwrap EC 16 RRC-only: %q, %v", et.name, got, err)
		}
		// Any RRC works; RRC 0 is the plain RFC 4121 layout.
		acc.ec, acc.rrc = 0, 0
		h, d, _ = acc.Wrap(msg)
		if got, err := ini.Unwrap(h, d); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%s: unwrap RRC 0: %q, %v", et.name, got, err)
		}
	}
}

func TestUnwrapRejects(t *testing.T) {
	ini, acc := sealerPair(t, randomKey(t, etypeID.AES256_CTS_HMAC_SHA1_96), true)
	msg := []byte("a message of some length, longer than a block")
	h, d, err := ini.Wrap(msg)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		mutate func(h, d []byte) ([]byte, []byte)
		want   error
	}{
		{"flip data bit", func(h, d []byte) ([]byte, []byte) { d[3] ^= 1; return h, d }, gss.ErrIntegrity},
		{"flip checksum bit", func(h, d []byte) ([]byte, []byte) { h[40] ^= 0x80; return h, d }, gss.ErrIntegrity},
		{"change seq", func(h, d []byte) ([]byte, []byte) { h[15]++; return h, d }, gss.ErrIntegrity},
		{"change EC", func(h, d []byte) ([]byte, []byte) { h[5] = 1; return h, d }, gss.ErrIntegrity},
		{"reflected", func(h, d []byte) ([]byte, []byte) { h[2] |= flagSentByAcceptor; return h, d }, gss.ErrIntegrity},
		{"unsealed", func(h, d []byte) ([]byte, []byte) { h[2] &^= flagSealed; return h, d }, gss.ErrUnsupported},
		{"bad tok id", func(h, d []byte) ([]byte, []byte) { h[0] = 4; return h, d }, gss.ErrBadToken},
		{"truncated", func(h, d []byte) ([]byte, []byte) { return h[:30], nil }, gss.ErrBadToken},
		{"truncated data", func(h, d []byte) ([]byte, []byte) { return h, d[:len(d)-1] }, gss.ErrIntegrity},
		{"empty", func(h, d []byte) ([]byte, []byte) { return nil, nil }, gss.ErrBadToken},
		{"huge EC", func(h, d []byte) ([]byte, []byte) { binary.BigEndian.PutUint16(h[4:], 0xffff); return h, d }, gss.ErrBadToken},
	}
	for _, c := range cases {
		hh, dd := c.mutate(append([]byte{}, h...), append([]byte{}, d...))
		got, err := acc.Unwrap(hh, dd)
		if !errors.Is(err, c.want) || got != nil {
			t.Errorf("%s: got %q, %v; want %v", c.name, got, err, c.want)
		}
	}
	// The untouched token still opens: failures consumed no sequence number.
	if got, err := acc.Unwrap(h, d); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("original: %v", err)
	}
	if _, err := acc.Unwrap(h, d); !errors.Is(err, gss.ErrSequence) {
		t.Fatalf("replay: %v, want ErrSequence", err)
	}
	h1, d1, _ := ini.Wrap(msg)
	h2, d2, _ := ini.Wrap(msg)
	if _, err := acc.Unwrap(h2, d2); !errors.Is(err, gss.ErrSequence) {
		t.Fatalf("out of order: %v, want ErrSequence", err)
	}
	if _, err := acc.Unwrap(h1, d1); err != nil {
		t.Fatalf("in order after a rejected one: %v", err)
	}
}

func TestMIC(t *testing.T) {
	ini, acc := sealerPair(t, randomKey(t, etypeID.AES128_CTS_HMAC_SHA1_96), true)
	mic, err := ini.MIC([]byte("mechlist"))
	if err != nil {
		t.Fatal(err)
	}
	if err := acc.VerifyMIC([]byte("mechlist"), mic); err != nil {
		t.Fatal(err)
	}
	if err := acc.VerifyMIC([]byte("mechlist"), mic); !errors.Is(err, gss.ErrSequence) {
		t.Fatalf("replayed MIC: %v", err)
	}
	mic, _ = acc.MIC([]byte("other"))
	if err := ini.VerifyMIC([]byte("0ther"), mic); !errors.Is(err, gss.ErrIntegrity) {
		t.Fatalf("wrong message: %v", err)
	}
	if err := ini.VerifyMIC(nil, mic[:5]); !errors.Is(err, gss.ErrBadToken) {
		t.Fatalf("short MIC: %v", err)
	}
}

func TestNewSealerRejectsRC4(t *testing.T) {
	_, err := newSealer(randomKey(t, etypeID.RC4_HMAC), false, false, 0, 0)
	if !errors.Is(err, gss.ErrUnsupported) {
		t.Fatalf("rc4: %v", err)
	}
}
