package credssp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// Vectors of PROTOCOL.md §4.4 (pyspnego tests/data).
const (
	vectorTSRequest     = "3044a003020106a10b30093007a0050403313233a20b04096175746820696e666fa30e040c707562206b65792061757468a40302010aa50e040c636c69656e74206e6f6e6365"
	vectorTSCredentials = "304da003020101a14604443042a018041664006f006d00610069006e0020006e0061006d006500a112041075007300650072006e0061006d006500a2120410700061007300730077006f0072006400"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTSRequestVector(t *testing.T) {
	want := mustHex(t, vectorTSRequest)
	r := &tsRequest{
		Version:      6,
		NegoTokens:   [][]byte{[]byte("123")},
		AuthInfo:     []byte("auth info"),
		PubKeyAuth:   []byte("pub key auth"),
		HasErrorCode: true,
		ErrorCode:    10,
		ClientNonce:  []byte("client nonce"),
	}
	if got := r.marshal(); !bytes.Equal(got, want) {
		t.Fatalf("marshal:\n got %x\nwant %x", got, want)
	}
	p, err := parseTSRequest(want)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 6 || len(p.NegoTokens) != 1 || string(p.NegoTokens[0]) != "123" ||
		string(p.AuthInfo) != "auth info" || string(p.PubKeyAuth) != "pub key auth" ||
		!p.HasErrorCode || p.ErrorCode != 10 || string(p.ClientNonce) != "client nonce" {
		t.Fatalf("parse: %+v", p)
	}
}

func TestTSCredentialsVector(t *testing.T) {
	want := mustHex(t, vectorTSCredentials)
	c := passwordCreds{Domain: "domain name", User: "username", Password: "password"}
	if got := marshalTSCredentials(c); !bytes.Equal(got, want) {
		t.Fatalf("marshal:\n got %x\nwant %x", got, want)
	}
	p, err := parseTSCredentials(want)
	if err != nil {
		t.Fatal(err)
	}
	if p != c {
		t.Fatalf("parse: %+v", p)
	}
}

func TestTSRequestRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{0xab}, 40000) // long-form lengths
	for name, r := range map[string]tsRequest{
		"version only":     {Version: 2},
		"empty negoToken":  {Version: 6, NegoTokens: [][]byte{{}}},
		"two negoTokens":   {Version: 6, NegoTokens: [][]byte{[]byte("a"), big}},
		"pubKeyAuth nonce": {Version: 5, PubKeyAuth: big[:300], ClientNonce: big[:32]},
		"NTSTATUS":         {Version: 6, HasErrorCode: true, ErrorCode: StatusLogonFailure},
		"errorCode zero":   {Version: 3, HasErrorCode: true},
		"authInfo":         {Version: 6, AuthInfo: big[:200]},
	} {
		t.Run(name, func(t *testing.T) {
			enc := r.marshal()
			p, err := parseTSRequest(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.marshal(), enc) {
				t.Fatalf("re-marshal differs")
			}
			if p.Version != r.Version || p.HasErrorCode != r.HasErrorCode || p.ErrorCode != r.ErrorCode ||
				len(p.NegoTokens) != len(r.NegoTokens) || (r.AuthInfo == nil) != (p.AuthInfo == nil) {
				t.Fatalf("got %+v", p)
			}
		})
	}
}

// NTSTATUS failures are negative 32-bit INTEGERs; a positive 5-byte form
// (pyspnego writes that) must read the same.
func TestTSRequestErrorCodeForms(t *testing.T) {
	neg := (&tsRequest{Version: 6, HasErrorCode: true, ErrorCode: 0xC000006D}).marshal()
	if !bytes.Contains(neg, mustHex(t, "a4060204c000006d")) {
		t.Fatalf("negative form not used: %x", neg)
	}
	pos := mustHex(t, "300ea003020106a407020500c000006d")
	p, err := parseTSRequest(pos)
	if err != nil {
		t.Fatal(err)
	}
	if p.ErrorCode != StatusLogonFailure {
		t.Fatalf("errorCode %#x", p.ErrorCode)
	}
}

func TestTSCredentialsRoundTrip(t *testing.T) {
	for _, c := range []passwordCreds{
		{},
		{User: "user@example.com", Password: "pässwörd😀"},
		{Domain: "DOM", User: "u", Password: string(bytes.Repeat([]byte("x"), 1000))},
	} {
		p, err := parseTSCredentials(marshalTSCredentials(c))
		if err != nil {
			t.Fatal(err)
		}
		if p != c {
			t.Fatalf("got %+v want %+v", p, c)
		}
	}
}

func TestSplitUsername(t *testing.T) {
	for in, want := range map[string][2]string{
		`DOM\user`:         {"DOM", "user"},
		"user@example.com": {"", "user@example.com"},
		"user":             {"", "user"},
		`a\b\c`:            {"a", `b\c`},
	} {
		d, u := splitUsername(in)
		if d != want[0] || u != want[1] {
			t.Errorf("%q: %q %q", in, d, u)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	vec := mustHex(t, vectorTSRequest)
	cred := mustHex(t, vectorTSCredentials)
	bad := map[string][]byte{
		"empty":          {},
		"truncated":      vec[:len(vec)-1],
		"trailing":       append(append([]byte(nil), vec...), 0),
		"not a sequence": append([]byte{0x31}, vec[1:]...),
		"indefinite":     {0x30, 0x80, 0, 0},
		"huge length":    {0x30, 0x84, 0xff, 0xff, 0xff, 0xff},
		"no version":     mustHex(t, "3000"),
		"out of order":   mustHex(t, "300aa20404026869a003020106"),
		"version 0":      mustHex(t, "3005a003020100"),
		"long integer":   mustHex(t, "300aa00802060102030405"+"06"),
		"too large":      append([]byte{0x30, 0x83, 0x01, 0x00, 0x00}, make([]byte, 0x10000)...),
	}
	for name, b := range bad {
		if _, err := parseTSRequest(b); !errors.Is(err, gss.ErrBadToken) {
			t.Errorf("TSRequest %s: err %v", name, err)
		}
	}
	badCred := map[string][]byte{
		"truncated":      cred[:len(cred)-3],
		"smart card":     append(append([]byte(nil), cred[:6]...), append([]byte{2}, cred[7:]...)...),
		"odd utf16":      marshalOddCreds(),
		"empty":          nil,
		"missing fields": mustHex(t, "3005a003020101"),
	}
	for name, b := range badCred {
		if _, err := parseTSCredentials(b); !errors.Is(err, gss.ErrBadToken) {
			t.Errorf("TSCredentials %s: err %v", name, err)
		}
	}
}

func marshalOddCreds() []byte {
	var pc []byte
	for i := range 3 {
		pc = appendExplicit(pc, i, appendTLV(nil, tagOctetString, []byte{'x'}))
	}
	var body []byte
	body = appendExplicit(body, 0, appendInteger(nil, 1))
	body = appendExplicit(body, 1, appendTLV(nil, tagOctetString, appendTLV(nil, tagSequence, pc)))
	return appendTLV(nil, tagSequence, body)
}

func FuzzTSRequest(f *testing.F) {
	f.Add(mustHex(f, vectorTSRequest))
	f.Add((&tsRequest{Version: 6, NegoTokens: [][]byte{{}, []byte("NTLMSSP\x00")}, HasErrorCode: true, ErrorCode: StatusLogonFailure}).marshal())
	f.Add((&tsRequest{Version: 5, PubKeyAuth: make([]byte, 48), ClientNonce: make([]byte, 32)}).marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseTSRequest(b)
		if err != nil {
			if !errors.Is(err, gss.ErrBadToken) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// What parses re-encodes and parses to the same fields.
		r2, err := parseTSRequest(r.marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !bytes.Equal(r.marshal(), r2.marshal()) {
			t.Fatal("round trip differs")
		}
	})
}

func FuzzTSCredentials(f *testing.F) {
	f.Add(mustHex(f, vectorTSCredentials))
	f.Add(marshalTSCredentials(passwordCreds{User: "u@d", Password: "p"}))
	f.Add(marshalOddCreds())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseTSCredentials(b)
		if err != nil {
			if !errors.Is(err, gss.ErrBadToken) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		c2, err := parseTSCredentials(marshalTSCredentials(c))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		// Invalid UTF-16 (lone surrogates) decodes to U+FFFD, stable after.
		if c3, _ := parseTSCredentials(marshalTSCredentials(c2)); c3 != c2 {
			t.Fatal("round trip differs")
		}
	})
}
