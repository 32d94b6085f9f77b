package spnego

import (
	"bytes"
	"context"
	"encoding/asn1"
	"errors"
	"testing"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exchange is a recorded handshake.
type exchange struct {
	toServer [][]byte
	toClient [][]byte
}

// tamper may change a token in transit: dir is "c2s" or "s2c", n the index
// of the token in that direction.
type tamper func(dir string, n int, tok []byte) []byte

// handshake runs the client and the server against each other until both
// are established or one fails, and returns the tokens exchanged.
func handshake(t testing.TB, c gss.Initiator, s gss.Acceptor, tf tamper) (exchange, error) {
	t.Helper()
	ctx := context.Background()
	var ex exchange
	tok, err := c.Step(ctx, nil)
	if err != nil {
		return ex, err
	}
	for range 10 {
		if tf != nil {
			tok = tf("c2s", len(ex.toServer), tok)
		}
		ex.toServer = append(ex.toServer, tok)
		back, err := s.Step(ctx, tok)
		if err != nil {
			return ex, err
		}
		if tf != nil {
			back = tf("s2c", len(ex.toClient), back)
		}
		ex.toClient = append(ex.toClient, back)
		tok, err = c.Step(ctx, back)
		if err != nil {
			return ex, err
		}
		if c.Established() && s.Established() {
			if len(tok) != 0 {
				t.Fatalf("client has a token to send after both sides completed: %x", tok)
			}
			return ex, nil
		}
	}
	t.Fatal("handshake did not finish in 10 rounds")
	return ex, nil
}

func mustResp(t *testing.T, tok []byte) *negTokenResp {
	t.Helper()
	init, resp, err := parseToken(tok)
	require.NoError(t, err)
	require.Nil(t, init)
	return resp
}

func mustInit(t *testing.T, tok []byte) *negTokenInit {
	t.Helper()
	init, resp, err := parseToken(tok)
	require.NoError(t, err)
	require.Nil(t, resp)
	return init
}

// checkWrap seals a message each way and checks that the peer opens it.
func checkWrap(t *testing.T, c gss.Sealer, s gss.Sealer) {
	t.Helper()
	for i, msg := range []string{"first request", "second request"} {
		h, d, err := c.Wrap([]byte(msg))
		require.NoError(t, err)
		got, err := s.Unwrap(h, d)
		require.NoError(t, err, "client→server message %d", i)
		assert.Equal(t, msg, string(got))
		h, d, err = s.Wrap([]byte("answer " + msg))
		require.NoError(t, err)
		got, err = c.Unwrap(h, d)
		require.NoError(t, err, "server→client message %d", i)
		assert.Equal(t, "answer "+msg, string(got))
	}
}

func TestOptimisticTokenAccepted(t *testing.T) {
	ki, ni := newFakeInitiator(krbLike), newFakeInitiator(ntlmLike)
	c, err := NewClient(ClientMech{oidFakeKrb, ki}, ClientMech{oidFakeX, ni})
	require.NoError(t, err)
	var ka *fakeAcceptor
	s, err := NewServer(acceptMech(oidFakeX, xLike, nil), acceptMech(oidFakeKrb, krbLike, &ka))
	require.NoError(t, err)

	ex, err := handshake(t, c, s, nil)
	require.NoError(t, err)

	init := mustInit(t, ex.toServer[0])
	assert.Equal(t, []asn1.ObjectIdentifier{oidFakeKrb, oidFakeX}, init.mechTypes)
	assert.Equal(t, "krb-I0", string(init.mechToken))
	assert.Empty(t, init.mechListMIC)

	// One round trip: accept-completed, supportedMech and the "AP-REP".
	require.Len(t, ex.toClient, 1)
	resp := mustResp(t, ex.toClient[0])
	assert.Equal(t, stateAcceptCompleted, resp.state)
	assert.True(t, resp.supportedMech.Equal(oidFakeKrb))
	assert.Equal(t, "krb-A0", string(resp.responseToken))
	assert.Empty(t, resp.mechListMIC, "no mechListMIC for the preferred, non-NTLM mechanism")

	assert.True(t, c.Mech().Equal(oidFakeKrb))
	assert.True(t, s.Mech().Equal(oidFakeKrb))
	assert.True(t, c.ServerAuthenticated(), "forwarded from the mutual mechanism")
	assert.Equal(t, `FAKE\krb`, s.UserName())
	assert.Zero(t, ni.steps, "the second mechanism is never started")
	assert.Empty(t, ki.resets)
	assert.Empty(t, ka.resets)
	checkWrap(t, c, s)
}

func TestOptimisticTokenRefused(t *testing.T) {
	ki, xi := newFakeInitiator(krbLike), newFakeInitiator(xLike)
	c, err := NewClient(ClientMech{oidFakeKrb, ki}, ClientMech{oidFakeX, xi})
	require.NoError(t, err)
	var xa *fakeAcceptor
	s, err := NewServer(acceptMech(oidFakeX, xLike, &xa))
	require.NoError(t, err)

	ex, err := handshake(t, c, s, nil)
	require.NoError(t, err)

	// The server names its choice, asks for the MIC and ignores "krb-I0".
	first := mustResp(t, ex.toClient[0])
	assert.Equal(t, stateRequestMIC, first.state)
	assert.True(t, first.supportedMech.Equal(oidFakeX))
	assert.Empty(t, first.responseToken)

	// The client starts x in its next token.
	second := mustResp(t, ex.toServer[1])
	assert.Equal(t, "x-I0", string(second.responseToken))
	assert.Equal(t, stateAcceptIncomplete, second.state)
	assert.Empty(t, second.supportedMech)

	// x's last initiator token carries the client's MIC; the server
	// completes with its own.
	third := mustResp(t, ex.toServer[2])
	assert.Equal(t, "x-I1", string(third.responseToken))
	assert.NotEmpty(t, third.mechListMIC)
	last := mustResp(t, ex.toClient[len(ex.toClient)-1])
	assert.Equal(t, stateAcceptCompleted, last.state)
	assert.NotEmpty(t, last.mechListMIC)
	assert.Empty(t, last.supportedMech, "supportedMech only in the first reply")

	assert.True(t, c.Mech().Equal(oidFakeX))
	assert.True(t, s.Mech().Equal(oidFakeX))
	assert.False(t, c.ServerAuthenticated())
	assert.Equal(t, `FAKE\x`, s.UserName())
	// Sign then reset outgoing; verify then reset incoming.
	assert.Equal(t, []string{"reset(true)", "reset(false)"}, xi.resets)
	assert.Equal(t, []string{"reset(false)", "reset(true)"}, xa.resets)
	checkWrap(t, c, s)
}

func TestFallbackWhenFirstMechCannotStart(t *testing.T) {
	ki := newFakeInitiator(fakeOpts{name: "krb", rounds: 1, mutual: true, failStart: errNoKDC})
	ni := newFakeInitiator(fakeOpts{name: "ntlm", rounds: 2})
	c, err := NewClient(ClientMech{oidFakeKrb, ki}, ClientMech{oidFakeNTLM, ni})
	require.NoError(t, err)
	var na *fakeAcceptor
	s, err := NewServer(acceptMech(oidFakeKrb, krbLike, nil), acceptMech(oidFakeNTLM, ntlmLike, &na))
	require.NoError(t, err)

	ex, err := handshake(t, c, s, nil)
	require.NoError(t, err)

	init := mustInit(t, ex.toServer[0])
	assert.Equal(t, []asn1.ObjectIdentifier{oidFakeNTLM}, init.mechTypes, "the failed mechanism is not offered")
	assert.Equal(t, "ntlm-I0", string(init.mechToken))

	first := mustResp(t, ex.toClient[0])
	assert.Equal(t, stateAcceptIncomplete, first.state, "NTLM as the preferred mechanism: no request-mic")
	assert.Equal(t, "ntlm-A0", string(first.responseToken))

	// NTLM: the AUTHENTICATE and the client's MIC travel together, the
	// server answers accept-completed with its MIC, as Windows does.
	require.Len(t, ex.toServer, 2)
	auth := mustResp(t, ex.toServer[1])
	assert.Equal(t, "ntlm-I1", string(auth.responseToken))
	assert.NotEmpty(t, auth.mechListMIC)
	final := mustResp(t, ex.toClient[1])
	assert.Equal(t, stateAcceptCompleted, final.state)
	assert.Empty(t, final.responseToken)
	assert.NotEmpty(t, final.mechListMIC)

	// The MIC is over the MechTypeList as sent.
	mechTypes, err := marshalMechTypes([]asn1.ObjectIdentifier{oidFakeNTLM})
	require.NoError(t, err)
	ref := newFakeAcceptor(ntlmLike)
	require.NoError(t, ref.VerifyMIC(mechTypes, auth.mechListMIC))

	assert.True(t, c.Mech().Equal(oidFakeNTLM))
	assert.Equal(t, []string{"reset(true)", "reset(false)"}, ni.resets)
	assert.Equal(t, []string{"reset(false)", "reset(true)"}, na.resets)
	checkWrap(t, c, s)
}

func TestNoMechanismCanStart(t *testing.T) {
	errNoCreds := errors.New("fake: no credentials")
	c, err := NewClient(
		ClientMech{oidFakeKrb, newFakeInitiator(fakeOpts{name: "krb", rounds: 1, failStart: errNoKDC})},
		ClientMech{oidFakeNTLM, newFakeInitiator(fakeOpts{name: "ntlm", rounds: 2, failStart: errNoCreds})},
	)
	require.NoError(t, err)
	_, err = c.Step(context.Background(), nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, errNoKDC)
	assert.ErrorIs(t, err, errNoCreds)
	assert.False(t, c.Established())
	assert.Nil(t, c.Mech())
	// Failures are final.
	_, err2 := c.Step(context.Background(), nil)
	assert.Equal(t, err, err2)
}

func TestCancelledContextStopsFallback(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ni := newFakeInitiator(ntlmLike)
	c, err := NewClient(ClientMech{oidFakeNTLM, ni})
	require.NoError(t, err)
	_, err = c.Step(ctx, nil)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, ni.steps)
}

func TestServerRejectsUnsupportedList(t *testing.T) {
	c, err := NewClient(ClientMech{oidFakeKrb, newFakeInitiator(krbLike)}, ClientMech{oidFakeX, newFakeInitiator(xLike)})
	require.NoError(t, err)
	s, err := NewServer(acceptMech(oidFakeNTLM, ntlmLike, nil))
	require.NoError(t, err)
	_, err = handshake(t, c, s, nil)
	assert.ErrorIs(t, err, gss.ErrUnsupported)
	assert.False(t, s.Established())
	assert.Nil(t, s.Mech())
}

func TestRejectFromAcceptor(t *testing.T) {
	c, err := NewClient(ClientMech{oidFakeKrb, newFakeInitiator(krbLike)})
	require.NoError(t, err)
	_, err = c.Step(context.Background(), nil)
	require.NoError(t, err)
	reject, err := (&negTokenResp{state: stateReject}).marshal()
	require.NoError(t, err)
	_, err = c.Step(context.Background(), reject)
	assert.ErrorIs(t, err, gss.ErrAuthFailed)
	assert.False(t, c.Established())
	_, _, err = c.Wrap([]byte("x"))
	assert.ErrorIs(t, err, gss.ErrNotEstablished)
}

func TestWrongCredentials(t *testing.T) {
	c, err := NewClient(ClientMech{oidFakeNTLM, newFakeInitiator(ntlmLike)})
	require.NoError(t, err)
	s, err := NewServer(acceptMech(oidFakeNTLM, fakeOpts{name: "ntlm", rounds: 2, badCreds: true}, nil))
	require.NoError(t, err)
	_, err = handshake(t, c, s, nil)
	assert.ErrorIs(t, err, gss.ErrAuthFailed)
	assert.False(t, s.Established())
	assert.Empty(t, s.UserName())
}

// The acceptor asks for the MIC although the initiator's preferred
// mechanism (not NTLM) was chosen: the client must sign and verify.
func TestRequestMIC(t *testing.T) {
	xi := newFakeInitiator(xLike)
	c, err := NewClient(ClientMech{oidFakeX, xi})
	require.NoError(t, err)
	var xa *fakeAcceptor
	s, err := NewServer(acceptMech(oidFakeX, xLike, &xa))
	require.NoError(t, err)

	toRequestMIC := func(dir string, n int, tok []byte) []byte {
		if dir != "s2c" || n != 0 {
			return tok
		}
		resp := mustResp(t, tok)
		require.Equal(t, stateAcceptIncomplete, resp.state)
		resp.state = stateRequestMIC
		out, err := resp.marshal()
		require.NoError(t, err)
		return out
	}
	ex, err := handshake(t, c, s, toRequestMIC)
	require.NoError(t, err)
	auth := mustResp(t, ex.toServer[1])
	assert.NotEmpty(t, auth.mechListMIC, "request-mic obliges the initiator to send its MIC")
	final := mustResp(t, ex.toClient[1])
	assert.NotEmpty(t, final.mechListMIC, "the acceptor answers a MIC with its own")
	assert.Equal(t, []string{"reset(true)", "reset(false)"}, xi.resets)
	checkWrap(t, c, s)

	// Without request-mic the same mechanism exchanges no MIC at all.
	c2, _ := NewClient(ClientMech{oidFakeX, newFakeInitiator(xLike)})
	s2, _ := NewServer(acceptMech(oidFakeX, xLike, nil))
	ex2, err := handshake(t, c2, s2, nil)
	require.NoError(t, err)
	for _, tok := range append(ex2.toServer[1:], ex2.toClient...) {
		assert.Empty(t, mustResp(t, tok).mechListMIC)
	}
}

// Kerberos-like acceptor that completes first and must wait for the
// initiator's MIC: the server's final reply comes after the client is
// established, and the client accepts that trailing accept-completed.
func TestMICWhenAcceptorCompletesFirst(t *testing.T) {
	c, err := NewClient(ClientMech{oidUnknown, newFakeInitiator(xLike)}, ClientMech{oidFakeKrb, newFakeInitiator(krbLike)})
	require.NoError(t, err)
	s, err := NewServer(acceptMech(oidFakeKrb, krbLike, nil))
	require.NoError(t, err)
	ex, err := handshake(t, c, s, nil)
	require.NoError(t, err)
	// init, then "krb-I0", then the client's MIC.
	require.Len(t, ex.toServer, 3)
	apRep := mustResp(t, ex.toClient[1])
	assert.Equal(t, stateAcceptIncomplete, apRep.state)
	assert.Equal(t, "krb-A0", string(apRep.responseToken))
	assert.NotEmpty(t, apRep.mechListMIC)
	clientMIC := mustResp(t, ex.toServer[2])
	assert.Empty(t, clientMIC.responseToken)
	assert.NotEmpty(t, clientMIC.mechListMIC)
	assert.Equal(t, stateAcceptCompleted, clientMIC.state)
	assert.Equal(t, []byte{0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x00}, ex.toClient[2])
	assert.True(t, c.ServerAuthenticated())
	checkWrap(t, c, s)
}

func TestMissingOrBadMIC(t *testing.T) {
	newPair := func(t *testing.T) (*Client, *Server) {
		c, err := NewClient(ClientMech{oidFakeNTLM, newFakeInitiator(ntlmLike)})
		require.NoError(t, err)
		s, err := NewServer(acceptMech(oidFakeNTLM, ntlmLike, nil))
		require.NoError(t, err)
		return c, s
	}
	edit := func(dir string, n int, f func(*negTokenResp)) tamper {
		return func(d string, i int, tok []byte) []byte {
			if d != dir || i != n {
				return tok
			}
			resp := mustResp(t, tok)
			f(resp)
			out, err := resp.marshal()
			require.NoError(t, err)
			return out
		}
	}
	flip := func(r *negTokenResp) { r.mechListMIC = bytes.Clone(r.mechListMIC); r.mechListMIC[3] ^= 1 }
	drop := func(r *negTokenResp) { r.mechListMIC = nil }

	t.Run("server MIC missing", func(t *testing.T) {
		c, s := newPair(t)
		_, err := handshake(t, c, s, edit("s2c", 1, drop))
		assert.ErrorIs(t, err, gss.ErrIntegrity)
		assert.False(t, c.Established())
	})
	t.Run("server MIC bad", func(t *testing.T) {
		c, s := newPair(t)
		_, err := handshake(t, c, s, edit("s2c", 1, flip))
		assert.ErrorIs(t, err, gss.ErrIntegrity)
		assert.False(t, c.Established())
	})
	t.Run("client MIC bad", func(t *testing.T) {
		c, s := newPair(t)
		_, err := handshake(t, c, s, edit("c2s", 1, flip))
		assert.ErrorIs(t, err, gss.ErrIntegrity)
		assert.False(t, s.Established())
	})
	t.Run("client MIC missing", func(t *testing.T) {
		c, s := newPair(t)
		ctx := context.Background()
		init, err := c.Step(ctx, nil)
		require.NoError(t, err)
		challenge, err := s.Step(ctx, init)
		require.NoError(t, err)
		auth, err := c.Step(ctx, challenge)
		require.NoError(t, err)
		stripped := mustResp(t, auth)
		stripped.mechListMIC = nil
		tok, err := stripped.marshal()
		require.NoError(t, err)
		// The server sends its MIC and waits for the client's…
		reply, err := s.Step(ctx, tok)
		require.NoError(t, err)
		r := mustResp(t, reply)
		assert.Equal(t, stateAcceptIncomplete, r.state)
		assert.NotEmpty(t, r.mechListMIC)
		assert.False(t, s.Established())
		// …which never comes.
		empty, err := (&negTokenResp{state: stateAcceptIncomplete}).marshal()
		require.NoError(t, err)
		_, err = s.Step(ctx, empty)
		assert.ErrorIs(t, err, gss.ErrIntegrity)
		assert.False(t, s.Established())
	})
	t.Run("MIC of the wrong mechanism list", func(t *testing.T) {
		// A downgrade: the attacker removes a mechanism from the list the
		// server sees; the client's MIC is over the list it sent.
		c, err := NewClient(ClientMech{oidFakeKrb, newFakeInitiator(krbLike)}, ClientMech{oidFakeNTLM, newFakeInitiator(ntlmLike)})
		require.NoError(t, err)
		s, err := NewServer(acceptMech(oidFakeKrb, krbLike, nil), acceptMech(oidFakeNTLM, ntlmLike, nil))
		require.NoError(t, err)
		strip := func(d string, i int, tok []byte) []byte {
			if d != "c2s" || i != 0 {
				return tok
			}
			in := mustInit(t, tok)
			in.mechTypesDER, err = marshalMechTypes([]asn1.ObjectIdentifier{oidFakeNTLM})
			require.NoError(t, err)
			in.mechToken = nil
			out, err := in.marshal()
			require.NoError(t, err)
			return out
		}
		_, err = handshake(t, c, s, strip)
		assert.ErrorIs(t, err, gss.ErrIntegrity)
	})
	t.Run("mechanism without MIC support", func(t *testing.T) {
		c, err := NewClient(ClientMech{oidFakeNTLM, bareInitiator{newFakeInitiator(ntlmLike)}})
		require.NoError(t, err)
		s, err := NewServer(acceptMech(oidFakeNTLM, ntlmLike, nil))
		require.NoError(t, err)
		_, err = handshake(t, c, s, nil)
		assert.ErrorIs(t, err, gss.ErrUnsupported)
	})
}

// A mechanism without the optional interfaces works when no MIC is needed;
// ServerAuthenticated is then false.
func TestBareMechanism(t *testing.T) {
	c, err := NewClient(ClientMech{oidFakeKrb, bareInitiator{newFakeInitiator(krbLike)}})
	require.NoError(t, err)
	s, err := NewServer(AcceptMech{OID: oidFakeKrb, New: func() (gss.Acceptor, error) {
		return bareAcceptor{newFakeAcceptor(krbLike)}, nil
	}})
	require.NoError(t, err)
	_, err = handshake(t, c, s, nil)
	require.NoError(t, err)
	assert.False(t, c.ServerAuthenticated())
	checkWrap(t, c, s)
}

func TestNotEstablished(t *testing.T) {
	c, err := NewClient(ClientMech{oidFakeKrb, newFakeInitiator(krbLike)})
	require.NoError(t, err)
	s, err := NewServer(acceptMech(oidFakeKrb, krbLike, nil))
	require.NoError(t, err)
	_, _, err = c.Wrap([]byte("x"))
	assert.ErrorIs(t, err, gss.ErrNotEstablished)
	_, err = c.Unwrap(nil, nil)
	assert.ErrorIs(t, err, gss.ErrNotEstablished)
	_, _, err = s.Wrap([]byte("x"))
	assert.ErrorIs(t, err, gss.ErrNotEstablished)
	_, err = s.Unwrap(nil, nil)
	assert.ErrorIs(t, err, gss.ErrNotEstablished)
	assert.False(t, c.ServerAuthenticated())
	assert.Empty(t, s.UserName())
}

func TestConstructorErrors(t *testing.T) {
	_, err := NewClient()
	assert.ErrorIs(t, err, gss.ErrUnsupported)
	_, err = NewClient(ClientMech{OID: oidFakeKrb})
	assert.ErrorIs(t, err, gss.ErrUnsupported)
	_, err = NewClient(ClientMech{oidFakeKrb, newFakeInitiator(krbLike)}, ClientMech{oidFakeKrb, newFakeInitiator(krbLike)})
	assert.ErrorIs(t, err, gss.ErrUnsupported)
	_, err = NewServer()
	assert.ErrorIs(t, err, gss.ErrUnsupported)
	_, err = NewServer(AcceptMech{OID: oidFakeKrb})
	assert.ErrorIs(t, err, gss.ErrUnsupported)

	failing := AcceptMech{OID: oidFakeKrb, New: func() (gss.Acceptor, error) { return nil, errNoKDC }}
	s, err := NewServer(failing)
	require.NoError(t, err)
	c, _ := NewClient(ClientMech{oidFakeKrb, newFakeInitiator(krbLike)})
	_, err = handshake(t, c, s, nil)
	assert.ErrorIs(t, err, errNoKDC)
}

// An acceptor that completes with its MIC (for the preferred mechanism,
// unasked) gets it verified and no MIC back: nothing could carry it.
func TestAcceptorMICWithAcceptCompleted(t *testing.T) {
	ctx := context.Background()
	ki := newFakeInitiator(krbLike)
	c, err := NewClient(ClientMech{oidFakeKrb, ki})
	require.NoError(t, err)
	tok, err := c.Step(ctx, nil)
	require.NoError(t, err)
	init := mustInit(t, tok)
	ka := newFakeAcceptor(krbLike)
	apRep, err := ka.Step(ctx, init.mechToken)
	require.NoError(t, err)
	mic, err := ka.MIC(init.mechTypesDER)
	require.NoError(t, err)
	ka.ResetCipherState(true)
	final, err := (&negTokenResp{state: stateAcceptCompleted, supportedMech: oidFakeKrb, responseToken: apRep, mechListMIC: mic}).marshal()
	require.NoError(t, err)

	out, err := c.Step(ctx, final)
	require.NoError(t, err)
	assert.Empty(t, out)
	assert.True(t, c.Established())
	assert.Equal(t, []string{"reset(false)"}, ki.resets)
	checkWrap(t, c, ka)

	// The same with a bad MIC fails.
	c2, _ := NewClient(ClientMech{oidFakeKrb, newFakeInitiator(krbLike)})
	_, err = c2.Step(ctx, nil)
	require.NoError(t, err)
	bad := mustResp(t, final)
	bad.mechListMIC = bytes.Clone(mic)
	bad.mechListMIC[0] ^= 1
	tok, err = bad.marshal()
	require.NoError(t, err)
	_, err = c2.Step(ctx, tok)
	assert.ErrorIs(t, err, gss.ErrIntegrity)
}
