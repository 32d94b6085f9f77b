package psrp_test

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"regexp"
	"testing"
	"unicode/utf16"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/stretchr/testify/require"
)

// kxTestKey returns a fresh RSA-2048 key pair for a test.
func kxTestKey(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	k, err := psrp.GenerateExchangeKey(nil)
	require.NoError(tb, err)
	return k
}

// kxCapturePublicKey extracts the PUBLIC_KEY blob the pypsrp client sent in
// test_psrp_key_exchange_timeout.yml message #3.
func kxCapturePublicKey(tb testing.TB) []byte {
	tb.Helper()
	c := smLoadCapture(tb, "test_psrp_key_exchange_timeout.yml")
	require.Greater(tb, len(c.Messages), 3)
	blobs := smBlobs(tb, c.Messages[3].Request)
	require.Len(tb, blobs, 1)
	m := regexp.MustCompile(`<S N="PublicKey">([^<]+)</S>`).FindSubmatch(blobs[0])
	require.NotNil(tb, m, "no PublicKey in capture")
	b, err := base64.StdEncoding.DecodeString(string(m[1]))
	require.NoError(tb, err)
	return b
}

// utf16le is how .NET hands a SecureString's text to the cipher.
func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func TestSecureStringCipherVector(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	c, err := psrp.NewSecureStringCipher(key)
	require.NoError(t, err)
	ct, err := c.Encrypt(utf16le("password"))
	require.NoError(t, err)
	require.Equal(t, "u1HQw6XnGcp+dvRujpjX+09zvUIBtQcKD+7HimAYKLk=", base64.StdEncoding.EncodeToString(ct))
	want, _ := hex.DecodeString("bb51d0c3a5e719ca7e76f46e8e98d7fb4f73bd4201b5070a0feec78a601828b9")
	pt, err := c.Decrypt(want)
	require.NoError(t, err)
	require.Equal(t, utf16le("password"), pt)

	// The same vector through CLIXML, which owns the UTF-16 conversion:
	// what a pipeline argument looks like on the wire (PROTOCOL.md §1.7).
	xml, err := clixml.MarshalOptions{Cipher: c}.Marshal(clixml.NewSecureString("password"))
	require.NoError(t, err)
	require.Equal(t, "<SS>u1HQw6XnGcp+dvRujpjX+09zvUIBtQcKD+7HimAYKLk=</SS>", string(xml))
	var back any
	require.NoError(t, clixml.UnmarshalOptions{Cipher: c}.Unmarshal(xml, &back))
	ss := back.(clixml.SecureString)
	require.True(t, ss.Decrypted)
	require.Equal(t, "password", string(ss.Plaintext))
}

func TestSecureStringCipherRoundTrip(t *testing.T) {
	t.Parallel()
	key, err := psrp.NewSessionKey(nil)
	require.NoError(t, err)
	c, err := psrp.NewSecureStringCipher(key)
	require.NoError(t, err)
	for _, s := range []string{"", "a", "exactly 8 chars!", "café 𝄞 ü", "long " + string(bytes.Repeat([]byte("x"), 1000))} {
		ct, err := c.Encrypt(utf16le(s))
		require.NoError(t, err)
		require.Zero(t, len(ct)%16)
		require.Greater(t, len(ct), len(utf16le(s)), "PKCS#7 always pads")
		pt, err := c.Decrypt(ct)
		require.NoError(t, err)
		require.True(t, bytes.Equal(utf16le(s), pt), "round trip of %q", s)
	}
}

func TestSecureStringCipherErrors(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	c, err := psrp.NewSecureStringCipher(key)
	require.NoError(t, err)
	good, err := c.Encrypt(utf16le("secret"))
	require.NoError(t, err)
	badPad := bytes.Clone(good)
	badPad[len(badPad)-1] ^= 0xFF // corrupts the last block's padding
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short", []byte{1, 2, 3}},
		{"not block multiple", make([]byte, 17)},
		{"bad padding", badPad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Decrypt(tc.in)
			require.ErrorIs(t, err, psrp.ErrSecureStringCiphertext)
		})
	}
	for _, n := range []int{0, 16, 31, 33} {
		_, err := psrp.NewSecureStringCipher(make([]byte, n))
		var ke *psrp.KeyExchangeError
		require.ErrorAs(t, err, &ke, "key size %d", n)
	}
}

func TestPublicKeyBlobRoundTrip(t *testing.T) {
	t.Parallel()
	k := kxTestKey(t)
	blob, err := psrp.EncodePublicKeyBlob(&k.PublicKey)
	require.NoError(t, err)
	require.Len(t, blob, psrp.PublicKeyBlobSize)
	require.Equal(t, "0602000000a40000525341310008000001000100", hex.EncodeToString(blob[:20]))
	// The modulus is little-endian: its last byte is the most significant.
	nb := k.N.Bytes()
	require.Equal(t, nb[0], blob[len(blob)-1])
	require.Equal(t, nb[len(nb)-1], blob[20])
	pub, err := psrp.DecodePublicKeyBlob(blob)
	require.NoError(t, err)
	require.True(t, pub.Equal(&k.PublicKey))
}

func TestPublicKeyBlobFromCapture(t *testing.T) {
	t.Parallel()
	blob := kxCapturePublicKey(t)
	pub, err := psrp.DecodePublicKeyBlob(blob)
	require.NoError(t, err)
	require.Equal(t, 65537, pub.E)
	require.Equal(t, 2048, pub.N.BitLen())
	again, err := psrp.EncodePublicKeyBlob(pub)
	require.NoError(t, err)
	require.Equal(t, blob, again)
	// A server can encrypt a session key to the captured key.
	esk, err := psrp.EncryptSessionKey(pub, make([]byte, 32))
	require.NoError(t, err)
	require.Len(t, esk, psrp.EncryptedSessionKeyBlobSize)
	require.Equal(t, "010200001066000000a40000", hex.EncodeToString(esk[:12]))
}

func TestDecodePublicKeyBlobErrors(t *testing.T) {
	t.Parallel()
	k := kxTestKey(t)
	good, err := psrp.EncodePublicKeyBlob(&k.PublicKey)
	require.NoError(t, err)
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"truncated", good[:275]},
		{"trailing", append(bytes.Clone(good), 0)},
		{"wrong blob type", mut(func(b []byte) []byte { b[0] = 7; return b })},
		{"wrong magic", mut(func(b []byte) []byte { b[8] = 'X'; return b })},
		{"wrong bitlen", mut(func(b []byte) []byte { b[13] = 4; return b })},
		{"even exponent", mut(func(b []byte) []byte { b[16] = 2; b[17], b[18] = 0, 0; return b })},
		{"short modulus", mut(func(b []byte) []byte { b[len(b)-1] = 0; return b })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := psrp.DecodePublicKeyBlob(tc.in)
			var ke *psrp.KeyExchangeError
			require.ErrorAs(t, err, &ke)
			require.Contains(t, err.Error(), "psrp: decode public key blob")
		})
	}
}

func TestSessionKeyRoundTrip(t *testing.T) {
	t.Parallel()
	k := kxTestKey(t)
	key, err := psrp.NewSessionKey(bytes.NewReader(bytes.Repeat([]byte{0x42}, 32)))
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte{0x42}, 32), key)
	blob, err := psrp.EncryptSessionKey(&k.PublicKey, key)
	require.NoError(t, err)
	got, err := psrp.DecryptSessionKey(k, blob)
	require.NoError(t, err)
	require.Equal(t, key, got)

	other := kxTestKey(t)
	_, err = psrp.DecryptSessionKey(other, blob)
	var ke *psrp.KeyExchangeError
	require.ErrorAs(t, err, &ke, "wrong private key must fail")

	bad := bytes.Clone(blob)
	bad[4] = 0x0E // CALG_AES_128, not what the protocol uses
	_, err = psrp.DecryptSessionKey(k, bad)
	require.ErrorAs(t, err, &ke)
	_, err = psrp.DecryptSessionKey(k, blob[:100])
	require.ErrorAs(t, err, &ke)
	_, err = psrp.EncryptSessionKey(&k.PublicKey, key[:16])
	require.ErrorAs(t, err, &ke)
	_, err = psrp.NewSessionKey(bytes.NewReader(nil))
	require.ErrorAs(t, err, &ke)
	require.True(t, errors.Unwrap(err) != nil)
}

func FuzzDecodePublicKeyBlob(f *testing.F) {
	f.Add(kxCapturePublicKey(f))
	f.Add([]byte{0x06, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, err := psrp.DecodePublicKeyBlob(b)
		if err != nil {
			return
		}
		again, err := psrp.EncodePublicKeyBlob(pub)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded blob does not re-encode: %v", err)
		}
	})
}

func FuzzDecryptSessionKey(f *testing.F) {
	k := kxTestKey(f)
	blob, err := psrp.EncryptSessionKey(&k.PublicKey, bytes.Repeat([]byte{1}, 32))
	require.NoError(f, err)
	f.Add(blob)
	f.Add(blob[:12])
	f.Fuzz(func(t *testing.T, b []byte) {
		key, err := psrp.DecryptSessionKey(k, b)
		if err == nil && len(key) != psrp.SessionKeySize {
			t.Fatalf("got %d-byte key", len(key))
		}
	})
}

func FuzzSecureStringDecrypt(f *testing.F) {
	c, err := psrp.NewSecureStringCipher(bytes.Repeat([]byte{3}, 32))
	require.NoError(f, err)
	ct, err := c.Encrypt(utf16le("password"))
	require.NoError(f, err)
	f.Add(ct)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := c.Decrypt(b)
		if err != nil {
			return
		}
		// Whatever decrypts must survive a round trip as valid UTF-8.
		ct2, err := c.Encrypt(pt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Decrypt(ct2); err != nil {
			t.Fatal(err)
		}
	})
}
