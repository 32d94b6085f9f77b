package sessiontest

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/wsman"
)

// TestRobustSendOnTheWire drives the robust-connection headers of Send as
// a client sends them, with the fragment de-duplication off so that only
// the OperationID can keep input from arriving twice: the answer echoes
// the OperationID; a retransmission gets the kept answer and the input is
// not taken again; a Receive's operations do not disturb a Send's; a new
// OperationID drops the kept answer; a Send repeated without OperationID
// gives its input twice; what the spec refuses is refused.
func TestRobustSendOnTheWire(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, func(s *Server) { s.DisableInputDeduplication = true })
	c := s.Client()
	shell := createShell(t, s, c)
	send := func(data []byte, op string, retransmit bool) *reply {
		t.Helper()
		b := env{action: wsman.ActionSend, shellID: shell,
			body: `<rsp:Send><rsp:Stream Name="stdin">` + b64bytes(data) + `</rsp:Stream></rsp:Send>`}.bytes()
		if op != "" {
			b = withOperationID(b, op, retransmit, "1")
		}
		return post(t, c, s.URL, b)
	}
	receive := func(op string) [][]byte {
		t.Helper()
		b := env{action: wsman.ActionReceive, shellID: shell, timeout: "PT0.5S", body: receiveBody("")}.bytes()
		if op != "" {
			b = withOperationID(b, op, false, "1")
		}
		r := post(t, c, s.URL, b)
		require.Equal(t, 200, r.status, string(r.body))
		return r.streams(t)
	}
	input := func(f psrp.Fragment) []byte { return append([]byte("stdin:"), frags(f)...) }
	newOp := func() string { return "uuid:" + strings.ToUpper(uuid.NewString()) }
	a := psrp.Fragment{ObjectID: 1, Start: true, End: true, Data: []byte("a")}
	b := psrp.Fragment{ObjectID: 2, Start: true, End: true, Data: []byte("b")}
	d := psrp.Fragment{ObjectID: 3, Start: true, End: true, Data: []byte("d")}
	x, y := newOp(), newOp()

	require.Equal(t, [][]byte{[]byte("opened:pool")}, receive(""))

	first := send(frags(a), x, false)
	require.Equal(t, 200, first.status, string(first.body))
	opID := first.tree.find("Header", "OperationID")
	require.NotNil(t, opID, "no OperationID echoed on a Send")
	assert.Equal(t, x, opID.text())
	assert.Equal(t, "1", first.tree.find("Header", "SequenceId").text())

	again := send(frags(a), x, true)
	require.Equal(t, 200, again.status, string(again.body))
	assert.Equal(t, receiveBodyOf(t, first), receiveBodyOf(t, again), "a retransmission gets the kept answer")
	assert.Equal(t, x, again.tree.find("Header", "OperationID").text())
	assert.Equal(t, "a:InvalidMessageInformationHeader", send(frags(a), x, false).subcode(), "a new Send reusing an OperationID")

	// A Receive with its own OperationID leaves the Send's kept answer be.
	assert.Equal(t, [][]byte{input(a)}, receive(newOp()), "the input of a retransmitted Send arrives once")
	require.Equal(t, 200, send(frags(a), x, true).status)

	next := send(frags(b), y, false)
	require.Equal(t, 200, next.status, string(next.body))
	assert.Equal(t, y, next.tree.find("Header", "OperationID").text())
	assert.Equal(t, "a:InvalidMessageInformationHeader", send(frags(a), x, true).subcode(), "a retransmission of a Send superseded by a new OperationID")

	// Without OperationID nothing but the fragment de-duplication, turned
	// off here, could drop a repeated Send.
	require.Equal(t, 200, send(frags(d), "", false).status)
	require.Equal(t, 200, send(frags(d), "", false).status)
	// A retransmission the shell has no answer for is a new Send.
	require.Equal(t, 200, send(frags(a), newOp(), true).status)
	assert.Equal(t, [][]byte{input(b), input(d), input(d), input(a)}, receive(""))
}

// TestRobustSendWithoutSupport checks that a server without robust
// connection support ignores a Send's OperationID (it echoes none and
// keeps nothing), and that the fragment de-duplication, on by default,
// still drops a repeated Send.
func TestRobustSendWithoutSupport(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, func(s *Server) { s.DisableRobustConnections = true })
	c := s.Client()
	shell := createShell(t, s, c)
	a := psrp.Fragment{ObjectID: 1, Start: true, End: true, Data: []byte("a")}
	x := "uuid:" + strings.ToUpper(uuid.NewString())
	for _, retransmit := range []bool{false, true} {
		b := env{action: wsman.ActionSend, shellID: shell,
			body: `<rsp:Send><rsp:Stream Name="stdin">` + b64bytes(frags(a)) + `</rsp:Stream></rsp:Send>`}.bytes()
		r := post(t, c, s.URL, withOperationID(b, x, retransmit, "1"))
		require.Equal(t, 200, r.status, string(r.body))
		assert.Nil(t, r.tree.find("Header", "OperationID"), "a server without robust support echoes no OperationID")
	}
	r := post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: shell, timeout: "PT0.5S", body: receiveBody("")}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, [][]byte{[]byte("opened:pool"), append([]byte("stdin:"), frags(a)...)}, r.streams(t))
}
