package psrp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// FragmentHeaderSize is the size of a fragment header (MS-PSRP 2.2.4):
// ObjectId (8), FragmentId (8), flags (1) and BlobLength (4).
const FragmentHeaderSize = 21

// Fragment flag bits (MS-PSRP 2.2.4); the other six bits are reserved and
// must be zero.
const (
	flagStart    = 0x01
	flagEnd      = 0x02
	flagReserved = 0xFC
)

// Errors of the fragment layer. Errors about one fragment come wrapped in a
// *FragmentError; test them with errors.Is.
var (
	// ErrShortBuffer means the input ends before the fragment it starts does.
	ErrShortBuffer = errors.New("psrp: short buffer")
	// ErrBadFragment means a fragment header is malformed (reserved flag bits
	// set, a start fragment whose FragmentId is not 0, ...).
	ErrBadFragment = errors.New("psrp: malformed fragment")
	// ErrFragmentOutOfOrder means a fragment did not carry the next
	// FragmentId of its object (including duplicates), or a start fragment
	// arrived for an object already being reassembled.
	ErrFragmentOutOfOrder = errors.New("psrp: fragment out of order")
	// ErrUnknownObject means a continuation fragment arrived for an
	// ObjectId whose start fragment was never seen.
	ErrUnknownObject = errors.New("psrp: fragment for an unknown object")
	// ErrMessageTooLarge means a message would exceed the reassembly limit.
	ErrMessageTooLarge = errors.New("psrp: message too large")
)

// FragmentError reports a problem with one fragment. Err is one of the
// sentinel errors above.
//
// Fatal tells the two kinds apart: a fatal error (a malformed header, a
// fragment longer than the reassembly limit) leaves the stream unreadable,
// since the next fragment cannot be found; errors.Is(err, ErrStreamCorrupt)
// holds for it. Any other is confined to the message of ObjectID, which the
// Defragmenter discarded before going on; errors.Is(err, ErrMessageDropped)
// holds for it.
type FragmentError struct {
	ObjectID, FragmentID uint64
	Err                  error

	fatal bool
	// head is the header of the discarded message, when enough of it
	// arrived: a ClientPool finds the pipeline it was for there.
	head []byte
}

// Fatal reports whether the stream cannot be read past this error.
func (e *FragmentError) Fatal() bool { return e.fatal || errors.Is(e.Err, ErrBadFragment) }

// Is makes errors.Is match ErrStreamCorrupt for a fatal error and
// ErrMessageDropped for any other.
func (e *FragmentError) Is(target error) bool {
	switch target {
	case ErrStreamCorrupt:
		return e.Fatal()
	case ErrMessageDropped:
		return !e.Fatal()
	}
	return false
}

// MessageHeader returns the 40-byte header of the message discarded by a
// non-fatal error, or nil when too little of it arrived. A receiver uses
// it to learn which pipeline lost a message (DecodeMessage reads it).
func (e *FragmentError) MessageHeader() []byte { return e.head }

// Error implements error.
func (e *FragmentError) Error() string {
	return fmt.Sprintf("%v (object %d, fragment %d)", e.Err, e.ObjectID, e.FragmentID)
}

// Unwrap returns the sentinel error.
func (e *FragmentError) Unwrap() error { return e.Err }

// Fragment is one PSRP fragment (MS-PSRP 2.2.4): a piece of the message
// identified by ObjectID. A message that fits in one fragment has Start and
// End both set.
type Fragment struct {
	ObjectID   uint64
	FragmentID uint64
	Start, End bool
	// Data is this fragment's part of the message. After DecodeFragment it
	// aliases the input.
	Data []byte
}

// Append appends the wire form of f (header and data) to dst.
func (f Fragment) Append(dst []byte) []byte {
	var flags byte
	if f.Start {
		flags |= flagStart
	}
	if f.End {
		flags |= flagEnd
	}
	dst = binary.BigEndian.AppendUint64(dst, f.ObjectID)
	dst = binary.BigEndian.AppendUint64(dst, f.FragmentID)
	dst = append(dst, flags)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.Data)))
	return append(dst, f.Data...)
}

// fragmentHeader is a decoded fragment header.
type fragmentHeader struct {
	objectID, fragmentID uint64
	flags                byte
	length               uint32
}

// parseFragmentHeader decodes the 21-byte header at the start of b, which
// must be at least FragmentHeaderSize long. It rejects reserved flags.
func parseFragmentHeader(b []byte) (fragmentHeader, error) {
	h := fragmentHeader{
		objectID:   binary.BigEndian.Uint64(b[0:8]),
		fragmentID: binary.BigEndian.Uint64(b[8:16]),
		flags:      b[16],
		length:     binary.BigEndian.Uint32(b[17:21]),
	}
	if h.flags&flagReserved != 0 {
		return h, &FragmentError{ObjectID: h.objectID, FragmentID: h.fragmentID, Err: ErrBadFragment}
	}
	// A start fragment is by definition number 0 (MS-PSRP 3.1.5.1.1), and
	// fragment 0 is by definition a start fragment.
	if (h.flags&flagStart != 0) != (h.fragmentID == 0) {
		return h, &FragmentError{ObjectID: h.objectID, FragmentID: h.fragmentID, Err: ErrBadFragment}
	}
	return h, nil
}

// DecodeFragment decodes the fragment at the start of b and returns it with
// the number of bytes it occupies. The fragment's Data aliases b. If b holds
// less than a whole fragment the error wraps ErrShortBuffer; a malformed
// header gives a *FragmentError wrapping ErrBadFragment.
func DecodeFragment(b []byte) (Fragment, int, error) {
	if len(b) < FragmentHeaderSize {
		return Fragment{}, 0, fmt.Errorf("psrp: fragment header needs %d bytes, have %d: %w",
			FragmentHeaderSize, len(b), ErrShortBuffer)
	}
	h, err := parseFragmentHeader(b)
	if err != nil {
		return Fragment{}, 0, err
	}
	// Compare in uint64 so that a huge length cannot overflow int on 32-bit.
	if uint64(h.length) > uint64(len(b)-FragmentHeaderSize) {
		return Fragment{}, 0, fmt.Errorf("psrp: fragment needs %d data bytes, have %d: %w",
			h.length, len(b)-FragmentHeaderSize, ErrShortBuffer)
	}
	end := FragmentHeaderSize + int(h.length)
	return Fragment{
		ObjectID:   h.objectID,
		FragmentID: h.fragmentID,
		Start:      h.flags&flagStart != 0,
		End:        h.flags&flagEnd != 0,
		Data:       b[FragmentHeaderSize:end:end],
	}, end, nil
}
