package replay

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// The replay server has to rewrite the RPID/PID of recorded PSRP messages
// and the test has to read them as its oracle, independently of the psrp
// package under test; so this file carries its own small reader of the
// fragment and message framing (MS-PSRP 2.2.4 and 2.2.1).

const (
	fragmentHeaderLen = 21
	messageHeaderLen  = 40
	// MaxMessageBytes bounds one reassembled PSRP message.
	MaxMessageBytes = 64 << 20
)

// ErrFraming is wrapped by errors about malformed PSRP fragments.
var ErrFraming = errors.New("replay: malformed PSRP fragment")

// Fragment is one PSRP fragment (MS-PSRP 2.2.4).
type Fragment struct {
	ObjectID, FragmentID uint64
	Start, End           bool
	// Data aliases the input it was read from.
	Data []byte
	// offset is where Data starts in the input.
	offset int
}

// ReadFragments splits b, one or more whole fragments, into fragments.
func ReadFragments(b []byte) ([]Fragment, error) {
	var out []Fragment
	off := 0
	for off < len(b) {
		if len(b)-off < fragmentHeaderLen {
			return nil, fmt.Errorf("%w: %d trailing bytes, want a 21-byte header", ErrFraming, len(b)-off)
		}
		h := b[off:]
		n := binary.BigEndian.Uint32(h[17:21])
		if uint64(n) > uint64(len(h)-fragmentHeaderLen) {
			return nil, fmt.Errorf("%w: blob length %d exceeds the %d bytes left", ErrFraming, n, len(h)-fragmentHeaderLen)
		}
		flags := h[16]
		if flags&^3 != 0 {
			return nil, fmt.Errorf("%w: reserved flag bits set (%#x)", ErrFraming, flags)
		}
		out = append(out, Fragment{
			ObjectID:   binary.BigEndian.Uint64(h[0:8]),
			FragmentID: binary.BigEndian.Uint64(h[8:16]),
			Start:      flags&1 != 0,
			End:        flags&2 != 0,
			Data:       h[fragmentHeaderLen : fragmentHeaderLen+int(n)],
			offset:     off + fragmentHeaderLen,
		})
		off += fragmentHeaderLen + int(n)
	}
	return out, nil
}

// Message is one reassembled PSRP message (MS-PSRP 2.2.1).
type Message struct {
	Destination uint32
	Type        uint32
	// RPID and PID are the raw 16 header bytes, in whatever byte order the
	// sender wrote them.
	RPID, PID [16]byte
	// Data is the message body, byte-order mark included if sent.
	Data []byte
}

// Assembler reassembles fragments into messages, per ObjectId. The zero
// value is ready to use.
type Assembler struct {
	partial map[uint64]*partialMessage
	total   int
}

type partialMessage struct {
	next uint64
	buf  []byte
}

// Add feeds the fragments of b and returns the messages they complete.
func (a *Assembler) Add(b []byte) ([]Message, error) {
	frags, err := ReadFragments(b)
	if err != nil {
		return nil, err
	}
	if a.partial == nil {
		a.partial = map[uint64]*partialMessage{}
	}
	var out []Message
	for _, f := range frags {
		p := a.partial[f.ObjectID]
		switch {
		case f.Start && p != nil:
			return nil, fmt.Errorf("%w: object %d restarted before it ended", ErrFraming, f.ObjectID)
		case f.Start:
			if f.FragmentID != 0 {
				return nil, fmt.Errorf("%w: object %d starts at fragment %d", ErrFraming, f.ObjectID, f.FragmentID)
			}
			p = &partialMessage{}
			a.partial[f.ObjectID] = p
		case p == nil:
			return nil, fmt.Errorf("%w: object %d continues without a start", ErrFraming, f.ObjectID)
		case f.FragmentID != p.next:
			return nil, fmt.Errorf("%w: object %d: fragment %d, want %d", ErrFraming, f.ObjectID, f.FragmentID, p.next)
		}
		if a.total+len(f.Data) > MaxMessageBytes {
			return nil, fmt.Errorf("%w: more than %d bytes pending", ErrFraming, MaxMessageBytes)
		}
		a.total += len(f.Data)
		p.buf = append(p.buf, f.Data...)
		p.next++
		if !f.End {
			continue
		}
		delete(a.partial, f.ObjectID)
		a.total -= len(p.buf)
		m, err := parseMessage(p.buf)
		if err != nil {
			return nil, fmt.Errorf("object %d: %w", f.ObjectID, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Pending reports how many messages are started but not complete.
func (a *Assembler) Pending() int { return len(a.partial) }

func parseMessage(b []byte) (Message, error) {
	if len(b) < messageHeaderLen {
		return Message{}, fmt.Errorf("%w: message of %d bytes, want at least 40", ErrFraming, len(b))
	}
	m := Message{
		Destination: binary.LittleEndian.Uint32(b[0:4]),
		Type:        binary.LittleEndian.Uint32(b[4:8]),
		Data:        b[messageHeaderLen:],
	}
	copy(m.RPID[:], b[8:24])
	copy(m.PID[:], b[24:40])
	return m, nil
}

// GUIDBytesLE returns u in .NET Guid.ToByteArray order (the first three
// groups little-endian), the order MS-PSRP message headers use.
func GUIDBytesLE(u uuid.UUID) [16]byte {
	var b [16]byte
	copy(b[:], u[:])
	b[0], b[1], b[2], b[3] = u[3], u[2], u[1], u[0]
	b[4], b[5] = u[5], u[4]
	b[6], b[7] = u[7], u[6]
	return b
}

// GUIDFromLE is the inverse of GUIDBytesLE.
func GUIDFromLE(b [16]byte) uuid.UUID {
	le := GUIDBytesLE(uuid.UUID(b)) // the swap is its own inverse
	return uuid.UUID(le)
}

// guidMap rewrites recorded GUIDs (matched in either byte order) to the
// client's GUIDs in little-endian order.
type guidMap map[[16]byte][16]byte

func (g guidMap) add(recorded, client uuid.UUID) {
	le := GUIDBytesLE(client)
	g[GUIDBytesLE(recorded)] = le
	g[[16]byte(recorded)] = le
}

// forcedIDs overrides header IDs regardless of what was recorded: a Receive
// for a command only ever returns that command's messages, so every
// non-zero PID in its answer is that command's, and every non-zero RPID in
// a pool's answers is the pool's. (One capture, test_client_copy_file_
// warning, has a message pasted in by hand from another conversation.)
type forcedIDs struct {
	rpid, pid       [16]byte
	setRPID, setPID bool
}

// rewriteHeaders returns a copy of b, whole fragments, with the RPID and PID
// of each message header rewritten through m, or to f where f says so. The
// header sits at the start of the first fragment of a message; fragments
// that continue a message are left alone, so framing and lengths are
// unchanged. All-zero IDs stay zero, and IDs not in m stay as they are.
func rewriteHeaders(b []byte, m guidMap, f forcedIDs) ([]byte, error) {
	frags, err := ReadFragments(b)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(b))
	copy(out, b)
	for _, fr := range frags {
		if !fr.Start || len(fr.Data) < messageHeaderLen {
			continue
		}
		for i, at := range [2]int{fr.offset + 8, fr.offset + 24} {
			var old [16]byte
			copy(old[:], out[at:at+16])
			if old == ([16]byte{}) {
				continue
			}
			switch {
			case i == 0 && f.setRPID:
				copy(out[at:at+16], f.rpid[:])
			case i == 1 && f.setPID:
				copy(out[at:at+16], f.pid[:])
			default:
				if nw, ok := m[old]; ok {
					copy(out[at:at+16], nw[:])
				}
			}
		}
	}
	return out, nil
}

// PSRP message types the server and the test look at (MS-PSRP 2.2.1).
const (
	MsgSessionCapability     uint32 = 0x00010002
	MsgInitRunspacePool      uint32 = 0x00010004
	MsgPublicKey             uint32 = 0x00010005
	MsgEncryptedSessionKey   uint32 = 0x00010006
	MsgPublicKeyRequest      uint32 = 0x00010007
	MsgConnectRunspacePool   uint32 = 0x00010008
	MsgSetMaxRunspaces       uint32 = 0x00021002
	MsgSetMinRunspaces       uint32 = 0x00021003
	MsgRunspaceAvailability  uint32 = 0x00021004
	MsgRunspacePoolState     uint32 = 0x00021005
	MsgCreatePipeline        uint32 = 0x00021006
	MsgGetAvailableRunspaces uint32 = 0x00021007
	MsgUserEvent             uint32 = 0x00021008
	MsgApplicationPrivate    uint32 = 0x00021009
	MsgGetCommandMetadata    uint32 = 0x0002100A
	MsgRunspacePoolInitData  uint32 = 0x0002100B
	MsgResetRunspaceState    uint32 = 0x0002100C
	MsgRunspacePoolHostCall  uint32 = 0x00021100
	MsgRunspacePoolHostResp  uint32 = 0x00021101
	MsgPipelineInput         uint32 = 0x00041002
	MsgEndOfPipelineInput    uint32 = 0x00041003
	MsgPipelineOutput        uint32 = 0x00041004
	MsgErrorRecord           uint32 = 0x00041005
	MsgPipelineState         uint32 = 0x00041006
	MsgDebugRecord           uint32 = 0x00041007
	MsgVerboseRecord         uint32 = 0x00041008
	MsgWarningRecord         uint32 = 0x00041009
	MsgProgressRecord        uint32 = 0x00041010
	MsgInformationRecord     uint32 = 0x00041011
	MsgPipelineHostCall      uint32 = 0x00041100
	MsgPipelineHostResponse  uint32 = 0x00041101
)

// containsMessageType reports whether any fragment of b that starts a
// message starts one of type t.
func containsMessageType(b []byte, t uint32) bool {
	frags, err := ReadFragments(b)
	if err != nil {
		return false
	}
	for _, f := range frags {
		if f.Start && len(f.Data) >= 8 && binary.LittleEndian.Uint32(f.Data[4:8]) == t {
			return true
		}
	}
	return false
}
