package psrp_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// serverMsg frames one server-to-client message for pipeline id as a single
// fragment.
func serverMsg(rpid, id uuid.UUID, t psrp.MessageType, data string, objectID uint64) []byte {
	m := psrp.Message{Destination: psrp.DestinationClient, Type: t, RunspacePoolID: rpid, PipelineID: id, Data: []byte(data)}
	return psrp.Fragment{ObjectID: objectID, Start: true, End: true, Data: m.Append(nil)}.Append(nil)
}

// Closing a pipeline works in every state; what the server still sends for
// it afterwards is dropped without error or event, and it is gone from the
// pool.
func TestClosePipelineAnyState(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		prepare func(t *testing.T, cp *psrp.ClientPipeline, sp *psrp.ServerPipeline)
		state   psrp.PSInvocationState
	}{
		{"Running", func(*testing.T, *psrp.ClientPipeline, *psrp.ServerPipeline) {}, psrp.PipelineRunning},
		{"Stopping", func(t *testing.T, cp *psrp.ClientPipeline, _ *psrp.ServerPipeline) {
			require.NoError(t, cp.BeginStop())
		}, psrp.PipelineStopping},
		{"with an unanswered host call", func(t *testing.T, _ *psrp.ClientPipeline, sp *psrp.ServerPipeline) {
			_, err := sp.HostCall(psrp.HostReadLine, "name?")
			require.NoError(t, err)
		}, psrp.PipelineRunning},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
			p.open()
			cp, sp := p.invoke(psrp.Script("Start-Sleep 60"), psrp.PipelineOptions{NoInput: true})
			tc.prepare(t, cp, sp)
			p.pump()
			p.clientEvents()
			require.Equal(t, tc.state, cp.State())

			require.NoError(t, cp.Close())
			require.NoError(t, cp.Close(), "closing twice is harmless")
			require.Nil(t, p.c.Pipeline(cp.ID()), "the pool no longer holds it")
			require.Equal(t, tc.state, cp.State(), "Close reports no state of its own")

			// The server's late output and final state for it.
			require.NoError(t, sp.WriteOutput("late"))
			require.NoError(t, sp.Stopped())
			p.pump() // fails on any Receive error
			require.Empty(t, p.clientEvents())
			p.serverEvents()

			// A message for an ID the pool never knew is still an error.
			err := p.c.Receive(serverMsg(p.c.ID(), uuid.New(), psrp.MessagePipelineOutput, "<S>x</S>", 9000))
			var pe *psrp.ProtocolError
			require.ErrorAs(t, err, &pe)
			require.Contains(t, err.Error(), "unknown pipeline")

			// The closed pipeline refuses further work.
			require.ErrorIs(t, cp.Invoke(), psrp.ErrPipelineClosed)
			require.ErrorIs(t, cp.BeginStop(), psrp.ErrPipelineClosed)
			require.ErrorIs(t, cp.HostResponse(1, "x", nil), psrp.ErrPipelineClosed)
			_, ok := p.c.DataToSend(bigChunk)
			require.False(t, ok, "nothing is sent for a closed pipeline")

			// The pool goes on working.
			cp2, sp2 := p.invoke(psrp.Script("1"), psrp.PipelineOptions{NoInput: true})
			require.NoError(t, sp2.WriteOutput(int32(1)))
			require.NoError(t, sp2.Complete())
			p.pump()
			require.Equal(t, []psrp.Event{
				psrp.PipelineOutputEvent{PipelineID: cp2.ID(), Value: int32(1)},
				psrp.PipelineStateChanged{PipelineID: cp2.ID(), State: psrp.PipelineCompleted, Previous: psrp.PipelineRunning},
			}, p.clientEvents())
		})
	}
}

// Late messages for a closed pipeline are dropped before their body is
// decoded, so even a malformed one is no error.
func TestClosedPipelineLateMessagesDropped(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	cp, _ := p.invoke(psrp.Script("x"), psrp.PipelineOptions{NoInput: true})
	require.NoError(t, cp.Close())
	rp := p.c.ID()
	msgs := []struct {
		name string
		data []byte
	}{
		{"PIPELINE_OUTPUT", serverMsg(rp, cp.ID(), psrp.MessagePipelineOutput, "<S>late</S>", 100)},
		{"PIPELINE_STATE", serverMsg(rp, cp.ID(), psrp.MessagePipelineState, `<Obj RefId="0"><MS><I32 N="PipelineState">3</I32></MS></Obj>`, 101)},
		{"PIPELINE_HOST_CALL", serverMsg(rp, cp.ID(), psrp.MessagePipelineHostCall, `<Obj RefId="0"><MS><I64 N="ci">1</I64></MS></Obj>`, 102)},
		{"malformed body", serverMsg(rp, cp.ID(), psrp.MessagePipelineOutput, "<S>unclosed", 103)},
	}
	for _, m := range msgs {
		require.NoError(t, p.c.Receive(m.data), m.name)
	}
	require.Empty(t, p.clientEvents())
}

// Data queued for a pipeline that is then closed is not sent: input not
// yet taken by the transport, and messages held for the key exchange.
func TestClosePipelineDiscardsOutgoing(t *testing.T) {
	t.Parallel()
	t.Run("queued input", func(t *testing.T) {
		t.Parallel()
		p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
		p.open()
		cp, _ := p.invoke(psrp.Script("$input"), psrp.PipelineOptions{})
		require.NoError(t, cp.Send("queued"))
		require.NoError(t, cp.CloseInput())
		require.NoError(t, cp.Close())
		_, ok := p.c.DataToSend(bigChunk)
		require.False(t, ok)
		require.ErrorIs(t, cp.Send("more"), psrp.ErrPipelineClosed)
	})
	t.Run("held for the session key", func(t *testing.T) {
		t.Parallel()
		p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
		p.open()
		cp, err := p.c.NewPipeline(psrp.Cmd("Set-Secret").Param("S", clixml.NewSecureString("pw")), psrp.PipelineOptions{NoInput: true})
		require.NoError(t, err)
		require.NoError(t, cp.Invoke())
		p.clientEvents()
		require.NoError(t, cp.Close())
		p.pump() // PUBLIC_KEY goes, the key comes back, nothing is released
		require.Equal(t, []psrp.ServerEvent{psrp.SessionKeyExchanged{}}, p.serverEvents())
		evs := p.clientEvents()
		require.Contains(t, evs, psrp.Event(psrp.SessionKeyReceived{}))
		for _, ev := range evs {
			_, isPipe := ev.(psrp.PipelineStateChanged)
			require.False(t, isPipe, "no pipeline event after Close: %#v", ev)
		}
	})
}

// The pool remembers the last 1024 closed pipelines; older ones are
// forgotten, and their late messages become protocol errors again.
func TestClosedPipelinesBounded(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	const n = 1024 + 10
	ids := make([]uuid.UUID, n)
	for i := range ids {
		cp, err := p.c.NewPipeline(psrp.Script("x"), psrp.PipelineOptions{})
		require.NoError(t, err)
		require.NoError(t, cp.Close())
		ids[i] = cp.ID()
	}
	for i, id := range ids {
		err := p.c.Receive(serverMsg(p.c.ID(), id, psrp.MessagePipelineOutput, "<S>late</S>", uint64(1000+i)))
		if i < n-1024 {
			require.Error(t, err, "pipeline %d was forgotten", i)
		} else {
			require.NoError(t, err, "pipeline %d is remembered", i)
		}
	}
	require.Empty(t, p.clientEvents())
}

// loginForm is a Go struct the encoder maps by reflection: the SecureString
// inside it is invisible to a walk of the generic value model.
type loginForm struct {
	User     string
	Password clixml.SecureString
}

// secretIn finds the first SecureString in a decoded value.
func secretIn(v any) (clixml.SecureString, bool) {
	switch x := v.(type) {
	case clixml.SecureString:
		return x, true
	case *clixml.Object:
		if x == nil {
			return clixml.SecureString{}, false
		}
		if s, ok := secretIn(x.Value); ok {
			return s, true
		}
		for _, set := range [][]clixml.Property{x.Members, x.Props} {
			for _, p := range set {
				if s, ok := secretIn(p.Value); ok {
					return s, true
				}
			}
		}
		for _, e := range x.Entries {
			if s, ok := secretIn(e.Value); ok {
				return s, true
			}
		}
		for _, e := range x.Items {
			if s, ok := secretIn(e); ok {
				return s, true
			}
		}
	}
	return clixml.SecureString{}, false
}

// A pipeline host call answered with a secret before any key exchange:
// the client exchanges the key first, holds the response and what follows
// it, and the server gets them decrypted and in order.
func TestPipelineHostResponseSecureStringBeforeKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		method psrp.HostMethodID
		result any
	}{
		{"Read-Host -AsSecureString", psrp.HostReadLineAsSecureString, clixml.NewSecureString("s3cret")},
		{"Get-Credential", psrp.HostPromptForCredential1, clixml.PSCredential{UserName: `CORP\alice`, Password: clixml.NewSecureString("s3cret")}},
		{"Get-Credential pointer", psrp.HostPromptForCredential2, &clixml.PSCredential{UserName: "alice", Password: clixml.NewSecureString("s3cret")}},
		{"Prompt with a SecureString field", psrp.HostPrompt, map[string]any{"Name": "alice", "Password": clixml.NewSecureString("s3cret")}},
		{"Go struct (found by the encoder)", psrp.HostPrompt, loginForm{User: "alice", Password: clixml.NewSecureString("s3cret")}},
	}
	for _, tc := range cases {
		for _, sz := range chunkSizes {
			t.Run(tc.name+"/"+sz.name, func(t *testing.T) {
				t.Parallel()
				p := newPair(t, sz.max, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
				p.open()
				cp, sp := p.invoke(psrp.Script("Get-Secret"), psrp.PipelineOptions{})
				ci1, err := sp.HostCall(tc.method)
				require.NoError(t, err)
				ci2, err := sp.HostCall(psrp.HostReadLine)
				require.NoError(t, err)
				p.pump()
				p.clientEvents()

				require.NoError(t, cp.HostResponse(ci1, tc.result, nil))
				require.NoError(t, cp.Send("after"))
				require.NoError(t, cp.HostResponse(ci2, "plain", nil))
				require.NoError(t, cp.CloseInput())

				// Only PUBLIC_KEY may leave before the key arrives.
				pl, ok := p.c.DataToSend(bigChunk)
				require.True(t, ok)
				require.Equal(t, uuid.Nil, pl.PipelineID)
				_, ok = p.c.DataToSend(bigChunk)
				require.False(t, ok, "the pipeline's data waits for the session key")
				require.NoError(t, p.s.Receive(pl.Data, pl.Stream, pl.PipelineID))
				p.pump()
				require.Contains(t, p.clientEvents(), psrp.Event(psrp.SessionKeyReceived{}))

				sev := p.serverEvents()
				require.Len(t, sev, 5)
				require.Equal(t, psrp.ServerEvent(psrp.SessionKeyExchanged{}), sev[0])
				// The outbox serves a target's stdin before its prompt
				// responses, so check the order within each stream.
				var responses []psrp.HostResponseReceived
				var inputs []psrp.ServerEvent
				for _, ev := range sev[1:] {
					if hr, ok := ev.(psrp.HostResponseReceived); ok {
						responses = append(responses, hr)
					} else {
						inputs = append(inputs, ev)
					}
				}
				require.Equal(t, []psrp.ServerEvent{
					psrp.PipelineInputReceived{Pipeline: sp, Value: "after"},
					psrp.PipelineInputEnded{Pipeline: sp},
				}, inputs)
				require.Len(t, responses, 2)
				require.Equal(t, ci1, responses[0].CallID)
				require.Equal(t, tc.method, responses[0].Method)
				require.Same(t, sp, responses[0].Pipeline)
				ss, ok := secretIn(responses[0].Result)
				require.True(t, ok, "a SecureString in %#v", responses[0].Result)
				require.True(t, ss.Decrypted, "the server could decrypt it")
				require.Equal(t, "s3cret", string(ss.Plaintext))
				require.Equal(t, psrp.HostResponseReceived{Pipeline: sp, CallID: ci2, Method: psrp.HostReadLine, Result: "plain"}, responses[1])
			})
		}
	}
}

// The pool's host responses take the same path.
func TestPoolHostResponseSecureStringBeforeKey(t *testing.T) {
	t.Parallel()
	for _, sz := range chunkSizes {
		t.Run(sz.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, sz.max, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
			p.open()
			ci1, err := p.s.HostCall(psrp.HostPromptForCredential1)
			require.NoError(t, err)
			ci2, err := p.s.HostCall(psrp.HostGetName)
			require.NoError(t, err)
			p.pump()
			p.clientEvents()
			require.NoError(t, p.c.HostResponse(ci1, clixml.PSCredential{UserName: "bob", Password: clixml.NewSecureString("pa55")}, nil))
			require.NoError(t, p.c.HostResponse(ci2, "gohost", nil))

			pl, ok := p.c.DataToSend(bigChunk)
			require.True(t, ok)
			require.Equal(t, psrp.StreamDefault, pl.Stream, "PUBLIC_KEY goes first, on stdin")
			_, ok = p.c.DataToSend(bigChunk)
			require.False(t, ok, "the responses wait for the session key")
			require.NoError(t, p.s.Receive(pl.Data, pl.Stream, pl.PipelineID))
			p.pump()

			sev := p.serverEvents()
			require.Len(t, sev, 3)
			require.Equal(t, psrp.ServerEvent(psrp.SessionKeyExchanged{}), sev[0])
			hr := sev[1].(psrp.HostResponseReceived)
			require.Equal(t, ci1, hr.CallID)
			ss, ok := secretIn(hr.Result)
			require.True(t, ok)
			require.Equal(t, "pa55", string(ss.Plaintext))
			require.Equal(t, psrp.HostResponseReceived{CallID: ci2, Method: psrp.HostGetName, Result: "gohost"}, sev[2])

			// With the key known, a secret goes out at once.
			ci3, err := p.s.HostCall(psrp.HostReadLineAsSecureString)
			require.NoError(t, err)
			p.pump()
			p.clientEvents()
			require.NoError(t, p.c.HostResponse(ci3, clixml.NewSecureString("x"), nil))
			pl, ok = p.c.DataToSend(bigChunk)
			require.True(t, ok)
			require.Equal(t, psrp.StreamPromptResponse, pl.Stream)
		})
	}
}

// Without a secret, or with both peers at 2.4, nothing waits.
func TestHostResponseNoHold(t *testing.T) {
	t.Parallel()
	v24 := clixml.Version{Major: 2, Minor: 4, Build: -1, Revision: -1}
	cases := []struct {
		name   string
		ver    clixml.Version
		result any
	}{
		{"plain result", clixml.Version{}, "typed"},
		{"SecureString at 2.4", v24, clixml.NewSecureString("pw")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, bigChunk, psrp.ClientPoolConfig{ProtocolVersion: tc.ver}, psrp.ServerPoolConfig{ProtocolVersion: tc.ver})
			p.open()
			cp, sp := p.invoke(psrp.Script("Read-Host"), psrp.PipelineOptions{NoInput: true})
			ci, err := sp.HostCall(psrp.HostReadLineAsSecureString)
			require.NoError(t, err)
			p.pump()
			p.clientEvents()
			require.NoError(t, cp.HostResponse(ci, tc.result, nil))
			pl, ok := p.c.DataToSend(bigChunk)
			require.True(t, ok)
			require.Equal(t, cp.ID(), pl.PipelineID, "no PUBLIC_KEY first")
			require.Equal(t, psrp.StreamPromptResponse, pl.Stream)
			require.NoError(t, p.s.Receive(pl.Data, pl.Stream, pl.PipelineID))
			p.pump()
			sev := p.serverEvents()
			require.Len(t, sev, 1)
			require.Equal(t, ci, sev[0].(psrp.HostResponseReceived).CallID)
		})
	}
}

// A pipeline closed while its host response waits for the key sends
// nothing once the key arrives.
func TestCloseWhileHostResponseHeld(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	cp, sp := p.invoke(psrp.Script("Read-Host -AsSecureString"), psrp.PipelineOptions{NoInput: true})
	ci, err := sp.HostCall(psrp.HostReadLineAsSecureString)
	require.NoError(t, err)
	p.pump()
	p.clientEvents()
	require.NoError(t, cp.HostResponse(ci, clixml.NewSecureString("pw"), nil))
	require.NoError(t, cp.Close())
	p.pump()
	require.Equal(t, []psrp.ServerEvent{psrp.SessionKeyExchanged{}}, p.serverEvents())
}

// FuzzClientPoolReceiveClosedPipeline feeds arbitrary server data to an
// opened pool that has one live and one closed pipeline: no panic, errors
// typed, and nothing is ever reported for the closed pipeline.
func FuzzClientPoolReceiveClosedPipeline(f *testing.F) {
	rp := uuid.MustParse("4A8013C9-7387-4239-842A-B290AC4DA47B")
	live := uuid.MustParse("11111111-2222-3333-4444-555555555555")
	gone := uuid.MustParse("66666666-7777-8888-9999-AAAAAAAAAAAA")
	f.Add(serverMsg(rp, gone, psrp.MessagePipelineOutput, "<S>late</S>", 5))
	f.Add(serverMsg(rp, gone, psrp.MessagePipelineState, `<Obj RefId="0"><MS><I32 N="PipelineState">3</I32></MS></Obj>`, 6))
	f.Add(serverMsg(rp, live, psrp.MessagePipelineOutput, "<S>x</S>", 7))
	f.Add(serverMsg(rp, uuid.New(), psrp.MessagePipelineOutput, "<S>x</S>", 8))
	fromServer, _ := smFuzzSeeds(f)
	for _, b := range fromServer {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := psrp.NewClientPool(psrp.ClientPoolConfig{ID: rp, MaxMessageSize: 1 << 20})
		require.NoError(t, c.Open())
		for {
			if _, ok := c.DataToSend(1 << 20); !ok {
				break
			}
		}
		opened := psrp.RunspacePoolStateMessage{State: psrp.RunspacePoolOpened}
		body, err := psrp.EncodeBody(&opened, clixml.MarshalOptions{})
		require.NoError(t, err)
		require.NoError(t, c.Receive(serverMsg(rp, uuid.Nil, psrp.MessageRunspacePoolState, string(body), 1)))
		require.Equal(t, psrp.RunspacePoolOpened, c.State())
		_, err = c.NewPipeline(psrp.Script("x"), psrp.PipelineOptions{ID: live})
		require.NoError(t, err)
		g, err := c.NewPipeline(psrp.Script("y"), psrp.PipelineOptions{ID: gone})
		require.NoError(t, err)
		require.NoError(t, g.Close())
		for {
			if _, ok := c.NextEvent(); !ok {
				break
			}
		}
		half := len(data) / 2
		_ = c.Receive(data[:half])
		_ = c.Receive(data[half:])
		for {
			ev, ok := c.NextEvent()
			if !ok {
				break
			}
			switch e := ev.(type) {
			case psrp.PipelineOutputEvent:
				require.NotEqual(t, gone, e.PipelineID)
			case psrp.PipelineStateChanged:
				require.NotEqual(t, gone, e.PipelineID)
			case psrp.PipelineHostCallEvent:
				require.NotEqual(t, gone, e.PipelineID)
			}
		}
	})
}
