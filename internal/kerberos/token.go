package kerberos

import (
	"encoding/asn1"
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// OID is the Kerberos V5 GSS-API mechanism (RFC 1964).
var OID = asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2}

// OIDMS is the misencoded Kerberos OID that Windows puts first in SPNEGO
// (MS-KILE 3.1.5.5); its tokens are ordinary Kerberos tokens.
var OIDMS = asn1.ObjectIdentifier{1, 2, 840, 48018, 1, 2, 2}

// DER encodings of the two OIDs (tag 06, length 09, value).
var (
	oidDER   = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	oidMSDER = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02}
)

// RFC 1964 1.1 token identifiers of the context establishment tokens.
const (
	tokAPReq    = 0x0100
	tokAPRep    = 0x0200
	tokKRBError = 0x0300
)

// maxTokenLen bounds a context token; a ticket with a large PAC is a few
// tens of kilobytes.
const maxTokenLen = 1 << 20

// marshalToken frames an inner Kerberos message as an RFC 2743 3.1
// InitialContextToken: 0x60, the DER length, the mechanism OID, the
// two-byte token ID and the message.
func marshalToken(tokID uint16, inner []byte) []byte {
	n := len(oidDER) + 2 + len(inner)
	out := make([]byte, 0, n+6)
	out = append(out, 0x60)
	out = appendDERLength(out, n)
	out = append(out, oidDER...)
	out = append(out, byte(tokID>>8), byte(tokID))
	return append(out, inner...)
}

func appendDERLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n <= 0xff:
		return append(b, 0x81, byte(n))
	case n <= 0xffff:
		return append(b, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// parseToken splits a framed context token into its token ID and inner
// message, accepting either Kerberos OID.
func parseToken(tok []byte) (tokID uint16, inner []byte, err error) {
	if len(tok) > maxTokenLen {
		return 0, nil, fmt.Errorf("kerberos: %d-byte token exceeds %d: %w", len(tok), maxTokenLen, gss.ErrBadToken)
	}
	if len(tok) < 2 || tok[0] != 0x60 {
		return 0, nil, fmt.Errorf("kerberos: token is not a GSS-API InitialContextToken: %w", gss.ErrBadToken)
	}
	n, rest, ok := readDERLength(tok[1:])
	if !ok || n != len(rest) {
		return 0, nil, fmt.Errorf("kerberos: token length does not match: %w", gss.ErrBadToken)
	}
	if len(rest) < len(oidDER)+2 {
		return 0, nil, fmt.Errorf("kerberos: token too short: %w", gss.ErrBadToken)
	}
	oid := rest[:len(oidDER)]
	if string(oid) != string(oidDER) && string(oid) != string(oidMSDER) {
		return 0, nil, fmt.Errorf("kerberos: token is for another mechanism: %w", gss.ErrBadToken)
	}
	rest = rest[len(oidDER):]
	return uint16(rest[0])<<8 | uint16(rest[1]), rest[2:], nil
}

// readDERLength reads a DER length (short or long form, up to 4 bytes).
func readDERLength(b []byte) (n int, rest []byte, ok bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	if b[0] < 0x80 {
		return int(b[0]), b[1:], true
	}
	k := int(b[0] & 0x7f)
	if k == 0 || k > 4 || len(b) < 1+k {
		return 0, nil, false
	}
	for _, c := range b[1 : 1+k] {
		n = n<<8 | int(c)
	}
	return n, b[1+k:], true
}
