package sessiontest

import (
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/psrp"
)

// Robust connections, the server's half (MS-WSMV 3.1.4.1.39): a client
// that puts a wsmv:OperationID header on a Receive (s:mustUnderstand
// "false", with wsmv:SequenceId 1) gets it echoed, with SequenceId 1, and
// the server keeps the answer, per target (the pool or a command). If the
// answer is lost (the connection reset, or the client's read deadline
// passed) the client sends the Receive again with the same OperationID and
// s:mustUnderstand="true", and gets the same answer. A Receive of the
// target with a new OperationID acknowledges the kept answer, which is
// dropped. Output is therefore taken from a command once, whatever the
// network does to the answers that carry it.
//
// As the spec says, a new request (mustUnderstand "false") whose
// OperationID is already known, or one whose SequenceId is not 1, is
// refused with wsa:InvalidMessageInformationHeader; a retransmission of an
// unknown OperationID is served as a new request. An OperationID the
// client has acknowledged (superseded by a newer one) is refused too,
// unlike on Windows, which has no need to: it must not take output whose
// answer nobody reads. With Server.DisableRobustConnections the headers
// are ignored and nothing is echoed or kept, as by a server without
// robust connection support.
//
// Input is the other direction: a Send whose answer was lost is sent again
// by the client, which cannot know whether it arrived. A Send carrying a
// wsmv:OperationID is kept the same way, per target (its first stream's
// command, or the pool), apart from the Receives: its answer is echoed
// and kept, a retransmission of that id gets the kept answer and the
// input is not taken again (as the spec says: the server answers from its
// cache and does not perform the operation again), and a new id drops the
// kept one. A retransmission the shell has no answer for (the first one
// never arrived, or failed) is taken as a new Send.
//
// As a second line of defence, for clients that send no OperationID or
// servers without robust support: the PSRP fragments a Send carries are
// numbered (ObjectId, FragmentId, increasing per sender), so the shell
// drops those it already took for that target and stream, unless
// Server.DisableInputDeduplication says not to (a test then shows that
// the OperationID alone keeps input from arriving twice).

// robustOp is the robust-connection headers of one Receive or Send.
type robustOp struct {
	id         uuid.UUID // uuid.Nil: none, or ignored
	text       string    // the OperationID as the client wrote it, for the echo
	retransmit bool      // s:mustUnderstand="true"
}

// maxOperationIDText bounds the OperationID text: "uuid:" and a GUID in
// any form uuid.Parse takes (the longest is "urn:uuid:" + 36).
const maxOperationIDText = 45

// robustOpOf reads the robust-connection headers of a Receive or Send.
func (s *Server) robustOpOf(req *request) (robustOp, *soapFault) {
	h := &req.Header
	v := strings.TrimSpace(h.OperationID.Value)
	if s.DisableRobustConnections || v == "" {
		return robustOp{}, nil
	}
	id, ok := parseOperationID(v)
	if !ok {
		return robustOp{}, faultInvalidHeader("The wsmv:OperationID header is not a GUID.")
	}
	seq := h.SequenceID
	if seq == nil {
		seq = h.SequenceIDSchema
	}
	if seq == nil || strings.TrimSpace(*seq) != "1" {
		return robustOp{}, faultInvalidHeader("The wsmv:SequenceId of the request is not 1.")
	}
	mu := strings.TrimSpace(h.OperationID.MustUnderstand)
	return robustOp{id: id, text: v, retransmit: mu == "true" || mu == "1"}, nil
}

// parseOperationID reads a GUID, "uuid:"-prefixed or not (MS-WSMV
// 2.2.4.45).
func parseOperationID(v string) (uuid.UUID, bool) {
	if len(v) > maxOperationIDText {
		return uuid.Nil, false
	}
	if len(v) >= 5 && strings.EqualFold(v[:5], "uuid:") {
		v = v[5:]
	}
	id, err := uuid.Parse(v)
	return id, err == nil && id != uuid.Nil
}

// header renders the echo that goes in every answer to the request: the
// same OperationID, and the server's SequenceId, 1 for its one answer
// (written as Windows writes it).
func (o robustOp) header() string {
	if o.id == uuid.Nil {
		return ""
	}
	return `<p:OperationID s:mustUnderstand="false">` + esc(o.text) + `</p:OperationID><p:SequenceId>1</p:SequenceId>`
}

// replayed is the robust-connection state of one target, for one kind of
// request (Receive or Send).
type replayed struct {
	op      uuid.UUID   // the current operation
	body    string      // its answer (the rsp:ReceiveResponse or rsp:SendResponse element), once it took output or input
	retired []uuid.UUID // operations acknowledged since, oldest first
}

// maxRetired bounds the acknowledged operations remembered per target: a
// request that old still on its way is not a real case.
const maxRetired = 8

// admitLocked registers the operation of a Receive of target id as it
// arrives, before it waits for output. A new OperationID acknowledges the
// kept answer of the previous one. Called with sh.mu held.
func (sh *shell) admitLocked(id uuid.UUID, op robustOp) *soapFault {
	return admitOp(&sh.replay, id, op)
}

// admitOp registers op, a new operation of target id or a retransmission,
// in m, the kept answers of one kind of request.
func admitOp(m *map[uuid.UUID]replayed, id uuid.UUID, op robustOp) *soapFault {
	if op.id == uuid.Nil {
		return nil
	}
	r := (*m)[id]
	switch {
	case op.id == r.op && op.retransmit:
		return nil // answered with the kept answer, or served if there is none yet
	case op.id == r.op:
		return faultInvalidHeader("The wsmv:OperationID of the request is already in use.")
	case slices.Contains(r.retired, op.id):
		return faultInvalidHeader("The wsmv:OperationID of the request belongs to an operation that ended.")
	}
	if r.op != uuid.Nil {
		if len(r.retired) == maxRetired {
			r.retired = slices.Delete(r.retired, 0, 1)
		}
		r.retired = append(r.retired, r.op)
	}
	r.op, r.body = op.id, ""
	if *m == nil {
		*m = make(map[uuid.UUID]replayed)
	}
	(*m)[id] = r
	return nil
}

// replayLocked looks at the operation of a Receive of target id before it
// takes any output. It returns the kept answer of that operation (replay
// true). stale reports an operation superseded while it waited (the client
// gave up on it and moved on): it must take nothing. Called with sh.mu
// held.
func (sh *shell) replayLocked(id uuid.UUID, op robustOp) (body string, replay, stale bool) {
	if op.id == uuid.Nil {
		return "", false, false
	}
	r := sh.replay[id]
	if r.op != op.id {
		return "", false, true
	}
	return r.body, r.body != "", false
}

// rememberLocked keeps body, the answer of the operation op of target id,
// until the client acknowledges it. Called with sh.mu held, in the same
// critical section as the replayLocked that found op current.
func (sh *shell) rememberLocked(id uuid.UUID, op robustOp, body string) {
	rememberOp(sh.replay, id, op, body)
}

// rememberOp keeps body as the answer of op in m if op is still the
// current operation of target id.
func rememberOp(m map[uuid.UUID]replayed, id uuid.UUID, op robustOp, body string) {
	if op.id == uuid.Nil {
		return
	}
	if r, ok := m[id]; ok && r.op == op.id {
		r.body = body
		m[id] = r
	}
}

// admitSendLocked registers the operation of a Send to target id, as
// admitLocked does for a Receive (a new OperationID drops the kept answer
// of the previous Send). For a retransmission of the Send the shell took,
// it returns that Send's kept answer (replay true): the input must not be
// taken again. Called with sh.mu held.
func (sh *shell) admitSendLocked(id uuid.UUID, op robustOp) (body string, replay bool, f *soapFault) {
	if op.id == uuid.Nil {
		return "", false, nil
	}
	if f := admitOp(&sh.sendReplay, id, op); f != nil {
		return "", false, f
	}
	r := sh.sendReplay[id]
	return r.body, op.retransmit && r.body != "", nil
}

// rememberSendLocked keeps body, the answer of the Send op to target id
// that took its input, for a retransmission. Called with sh.mu held, in
// the same critical section as the admitSendLocked that admitted it.
func (sh *shell) rememberSendLocked(id uuid.UUID, op robustOp, body string) {
	rememberOp(sh.sendReplay, id, op, body)
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
