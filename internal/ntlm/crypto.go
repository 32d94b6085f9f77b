package ntlm

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"strings"
	"unicode/utf16"
)

// utf16le encodes s as UTF-16LE, NTLM's string encoding when UNICODE is
// negotiated.
func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i] = byte(c)
		b[2*i+1] = byte(c >> 8)
	}
	return b
}

// fromUTF16LE decodes a UTF-16LE string field; an odd trailing byte is
// ignored.
func fromUTF16LE(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(u))
}

// hmacMD5 is HMAC_MD5(key, parts...) of MS-NLMP 6.
func hmacMD5(key []byte, parts ...[]byte) []byte {
	h := hmac.New(md5.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// ntowfv1 is MD4(UNICODE(password)) (MS-NLMP 3.3.1), the NT hash.
func ntowfv1(password string) []byte {
	h := md4Sum(utf16le(password))
	return h[:]
}

// ntowfv2 is HMAC_MD5(NT hash, UNICODE(Uppercase(user) + domain))
// (MS-NLMP 3.3.2).
func ntowfv2(ntHash []byte, user, domain string) []byte {
	return hmacMD5(ntHash, utf16le(strings.ToUpper(user)+domain))
}

// rc4K encrypts data once with a fresh RC4 key (MS-NLMP RC4K).
func rc4K(key, data []byte) []byte {
	c, err := rc4.NewCipher(key)
	if err != nil { // only for a key outside 1..256 bytes, never here
		panic("ntlm: rc4: " + err.Error())
	}
	out := make([]byte, len(data))
	c.XORKeyStream(out, data)
	return out
}

// Magic constants of SIGNKEY and SEALKEY (MS-NLMP 3.4.5.2, 3.4.5.3),
// each with its terminating NUL.
const (
	clientSignMagic = "session key to client-to-server signing key magic constant\x00"
	serverSignMagic = "session key to server-to-client signing key magic constant\x00"
	clientSealMagic = "session key to client-to-server sealing key magic constant\x00"
	serverSealMagic = "session key to server-to-client sealing key magic constant\x00"
)

// signKey is SIGNKEY with extended session security.
func signKey(exportedSessionKey []byte, fromClient bool) []byte {
	magic := serverSignMagic
	if fromClient {
		magic = clientSignMagic
	}
	h := md5.Sum(append(append([]byte(nil), exportedSessionKey...), magic...))
	return h[:]
}

// sealKey is SEALKEY with extended session security: the exported key
// truncated to the negotiated strength (before hashing), then MD5 with
// the direction's magic constant.
func sealKey(flags uint32, exportedSessionKey []byte, fromClient bool) []byte {
	k := exportedSessionKey
	switch {
	case flags&flag128 != 0:
	case flags&flag56 != 0:
		k = k[:7]
	default:
		k = k[:5]
	}
	magic := serverSealMagic
	if fromClient {
		magic = clientSealMagic
	}
	h := md5.Sum(append(append([]byte(nil), k...), magic...))
	return h[:]
}
