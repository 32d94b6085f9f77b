package psrp_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// The tests in this file feed a ClientPool what a broken or hostile server
// could send, and pin what the client does: drop the message, fail one
// pipeline, or break the pool, always with a typed error (see "What the
// client tolerates" in the package documentation).

// bodyMsg encodes b as a whole-message fragment from the server.
func bodyMsg(t *testing.T, rpid, pid uuid.UUID, b psrp.Body, objectID uint64) []byte {
	t.Helper()
	data, err := psrp.EncodeBody(b, clixml.MarshalOptions{})
	require.NoError(t, err)
	m := psrp.Message{Destination: psrp.DestinationClient, Type: b.MessageType(), RunspacePoolID: rpid, PipelineID: pid, Data: data}
	return psrp.Fragment{ObjectID: objectID, Start: true, End: true, Data: m.Append(nil)}.Append(nil)
}

// running opens a pair and starts one pipeline.
func running(t *testing.T) (*pair, *psrp.ClientPipeline) {
	t.Helper()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	cp, _ := p.invoke(psrp.Script("x"), psrp.PipelineOptions{NoInput: true})
	return p, cp
}

// requireUsable checks that the pool still runs a pipeline end to end.
func requireUsable(t *testing.T, p *pair) {
	t.Helper()
	require.Equal(t, psrp.RunspacePoolOpened, p.c.State())
	cp, sp := p.invoke(psrp.Script("1"), psrp.PipelineOptions{NoInput: true})
	require.NoError(t, sp.WriteOutput(int32(1)))
	require.NoError(t, sp.Complete())
	p.pump()
	require.Equal(t, []psrp.Event{
		psrp.PipelineOutputEvent{PipelineID: cp.ID(), Value: int32(1)},
		psrp.PipelineStateChanged{PipelineID: cp.ID(), State: psrp.PipelineCompleted, Previous: psrp.PipelineRunning},
	}, p.clientEvents())
}

func effectOf(t *testing.T, err error) psrp.Effect {
	t.Helper()
	var pe *psrp.ProtocolError
	require.ErrorAs(t, err, &pe)
	return pe.Effect
}

func TestUnknownPipelineStateFailsThePipeline(t *testing.T) {
	t.Parallel()
	p, cp := running(t)
	err := p.c.Receive(bodyMsg(t, p.c.ID(), cp.ID(), &psrp.PipelineState{State: 99}, 5000))
	var se *psrp.UnknownStateError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, int32(99), se.Value)
	assert.Equal(t, psrp.MessagePipelineState, se.Message)
	assert.Equal(t, cp.ID(), se.PipelineID)
	require.ErrorIs(t, err, psrp.ErrUnknownState)
	assert.Contains(t, err.Error(), "unknown pipeline state 99")
	assert.NotContains(t, err.Error(), "without a final")
	assert.Equal(t, psrp.EffectPipelineFailed, effectOf(t, err))

	assert.Equal(t, psrp.PipelineFailed, cp.State())
	evs := p.clientEvents()
	require.Len(t, evs, 1)
	sc := evs[0].(psrp.PipelineStateChanged)
	assert.Equal(t, psrp.PipelineFailed, sc.State)
	require.ErrorAs(t, sc.Cause, &se, "the cause travels with the state change")
	requireUsable(t, p)
}

func TestUnknownPoolStateBreaksThePool(t *testing.T) {
	t.Parallel()
	p, cp := running(t)
	err := p.c.Receive(bodyMsg(t, p.c.ID(), uuid.Nil, &psrp.RunspacePoolStateMessage{State: 99}, 5000))
	var se *psrp.UnknownStateError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, psrp.MessageRunspacePoolState, se.Message)
	assert.Equal(t, "psrp: unknown runspace pool state 99", err.Error())
	assert.Equal(t, psrp.EffectPoolBroken, effectOf(t, err))
	assert.Equal(t, psrp.RunspacePoolBroken, p.c.State())
	assert.Equal(t, psrp.PipelineFailed, cp.State())
	evs := p.clientEvents()
	require.Len(t, evs, 2)
	psc := evs[1].(psrp.PoolStateChanged)
	assert.Equal(t, psrp.RunspacePoolBroken, psc.State)
	require.ErrorIs(t, psc.Cause, psrp.ErrUnknownState)
}

func v(major, minor int32) clixml.Version {
	return clixml.Version{Major: major, Minor: minor, Build: -1, Revision: -1}
}

func TestSupportedServerVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    clixml.Version
		want bool
	}{
		{v(2, 0), false}, {v(2, 1), true}, {v(2, 2), true}, {v(2, 3), true}, {v(2, 4), true}, {v(2, 9), true},
		{v(1, 9), false}, {v(3, 0), false}, {v(0, 0), false}, {clixml.Version{Major: 2, Minor: 3, Build: 0, Revision: 0}, true},
	} {
		assert.Equal(t, tc.want, psrp.SupportedServerVersion(tc.v), "%d.%d", tc.v.Major, tc.v.Minor)
	}
}

// openAgainst runs Open against a server pool announcing version and
// returns what the client's Receive said.
func openAgainst(t *testing.T, version clixml.Version) (*psrp.ClientPool, error) {
	t.Helper()
	c := psrp.NewClientPool(psrp.ClientPoolConfig{})
	s := psrp.NewServerPool(psrp.ServerPoolConfig{ProtocolVersion: version})
	require.NoError(t, c.Open())
	pl, ok := c.DataToSend(bigChunk)
	require.True(t, ok)
	require.NoError(t, s.Receive(pl.Data, pl.Stream, pl.PipelineID))
	var all []byte
	for {
		pl, ok := s.DataToSend(bigChunk)
		if !ok {
			break
		}
		all = append(all, pl.Data...)
	}
	return c, c.Receive(all)
}

func TestServerProtocolVersionRefused(t *testing.T) {
	t.Parallel()
	for _, ver := range []clixml.Version{v(3, 0), v(2, 0), v(1, 0)} {
		c, err := openAgainst(t, ver)
		var ve *psrp.VersionError
		require.ErrorAs(t, err, &ve, "%v", ver)
		require.ErrorIs(t, err, psrp.ErrUnsupportedProtocolVersion)
		assert.Equal(t, ver, ve.Version)
		assert.Equal(t, psrp.EffectPoolBroken, effectOf(t, err))
		assert.Equal(t, psrp.RunspacePoolBroken, c.State())
		// The RUNSPACEPOOL_STATE Opened behind the capability is not
		// applied: the pool never reports Opened.
		var states []psrp.RunspacePoolState
		for ev, ok := c.NextEvent(); ok; ev, ok = c.NextEvent() {
			if sc, ok := ev.(psrp.PoolStateChanged); ok {
				states = append(states, sc.State)
				if sc.State == psrp.RunspacePoolBroken {
					require.ErrorIs(t, sc.Cause, psrp.ErrUnsupportedProtocolVersion)
				}
			}
		}
		assert.Equal(t, []psrp.RunspacePoolState{psrp.RunspacePoolOpening, psrp.RunspacePoolBroken}, states)
		// A broken pool ignores what still arrives.
		require.NoError(t, c.Receive(bodyMsg(t, c.ID(), uuid.Nil, &psrp.RunspacePoolStateMessage{State: psrp.RunspacePoolOpened}, 9000)))
		assert.Equal(t, psrp.RunspacePoolBroken, c.State())
	}
	for _, ver := range []clixml.Version{v(2, 1), v(2, 2), v(2, 3), v(2, 4)} {
		c, err := openAgainst(t, ver)
		require.NoError(t, err, "%v", ver)
		assert.Equal(t, psrp.RunspacePoolOpened, c.State())
		assert.Equal(t, ver, c.ProtocolVersion())
	}
}

func TestServerProtocolVersionMalformed(t *testing.T) {
	t.Parallel()
	c := psrp.NewClientPool(psrp.ClientPoolConfig{})
	require.NoError(t, c.Open())
	for _, ok := c.DataToSend(bigChunk); ok; _, ok = c.DataToSend(bigChunk) {
	}
	body := `<Obj RefId="0"><MS><S N="protocolversion">two</S><Version N="PSVersion">2.0</Version><Version N="SerializationVersion">1.1.0.1</Version></MS></Obj>`
	err := c.Receive(serverMsg(uuid.Nil, uuid.Nil, psrp.MessageSessionCapability, body, 1))
	var ve *psrp.VersionError
	require.ErrorAs(t, err, &ve)
	require.ErrorIs(t, err, psrp.ErrUnsupportedProtocolVersion)
	var be *psrp.BodyError
	require.ErrorAs(t, err, &be, "the decoding error is kept")
	assert.Equal(t, psrp.RunspacePoolBroken, c.State())
}

// What the client tolerates on its streams: each case says what Windows
// can send and what the client does (package doc, "What the client
// tolerates").
func TestWhatTheClientTolerates(t *testing.T) {
	t.Parallel()
	type tc struct {
		name string
		// data builds the server's bytes for the pair's pool and pipeline.
		data     func(t *testing.T, p *pair, cp *psrp.ClientPipeline) []byte
		sentinel error
		effect   psrp.Effect
		plState  psrp.PSInvocationState
	}
	output := func(t *testing.T, rpid, pid uuid.UUID, oid uint64) []byte {
		return bodyMsg(t, rpid, pid, &psrp.PipelineOutput{Value: "stray"}, oid)
	}
	cases := []tc{
		{name: "unknown message type on the pool stream", sentinel: psrp.ErrMessageDropped, plState: psrp.PipelineRunning,
			data: func(t *testing.T, p *pair, cp *psrp.ClientPipeline) []byte {
				return serverMsg(p.c.ID(), uuid.Nil, psrp.MessageType(0x00021FFF), "<S>new</S>", 5000)
			}},
		{name: "unknown message type for a pipeline", sentinel: psrp.ErrMessageDropped, plState: psrp.PipelineRunning,
			data: func(t *testing.T, p *pair, cp *psrp.ClientPipeline) []byte {
				return serverMsg(p.c.ID(), cp.ID(), psrp.MessageType(0x00041FFF), "<S>new</S>", 5000)
			}},
		{name: "PIPELINE_STATE for an unknown pipeline", sentinel: psrp.ErrUnknownPipeline, plState: psrp.PipelineRunning,
			data: func(t *testing.T, p *pair, cp *psrp.ClientPipeline) []byte {
				return bodyMsg(t, p.c.ID(), uuid.New(), &psrp.PipelineState{State: psrp.PipelineCompleted}, 5000)
			}},
		{name: "output with a foreign RunspacePoolID", sentinel: psrp.ErrForeignRunspacePool, plState: psrp.PipelineRunning,
			data: func(t *testing.T, p *pair, cp *psrp.ClientPipeline) []byte {
				return output(t, uuid.New(), cp.ID(), 5000)
			}},
		{name: "output with a zero RunspacePoolID", sentinel: psrp.ErrForeignRunspacePool, plState: psrp.PipelineRunning,
			data: func(t *testing.T, p *pair, cp *psrp.ClientPipeline) []byte {
				return output(t, uuid.Nil, cp.ID(), 5000)
			}},
		{name: "output after Completed", sentinel: psrp.ErrUnexpectedMessage, plState: psrp.PipelineCompleted,
			data: func(t *testing.T, p *pair, cp *psrp.ClientPipeline) []byte {
				done := bodyMsg(t, p.c.ID(), cp.ID(), &psrp.PipelineState{State: psrp.PipelineCompleted}, 5000)
				return append(done, output(t, p.c.ID(), cp.ID(), 5001)...)
			}},
		{name: "PIPELINE_STATE after Completed", sentinel: psrp.ErrUnexpectedMessage, plState: psrp.PipelineCompleted,
			data: func(t *testing.T, p *pair, cp *psrp.ClientPipeline) []byte {
				done := bodyMsg(t, p.c.ID(), cp.ID(), &psrp.PipelineState{State: psrp.PipelineCompleted}, 5000)
				return append(done, bodyMsg(t, p.c.ID(), cp.ID(), &psrp.PipelineState{State: psrp.PipelineFailed}, 5001)...)
			}},
		{name: "message addressed to the server", sentinel: psrp.ErrUnexpectedMessage, plState: psrp.PipelineRunning,
			data: func(t *testing.T, p *pair, cp *psrp.ClientPipeline) []byte {
				m := psrp.Message{Destination: psrp.DestinationServer, Type: psrp.MessagePipelineOutput, RunspacePoolID: p.c.ID(), PipelineID: cp.ID(), Data: []byte("<S>x</S>")}
				return psrp.Fragment{ObjectID: 5000, Start: true, End: true, Data: m.Append(nil)}.Append(nil)
			}},
		{name: "pipeline message for the pool", sentinel: psrp.ErrUnexpectedMessage, plState: psrp.PipelineRunning,
			data: func(t *testing.T, p *pair, cp *psrp.ClientPipeline) []byte {
				return output(t, p.c.ID(), uuid.Nil, 5000)
			}},
		{name: "output that does not decode", effect: psrp.EffectPipelineFailed, plState: psrp.PipelineFailed,
			data: func(t *testing.T, p *pair, cp *psrp.ClientPipeline) []byte {
				return serverMsg(p.c.ID(), cp.ID(), psrp.MessagePipelineOutput, "<S>unterminated", 5000)
			}},
		{name: "out-of-order fragment of pipeline output", sentinel: psrp.ErrFragmentOutOfOrder, effect: psrp.EffectPipelineFailed, plState: psrp.PipelineFailed,
			data: func(t *testing.T, p *pair, cp *psrp.ClientPipeline) []byte {
				msg := output(t, p.c.ID(), cp.ID(), 1)[psrp.FragmentHeaderSize:]
				in := psrp.Fragment{ObjectID: 5000, Start: true, Data: msg[:45]}.Append(nil)
				in = psrp.Fragment{ObjectID: 5000, FragmentID: 2, Data: msg[45:50]}.Append(in)
				return psrp.Fragment{ObjectID: 5000, FragmentID: 3, End: true, Data: msg[50:]}.Append(in)
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p, cp := running(t)
			err := p.c.Receive(c.data(t, p, cp))
			if errors.Is(c.sentinel, psrp.ErrMessageDropped) && c.effect == psrp.EffectDropped {
				var ue *psrp.UnknownMessageError
				require.ErrorAs(t, err, &ue)
			}
			if c.sentinel != nil {
				require.ErrorIs(t, err, c.sentinel)
			} else {
				var be *psrp.BodyError
				require.ErrorAs(t, err, &be)
			}
			assert.Equal(t, c.effect, effectOf(t, err))
			if c.effect == psrp.EffectDropped {
				require.ErrorIs(t, err, psrp.ErrMessageDropped)
			}
			for _, ev := range p.clientEvents() {
				_, isOutput := ev.(psrp.PipelineOutputEvent)
				assert.False(t, isOutput, "nothing of the bad message reaches the caller: %#v", ev)
			}
			assert.Equal(t, c.plState, cp.State())
			requireUsable(t, p)
		})
	}
}

// Garbage in the stream breaks the pool, for good, with a typed cause.
func TestGarbageBreaksThePool(t *testing.T) {
	t.Parallel()
	p, cp := running(t)
	good := bodyMsg(t, p.c.ID(), cp.ID(), &psrp.PipelineOutput{Value: "kept"}, 5000)
	err := p.c.Receive(append(good, bytes.Repeat([]byte{0xAB}, 64)...))
	require.ErrorIs(t, err, psrp.ErrStreamCorrupt)
	require.NotErrorIs(t, err, psrp.ErrMessageDropped)
	assert.Equal(t, psrp.EffectPoolBroken, effectOf(t, err))
	assert.Equal(t, psrp.RunspacePoolBroken, p.c.State())
	assert.Equal(t, psrp.PipelineFailed, cp.State())
	evs := p.clientEvents()
	require.Equal(t, psrp.PipelineOutputEvent{PipelineID: cp.ID(), Value: "kept"}, evs[0], "data before the garbage is delivered")
	last := evs[len(evs)-1].(psrp.PoolStateChanged)
	require.ErrorIs(t, last.Cause, psrp.ErrStreamCorrupt)
	require.NoError(t, p.c.Receive(good), "a broken pool ignores input")
	assert.Empty(t, p.clientEvents())
}

// A pool message lost to a fragment error breaks the pool: it cannot know
// what it missed.
func TestLostPoolMessageBreaksThePool(t *testing.T) {
	t.Parallel()
	p, _ := running(t)
	msg := bodyMsg(t, p.c.ID(), uuid.Nil, &psrp.RunspacePoolStateMessage{State: psrp.RunspacePoolOpened}, 1)[psrp.FragmentHeaderSize:]
	in := psrp.Fragment{ObjectID: 5000, Start: true, Data: msg[:45]}.Append(nil)
	in = psrp.Fragment{ObjectID: 5000, FragmentID: 5, End: true, Data: msg[45:]}.Append(in)
	err := p.c.Receive(in)
	require.ErrorIs(t, err, psrp.ErrFragmentOutOfOrder)
	assert.Equal(t, psrp.EffectPoolBroken, effectOf(t, err))
	assert.Equal(t, psrp.RunspacePoolBroken, p.c.State())
}

// Receive's error stays small whatever the number of bad messages.
func TestReceiveErrorsBounded(t *testing.T) {
	t.Parallel()
	p, _ := running(t)
	var in []byte
	for i := range 20000 {
		in = append(in, serverMsg(p.c.ID(), uuid.New(), psrp.MessagePipelineOutput, "<S>x</S>", uint64(5000+i))...)
	}
	err := p.c.Receive(in)
	require.ErrorIs(t, err, psrp.ErrUnknownPipeline)
	assert.Less(t, len(err.Error()), 4096)
	assert.Contains(t, err.Error(), "19992 more errors")
	requireUsable(t, p)
}

// PUBLIC_KEY_REQUEST is answered at once and at most once while the answer
// is outstanding: a flood of requests queues one PUBLIC_KEY.
func TestPublicKeyRequestFlood(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	one := bodyMsg(t, p.c.ID(), uuid.Nil, &psrp.PublicKeyRequest{}, 1)
	var in []byte
	for i := range 50000 {
		f, _, err := psrp.DecodeFragment(one)
		require.NoError(t, err)
		f.ObjectID = uint64(1000 + i)
		in = f.Append(in)
	}
	require.NoError(t, p.c.Receive(in[:len(in)/2]))
	require.NoError(t, p.c.Receive(in[len(in)/2:]))
	require.Equal(t, []psrp.Event{psrp.PublicKeyRequested{}}, p.clientEvents(), "one event to act on at once")

	pl, ok := p.c.DataToSend(bigChunk)
	require.True(t, ok, "the answer is queued without waiting for a pipeline")
	assert.Equal(t, uuid.Nil, pl.PipelineID)
	f, n, err := psrp.DecodeFragment(pl.Data)
	require.NoError(t, err)
	assert.Equal(t, len(pl.Data), n, "one message in the payload")
	m, err := psrp.DecodeMessage(f.Data)
	require.NoError(t, err)
	assert.Equal(t, psrp.MessagePublicKey, m.Type)
	_, ok = p.c.DataToSend(bigChunk)
	require.False(t, ok, "the outbox holds one answer")

	// Sent: more requests while the answer is outstanding cost nothing.
	require.NoError(t, p.c.Receive(in[:len(in)/2]))
	_, ok = p.c.DataToSend(bigChunk)
	require.False(t, ok)
	assert.Empty(t, p.clientEvents())

	// The server answers; the exchange completes.
	require.NoError(t, p.s.Receive(pl.Data, pl.Stream, pl.PipelineID))
	p.pump()
	assert.Equal(t, []psrp.Event{psrp.SessionKeyReceived{}}, p.clientEvents())
}

// Pipelines cannot be created before the pool is Opened.
func TestNoPipelineBeforeOpened(t *testing.T) {
	t.Parallel()
	for _, start := range []func(*psrp.ClientPool) error{(*psrp.ClientPool).Open, (*psrp.ClientPool).Connect} {
		c := psrp.NewClientPool(psrp.ClientPoolConfig{ID: uuid.New()})
		require.NoError(t, start(c))
		st := c.State()
		require.Contains(t, []psrp.RunspacePoolState{psrp.RunspacePoolOpening, psrp.RunspacePoolConnecting}, st)
		var se *psrp.StateError
		_, err := c.NewPipeline(psrp.Script("x"), psrp.PipelineOptions{})
		require.ErrorAs(t, err, &se)
		assert.Equal(t, st, se.State)
		_, err = c.GetCommandMetadata(psrp.GetCommandMetadata{Names: []string{"*"}})
		require.ErrorAs(t, err, &se)
		_, err = c.ConnectPipeline(uuid.New())
		require.ErrorAs(t, err, &se)
		_, err = c.SetMaxRunspaces(2)
		require.ErrorAs(t, err, &se)
	}
}

// Connect/Disconnect need protocol 2.2, which PowerShell 3.0 and 4.0 hosts
// announce: 2.2 is not 2.1.
func TestConnectVersionRule(t *testing.T) {
	t.Parallel()
	assert.False(t, psrp.VersionSupportsConnect(v(2, 1)))
	assert.True(t, psrp.VersionSupportsConnect(v(2, 2)))
	assert.True(t, psrp.VersionSupportsConnect(v(2, 3)))
	assert.True(t, psrp.VersionSupportsConnect(v(2, 4)))
	assert.False(t, psrp.VersionSupportsInformation(v(2, 2)))
	assert.True(t, psrp.VersionSupportsInformation(v(2, 3)))

	for _, tc := range []struct {
		ver clixml.Version
		ok  bool
	}{{v(2, 1), false}, {v(2, 2), true}, {v(2, 3), true}} {
		p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{ProtocolVersion: tc.ver})
		p.open()
		require.Equal(t, tc.ver, p.c.ProtocolVersion())
		err := p.c.Disconnected()
		if tc.ok {
			require.NoError(t, err, "%v", tc.ver)
			assert.Equal(t, psrp.RunspacePoolDisconnected, p.c.State())
		} else {
			require.ErrorIs(t, err, psrp.ErrProtocolVersion)
			assert.Equal(t, psrp.RunspacePoolOpened, p.c.State())
		}
	}
}
