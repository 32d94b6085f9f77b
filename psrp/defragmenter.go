package psrp

import "fmt"

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
	err     error
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
// ErrFragmentOutOfOrder, ErrUnknownObject or ErrMessageTooLarge. The stream
// cannot be trusted after one, so the error sticks: later Writes return it
// too. Messages completed before the error can still be read with Next.
func (d *Defragmenter) Write(data []byte) error {
	if d.err != nil {
		return d.err
	}
	// Finish a fragment left incomplete by the previous Write.
	if len(d.partial) > 0 {
		need := FragmentHeaderSize - len(d.partial)
		if need > 0 {
			take := min(need, len(data))
			d.partial = append(d.partial, data[:take]...)
			data = data[take:]
			if len(d.partial) < FragmentHeaderSize {
				return nil
			}
			h, err := d.checkHeader(d.partial)
			if err != nil {
				return d.fail(err)
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
			return nil
		}
		frag := d.partial
		// The buffer now belongs to the message (or is copied from); a new
		// one is made for the next carried-over fragment.
		d.partial = nil
		if err := d.accept(h, frag[FragmentHeaderSize:total:total]); err != nil {
			return d.fail(err)
		}
	}
	for len(data) > 0 {
		if len(data) < FragmentHeaderSize {
			d.partial = append(make([]byte, 0, FragmentHeaderSize), data...)
			return nil
		}
		h, err := d.checkHeader(data)
		if err != nil {
			return d.fail(err)
		}
		if uint64(h.length) > uint64(len(data)-FragmentHeaderSize) {
			// Incomplete: keep what there is until the rest arrives.
			d.partial = make([]byte, 0, partialCap(h, len(data)))
			d.partial = append(d.partial, data...)
			return nil
		}
		end := FragmentHeaderSize + int(h.length)
		if err := d.accept(h, data[FragmentHeaderSize:end:end]); err != nil {
			return d.fail(err)
		}
		data = data[end:]
	}
	return nil
}

// partialCap sizes the buffer for an incomplete fragment: the whole
// fragment when the data at hand is a good part of it, otherwise room for
// what arrived and as much again, so that a header announcing a large
// fragment (within the limit) costs nothing until its data comes.
func partialCap(h fragmentHeader, have int) int {
	whole := FragmentHeaderSize + int(h.length)
	return min(whole, max(2*have, 64<<10))
}

func (d *Defragmenter) fail(err error) error {
	d.err = err
	d.partial = nil
	d.objects = nil
	d.held = 0
	return err
}

// checkHeader parses a header and checks it against the reassembly state
// and limits, before any of its data is buffered.
func (d *Defragmenter) checkHeader(b []byte) (fragmentHeader, error) {
	h, err := parseFragmentHeader(b)
	if err != nil {
		return h, err
	}
	fe := func(e error) error {
		return &FragmentError{ObjectID: h.objectID, FragmentID: h.fragmentID, Err: e}
	}
	limit := d.limit()
	m := d.objects[h.objectID]
	if h.flags&flagStart != 0 {
		if m != nil {
			return h, fe(ErrFragmentOutOfOrder)
		}
		if uint64(h.length) > uint64(limit) {
			return h, fe(fmt.Errorf("%w: fragment of %d bytes, limit %d", ErrMessageTooLarge, h.length, limit))
		}
	} else {
		if m == nil {
			return h, fe(ErrUnknownObject)
		}
		if h.fragmentID != m.nextFragment {
			return h, fe(ErrFragmentOutOfOrder)
		}
		if uint64(len(m.data))+uint64(h.length) > uint64(limit) {
			return h, fe(fmt.Errorf("%w: message exceeds %d bytes", ErrMessageTooLarge, limit))
		}
	}
	// A message that is not complete in this fragment is held: bound the
	// total held across all objects too.
	if h.flags&flagEnd == 0 && uint64(d.held)+uint64(h.length) > uint64(limit) {
		return h, fe(fmt.Errorf("%w: %d bytes held in partial messages, limit %d", ErrMessageTooLarge, d.held, limit))
	}
	return h, nil
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
			return &FragmentError{ObjectID: h.objectID, FragmentID: h.fragmentID,
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
