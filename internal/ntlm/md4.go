package ntlm

import (
	"encoding/binary"
	"math/bits"
)

// md4Sum returns the MD4 digest of data (RFC 1320). NTLM's NTOWFv1 is MD4
// of the UTF-16LE password; the standard library has no MD4 and the
// project takes no golang.org/x/crypto dependency for twenty lines.
func md4Sum(data []byte) [16]byte {
	s := [4]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}
	n := len(data)
	// Padding: 0x80, zeros to 56 mod 64, then the bit length (LE uint64).
	padLen := 64 - (n+9)%64
	if padLen == 64 {
		padLen = 0
	}
	msg := make([]byte, 0, n+9+padLen)
	msg = append(msg, data...)
	msg = append(msg, 0x80)
	msg = append(msg, make([]byte, padLen)...)
	msg = binary.LittleEndian.AppendUint64(msg, uint64(n)<<3)

	var x [16]uint32
	for len(msg) >= 64 {
		for i := range x {
			x[i] = binary.LittleEndian.Uint32(msg[4*i:])
		}
		a, b, c, d := s[0], s[1], s[2], s[3]
		// Round 1: F(b,c,d) = (b&c)|(^b&d).
		for _, i := range [4]int{0, 4, 8, 12} {
			a = bits.RotateLeft32(a+(b&c|^b&d)+x[i], 3)
			d = bits.RotateLeft32(d+(a&b|^a&c)+x[i+1], 7)
			c = bits.RotateLeft32(c+(d&a|^d&b)+x[i+2], 11)
			b = bits.RotateLeft32(b+(c&d|^c&a)+x[i+3], 19)
		}
		// Round 2: G(b,c,d) = majority, constant 0x5a827999.
		for _, i := range [4]int{0, 1, 2, 3} {
			a = bits.RotateLeft32(a+(b&c|b&d|c&d)+x[i]+0x5a827999, 3)
			d = bits.RotateLeft32(d+(a&b|a&c|b&c)+x[i+4]+0x5a827999, 5)
			c = bits.RotateLeft32(c+(d&a|d&b|a&b)+x[i+8]+0x5a827999, 9)
			b = bits.RotateLeft32(b+(c&d|c&a|d&a)+x[i+12]+0x5a827999, 13)
		}
		// Round 3: H(b,c,d) = b^c^d, constant 0x6ed9eba1.
		for _, i := range [4]int{0, 2, 1, 3} {
			a = bits.RotateLeft32(a+(b^c^d)+x[i]+0x6ed9eba1, 3)
			d = bits.RotateLeft32(d+(a^b^c)+x[i+8]+0x6ed9eba1, 9)
			c = bits.RotateLeft32(c+(d^a^b)+x[i+4]+0x6ed9eba1, 11)
			b = bits.RotateLeft32(b+(c^d^a)+x[i+12]+0x6ed9eba1, 15)
		}
		s[0] += a
		s[1] += b
		s[2] += c
		s[3] += d
		msg = msg[64:]
	}
	var out [16]byte
	for i, v := range s {
		binary.LittleEndian.PutUint32(out[4*i:], v)
	}
	return out
}
