package sessiontest

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/wsman"
)

func frags(fs ...psrp.Fragment) []byte {
	var b []byte
	for _, f := range fs {
		b = f.Append(b)
	}
	return b
}

// TestDropRepeatedInput checks that a Send repeated after a lost answer
// reaches the backend once, and that new fragments after repeated ones in
// the same Send still do.
func TestDropRepeatedInput(t *testing.T) {
	sh := &shell{}
	id := uuid.New()
	a := psrp.Fragment{ObjectID: 1, Start: true, End: true, Data: []byte("a")}
	b1 := psrp.Fragment{ObjectID: 2, Start: true, Data: []byte("b1")}
	b2 := psrp.Fragment{ObjectID: 2, FragmentID: 1, End: true, Data: []byte("b2")}
	c := psrp.Fragment{ObjectID: 3, Start: true, End: true, Data: []byte("c")}
	if got := sh.dropRepeatedLocked(id, "stdin", frags(a, b1)); !bytes.Equal(got, frags(a, b1)) {
		t.Fatalf("first Send changed: %x", got)
	}
	if got := sh.dropRepeatedLocked(id, "stdin", frags(a, b1)); len(got) != 0 {
		t.Fatalf("repeated Send kept %x", got)
	}
	if got := sh.dropRepeatedLocked(id, "stdin", frags(b1, b2, c)); !bytes.Equal(got, frags(b2, c)) {
		t.Fatalf("overlapping Send gave %x, want the new fragments", got)
	}
	if got := sh.dropRepeatedLocked(id, "pr", frags(a)); !bytes.Equal(got, frags(a)) {
		t.Fatal("another stream is numbered on its own")
	}
	if got := sh.dropRepeatedLocked(uuid.Nil, "stdin", frags(a)); !bytes.Equal(got, frags(a)) {
		t.Fatal("another target is numbered on its own")
	}
	junk := []byte("not fragments")
	if got := sh.dropRepeatedLocked(id, "stdin", junk); !bytes.Equal(got, junk) {
		t.Fatal("data that is not fragments must reach the backend whole")
	}
}

// TestReplayReceive checks the OperationID bookkeeping: a retransmission
// gets the kept answer, a new OperationID acknowledges it, an operation
// superseded while it waited is stale, and what the spec refuses is
// refused.
func TestReplayReceive(t *testing.T) {
	sh := &shell{}
	id := uuid.New()
	one := robustOp{id: uuid.New()}
	oneAgain := robustOp{id: one.id, retransmit: true}
	two := robustOp{id: uuid.New()}
	if f := sh.admitLocked(id, one); f != nil {
		t.Fatalf("first Receive refused: %v", f.Message)
	}
	if _, replay, stale := sh.replayLocked(id, one); replay || stale {
		t.Fatal("first Receive replayed or stale")
	}
	sh.rememberLocked(id, one, "<one/>")
	if f := sh.admitLocked(id, oneAgain); f != nil {
		t.Fatalf("retransmission refused: %v", f.Message)
	}
	if body, replay, _ := sh.replayLocked(id, oneAgain); !replay || body != "<one/>" {
		t.Fatalf("retransmission got %q, %v", body, replay)
	}
	if f := sh.admitLocked(id, one); f == nil || f.Subcode != "a:InvalidMessageInformationHeader" {
		t.Fatal("a new request with an OperationID in use was not refused")
	}
	if f := sh.admitLocked(id, two); f != nil {
		t.Fatalf("next Receive refused: %v", f.Message)
	}
	if _, replay, stale := sh.replayLocked(id, two); replay || stale {
		t.Fatal("next Receive replayed or stale")
	}
	if _, _, stale := sh.replayLocked(id, oneAgain); !stale {
		t.Fatal("a superseded operation still waiting is not stale")
	}
	if f := sh.admitLocked(id, oneAgain); f == nil {
		t.Fatal("a retransmission of an acknowledged operation was served")
	}
	if f := sh.admitLocked(id, robustOp{id: uuid.New(), retransmit: true}); f != nil {
		t.Fatalf("a retransmission of an unknown operation is served as new: %v", f.Message)
	}
	if f := sh.admitLocked(uuid.Nil, oneAgain); f != nil {
		t.Fatal("another target has its own operations")
	}
	if _, replay, stale := sh.replayLocked(id, robustOp{}); replay || stale {
		t.Fatal("a Receive without OperationID is not part of the bookkeeping")
	}
	for range 3 * maxRetired {
		_ = sh.admitLocked(id, robustOp{id: uuid.New()})
	}
	if n := len(sh.replay[id].retired); n != maxRetired {
		t.Fatalf("%d acknowledged operations kept, want %d", n, maxRetired)
	}
}

// withOperationID adds robust-connection headers to a request envelope.
func withOperationID(b []byte, op string, mustUnderstand bool, seq string) []byte {
	h := `<wsmv:OperationID s:mustUnderstand="` + strconv.FormatBool(mustUnderstand) + `">` + op + `</wsmv:OperationID>`
	if seq != "" {
		h += `<wsmv:SequenceId s:mustUnderstand="false">` + seq + `</wsmv:SequenceId>`
	}
	return bytes.Replace(b, []byte(`</s:Header>`), []byte(h+`</s:Header>`), 1)
}

// receiveBodyOf returns the s:Body of a reply, as bytes.
func receiveBodyOf(t *testing.T, r *reply) string {
	t.Helper()
	i, j := bytes.Index(r.body, []byte(`<s:Body>`)), bytes.Index(r.body, []byte(`</s:Body>`))
	require.True(t, i >= 0 && j > i, string(r.body))
	return string(r.body[i:j])
}

// TestRobustReceiveOnTheWire drives the robust-connection headers as a
// client sends them: the answer echoes OperationID and SequenceId; a
// retransmission gets the identical answer and takes no output; a new
// OperationID moves on; what the spec refuses is refused; with
// DisableRobustConnections nothing is echoed or kept.
func TestRobustReceiveOnTheWire(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, nil)
	c := s.Client()
	shell := createShell(t, s, c)
	receive := func(op string, retransmit bool, seq string) *reply {
		t.Helper()
		b := env{action: wsman.ActionReceive, shellID: shell, timeout: "PT0.5S", body: receiveBody("")}.bytes()
		if op != "" {
			b = withOperationID(b, op, retransmit, seq)
		}
		return post(t, c, s.URL, b)
	}
	send := func(data string) {
		t.Helper()
		r := post(t, c, s.URL, env{action: wsman.ActionSend, shellID: shell,
			body: `<rsp:Send><rsp:Stream Name="stdin">` + b64(data) + `</rsp:Stream></rsp:Send>`}.bytes())
		require.Equal(t, 200, r.status, string(r.body))
	}
	x := "uuid:" + strings.ToUpper(uuid.NewString())
	y := "uuid:" + strings.ToUpper(uuid.NewString())

	first := receive(x, false, "1")
	require.Equal(t, 200, first.status, string(first.body))
	assert.Equal(t, [][]byte{[]byte("opened:pool")}, first.streams(t))
	opID := first.tree.find("Header", "OperationID")
	require.NotNil(t, opID, "no OperationID echoed")
	assert.Equal(t, x, opID.text())
	assert.Equal(t, "false", opID.attr("mustUnderstand"))
	assert.Equal(t, "1", first.tree.find("Header", "SequenceId").text())

	send("two") // queued for the pool: a retransmission must not take it
	again := receive(x, true, "1")
	require.Equal(t, 200, again.status, string(again.body))
	assert.Equal(t, receiveBodyOf(t, first), receiveBodyOf(t, again), "a retransmission gets the identical answer")
	assert.Equal(t, x, again.tree.find("Header", "OperationID").text())

	dup := receive(x, false, "1")
	assert.Equal(t, "a:InvalidMessageInformationHeader", dup.subcode(), "a new request reusing an OperationID")

	next := receive(y, false, "1")
	require.Equal(t, 200, next.status, string(next.body))
	assert.Equal(t, [][]byte{[]byte("stdin:two")}, next.streams(t))
	assert.Equal(t, y, next.tree.find("Header", "OperationID").text())

	late := receive(x, true, "1")
	assert.Equal(t, "a:InvalidMessageInformationHeader", late.subcode(), "a retransmission of an acknowledged operation")
	for _, seq := range []string{"2", ""} {
		r := receive("uuid:"+strings.ToUpper(uuid.NewString()), false, seq)
		assert.Equal(t, "a:InvalidMessageInformationHeader", r.subcode(), "SequenceId %q", seq)
	}
	bad := receive("uuid:not-a-guid", false, "1")
	assert.Equal(t, "a:InvalidMessageInformationHeader", bad.subcode())
	plain := receive("", false, "")
	assert.Equal(t, "w:TimedOut", plain.subcode(), "a Receive without OperationID is served as ever")
	assert.Nil(t, plain.tree.find("Header", "OperationID"))

	// Without robust connection support: no echo, nothing kept.
	s2, _ := newFakeServer(t, func(s *Server) { s.DisableRobustConnections = true })
	c2 := s2.Client()
	shell2 := createShell(t, s2, c2)
	z := "uuid:" + strings.ToUpper(uuid.NewString())
	recv2 := func(retransmit bool) *reply {
		t.Helper()
		return post(t, c2, s2.URL, withOperationID(env{action: wsman.ActionReceive, shellID: shell2, timeout: "PT0.5S", body: receiveBody("")}.bytes(), z, retransmit, "1"))
	}
	r := recv2(false)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, [][]byte{[]byte("opened:pool")}, r.streams(t))
	assert.Nil(t, r.tree.find("Header", "OperationID"), "a server without robust support echoes no OperationID")
	assert.Nil(t, r.tree.find("Header", "SequenceId"))
	r = recv2(true)
	assert.Equal(t, "w:TimedOut", r.subcode(), "a server without robust support cannot answer again")
}

// FuzzParseOperationID feeds arbitrary header text to the OperationID
// parser: it never panics, and what it accepts is a GUID that is not nil.
func FuzzParseOperationID(f *testing.F) {
	for _, s := range []string{"uuid:0B6C1A52-9E3F-4D7A-8C21-5F4E3D2C1B0A", "urn:uuid:0b6c1a52-9e3f-4d7a-8c21-5f4e3d2c1b0a",
		"{0b6c1a52-9e3f-4d7a-8c21-5f4e3d2c1b0a}", "uuid:00000000-0000-0000-0000-000000000000", "", "uuid:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseOperationID(s)
		if ok && (id == uuid.Nil || len(s) > maxOperationIDText) {
			t.Fatalf("%q accepted as %v", s, id)
		}
		if ok {
			// The echo, part of every answer's room, stays bounded.
			op := robustOp{id: id, text: s}
			maxEcho := len(robustOp{id: id}.header()) + maxOperationIDText
			if n := len(op.header()); n > maxEcho {
				t.Fatalf("echo of %q is %d bytes, more than %d", s, n, maxEcho)
			}
		}
	})
}

// FuzzDropRepeatedInput feeds arbitrary Send data through the repeat
// filter: it never panics, and what it keeps is a sequence of whole
// fragments from the input.
func FuzzDropRepeatedInput(f *testing.F) {
	f.Add(frags(psrp.Fragment{ObjectID: 1, Start: true, End: true, Data: []byte("a")}), frags(psrp.Fragment{ObjectID: 1, Start: true, End: true, Data: []byte("a")}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1}, []byte("x"))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		sh := &shell{}
		for _, in := range [][]byte{first, second} {
			out := sh.dropRepeatedLocked(uuid.Nil, "stdin", in)
			if bytes.Equal(out, in) {
				continue
			}
			for rest := out; len(rest) > 0; {
				_, n, err := psrp.DecodeFragment(rest)
				if err != nil {
					t.Fatalf("kept bytes that are not whole fragments: %v", err)
				}
				rest = rest[n:]
			}
			if len(out) > len(in) {
				t.Fatal("kept more than it got")
			}
		}
	})
}
