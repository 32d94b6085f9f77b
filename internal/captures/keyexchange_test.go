package captures

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestLoadKeyExchange(t *testing.T) {
	t.Parallel()
	kx, err := LoadKeyExchange()
	if err != nil {
		t.Fatal(err)
	}
	if kx.Key.N.BitLen() != 2048 || kx.Key.E != 65537 {
		t.Errorf("key: %d bits, e=%d", kx.Key.N.BitLen(), kx.Key.E)
	}
	if len(kx.PublicKeyBlob) != 276 || !bytes.HasPrefix(kx.PublicKeyBlob, []byte{0x06, 0x02}) {
		t.Errorf("PUBLIC_KEY blob: %d bytes % x", len(kx.PublicKeyBlob), kx.PublicKeyBlob[:4])
	}
	if len(kx.EncryptedSessionKey) != 268 || !bytes.HasPrefix(kx.EncryptedSessionKey, []byte{0x01, 0x02, 0x00, 0x00, 0x10, 0x66}) {
		t.Errorf("ENCRYPTED_SESSION_KEY blob: %d bytes", len(kx.EncryptedSessionKey))
	}
	if len(kx.SessionKey) != 32 {
		t.Errorf("session key: %d bytes", len(kx.SessionKey))
	}
	var client, server int
	for _, s := range kx.SecureStrings {
		if s.FromServer {
			server++
		} else {
			client++
		}
		if len(s.Ciphertext)%16 != 0 || s.Plaintext == "" {
			t.Errorf("SecureString %+v", s)
		}
	}
	if client == 0 || server == 0 {
		t.Errorf("SecureStrings: %d from the client, %d from the server; want both directions", client, server)
	}
}

func TestParseKeyExchangeErrors(t *testing.T) {
	t.Parallel()
	good, err := ReadVector(KeyExchangeVectorFile)
	if err != nil {
		t.Fatal(err)
	}
	drop := func(prefix string) []byte {
		var out []string
		for _, l := range strings.Split(string(good), "\n") {
			if !strings.HasPrefix(l, prefix) {
				out = append(out, l)
			}
		}
		return []byte(strings.Join(out, "\n"))
	}
	tests := map[string][]byte{
		"empty":       nil,
		"no modulus":  drop("n = "),
		"wrong prime": bytes.Replace(good, []byte("q = 1"), []byte("q = 2"), 1),
		"no blob":     drop("BgIAAACkAABSU0Ex"),
		"no key blob": drop("AQIAABBmAAAA"),
		"no session":  drop("6d4a21e2"),
		"huge exp":    bytes.Replace(good, []byte("e = 65537"), []byte("e = 99999999999999999999"), 1),
		"long line":   append(bytes.Repeat([]byte("x"), 2<<20), '\n'),
	}
	for name, in := range tests {
		if _, err := ParseKeyExchange(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzParseKeyExchange(f *testing.F) {
	good, err := ReadVector(KeyExchangeVectorFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("## PUBLIC_KEY (0x00010005)\nAAAA\n"))
	// The text parser, which reads what a user's directory holds; the RSA
	// validation after it is the standard library's (and too slow under
	// coverage instrumentation to fuzz usefully).
	f.Fuzz(func(t *testing.T, b []byte) {
		kx, nums, err := parseKeyExchangeText(b)
		if err != nil {
			return
		}
		if kx.SessionKey == nil || kx.PublicKeyBlob == nil || len(nums) != 5 {
			t.Fatal("parsed without every field")
		}
		for k, n := range nums {
			if len(n.String()) > maxKeyDigits {
				t.Fatalf("%s has %d digits", k, len(n.String()))
			}
		}
	})
}
