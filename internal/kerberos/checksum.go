package kerberos

import (
	"encoding/binary"
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// checksumType is the authenticator checksum type of the GSS-API Kerberos
// mechanism (RFC 4121 4.1.1).
const checksumType = 0x8003

// RFC 4121 4.1.1.1 context flags carried in the checksum.
const (
	flagDeleg    = 0x01
	flagMutual   = 0x02
	flagReplay   = 0x04
	flagSequence = 0x08
	flagConf     = 0x10
	flagInteg    = 0x20
)

// gssChecksum is the content of the 0x8003 authenticator checksum.
type gssChecksum struct {
	Bindings [16]byte // MD5 of the channel bindings, or zeros
	Flags    uint32
	Deleg    []byte // KRB-CRED with the delegated TGT, when flagDeleg
}

// marshal encodes the checksum: Lgth (16), Bnd, Flags, then with
// delegation DlgOpt (1), Dlgth and Deleg; all integers little-endian.
func (c *gssChecksum) marshal() []byte {
	b := make([]byte, 0, 24+4+len(c.Deleg))
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = append(b, c.Bindings[:]...)
	b = binary.LittleEndian.AppendUint32(b, c.Flags)
	if c.Flags&flagDeleg != 0 {
		b = binary.LittleEndian.AppendUint16(b, 1)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(c.Deleg)))
		b = append(b, c.Deleg...)
	}
	return b
}

// parseGSSChecksum decodes an 0x8003 checksum; extensions after the
// delegation field are ignored.
func parseGSSChecksum(b []byte) (gssChecksum, error) {
	var c gssChecksum
	if len(b) < 24 {
		return c, fmt.Errorf("kerberos: authenticator checksum of %d bytes: %w", len(b), gss.ErrBadToken)
	}
	if l := binary.LittleEndian.Uint32(b); l != 16 {
		return c, fmt.Errorf("kerberos: authenticator checksum binding length %d, want 16: %w", l, gss.ErrBadToken)
	}
	copy(c.Bindings[:], b[4:20])
	c.Flags = binary.LittleEndian.Uint32(b[20:])
	if c.Flags&flagDeleg != 0 {
		rest := b[24:]
		if len(rest) < 4 {
			return c, fmt.Errorf("kerberos: authenticator checksum: delegation flag without credentials: %w", gss.ErrBadToken)
		}
		if opt := binary.LittleEndian.Uint16(rest); opt != 1 {
			return c, fmt.Errorf("kerberos: authenticator checksum: delegation option %d, want 1 (KRB-CRED): %w", opt, gss.ErrBadToken)
		}
		n := int(binary.LittleEndian.Uint16(rest[2:]))
		if len(rest) < 4+n {
			return c, fmt.Errorf("kerberos: authenticator checksum: delegated credentials truncated: %w", gss.ErrBadToken)
		}
		c.Deleg = rest[4 : 4+n]
	}
	return c, nil
}
