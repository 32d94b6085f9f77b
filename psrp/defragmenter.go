package psrp

import (
	"bytes"
	"errors"
	"fmt"
)

// DefaultMaxMessageSize is the reassembly limit when
// Defragmenter.MaxMessageSize is zero: 50 MiB, PowerShell's own client
// default (MaximumReceivedDataSize).
const DefaultMaxMessageSize = 50 << 20

// maxObjectsInProgress bounds how many messages can be half reassembled at
// once; real peers interleave at most a few.
const maxObjectsInProgress = 1024

// Defragmenter reassembles the messages of one incoming stream from their
// fragments (MS-PSRP 3.1.5.1.2). Input may be cut anywhere: an incomplete
// trailing fragment is kept and completed by the next Write.
//
// The zero value is ready to use. A Defragmenter is not safe for concurrent
// use.
type Defragmenter struct {
	// MaxMessageSize bounds the size of one message and the total held in
	// partly reassembled messages. Zero means DefaultMaxMessageSize.
	MaxMessageSize int

	partial []byte // an incomplete fragment carried over from the last Write
	objects map[uint64]*inMessage
	held    int // bytes held in objects
	ready   [][]byte
	readyAt int
	err     error // a fatal error: the stream cannot be read any more
	// dropped holds the objects whose partial message was discarded after
	// a non-fatal error: their later fragments are skipped silently.
	dropped map[uint64]struct{}
	// skip is how much data of a refused fragment is still to be skipped.
	skip uint64
}

// inMessage is a message being reassembled.
type inMessage struct {
	data         []byte
	nextFragment uint64
}

func (d *Defragmenter) limit() int {
	if d.MaxMessageSize > 0 {
		return d.MaxMessageSize
	}
	return DefaultMaxMessageSize
}

// Write consumes data holding fragments, or parts of them. Completed
// messages become available from Next. A message carried whole in one
// fragment is not copied: the slice Next returns then aliases data, so the
// caller must not modify data until it has consumed those messages.
//
// Errors are *FragmentError values wrapping ErrBadFragment,
// ErrFragmentOutOfOrder, ErrUnknownObject or ErrMessageTooLarge (several
// are joined with errors.Join, the first few kept and the rest counted).
// They come in two kinds, told apart by FragmentError.Fatal or by
// errors.Is with ErrStreamCorrupt and ErrMessageDropped:
//
//   - Confined to one message (out-of-order or duplicate fragment, a
//     continuation of an unknown object, a message or the partial messages
//     growing beyond MaxMessageSize, too many messages in progress): the
//     header was well formed, so its data is skipped, the object's partial
//     message is discarded with any later fragments of it, and reassembly
//     of the other objects goes on, in this Write and later ones.
//   - Fatal (a malformed header, a single fragment longer than
//     MaxMessageSize): the framing itself cannot be trusted and there is no
//     way to find the next fragment, so the error sticks: later Writes
//     return it too.
//
// Messages completed before a fatal error can still be read with Next.
func (d *Defragmenter) Write(data []byte) error {
	if d.err != nil {
		return d.err
	}
	var errs errorList
	for len(data) > 0 && d.err == nil {
		switch {
		case d.skip > 0:
			n := int(min(d.skip, uint64(len(data))))
			data = data[n:]
			d.skip -= uint64(n)
		case len(d.partial) > 0:
			data = d.fillPartial(data, &errs)
		default:
			data = d.take(data, &errs)
		}
	}
	return errs.err()
}

// fillPartial continues the fragment carried over from an earlier Write
// and returns what is left of data.
func (d *Defragmenter) fillPartial(data []byte, errs *errorList) []byte {
	if len(d.partial) < FragmentHeaderSize {
		take := min(FragmentHeaderSize-len(d.partial), len(data))
		d.partial = append(d.partial, data[:take]...)
		data = data[take:]
		if len(d.partial) < FragmentHeaderSize {
			return data
		}
		h, skip, err := d.checkHeader(d.partial, nil)
		if err != nil || skip {
			d.partial = nil
			d.report(h, err, errs)
			return data
		}
		full := make([]byte, FragmentHeaderSize, partialCap(h, len(data)))
		copy(full, d.partial)
		d.partial = full
	}
	h, _ := parseFragmentHeader(d.partial)
	total := FragmentHeaderSize + int(h.length)
	take := min(total-len(d.partial), len(data))
	d.partial = append(d.partial, data[:take]...)
	data = data[take:]
	if len(d.partial) < total {
		return data
	}
	frag := d.partial
	// The buffer now belongs to the message (or is copied from); a new one
	// is made for the next carried-over fragment.
	d.partial = nil
	if err := d.accept(h, frag[FragmentHeaderSize:total:total]); err != nil {
		d.report(h, err, errs)
	}
	return data
}

// take consumes the fragment at the start of data, or keeps it for the
// next Write when incomplete, and returns what is left of data.
func (d *Defragmenter) take(data []byte, errs *errorList) []byte {
	if len(data) < FragmentHeaderSize {
		d.partial = append(make([]byte, 0, FragmentHeaderSize), data...)
		return nil
	}
	h, skip, err := d.checkHeader(data, data[FragmentHeaderSize:])
	if err != nil || skip {
		d.report(h, err, errs)
		return data[FragmentHeaderSize:]
	}
	if uint64(h.length) > uint64(len(data)-FragmentHeaderSize) {
		// Incomplete: keep what there is until the rest arrives.
		d.partial = make([]byte, 0, partialCap(h, len(data)))
		d.partial = append(d.partial, data...)
		return nil
	}
	end := FragmentHeaderSize + int(h.length)
	if err := d.accept(h, data[FragmentHeaderSize:end:end]); err != nil {
		d.report(h, err, errs)
	}
	return data[end:]
}

// report records err (nil for a fragment skipped silently): a fatal error
// sticks; otherwise the rest of the fragment's data, not yet consumed, is
// skipped.
func (d *Defragmenter) report(h fragmentHeader, err error, errs *errorList) {
	var fe *FragmentError
	if err != nil && errors.As(err, &fe) && fe.Fatal() {
		d.fail(err)
		errs.add(err, true)
		return
	}
	d.skip = uint64(h.length)
	if err != nil {
		errs.add(err, false)
	}
}

// partialCap sizes the buffer for an incomplete fragment: the whole
// fragment when the data at hand is a good part of it, otherwise room for
// what arrived and as much again, so that a header announcing a large
// fragment (within the limit) costs nothing until its data comes.
func partialCap(h fragmentHeader, have int) int {
	whole := FragmentHeaderSize + int(h.length)
	return min(whole, max(2*have, 64<<10))
}

func (d *Defragmenter) fail(err error) {
	d.err = err
	d.partial = nil
	d.objects = nil
	d.dropped = nil
	d.held = 0
	d.skip = 0
}

// dropObject discards the partial message of objectID and returns the
// start of its message header (nil if fewer than MessageHeaderSize bytes
// arrived). Unless the fragment at hand ends the object, its later
// fragments are skipped silently.
func (d *Defragmenter) dropObject(objectID uint64, ended bool) []byte {
	var head []byte
	if m := d.objects[objectID]; m != nil {
		if len(m.data) >= MessageHeaderSize {
			head = bytes.Clone(m.data[:MessageHeaderSize])
		}
		d.held -= len(m.data)
		delete(d.objects, objectID)
	}
	if !ended {
		d.markDropped(objectID)
	}
	return head
}

// markDropped remembers that the rest of objectID is to be skipped. The set
// is bounded: beyond it, later fragments are reported as ErrUnknownObject.
func (d *Defragmenter) markDropped(objectID uint64) {
	if len(d.dropped) >= maxObjectsInProgress {
		return
	}
	if d.dropped == nil {
		d.dropped = make(map[uint64]struct{})
	}
	d.dropped[objectID] = struct{}{}
}

// messageHead returns a copy of the message header at the start of the data
// of a start fragment, when that much of it is at hand.
func messageHead(h fragmentHeader, avail []byte) []byte {
	if h.flags&flagStart == 0 || len(avail) < MessageHeaderSize || h.length < MessageHeaderSize {
		return nil
	}
	return bytes.Clone(avail[:MessageHeaderSize])
}

// checkHeader parses a header and checks it against the reassembly state
// and limits, before any of its data is buffered. avail is the part of the
// fragment's data at hand, if any. skip reports a fragment of an object
// dropped earlier, to be skipped without an error.
func (d *Defragmenter) checkHeader(b, avail []byte) (h fragmentHeader, skip bool, err error) {
	h, err = parseFragmentHeader(b)
	if err != nil {
		return h, false, err
	}
	fe := func(e error, head []byte) error {
		return &FragmentError{ObjectID: h.objectID, FragmentID: h.fragmentID, Err: e, head: head}
	}
	limit := d.limit()
	start, end := h.flags&flagStart != 0, h.flags&flagEnd != 0
	m := d.objects[h.objectID]
	if start {
		if uint64(h.length) > uint64(limit) {
			// Nothing real sends a fragment beyond the limit: a length
			// this large is garbage, and its data cannot be skipped
			// without reading up to 4 GiB.
			return h, false, &FragmentError{ObjectID: h.objectID, FragmentID: h.fragmentID, fatal: true,
				Err: fmt.Errorf("%w: fragment of %d bytes, limit %d", ErrMessageTooLarge, h.length, limit)}
		}
		delete(d.dropped, h.objectID) // a new message with that ObjectId
		if m != nil {
			// A restart: the partial message and this fragment are
			// dropped, and the object's later fragments with them.
			return h, false, fe(ErrFragmentOutOfOrder, d.dropObject(h.objectID, end))
		}
	} else {
		if m == nil {
			if _, ok := d.dropped[h.objectID]; ok {
				if end {
					delete(d.dropped, h.objectID)
				}
				return h, true, nil
			}
			return h, false, fe(ErrUnknownObject, nil)
		}
		if h.fragmentID != m.nextFragment {
			return h, false, fe(ErrFragmentOutOfOrder, d.dropObject(h.objectID, end))
		}
		if uint64(len(m.data))+uint64(h.length) > uint64(limit) {
			return h, false, fe(fmt.Errorf("%w: message exceeds %d bytes", ErrMessageTooLarge, limit), d.dropObject(h.objectID, end))
		}
	}
	// A message that is not complete in this fragment is held: bound the
	// total held across all objects too.
	if !end && uint64(d.held)+uint64(h.length) > uint64(limit) {
		held := d.held
		head := messageHead(h, avail)
		if !start {
			head = d.dropObject(h.objectID, false)
		} else {
			d.markDropped(h.objectID)
		}
		return h, false, fe(fmt.Errorf("%w: %d bytes held in partial messages, limit %d", ErrMessageTooLarge, held, limit), head)
	}
	return h, false, nil
}

// accept applies one whole, checked fragment. data may alias the caller's
// input when the fragment is a whole message.
func (d *Defragmenter) accept(h fragmentHeader, data []byte) error {
	start, end := h.flags&flagStart != 0, h.flags&flagEnd != 0
	if start && end {
		d.ready = append(d.ready, data)
		return nil
	}
	if start {
		if len(d.objects) >= maxObjectsInProgress {
			d.markDropped(h.objectID)
			return &FragmentError{ObjectID: h.objectID, FragmentID: h.fragmentID, head: messageHead(h, data),
				Err: fmt.Errorf("%w: %d messages in progress", ErrMessageTooLarge, len(d.objects))}
		}
		if d.objects == nil {
			d.objects = make(map[uint64]*inMessage)
		}
		// Copy: the input will be reused. Reserve room for a few more
		// fragments of the same size, as multi-fragment messages are
		// usually cut at the sender's fixed fragment size.
		buf := make([]byte, len(data), 2*len(data)+64)
		copy(buf, data)
		d.objects[h.objectID] = &inMessage{data: buf, nextFragment: 1}
		d.held += len(data)
		return nil
	}
	m := d.objects[h.objectID]
	if need := len(m.data) + len(data); need > cap(m.data) {
		// Double, rather than append's slower growth for large slices, so
		// that a large message is copied less than twice in all; never
		// beyond the limit, which checkHeader has enforced on need.
		grown := make([]byte, len(m.data), min(max(2*cap(m.data), need), max(d.limit(), need)))
		copy(grown, m.data)
		m.data = grown
	}
	m.data = append(m.data, data...)
	m.nextFragment++
	if end {
		d.held -= len(m.data) - len(data)
		delete(d.objects, h.objectID)
		d.ready = append(d.ready, m.data)
		return nil
	}
	d.held += len(data)
	return nil
}

// Next returns the next reassembled message (header and body) and true, or
// nil and false when no complete message is waiting.
func (d *Defragmenter) Next() ([]byte, bool) {
	if d.readyAt >= len(d.ready) {
		return nil, false
	}
	msg := d.ready[d.readyAt]
	d.ready[d.readyAt] = nil
	d.readyAt++
	if d.readyAt == len(d.ready) {
		d.ready = d.ready[:0]
		d.readyAt = 0
	}
	return msg, true
}
