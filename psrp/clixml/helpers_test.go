package clixml

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"reflect"
	"testing"
)

// modelEqual compares two model values: *Object graphs by structure (with
// cycles), DateTime by instant, kind and offset, NaN equal to NaN.
func modelEqual(a, b any) bool {
	return eqv(a, b, map[[2]*Object]bool{})
}

func eqv(a, b any, seen map[[2]*Object]bool) bool {
	switch x := a.(type) {
	case *Object:
		y, ok := b.(*Object)
		if !ok || (x == nil) != (y == nil) {
			return false
		}
		if x == nil || seen[[2]*Object{x, y}] {
			return true
		}
		seen[[2]*Object{x, y}] = true
		if !reflect.DeepEqual(x.TypeNames, y.TypeNames) && !(len(x.TypeNames) == 0 && len(y.TypeNames) == 0) {
			return false
		}
		if x.ToString != y.ToString || x.HasToString != y.HasToString || x.Kind != y.Kind ||
			len(x.Props) != len(y.Props) || len(x.Members) != len(y.Members) ||
			len(x.Items) != len(y.Items) || len(x.Entries) != len(y.Entries) || !eqv(x.Value, y.Value, seen) {
			return false
		}
		for i := range x.Props {
			if x.Props[i].Name != y.Props[i].Name || !eqv(x.Props[i].Value, y.Props[i].Value, seen) {
				return false
			}
		}
		for i := range x.Members {
			if x.Members[i].Name != y.Members[i].Name || !eqv(x.Members[i].Value, y.Members[i].Value, seen) {
				return false
			}
		}
		for i := range x.Items {
			if !eqv(x.Items[i], y.Items[i], seen) {
				return false
			}
		}
		for i := range x.Entries {
			if !eqv(x.Entries[i].Key, y.Entries[i].Key, seen) || !eqv(x.Entries[i].Value, y.Entries[i].Value, seen) {
				return false
			}
		}
		return true
	case DateTime:
		y, ok := b.(DateTime)
		if !ok || x.Kind != y.Kind || !x.Time.Equal(y.Time) {
			return false
		}
		_, ox := x.Time.Zone()
		_, oy := y.Time.Zone()
		return x.Kind != Local || ox == oy
	case float64:
		y, ok := b.(float64)
		return ok && (x == y && math.Signbit(x) == math.Signbit(y) || math.IsNaN(x) && math.IsNaN(y))
	case float32:
		y, ok := b.(float32)
		return ok && (x == y || x != x && y != y)
	}
	return reflect.DeepEqual(a, b)
}

// testCipher is AES-256-CBC with a zero IV and PKCS#7 padding, as PSRP
// encrypts SecureStrings (PROTOCOL.md §1.7).
type testCipher struct{ key []byte }

func newTestCipher() testCipher {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return testCipher{k}
}

func (c testCipher) Encrypt(p []byte) ([]byte, error) {
	blk, err := aes.NewCipher(c.key)
	if err != nil {
		return nil, err
	}
	pad := 16 - len(p)%16
	buf := append(append([]byte(nil), p...), make([]byte, pad)...)
	for i := len(p); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(blk, make([]byte, 16)).CryptBlocks(buf, buf)
	return buf, nil
}

func (c testCipher) Decrypt(ct []byte) ([]byte, error) {
	blk, err := aes.NewCipher(c.key)
	if err != nil {
		return nil, err
	}
	if len(ct) == 0 || len(ct)%16 != 0 {
		return nil, errors.New("bad ciphertext length")
	}
	buf := append([]byte(nil), ct...)
	cipher.NewCBCDecrypter(blk, make([]byte, 16)).CryptBlocks(buf, buf)
	pad := int(buf[len(buf)-1])
	if pad == 0 || pad > 16 {
		return nil, errors.New("bad padding")
	}
	return buf[:len(buf)-pad], nil
}

// psrpMessages splits a base64 blob of PSRP fragments (MS-PSRP 2.2.4) into
// the CLIXML data of each complete message (BOM kept), reassembling
// multi-fragment messages.
func psrpMessages(t testing.TB, b64 string) [][]byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("base64: %v", err)
	}
	partial := map[uint64][]byte{}
	var out [][]byte
	for len(raw) > 0 {
		if len(raw) < 21 {
			t.Fatalf("short fragment header")
		}
		id := binary.BigEndian.Uint64(raw)
		flags := raw[16]
		n := int(binary.BigEndian.Uint32(raw[17:21]))
		if len(raw) < 21+n {
			t.Fatalf("short fragment")
		}
		blob := raw[21 : 21+n]
		raw = raw[21+n:]
		if flags&1 != 0 {
			partial[id] = nil
		}
		partial[id] = append(partial[id], blob...)
		if flags&2 != 0 {
			msg := partial[id]
			delete(partial, id)
			if len(msg) < 40 {
				t.Fatalf("short message")
			}
			out = append(out, msg[40:])
		}
	}
	return out
}

func readVector(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// decodeAny reads the next value of d into the lossless model.
func decodeAny(d *Decoder) (any, error) {
	var v any
	err := d.Decode(&v)
	return v, err
}
