package credssp

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// credTypePassword is the credType of TSPasswordCreds (MS-CSSP 2.2.1.2).
const credTypePassword = 1

// passwordCreds is the TSPasswordCreds of MS-CSSP 2.2.1.2.1, inside a
// TSCredentials:
//
//	TSCredentials ::= SEQUENCE {
//	        credType    [0] INTEGER,
//	        credentials [1] OCTET STRING   -- DER of TSPasswordCreds
//	}
//	TSPasswordCreds ::= SEQUENCE {
//	        domainName  [0] OCTET STRING,  -- UTF-16LE
//	        userName    [1] OCTET STRING,
//	        password    [2] OCTET STRING
//	}
type passwordCreds struct {
	Domain, User, Password string
}

// marshalTSCredentials returns the DER TSCredentials holding p.
func marshalTSCredentials(p passwordCreds) []byte {
	var pc []byte
	for i, s := range []string{p.Domain, p.User, p.Password} {
		pc = appendExplicit(pc, i, appendTLV(nil, tagOctetString, utf16le(s)))
	}
	inner := appendTLV(nil, tagSequence, pc)
	var body []byte
	body = appendExplicit(body, 0, appendInteger(nil, credTypePassword))
	body = appendExplicit(body, 1, appendTLV(nil, tagOctetString, inner))
	out := appendTLV(nil, tagSequence, body)
	clear(pc)
	clear(inner)
	clear(body)
	return out
}

// parseTSCredentials decodes a TSCredentials of credType 1 (password).
// Other credential types (smart card, remote guard) are refused.
func parseTSCredentials(b []byte) (passwordCreds, error) {
	var p passwordCreds
	if len(b) > maxMessage {
		return p, derError("TSCredentials too large")
	}
	seq, rest, err := expectTLV(b, tagSequence, "TSCredentials")
	if err != nil {
		return p, err
	}
	if len(rest) != 0 {
		return p, derError("TSCredentials: trailing data")
	}
	c, seq, err := expectTLV(seq, tagContext(0), "TSCredentials.credType")
	if err != nil {
		return p, err
	}
	v, err := explicitValue(c, tagInteger, "TSCredentials.credType")
	if err != nil {
		return p, err
	}
	ct, err := parseInteger(v, "TSCredentials.credType")
	if err != nil {
		return p, err
	}
	if ct != credTypePassword {
		return p, derError(fmt.Sprintf("TSCredentials: unsupported credType %d", ct))
	}
	c, seq, err = expectTLV(seq, tagContext(1), "TSCredentials.credentials")
	if err != nil {
		return p, err
	}
	if len(seq) != 0 {
		return p, derError("TSCredentials: trailing fields")
	}
	inner, err := explicitValue(c, tagOctetString, "TSCredentials.credentials")
	if err != nil {
		return p, err
	}
	pc, rest, err := expectTLV(inner, tagSequence, "TSPasswordCreds")
	if err != nil {
		return p, err
	}
	if len(rest) != 0 {
		return p, derError("TSPasswordCreds: trailing data")
	}
	var fields [3]string
	for i := range fields {
		c, pc, err = expectTLV(pc, tagContext(i), "TSPasswordCreds field")
		if err != nil {
			return p, err
		}
		v, err := explicitValue(c, tagOctetString, "TSPasswordCreds field")
		if err != nil {
			return p, err
		}
		if fields[i], err = fromUTF16LE(v); err != nil {
			return p, err
		}
	}
	if len(pc) != 0 {
		return p, derError("TSPasswordCreds: trailing fields")
	}
	return passwordCreds{Domain: fields[0], User: fields[1], Password: fields[2]}, nil
}

// utf16le encodes s as UTF-16LE.
func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// fromUTF16LE decodes UTF-16LE; an odd length is malformed.
func fromUTF16LE(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", derError("odd-length UTF-16 string")
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

// splitUsername splits `DOMAIN\user` into its parts; any other form
// (user, user@domain) is the user name with an empty domain, which is how
// Windows expects a UPN.
func splitUsername(s string) (domain, user string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			return s[:i], s[i+1:]
		}
	}
	return "", s
}
