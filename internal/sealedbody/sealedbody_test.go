package sealedbody

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// fixedSealer "seals" by XOR with a byte and uses a fixed header, so the
// framing can be checked byte for byte without a mechanism.
type fixedSealer struct{ header []byte }

func (f fixedSealer) Wrap(msg []byte) ([]byte, []byte, error) {
	d := make([]byte, len(msg))
	for i, b := range msg {
		d[i] = b ^ 0x5a
	}
	return f.header, d, nil
}

func (f fixedSealer) Unwrap(h, d []byte) ([]byte, error) {
	if !bytes.Equal(h, f.header) {
		return nil, errors.New("bad header")
	}
	out := make([]byte, len(d))
	for i, b := range d {
		out[i] = b ^ 0x5a
	}
	return out, nil
}

// vectorSealer returns PROTOCOL.md §4.5's signature and sealed data.
type vectorSealer struct{}

func (vectorSealer) Wrap([]byte) ([]byte, []byte, error) {
	h, _ := hex.DecodeString("010000007fb38ec5c55d497600000000")
	d, _ := hex.DecodeString("54e50165bf1936dc996020c1811b0f06fb5f")
	return h, d, nil
}
func (vectorSealer) Unwrap(h, d []byte) ([]byte, error) { return make([]byte, len(d)), nil }

// The 274-byte body of PROTOCOL.md §4.5.
const vector45 = "2d2d456e6372797074656420426f756e646172790d0a09436f6e74656e742d547970653a206170706c69636174696f6e2f485454502d53504e45474f2d73657373696f6e2d656e637279707465640d0a094f726967696e616c436f6e74656e743a20747970653d6170706c69636174696f6e2f736f61702b786d6c3b636861727365743d5554462d383b4c656e6774683d31380d0a2d2d456e6372797074656420426f756e646172790d0a09436f6e74656e742d547970653a206170706c69636174696f6e2f6f637465742d73747265616d0d0a10000000010000007fb38ec5c55d49760000000054e50165bf1936dc996020c1811b0f06fb5f2d2d456e6372797074656420426f756e646172792d2d0d0a"

func TestSealVector(t *testing.T) {
	ct, body, err := Seal(vectorSealer{}, ProtocolSPNEGO, make([]byte, 18), 0)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString(vector45)
	if !bytes.Equal(body, want) {
		t.Fatalf("body differs from PROTOCOL.md §4.5:\n got %x\nwant %x", body, want)
	}
	if len(body) != 274 {
		t.Errorf("len = %d, want 274", len(body))
	}
	if wantCT := `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"`; ct != wantCT {
		t.Errorf("content type %q, want %q", ct, wantCT)
	}
	parts, err := Parse(ct, want, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 || parts[0].Length != 18 || parts[0].Protocol != ProtocolSPNEGO ||
		hex.EncodeToString(parts[0].Header) != "010000007fb38ec5c55d497600000000" ||
		hex.EncodeToString(parts[0].Data) != "54e50165bf1936dc996020c1811b0f06fb5f" {
		t.Fatalf("parsed %+v", parts)
	}
}

func TestRoundTripAndChunks(t *testing.T) {
	s := fixedSealer{header: []byte("reallylongheader")}
	for _, n := range []int{0, 1, 100, CredSSPChunkSize, CredSSPChunkSize + 1, 20000, 3*CredSSPChunkSize + 7} {
		msg := bytes.Repeat([]byte("<s:Envelope/>--Encrypted Boundary"), n/33+1)[:n]
		for _, chunk := range []int{0, CredSSPChunkSize} {
			ct, body, err := Seal(s, ProtocolCredSSP, msg, chunk)
			if err != nil {
				t.Fatal(err)
			}
			wantMulti := chunk > 0 && n > chunk
			if got := strings.HasPrefix(ct, TypeMultiEncrypted); got != wantMulti {
				t.Errorf("n=%d chunk=%d: content type %q", n, chunk, ct)
			}
			if !IsSealed(ct) {
				t.Errorf("IsSealed(%q) = false", ct)
			}
			got, err := Open(s, ct, body, 0)
			if err != nil {
				t.Fatalf("n=%d chunk=%d: %v", n, chunk, err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("n=%d chunk=%d: round trip differs", n, chunk)
			}
		}
	}
	// pypsrp's test_wrap_large_credssp: 20000 bytes give parts of 16384 and 3616.
	_, body, _ := Seal(s, ProtocolCredSSP, make([]byte, 20000), CredSSPChunkSize)
	parts, err := Parse(TypeMultiEncrypted, body, 0)
	if err != nil || len(parts) != 2 || parts[0].Length != 16384 || parts[1].Length != 3616 {
		t.Fatalf("parts %v, %v", parts, err)
	}
}

func TestTolerantVariants(t *testing.T) {
	s := fixedSealer{header: []byte("hdr")}
	_, body, _ := Seal(s, ProtocolSPNEGO, []byte("hello"), 0)
	variants := map[string][]byte{
		"space after dashes": bytes.ReplaceAll(body, []byte("--Encrypted"), []byte("-- Encrypted")),
		"no closing dashes":  append(bytes.Clone(bytes.TrimSuffix(body, []byte("--Encrypted Boundary--\r\n"))), "--Encrypted Boundary\r\n"...),
		"LF line endings":    bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")),
	}
	for name, b := range variants {
		got, err := Open(s, "multipart/encrypted", b, 0)
		if err != nil || string(got) != "hello" {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	s := fixedSealer{header: []byte("hdr")}
	_, good, _ := Seal(s, ProtocolSPNEGO, []byte("hello world"), 0)
	cases := map[string][]byte{
		"empty":            nil,
		"no boundary":      []byte("hello"),
		"truncated":        good[:len(good)-40],
		"huge header len":  bytes.Replace(good, []byte{3, 0, 0, 0}, []byte{0xff, 0xff, 0xff, 0x7f}, 1),
		"length too large": bytes.Replace(good, []byte("Length=11"), []byte("Length=99999999"), 1),
		"no length":        bytes.Replace(good, []byte("Length=11"), []byte("Lungth=11"), 1),
		"only closing":     []byte("--Encrypted Boundary--\r\n"),
	}
	for name, b := range cases {
		if _, err := Open(s, "multipart/encrypted", b, 0); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	short := bytes.Replace(good, []byte("Length=11"), []byte("Length=12"), 1)
	if _, err := Open(s, "multipart/encrypted", short, 0); !errors.Is(err, ErrLength) {
		t.Errorf("length mismatch: err = %v, want ErrLength", err)
	}
	if _, err := Open(s, "multipart/encrypted", good, 5); !errors.Is(err, ErrMalformed) {
		t.Errorf("over maxLength: err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	v, _ := hex.DecodeString(vector45)
	f.Add(v)
	_, multi, _ := Seal(fixedSealer{header: []byte("h")}, ProtocolCredSSP, make([]byte, 40000), CredSSPChunkSize)
	f.Add(multi)
	f.Add([]byte("--Encrypted Boundary\r\n--Encrypted Boundary--"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parts, err := Parse("multipart/encrypted", b, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for _, p := range parts {
			if p.Length > len(b)+64 || len(p.Header)+len(p.Data) > len(b) {
				t.Fatalf("part larger than the body: %+v", p)
			}
		}
	})
}
