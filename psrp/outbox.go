package psrp

import "github.com/google/uuid"

// streamCreate is an internal stream for the message that starts a
// pipeline (CREATE_PIPELINE, GET_COMMAND_METADATA): it gets a queue of its
// own, served before the pipeline's other queues, so that the payload for
// the WS-Man Command's Arguments holds nothing else.
const streamCreate StreamType = 0xFF

// outQueue is the outgoing fragment queue of one target (the pool or one
// pipeline) and one stream.
type outQueue struct {
	pipelineID uuid.UUID
	stream     StreamType
	frag       Fragmenter
	// sent is set once a payload was taken from a create queue: the rest of
	// the message continues on the pipeline's stdin.
	sent bool
}

// outbox holds the per-target fragment queues of one sender and the
// ObjectId counter they share: MS-PSRP numbers messages per sender, across
// the pool and all its pipelines, starting at 1.
type outbox struct {
	lastObjectID uint64
	// queues are kept in service order: the pool's first, then each
	// pipeline's in creation order; within a target, stdin before pr.
	queues []*outQueue
}

// queue returns the queue for pipelineID/stream, creating it (after the
// existing ones of the same target, or at the end) if needed.
func (o *outbox) queue(pipelineID uuid.UUID, stream StreamType) *outQueue {
	insert := len(o.queues)
	for i, q := range o.queues {
		if q.pipelineID == pipelineID {
			if q.stream == stream {
				return q
			}
			insert = i + 1
		}
	}
	q := &outQueue{pipelineID: pipelineID, stream: stream}
	if stream == streamCreate {
		// Before the target's other queues.
		for i, o := range o.queues {
			if o.pipelineID == pipelineID {
				insert = i
				break
			}
		}
	}
	if pipelineID == uuid.Nil {
		// The pool's queues always come first.
		insert = 0
		for insert < len(o.queues) && o.queues[insert].pipelineID == uuid.Nil {
			insert++
		}
	}
	o.queues = append(o.queues, nil)
	copy(o.queues[insert+1:], o.queues[insert:])
	o.queues[insert] = q
	return q
}

// add queues one encoded message and returns its ObjectId.
func (o *outbox) add(pipelineID uuid.UUID, stream StreamType, msg []byte) uint64 {
	o.lastObjectID++
	q := o.queue(pipelineID, stream)
	if stream == streamCreate && !q.frag.Pending() {
		q.sent = false // a new (re-)invocation starts with a Command again
	}
	q.frag.Add(o.lastObjectID, msg)
	return o.lastObjectID
}

// next packs up to max bytes of whole fragments for the first target and
// stream that has data pending.
func (o *outbox) next(max int) (Payload, bool) {
	return o.nextFor(nil, max)
}

// nextFor is next for the target *pipelineID only (nil: any target).
func (o *outbox) nextFor(pipelineID *uuid.UUID, max int) (Payload, bool) {
	if max < FragmentHeaderSize+1 {
		return Payload{}, false
	}
	for _, q := range o.queues {
		if !q.frag.Pending() || pipelineID != nil && q.pipelineID != *pipelineID {
			continue
		}
		// Start with room for typical payloads; Pack grows it if needed.
		data := q.frag.Pack(make([]byte, 0, min(max, 32<<10)), max)
		if len(data) == 0 {
			return Payload{}, false
		}
		if q.stream == streamCreate {
			first := !q.sent
			q.sent = true
			return Payload{Data: data, Stream: StreamDefault, PipelineID: q.pipelineID, Create: first}, true
		}
		return Payload{Data: data, Stream: q.stream, PipelineID: q.pipelineID}, true
	}
	return Payload{}, false
}

// pending reports whether anything is queued for pipelineID (any stream).
func (o *outbox) pending(pipelineID uuid.UUID) bool {
	for _, q := range o.queues {
		if q.pipelineID == pipelineID && q.frag.Pending() {
			return true
		}
	}
	return false
}

// queuedBytes returns the bytes of messages left to pack for pipelineID
// (any stream).
func (o *outbox) queuedBytes(pipelineID uuid.UUID) int {
	n := 0
	for _, q := range o.queues {
		if q.pipelineID == pipelineID {
			n += q.frag.Len()
		}
	}
	return n
}

// remove drops the queues of a pipeline.
func (o *outbox) remove(pipelineID uuid.UUID) {
	kept := o.queues[:0]
	for _, q := range o.queues {
		if q.pipelineID != pipelineID {
			kept = append(kept, q)
		}
	}
	clear(o.queues[len(kept):])
	o.queues = kept
}
