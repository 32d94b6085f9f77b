package psrp_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// Fragment sizes used by the pair tests: what a 150 KiB envelope leaves for
// fragments, and a tiny size that splits every message.
const (
	bigChunk  = 150*1024 - 4096
	tinyChunk = 64
)

var chunkSizes = []struct {
	name string
	max  int
}{{"150KiB", bigChunk}, {"64B", tinyChunk}}

// pair is a ClientPool and a ServerPool wired together in memory.
type pair struct {
	t      *testing.T
	c      *psrp.ClientPool
	s      *psrp.ServerPool
	max    int
	sevent []psrp.ServerEvent
}

func newPair(t *testing.T, max int, ccfg psrp.ClientPoolConfig, scfg psrp.ServerPoolConfig) *pair {
	t.Helper()
	return &pair{t: t, c: psrp.NewClientPool(ccfg), s: psrp.NewServerPool(scfg), max: max}
}

// pump moves payloads both ways until neither side has anything to send,
// collecting the server's events. Every payload must respect max.
func (p *pair) pump() {
	p.t.Helper()
	for range 100000 {
		moved := false
		if pl, ok := p.c.DataToSend(p.max); ok {
			require.LessOrEqual(p.t, len(pl.Data), p.max)
			require.NoError(p.t, p.s.Receive(pl.Data, pl.Stream, pl.PipelineID))
			moved = true
		}
		for {
			ev, ok := p.s.NextEvent()
			if !ok {
				break
			}
			p.sevent = append(p.sevent, ev)
		}
		if pl, ok := p.s.DataToSend(p.max); ok {
			require.LessOrEqual(p.t, len(pl.Data), p.max)
			require.NoError(p.t, p.c.Receive(pl.Data))
			moved = true
		}
		if !moved {
			return
		}
	}
	p.t.Fatal("pump did not settle")
}

// clientEvents drains the client's events.
func (p *pair) clientEvents() []psrp.Event {
	var out []psrp.Event
	for {
		ev, ok := p.c.NextEvent()
		if !ok {
			return out
		}
		out = append(out, ev)
	}
}

// serverEvents returns and forgets the collected server events.
func (p *pair) serverEvents() []psrp.ServerEvent {
	out := p.sevent
	p.sevent = nil
	return out
}

// open opens the pool and checks the events.
func (p *pair) open() {
	p.t.Helper()
	require.NoError(p.t, p.c.Open())
	require.Equal(p.t, psrp.RunspacePoolOpening, p.c.State())
	p.pump()
	require.Equal(p.t, psrp.RunspacePoolOpened, p.c.State())
	require.Equal(p.t, psrp.RunspacePoolOpened, p.s.State())
	evs := p.clientEvents()
	require.Len(p.t, evs, 3)
	require.Equal(p.t, psrp.PoolStateChanged{State: psrp.RunspacePoolOpening, Previous: psrp.RunspacePoolBeforeOpen}, evs[0])
	apd, ok := evs[1].(psrp.ApplicationPrivateDataReceived)
	require.True(p.t, ok, "got %T", evs[1])
	require.NotNil(p.t, apd.Data)
	vt, ok := apd.Data.PSVersionTable()
	require.True(p.t, ok, "PSVersionTable in the application private data")
	require.Contains(p.t, vt, "PSRemotingProtocolVersion")
	require.Contains(p.t, vt, "PSVersion")
	require.Equal(p.t, psrp.PoolStateChanged{State: psrp.RunspacePoolOpened, Previous: psrp.RunspacePoolOpening}, evs[2])
	sev := p.serverEvents()
	require.Len(p.t, sev, 1)
	_, ok = sev[0].(psrp.PoolOpened)
	require.True(p.t, ok, "got %T", sev[0])
}

// invoke creates and invokes a pipeline, returning both sides.
func (p *pair) invoke(ps *psrp.PowerShell, opts psrp.PipelineOptions) (*psrp.ClientPipeline, *psrp.ServerPipeline) {
	p.t.Helper()
	cp, err := p.c.NewPipeline(ps, opts)
	require.NoError(p.t, err)
	require.NoError(p.t, cp.Invoke())
	p.pump()
	sev := p.serverEvents()
	require.NotEmpty(p.t, sev)
	pc, ok := sev[0].(psrp.PipelineCreated)
	require.True(p.t, ok, "got %T", sev[0])
	require.Equal(p.t, cp.ID(), pc.Pipeline.ID())
	evs := p.clientEvents()
	require.Equal(p.t, []psrp.Event{psrp.PipelineStateChanged{PipelineID: cp.ID(), State: psrp.PipelineRunning, Previous: psrp.PipelineNotStarted}}, evs)
	return cp, pc.Pipeline
}

func TestPairOpen(t *testing.T) {
	t.Parallel()
	for _, sz := range chunkSizes {
		t.Run(sz.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, sz.max, psrp.ClientPoolConfig{MinRunspaces: 1, MaxRunspaces: 3, ApplicationArguments: map[string]any{"k": "v"}}, psrp.ServerPoolConfig{})
			p.open()
			require.Equal(t, p.c.ID(), p.s.ID())
			require.Equal(t, int32(3), p.s.MaxRunspaces())
			require.Equal(t, psrp.DefaultProtocolVersion(), p.c.ProtocolVersion())
			require.NotNil(t, p.c.ServerCapability())
			require.Equal(t, "v", p.s.InitData().ApplicationArguments["k"])
			// The client reads the server's default PSVersionTable.
			require.NotNil(t, p.s.ClientCapability())

			// Opening twice is a state error.
			var se *psrp.StateError
			require.ErrorAs(t, p.c.Open(), &se)
			require.Equal(t, psrp.RunspacePoolOpened, se.State)
		})
	}
}

func TestPairPipelineStreams(t *testing.T) {
	t.Parallel()
	for _, sz := range chunkSizes {
		t.Run(sz.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, sz.max, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
			p.open()
			cp, sp := p.invoke(psrp.Script("Get-Thing").Param("Name", "x"), psrp.PipelineOptions{NoInput: true})
			require.Equal(t, "Get-Thing", sp.Commands()[0][0].Cmd)
			require.True(t, sp.NoInput())

			errRec := &clixml.ErrorRecord{Exception: clixml.ExceptionInfo{Message: "boom"}, FullyQualifiedErrorID: "Boom,Test"}
			require.NoError(t, sp.WriteOutput("hello"))
			require.NoError(t, sp.WriteOutput(int32(42)))
			require.NoError(t, sp.WriteError(errRec))
			require.NoError(t, sp.WriteDebug("dbg"))
			require.NoError(t, sp.WriteVerbose("vrb"))
			require.NoError(t, sp.WriteWarning("wrn"))
			require.NoError(t, sp.WriteProgress(clixml.ProgressRecord{Activity: "act", StatusDescription: "st", PercentComplete: 50, SecondsRemaining: -1, ParentActivityID: -1}))
			require.NoError(t, sp.WriteInformation(clixml.InformationRecord{MessageData: "info", Source: "src"}))
			require.NoError(t, sp.Fail(&clixml.ErrorRecord{Exception: clixml.ExceptionInfo{Message: "fatal"}, FullyQualifiedErrorID: "Fatal"}))
			p.pump()

			evs := p.clientEvents()
			require.Len(t, evs, 9)
			id := cp.ID()
			require.Equal(t, psrp.PipelineOutputEvent{PipelineID: id, Value: "hello"}, evs[0])
			require.Equal(t, psrp.PipelineOutputEvent{PipelineID: id, Value: int32(42)}, evs[1])
			ee := evs[2].(psrp.PipelineErrorEvent)
			require.Equal(t, "boom", ee.Record.Exception.Message)
			require.Equal(t, "Boom,Test", ee.Record.FullyQualifiedErrorID)
			require.Equal(t, "dbg", evs[3].(psrp.PipelineDebugEvent).Record.Message)
			require.Equal(t, "vrb", evs[4].(psrp.PipelineVerboseEvent).Record.Message)
			require.Equal(t, "wrn", evs[5].(psrp.PipelineWarningEvent).Record.Message)
			pr := evs[6].(psrp.PipelineProgressEvent)
			require.Equal(t, "act", pr.Record.Activity)
			require.Equal(t, int32(50), pr.Record.PercentComplete)
			require.Equal(t, "info", evs[7].(psrp.PipelineInformationEvent).Record.MessageData)
			st := evs[8].(psrp.PipelineStateChanged)
			require.Equal(t, psrp.PipelineFailed, st.State)
			require.Equal(t, psrp.PipelineRunning, st.Previous)
			require.NotNil(t, st.Err)
			require.Equal(t, "fatal", st.Err.Exception.Message)
			require.Equal(t, psrp.PipelineFailed, cp.State())

			// Writing after the end is a state error on the server.
			var se *psrp.StateError
			require.ErrorAs(t, sp.WriteOutput("late"), &se)
			// A finished pipeline can be closed; later data for it is a
			// protocol error.
			require.NoError(t, cp.Close())
			require.Nil(t, p.c.Pipeline(id))
		})
	}
}

func TestPairPipelineInput(t *testing.T) {
	t.Parallel()
	for _, sz := range chunkSizes {
		t.Run(sz.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, sz.max, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
			p.open()
			cp, sp := p.invoke(psrp.Script("$input | % { $_ * 2 }"), psrp.PipelineOptions{})
			require.False(t, sp.NoInput())
			require.NoError(t, cp.Send(int32(1)))
			require.NoError(t, cp.Send("two"))
			require.NoError(t, cp.CloseInput())
			p.pump()
			sev := p.serverEvents()
			require.Equal(t, []psrp.ServerEvent{
				psrp.PipelineInputReceived{Pipeline: sp, Value: int32(1)},
				psrp.PipelineInputReceived{Pipeline: sp, Value: "two"},
				psrp.PipelineInputEnded{Pipeline: sp},
			}, sev)
			require.True(t, sp.InputClosed())
			require.Error(t, cp.Send(int32(3)), "input after CloseInput")
			require.NoError(t, sp.WriteOutput(int32(2)))
			require.NoError(t, sp.Complete())
			p.pump()
			evs := p.clientEvents()
			require.Equal(t, []psrp.Event{
				psrp.PipelineOutputEvent{PipelineID: cp.ID(), Value: int32(2)},
				psrp.PipelineStateChanged{PipelineID: cp.ID(), State: psrp.PipelineCompleted, Previous: psrp.PipelineRunning},
			}, evs)
		})
	}
}

func TestPairHostCalls(t *testing.T) {
	t.Parallel()
	for _, sz := range chunkSizes {
		t.Run(sz.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, sz.max, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
			p.open()
			// Pool host call.
			ci, err := p.s.HostCall(psrp.HostGetName)
			require.NoError(t, err)
			p.pump()
			evs := p.clientEvents()
			require.Len(t, evs, 1)
			hc := evs[0].(psrp.PoolHostCallEvent)
			require.Equal(t, ci, hc.CallID)
			require.Equal(t, psrp.HostGetName, hc.Method)
			require.Empty(t, hc.Params)
			require.NoError(t, p.c.HostResponse(ci, "gohost", nil))
			require.ErrorIs(t, p.c.HostResponse(ci, "again", nil), psrp.ErrUnknownCallID)
			p.pump()
			require.Equal(t, []psrp.ServerEvent{psrp.HostResponseReceived{CallID: ci, Method: psrp.HostGetName, Result: "gohost"}}, p.serverEvents())

			// Pipeline host call, answered on the prompt-response stream.
			cp, sp := p.invoke(psrp.Script("Read-Host"), psrp.PipelineOptions{NoInput: true})
			ci2, err := sp.HostCall(psrp.HostReadLine, "prompt")
			require.NoError(t, err)
			p.pump()
			evs = p.clientEvents()
			require.Equal(t, []psrp.Event{psrp.PipelineHostCallEvent{PipelineID: cp.ID(), CallID: ci2, Method: psrp.HostReadLine, Params: []any{"prompt"}}}, evs)
			require.NoError(t, cp.HostResponse(ci2, "typed", nil))
			pl, ok := p.c.DataToSend(p.max)
			require.True(t, ok)
			require.Equal(t, psrp.StreamPromptResponse, pl.Stream)
			require.Equal(t, "pr", pl.Stream.Name())
			require.Equal(t, cp.ID(), pl.PipelineID)
			require.NoError(t, p.s.Receive(pl.Data, pl.Stream, pl.PipelineID))
			p.pump()
			require.Equal(t, []psrp.ServerEvent{psrp.HostResponseReceived{Pipeline: sp, CallID: ci2, Method: psrp.HostReadLine, Result: "typed"}}, p.serverEvents())

			// An error answer.
			ci3, err := sp.HostCall(psrp.HostReadLine)
			require.NoError(t, err)
			p.pump()
			p.clientEvents()
			rec := &clixml.ErrorRecord{Exception: clixml.ExceptionInfo{Message: "no console"}, FullyQualifiedErrorID: "NoConsole"}
			require.NoError(t, cp.HostResponse(ci3, nil, rec))
			p.pump()
			sev := p.serverEvents()
			require.Len(t, sev, 1)
			hr := sev[0].(psrp.HostResponseReceived)
			require.NotNil(t, hr.Err)
			require.Equal(t, "no console", hr.Err.Exception.Message)
		})
	}
}

// Void host methods (Write-Host's WriteLine...) carry call ID -100, as
// Windows sends them, and take no response.
func TestPairVoidHostCall(t *testing.T) {
	t.Parallel()
	p := newPair(t, 1<<16, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	cp, sp := p.invoke(psrp.Script("Write-Host hi"), psrp.PipelineOptions{NoInput: true})
	ci, err := sp.HostCall(psrp.HostWriteLine2, "hi")
	require.NoError(t, err)
	require.Equal(t, psrp.VoidCallID, ci)
	p.pump()
	require.Equal(t, []psrp.Event{psrp.PipelineHostCallEvent{PipelineID: cp.ID(), CallID: psrp.VoidCallID, Method: psrp.HostWriteLine2, Params: []any{"hi"}}}, p.clientEvents())
	require.ErrorIs(t, cp.HostResponse(psrp.VoidCallID, nil, nil), psrp.ErrUnknownCallID)
	require.True(t, psrp.HostWriteLine2.IsVoid())
	require.False(t, psrp.HostReadLine.IsVoid())
}

func TestPairStop(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	cp, sp := p.invoke(psrp.Script("Start-Sleep 100"), psrp.PipelineOptions{NoInput: true})
	require.NoError(t, cp.BeginStop())
	require.Equal(t, psrp.PipelineStopping, cp.State())
	// The transport signals the server, which stops the pipeline.
	require.NoError(t, sp.Stopping())
	require.NoError(t, sp.Stopped())
	p.pump()
	evs := p.clientEvents()
	require.Len(t, evs, 2)
	require.Equal(t, psrp.PipelineStateChanged{PipelineID: cp.ID(), State: psrp.PipelineStopping, Previous: psrp.PipelineRunning}, evs[0])
	st := evs[1].(psrp.PipelineStateChanged)
	require.Equal(t, psrp.PipelineStopped, st.State)
	require.NotNil(t, st.Err)
	require.Equal(t, "PipelineStopped", st.Err.FullyQualifiedErrorID)
	var se *psrp.StateError
	require.ErrorAs(t, cp.BeginStop(), &se)
}

func TestPairRunspaceRequests(t *testing.T) {
	t.Parallel()
	p := newPair(t, tinyChunk, psrp.ClientPoolConfig{MaxRunspaces: 2}, psrp.ServerPoolConfig{})
	p.open()
	ci1, err := p.c.SetMaxRunspaces(5)
	require.NoError(t, err)
	ci2, err := p.c.SetMinRunspaces(2)
	require.NoError(t, err)
	ci3, err := p.c.SetMinRunspaces(9) // above the maximum: refused
	require.NoError(t, err)
	ci4, err := p.c.GetAvailableRunspaces()
	require.NoError(t, err)
	ci5, err := p.c.ResetRunspaceState()
	require.NoError(t, err)
	p.pump()
	require.Equal(t, []psrp.Event{
		psrp.RunspaceAvailabilityEvent{CallID: ci1, Request: psrp.RequestSetMaxRunspaces, Success: true},
		psrp.RunspaceAvailabilityEvent{CallID: ci2, Request: psrp.RequestSetMinRunspaces, Success: true},
		psrp.RunspaceAvailabilityEvent{CallID: ci3, Request: psrp.RequestSetMinRunspaces, Success: false},
		psrp.RunspaceAvailabilityEvent{CallID: ci4, Request: psrp.RequestGetAvailableRunspaces, Available: 5},
		psrp.RunspaceAvailabilityEvent{CallID: ci5, Request: psrp.RequestResetRunspaceState, Success: true},
	}, p.clientEvents())
	require.Equal(t, int32(5), p.c.MaxRunspaces())
	require.Equal(t, int32(2), p.c.MinRunspaces())
	require.Equal(t, int32(5), p.s.MaxRunspaces())
	require.Equal(t, int32(2), p.s.MinRunspaces())
	require.Len(t, p.serverEvents(), 5)
}

func TestResetRunspaceStateNeedsProtocol23(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{ProtocolVersion: clixml.Version{Major: 2, Minor: 2, Build: -1, Revision: -1}})
	p.open()
	require.Equal(t, int32(2), p.c.ProtocolVersion().Minor)
	_, err := p.c.ResetRunspaceState()
	require.ErrorIs(t, err, psrp.ErrProtocolVersion)
	_, ok := p.c.DataToSend(bigChunk)
	require.False(t, ok, "nothing may be queued after a refusal")
}

func TestPairKeyExchangeSecureString(t *testing.T) {
	t.Parallel()
	for _, sz := range chunkSizes {
		t.Run(sz.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, sz.max, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
			p.open()
			cp, err := p.c.NewPipeline(psrp.Cmd("Set-Secret").Param("Secret", clixml.NewSecureString("hunter2")), psrp.PipelineOptions{NoInput: true})
			require.NoError(t, err)
			require.NoError(t, cp.Invoke())
			// Only PUBLIC_KEY may go out until the session key arrives.
			pl, ok := p.c.DataToSend(bigChunk)
			require.True(t, ok)
			require.Equal(t, uuid.Nil, pl.PipelineID)
			_, ok = p.c.DataToSend(bigChunk)
			require.False(t, ok, "CREATE_PIPELINE must wait for the session key")
			require.NoError(t, p.s.Receive(pl.Data, pl.Stream, pl.PipelineID))
			p.pump()
			evs := p.clientEvents()
			require.Contains(t, evs, psrp.Event(psrp.SessionKeyReceived{}))
			sev := p.serverEvents()
			require.Equal(t, psrp.ServerEvent(psrp.SessionKeyExchanged{}), sev[0])
			pc := sev[1].(psrp.PipelineCreated)
			arg := pc.Pipeline.Commands()[0][0].Args[0]
			require.Equal(t, "Secret", arg.Name)
			ss, ok := arg.Value.(clixml.SecureString)
			require.True(t, ok, "got %T", arg.Value)
			require.True(t, ss.Decrypted)
			require.Equal(t, "hunter2", string(ss.Plaintext))

			// A second SecureString needs no new exchange.
			cp2, err := p.c.NewPipeline(psrp.Cmd("Set-Secret").Param("Secret", clixml.NewSecureString("x")), psrp.PipelineOptions{NoInput: true})
			require.NoError(t, err)
			require.NoError(t, cp2.Invoke())
			pl, ok = p.c.DataToSend(bigChunk)
			require.True(t, ok)
			require.Equal(t, cp2.ID(), pl.PipelineID)
		})
	}
}

func TestPairServerRequestsPublicKey(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	require.NoError(t, p.s.RequestPublicKey())
	p.pump()
	require.Equal(t, []psrp.Event{psrp.PublicKeyRequested{}, psrp.SessionKeyReceived{}}, p.clientEvents())
	require.Equal(t, []psrp.ServerEvent{psrp.SessionKeyExchanged{}}, p.serverEvents())
	// The key is known: ExchangeKey queues nothing.
	require.NoError(t, p.c.ExchangeKey())
	_, ok := p.c.DataToSend(bigChunk)
	require.False(t, ok)
}

func TestPairConnectSecondClient(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{MaxRunspaces: 4}, psrp.ServerPoolConfig{})
	p.open()
	cp, sp := p.invoke(psrp.Script("long"), psrp.PipelineOptions{NoInput: true})
	require.NoError(t, p.c.Disconnected())
	require.Equal(t, psrp.RunspacePoolDisconnected, p.c.State())
	require.Equal(t, psrp.PipelineDisconnected, cp.State())
	require.NoError(t, p.s.Disconnected())

	c2 := psrp.NewClientPool(psrp.ClientPoolConfig{ID: p.c.ID()})
	require.NoError(t, c2.Connect())
	require.Equal(t, psrp.RunspacePoolConnecting, c2.State())
	pl, ok := c2.DataToSend(bigChunk)
	require.True(t, ok)
	require.NoError(t, p.s.Receive(pl.Data, pl.Stream, pl.PipelineID))
	resp, ok := p.s.ConnectResponse(bigChunk)
	require.True(t, ok)
	require.NoError(t, c2.Receive(resp))
	require.Equal(t, psrp.RunspacePoolOpened, c2.State())
	require.Equal(t, int32(4), c2.MaxRunspaces())
	_, ok = p.s.NextEvent()
	require.True(t, ok)

	// The second client picks up the running pipeline's output.
	cp2, err := c2.ConnectPipeline(cp.ID())
	require.NoError(t, err)
	require.NoError(t, sp.WriteOutput("after reconnect"))
	require.NoError(t, sp.Complete())
	for {
		out, ok := p.s.DataToSend(bigChunk)
		if !ok {
			break
		}
		require.NoError(t, c2.Receive(out.Data))
	}
	var got []psrp.Event
	for {
		ev, ok := c2.NextEvent()
		if !ok {
			break
		}
		got = append(got, ev)
	}
	require.Contains(t, got, psrp.Event(psrp.PipelineOutputEvent{PipelineID: cp2.ID(), Value: "after reconnect"}))
	require.Equal(t, psrp.PipelineCompleted, cp2.State())
}

func TestPairBroken(t *testing.T) {
	t.Parallel()
	t.Run("server", func(t *testing.T) {
		t.Parallel()
		p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
		p.open()
		rec := &clixml.ErrorRecord{Exception: clixml.ExceptionInfo{Message: "host going down"}, FullyQualifiedErrorID: "Shutdown"}
		require.NoError(t, p.s.Broken(rec))
		p.pump()
		evs := p.clientEvents()
		require.Len(t, evs, 1)
		st := evs[0].(psrp.PoolStateChanged)
		require.Equal(t, psrp.RunspacePoolBroken, st.State)
		require.Equal(t, "host going down", st.Err.Exception.Message)
		var se *psrp.StateError
		_, err := p.c.NewPipeline(psrp.Script("x"), psrp.PipelineOptions{})
		require.ErrorAs(t, err, &se)
	})
	t.Run("transport", func(t *testing.T) {
		t.Parallel()
		p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
		p.open()
		cp, _ := p.invoke(psrp.Script("x"), psrp.PipelineOptions{NoInput: true})
		cause := errors.New("connection reset")
		p.c.Broken(cause)
		evs := p.clientEvents()
		require.Equal(t, []psrp.Event{
			psrp.PipelineStateChanged{PipelineID: cp.ID(), State: psrp.PipelineFailed, Previous: psrp.PipelineRunning, Cause: cause},
			psrp.PoolStateChanged{State: psrp.RunspacePoolBroken, Previous: psrp.RunspacePoolOpened, Cause: cause},
		}, evs)
	})
}

func TestStateErrors(t *testing.T) {
	t.Parallel()
	c := psrp.NewClientPool(psrp.ClientPoolConfig{})
	var se *psrp.StateError
	_, err := c.NewPipeline(psrp.Script("x"), psrp.PipelineOptions{})
	require.ErrorAs(t, err, &se)
	require.Equal(t, psrp.RunspacePoolBeforeOpen, se.State)
	require.Contains(t, err.Error(), "psrp: cannot create a pipeline in state BeforeOpen (want Opened)")
	_, err = c.SetMaxRunspaces(2)
	require.ErrorAs(t, err, &se)
	require.ErrorAs(t, c.ExchangeKey(), &se)
	require.ErrorAs(t, c.Reconnected(), &se)
	require.ErrorAs(t, c.Disconnected(), &se)
	require.NoError(t, c.Open())
	require.ErrorAs(t, c.Connect(), &se)
}

func TestReceiveErrorsKeepOtherMessages(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	cp, sp := p.invoke(psrp.Script("x"), psrp.PipelineOptions{NoInput: true})
	require.NoError(t, sp.WriteOutput("before"))
	pl, ok := p.s.DataToSend(bigChunk)
	require.True(t, ok)

	// Append a message for a pipeline the client never created, and one of
	// a type MS-PSRP does not define, behind a real one.
	stray := psrp.Message{Destination: psrp.DestinationClient, Type: psrp.MessagePipelineOutput, RunspacePoolID: p.c.ID(), PipelineID: uuid.New(), Data: []byte("<S>lost</S>")}
	unknown := psrp.Message{Destination: psrp.DestinationClient, Type: psrp.MessageType(0x00099999), RunspacePoolID: p.c.ID(), Data: []byte("<S />")}
	data := pl.Data
	data = psrp.Fragment{ObjectID: 1000, Start: true, End: true, Data: stray.Append(nil)}.Append(data)
	data = psrp.Fragment{ObjectID: 1001, Start: true, End: true, Data: unknown.Append(nil)}.Append(data)
	good := psrp.Message{Destination: psrp.DestinationClient, Type: psrp.MessagePipelineOutput, RunspacePoolID: p.c.ID(), PipelineID: cp.ID(), Data: []byte("<S>after</S>")}
	data = psrp.Fragment{ObjectID: 1002, Start: true, End: true, Data: good.Append(nil)}.Append(data)

	err := p.c.Receive(data)
	var pe *psrp.ProtocolError
	require.ErrorAs(t, err, &pe)
	require.Contains(t, err.Error(), "unknown pipeline")
	var ue *psrp.UnknownMessageError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, psrp.MessageType(0x00099999), ue.Type)
	require.Equal(t, []psrp.Event{
		psrp.PipelineOutputEvent{PipelineID: cp.ID(), Value: "before"},
		psrp.PipelineOutputEvent{PipelineID: cp.ID(), Value: "after"},
	}, p.clientEvents())
}

func TestProtocolVersionAdaptation(t *testing.T) {
	t.Parallel()
	t.Run("2.2 has no MergeInformation", func(t *testing.T) {
		t.Parallel()
		p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{ProtocolVersion: clixml.Version{Major: 2, Minor: 2, Build: -1, Revision: -1}})
		p.open()
		ps := psrp.Script("x").MergeAll()
		require.Equal(t, psrp.PipelineResultTypes(1), ps.Statements[0][0].MergeInformation)
		cp, err := p.c.NewPipeline(ps, psrp.PipelineOptions{NoInput: true})
		require.NoError(t, err)
		require.NoError(t, cp.Invoke())
		pl, ok := p.c.DataToSend(bigChunk)
		require.True(t, ok)
		require.NotContains(t, string(pl.Data), "MergeInformation")
		require.Contains(t, string(pl.Data), "MergeWarning")
	})
	t.Run("2.3 has MergeInformation", func(t *testing.T) {
		t.Parallel()
		p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
		p.open()
		cp, err := p.c.NewPipeline(psrp.Script("x"), psrp.PipelineOptions{NoInput: true})
		require.NoError(t, err)
		require.NoError(t, cp.Invoke())
		pl, ok := p.c.DataToSend(bigChunk)
		require.True(t, ok)
		require.Contains(t, string(pl.Data), "MergeInformation")
	})
	t.Run("2.4 on both sides skips the key exchange", func(t *testing.T) {
		t.Parallel()
		v24 := clixml.Version{Major: 2, Minor: 4, Build: -1, Revision: -1}
		p := newPair(t, bigChunk, psrp.ClientPoolConfig{ProtocolVersion: v24}, psrp.ServerPoolConfig{ProtocolVersion: v24})
		p.open()
		cp, err := p.c.NewPipeline(psrp.Cmd("Set-Secret").Param("S", clixml.NewSecureString("pw")), psrp.PipelineOptions{NoInput: true})
		require.NoError(t, err)
		require.NoError(t, cp.Invoke())
		pl, ok := p.c.DataToSend(bigChunk)
		require.True(t, ok)
		require.Equal(t, cp.ID(), pl.PipelineID, "CREATE_PIPELINE goes first, no PUBLIC_KEY")
		require.NoError(t, p.s.Receive(pl.Data, pl.Stream, pl.PipelineID))
		ev, ok := p.s.NextEvent()
		require.True(t, ok)
		arg := ev.(psrp.PipelineCreated).Pipeline.Commands()[0][0].Args[0].Value.(clixml.SecureString)
		require.Equal(t, "pw", string(arg.Plaintext))
	})
	t.Run("2.4 server with 2.3 client still exchanges keys", func(t *testing.T) {
		t.Parallel()
		p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{ProtocolVersion: clixml.Version{Major: 2, Minor: 4, Build: -1, Revision: -1}})
		p.open()
		cp, err := p.c.NewPipeline(psrp.Cmd("Set-Secret").Param("S", clixml.NewSecureString("pw")), psrp.PipelineOptions{NoInput: true})
		require.NoError(t, err)
		require.NoError(t, cp.Invoke())
		pl, ok := p.c.DataToSend(bigChunk)
		require.True(t, ok)
		require.Equal(t, uuid.Nil, pl.PipelineID, "PUBLIC_KEY first")
	})
}
