package ntlm

import (
	"bytes"
	"encoding/asn1"
	"encoding/binary"
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// OID is the NTLMSSP mechanism's object identifier, as SPNEGO lists it.
var OID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}

var signature = []byte("NTLMSSP\x00")

// IsToken reports whether b is a raw NTLMSSP message (it starts with the
// "NTLMSSP\0" signature), as opposed to a SPNEGO or Kerberos token.
func IsToken(b []byte) bool {
	return bytes.HasPrefix(b, signature)
}

// Message types (MS-NLMP 2.2.1).
const (
	typeNegotiate    uint32 = 1
	typeChallenge    uint32 = 2
	typeAuthenticate uint32 = 3
)

// maxTokenSize bounds the NTLM messages accepted from the wire; real ones
// are a few hundred bytes.
const maxTokenSize = 64 << 10

// version is the VERSION structure (MS-NLMP 2.2.2.10): major, minor,
// build, three reserved bytes and NTLMSSP_REVISION_W2K3 (15).
type version [8]byte

// defaultVersion claims Windows 10.0 build 17763, as current Windows
// peers do; the field is informational.
var defaultVersion = version{10, 0, 0x63, 0x45, 0, 0, 0, 15}

// checkHeader verifies the signature and the message type.
func checkHeader(msg []byte, want uint32, minLen int) error {
	if len(msg) > maxTokenSize {
		return fmt.Errorf("ntlm: message of %d bytes is too long: %w", len(msg), gss.ErrBadToken)
	}
	if len(msg) < minLen || !IsToken(msg) {
		return fmt.Errorf("ntlm: not an NTLMSSP message: %w", gss.ErrBadToken)
	}
	if t := binary.LittleEndian.Uint32(msg[8:]); t != want {
		return fmt.Errorf("ntlm: message type %d, want %d: %w", t, want, gss.ErrBadToken)
	}
	return nil
}

// readField returns the payload a (len, maxlen, offset) field at off
// points to, checked against the message bounds.
func readField(msg []byte, off int, name string) ([]byte, error) {
	n := int(binary.LittleEndian.Uint16(msg[off:]))
	start := int(binary.LittleEndian.Uint32(msg[off+4:]))
	if n == 0 {
		return nil, nil
	}
	if start > len(msg) || n > len(msg)-start {
		return nil, fmt.Errorf("ntlm: %s field outside the message: %w", name, gss.ErrBadToken)
	}
	return msg[start : start+n : start+n], nil
}

// putField writes a (len, maxlen, offset) field at off for data appended
// to the payload at offset start.
func putField(msg []byte, off, start, n int) {
	binary.LittleEndian.PutUint16(msg[off:], uint16(n))
	binary.LittleEndian.PutUint16(msg[off+2:], uint16(n))
	binary.LittleEndian.PutUint32(msg[off+4:], uint32(start))
}

// negotiateMessage is NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1) without the
// domain and workstation, which NTLMv2 clients don't supply.
type negotiateMessage struct {
	flags   uint32
	version version
}

func (m *negotiateMessage) marshal() []byte {
	b := make([]byte, 40)
	copy(b, signature)
	binary.LittleEndian.PutUint32(b[8:], typeNegotiate)
	binary.LittleEndian.PutUint32(b[12:], m.flags)
	putField(b, 16, 40, 0)
	putField(b, 24, 40, 0)
	copy(b[32:], m.version[:])
	return b
}

// parseNegotiate reads the flags of a NEGOTIATE message; the optional
// domain, workstation and version are not needed by the server.
func parseNegotiate(msg []byte) (*negotiateMessage, error) {
	if err := checkHeader(msg, typeNegotiate, 16); err != nil {
		return nil, err
	}
	return &negotiateMessage{flags: binary.LittleEndian.Uint32(msg[12:])}, nil
}

// challengeMessage is CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2).
type challengeMessage struct {
	flags           uint32
	serverChallenge [8]byte
	targetName      []byte // encoded as the flags say (UTF-16LE here)
	targetInfo      []byte // the raw AV_PAIR list
	version         version
}

func (m *challengeMessage) marshal() []byte {
	const head = 56
	b := make([]byte, head, head+len(m.targetName)+len(m.targetInfo))
	copy(b, signature)
	binary.LittleEndian.PutUint32(b[8:], typeChallenge)
	putField(b, 12, head, len(m.targetName))
	binary.LittleEndian.PutUint32(b[20:], m.flags)
	copy(b[24:], m.serverChallenge[:])
	putField(b, 40, head+len(m.targetName), len(m.targetInfo))
	copy(b[48:], m.version[:])
	b = append(b, m.targetName...)
	return append(b, m.targetInfo...)
}

// parseChallenge parses a CHALLENGE message; the fields alias msg.
func parseChallenge(msg []byte) (*challengeMessage, error) {
	// Version 1 peers end the header after the reserved bytes (32);
	// TargetInfo needs 48.
	if err := checkHeader(msg, typeChallenge, 32); err != nil {
		return nil, fmt.Errorf("ntlm: challenge: %w", err)
	}
	m := &challengeMessage{flags: binary.LittleEndian.Uint32(msg[20:])}
	copy(m.serverChallenge[:], msg[24:32])
	var err error
	if m.targetName, err = readField(msg, 12, "TargetName"); err != nil {
		return nil, fmt.Errorf("ntlm: challenge: %w", err)
	}
	if len(msg) >= 48 {
		if m.targetInfo, err = readField(msg, 40, "TargetInfo"); err != nil {
			return nil, fmt.Errorf("ntlm: challenge: %w", err)
		}
	}
	if len(msg) >= 56 && m.flags&flagVersion != 0 {
		copy(m.version[:], msg[48:56])
	}
	return m, nil
}

// authenticateMessage is AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3). The
// string fields stay UTF-16LE bytes.
type authenticateMessage struct {
	lmResponse, ntResponse    []byte
	domain, user, workstation []byte
	encryptedRandomSessionKey []byte
	flags                     uint32
	version                   version
	hasMIC                    bool // marshal: leave room for a MIC after the version
}

// Offsets of the AUTHENTICATE header: the MIC follows the version.
const (
	authMICOffset     = 72
	authHeaderNoMIC   = 72
	authHeaderWithMIC = 88
)

// marshal encodes the message with the MIC field zeroed when hasMIC; the
// caller computes the MIC over the result and writes it at authMICOffset.
func (m *authenticateMessage) marshal() []byte {
	head := authHeaderNoMIC
	if m.hasMIC {
		head = authHeaderWithMIC
	}
	fields := []struct {
		off  int
		data []byte
	}{
		{28, m.domain}, {36, m.user}, {44, m.workstation},
		{12, m.lmResponse}, {20, m.ntResponse}, {52, m.encryptedRandomSessionKey},
	}
	size := head
	for _, f := range fields {
		size += len(f.data)
	}
	b := make([]byte, head, size)
	copy(b, signature)
	binary.LittleEndian.PutUint32(b[8:], typeAuthenticate)
	for _, f := range fields {
		putField(b, f.off, len(b), len(f.data))
		b = append(b, f.data...)
	}
	binary.LittleEndian.PutUint32(b[60:], m.flags)
	copy(b[64:], m.version[:])
	return b
}

// parseAuthenticate parses an AUTHENTICATE message; the fields alias msg.
// Whether a MIC is present is only known from the NT response's AV
// pairs, so the caller reads it with micOf.
func parseAuthenticate(msg []byte) (*authenticateMessage, error) {
	if err := checkHeader(msg, typeAuthenticate, 64); err != nil {
		return nil, fmt.Errorf("ntlm: authenticate: %w", err)
	}
	m := &authenticateMessage{flags: binary.LittleEndian.Uint32(msg[60:])}
	for _, f := range []struct {
		off  int
		name string
		dst  *[]byte
	}{
		{12, "LmChallengeResponse", &m.lmResponse},
		{20, "NtChallengeResponse", &m.ntResponse},
		{28, "DomainName", &m.domain},
		{36, "UserName", &m.user},
		{44, "Workstation", &m.workstation},
		{52, "EncryptedRandomSessionKey", &m.encryptedRandomSessionKey},
	} {
		v, err := readField(msg, f.off, f.name)
		if err != nil {
			return nil, fmt.Errorf("ntlm: authenticate: %w", err)
		}
		*f.dst = v
	}
	if len(msg) >= 72 {
		copy(m.version[:], msg[64:72])
	}
	return m, nil
}

// micOf returns the MIC field of a raw AUTHENTICATE message.
func micOf(msg []byte) ([]byte, error) {
	if len(msg) < authHeaderWithMIC {
		return nil, fmt.Errorf("ntlm: authenticate: too short for its MIC: %w", gss.ErrBadToken)
	}
	return msg[authMICOffset:authHeaderWithMIC:authHeaderWithMIC], nil
}
