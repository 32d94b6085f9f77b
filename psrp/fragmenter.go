package psrp

// Fragmenter is the outgoing queue of whole messages for one target (the
// pool or one pipeline) and one stream. Pack cuts the queued messages into
// fragments that fit the transport's limit (MS-PSRP 3.1.5.1.1): whole
// fragments in order, FragmentIds 0, 1, 2... per message, as many as fit.
//
// The ObjectIds are the caller's: they count messages across the pool and
// all its pipelines, so they are passed to Add. The zero value is ready to
// use. A Fragmenter is not safe for concurrent use.
type Fragmenter struct {
	queue  []outMessage
	head   int
	queued int // bytes left to pack, headers excluded
}

// outMessage is a queued message and how much of it has been packed.
type outMessage struct {
	objectID   uint64
	data       []byte
	offset     int
	fragmentID uint64
}

// Add queues the encoded message msg (header and body) under objectID. The
// Fragmenter keeps msg until it has been packed; the caller must not modify
// it meanwhile.
func (f *Fragmenter) Add(objectID uint64, msg []byte) {
	f.queue = append(f.queue, outMessage{objectID: objectID, data: msg})
	f.queued += len(msg)
}

// Pending reports whether any message, or part of one, is left to pack.
func (f *Fragmenter) Pending() bool { return f.head < len(f.queue) }

// Len returns the number of bytes left to pack, headers excluded.
func (f *Fragmenter) Len() int { return f.queued }

// Pack appends fragments to dst, at most max bytes of them (headers
// included; what dst already holds does not count), and returns the
// extended slice. It packs the queued messages
// in order, each in as few fragments as fit, and splits the message that
// does not fit; it never writes a fragment without data (except for an
// empty message, which is one empty fragment). It returns dst unchanged
// when max is below FragmentHeaderSize+1 or nothing is pending.
func (f *Fragmenter) Pack(dst []byte, max int) []byte {
	room := max
	for f.head < len(f.queue) && room > FragmentHeaderSize {
		m := &f.queue[f.head]
		rest := len(m.data) - m.offset
		n := min(rest, room-FragmentHeaderSize)
		if n == 0 && rest > 0 {
			break
		}
		frag := Fragment{
			ObjectID:   m.objectID,
			FragmentID: m.fragmentID,
			Start:      m.offset == 0,
			End:        n == rest,
			Data:       m.data[m.offset : m.offset+n],
		}
		dst = frag.Append(dst)
		room -= FragmentHeaderSize + n
		f.queued -= n
		m.offset += n
		m.fragmentID++
		if frag.End {
			// Drop the reference so that the message can be collected.
			*m = outMessage{}
			f.head++
		}
	}
	f.compact()
	return dst
}

// compact reclaims the space of packed messages once the queue is empty or
// mostly consumed, so that a long-lived Fragmenter does not grow.
func (f *Fragmenter) compact() {
	if f.head == len(f.queue) {
		f.queue = f.queue[:0]
		f.head = 0
		return
	}
	if f.head > 32 && f.head*2 >= len(f.queue) {
		n := copy(f.queue, f.queue[f.head:])
		clear(f.queue[n:])
		f.queue = f.queue[:n]
		f.head = 0
	}
}
