package credssp

import (
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// The subset of ASN.1 DER that the CredSSP structures use: low-number tags,
// definite lengths, SEQUENCE, INTEGER, OCTET STRING and explicit
// context-specific tags.

const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagSequence    = 0x30
)

// tagContext returns the tag byte of the explicit context-specific tag [n].
func tagContext(n int) byte { return 0xa0 | byte(n) }

// appendTLV appends tag, the DER length of content and content to dst.
func appendTLV(dst []byte, tag byte, content []byte) []byte {
	dst = append(dst, tag)
	n := len(content)
	switch {
	case n < 0x80:
		dst = append(dst, byte(n))
	case n <= 0xff:
		dst = append(dst, 0x81, byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		dst = append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, content...)
}

// appendInteger appends a DER INTEGER holding v (two's complement, minimal).
func appendInteger(dst []byte, v int64) []byte {
	var b [8]byte
	for i := range b {
		b[7-i] = byte(v >> (8 * i))
	}
	i := 0
	// Drop leading bytes that only repeat the sign.
	for i < 7 && ((b[i] == 0 && b[i+1]&0x80 == 0) || (b[i] == 0xff && b[i+1]&0x80 != 0)) {
		i++
	}
	return appendTLV(dst, tagInteger, b[i:])
}

// explicit wraps already-encoded inner bytes in the context tag [n].
func appendExplicit(dst []byte, n int, inner []byte) []byte {
	return appendTLV(dst, tagContext(n), inner)
}

// derError is a malformed-structure error; it wraps gss.ErrBadToken.
func derError(what string) error {
	return fmt.Errorf("credssp: %s: %w", what, gss.ErrBadToken)
}

// readTLV splits the first TLV off b. It accepts definite lengths of up to
// four bytes that fit in b, and only single-byte tags.
func readTLV(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, derError("truncated ASN.1 element")
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, derError("unsupported high ASN.1 tag number")
	}
	n := int(b[1])
	b = b[2:]
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 || len(b) < k {
			return 0, nil, nil, derError("bad ASN.1 length")
		}
		n = 0
		for _, c := range b[:k] {
			n = n<<8 | int(c)
		}
		b = b[k:]
	}
	if n > len(b) {
		return 0, nil, nil, derError("ASN.1 length beyond the data")
	}
	return tag, b[:n:n], b[n:], nil
}

// expectTLV reads a TLV and checks its tag.
func expectTLV(b []byte, tag byte, what string) (content, rest []byte, err error) {
	t, c, r, err := readTLV(b)
	if err != nil {
		return nil, nil, err
	}
	if t != tag {
		return nil, nil, derError(fmt.Sprintf("%s: tag 0x%02x, want 0x%02x", what, t, tag))
	}
	return c, r, nil
}

// parseInteger decodes the content of an INTEGER of at most five bytes
// (enough for an NTSTATUS written as a positive number).
func parseInteger(c []byte, what string) (int64, error) {
	if len(c) == 0 || len(c) > 5 {
		return 0, derError(what + ": bad INTEGER length")
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, nil
}

// explicitValue reads the content of explicit tag [n] holding a universal
// element of type inner, and returns that element's content.
func explicitValue(c []byte, inner byte, what string) ([]byte, error) {
	v, rest, err := expectTLV(c, inner, what)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, derError(what + ": trailing data")
	}
	return v, nil
}
