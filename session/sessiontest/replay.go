package sessiontest

import (
	"strconv"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/psrp"
)

// Robust connections, the server's half (MS-WSMV 3.1.4.14): a client that
// numbers its Receives with the SequenceId attribute and loses an answer
// (the connection reset, or its read deadline passed) asks again with the
// same number, and gets the same answer; a Receive with another number
// acknowledges it, and it is forgotten. Output is therefore taken from a
// command once, whatever the network does to the answers that carry it.
//
// Input is the other direction: a Send whose answer was lost is sent again
// by the client, which cannot know whether it arrived. The PSRP fragments
// it carries are numbered (ObjectId, FragmentId, increasing per sender), so
// the shell drops those it already took for that target and stream.

// replayed is the last answer to a numbered Receive of one target.
type replayed struct {
	seq  uint64
	body string // the rsp:ReceiveResponse element
}

// receiveSequence parses the SequenceId attribute; 0 means none.
func receiveSequence(attr string) (uint64, bool) {
	if attr == "" {
		return 0, true
	}
	n, err := strconv.ParseUint(attr, 10, 64)
	return n, err == nil
}

// replayLocked looks at the Receive seq of target id before it takes any
// output. It returns the answer kept for a repeat of that Receive (replay
// true); a higher number acknowledges the kept answer, which is dropped.
// stale reports a Receive numbered below the latest: one the client gave up
// on and repeated, still waiting here; it must take nothing. Called with
// sh.mu held.
func (sh *shell) replayLocked(id uuid.UUID, seq uint64) (body string, replay, stale bool) {
	if seq == 0 {
		return "", false, false
	}
	r, ok := sh.replay[id]
	switch {
	case ok && seq < r.seq:
		return "", false, true
	case ok && seq == r.seq:
		return r.body, r.body != "", false
	}
	if sh.replay == nil {
		sh.replay = make(map[uuid.UUID]replayed)
	}
	sh.replay[id] = replayed{seq: seq}
	return "", false, false
}

// rememberLocked keeps body, the answer to the Receive seq of target id,
// until the client acknowledges it. Called with sh.mu held.
func (sh *shell) rememberLocked(id uuid.UUID, seq uint64, body string) {
	if seq == 0 {
		return
	}
	if sh.replay == nil {
		sh.replay = make(map[uuid.UUID]replayed)
	}
	sh.replay[id] = replayed{seq: seq, body: body}
}

// inputKey names one input stream of one target.
type inputKey struct {
	id     uuid.UUID
	stream string
}

// fragPos is the position of a PSRP fragment in its sender's order.
type fragPos struct{ object, fragment uint64 }

func (a fragPos) after(b fragPos) bool {
	return a.object > b.object || (a.object == b.object && a.fragment > b.fragment)
}

// dropRepeatedLocked returns data without the PSRP fragments the shell
// already took on this target and stream. Data that does not parse as
// fragments is returned whole, for the backend to judge. Called with sh.mu
// held.
func (sh *shell) dropRepeatedLocked(id uuid.UUID, stream string, data []byte) []byte {
	key := inputKey{id, stream}
	last, seen := sh.inputSeen[key]
	var out []byte // nil while every fragment is new: data goes as it is
	for off := 0; off < len(data); {
		f, n, err := psrp.DecodeFragment(data[off:])
		if err != nil {
			return data
		}
		at := fragPos{f.ObjectID, f.FragmentID}
		if seen && !at.after(last) {
			if out == nil {
				out = append(make([]byte, 0, len(data)), data[:off]...)
			}
		} else {
			if out != nil {
				out = append(out, data[off:off+n]...)
			}
			last, seen = at, true
		}
		off += n
	}
	if seen {
		if sh.inputSeen == nil {
			sh.inputSeen = make(map[inputKey]fragPos)
		}
		sh.inputSeen[key] = last
	}
	if out == nil {
		return data
	}
	return out
}
