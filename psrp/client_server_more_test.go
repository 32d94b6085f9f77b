package psrp_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// objectIDs lists the ObjectIds of the fragments in one payload.
func objectIDs(t *testing.T, data []byte) []uint64 {
	t.Helper()
	var ids []uint64
	for len(data) > 0 {
		f, n, err := psrp.DecodeFragment(data)
		require.NoError(t, err)
		if len(ids) == 0 || ids[len(ids)-1] != f.ObjectID {
			ids = append(ids, f.ObjectID)
		}
		data = data[n:]
	}
	return ids
}

// The payload for the WS-Man Command's Arguments must hold only the
// CREATE_PIPELINE; input queued at once follows in separate payloads, and
// a CREATE_PIPELINE too big for one payload continues without Create.
func TestCreatePayloadIsAlone(t *testing.T) {
	t.Parallel()
	for _, sz := range chunkSizes {
		t.Run(sz.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, sz.max, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
			p.open()
			cp, err := p.c.NewPipeline(psrp.Script("$input"), psrp.PipelineOptions{})
			require.NoError(t, err)
			require.NoError(t, cp.Invoke())
			require.NoError(t, cp.Send("in"))
			require.NoError(t, cp.CloseInput())
			var payloads []psrp.Payload
			for {
				pl, ok := p.c.DataToSend(sz.max)
				if !ok {
					break
				}
				require.Equal(t, cp.ID(), pl.PipelineID)
				require.Equal(t, psrp.StreamDefault, pl.Stream)
				payloads = append(payloads, pl)
			}
			require.True(t, payloads[0].Create)
			createOID := objectIDs(t, payloads[0].Data)
			require.Len(t, createOID, 1, "the Command payload carries one message")
			sawInput := false
			for _, pl := range payloads[1:] {
				require.False(t, pl.Create)
				ids := objectIDs(t, pl.Data)
				if ids[0] != createOID[0] {
					sawInput = true
				} else {
					require.False(t, sawInput, "CREATE_PIPELINE continues before any input")
				}
			}
			require.True(t, sawInput)
			for _, pl := range payloads {
				require.NoError(t, p.s.Receive(pl.Data, pl.Stream, pl.PipelineID))
			}
			p.pump()
			sev := p.serverEvents()
			require.Len(t, sev, 3)
			require.IsType(t, psrp.PipelineCreated{}, sev[0])
			require.Equal(t, "in", sev[1].(psrp.PipelineInputReceived).Value)
			require.IsType(t, psrp.PipelineInputEnded{}, sev[2])
		})
	}
}

func TestPairGetCommandMetadata(t *testing.T) {
	t.Parallel()
	p := newPair(t, tinyChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	cp, err := p.c.GetCommandMetadata(psrp.GetCommandMetadata{Names: []string{"Get-*"}, CommandType: psrp.CommandTypes(8)})
	require.NoError(t, err)
	require.NoError(t, cp.Invoke())
	pl, ok := p.c.DataToSend(bigChunk)
	require.True(t, ok)
	require.True(t, pl.Create)
	require.Equal(t, cp.ID(), pl.PipelineID)
	require.NoError(t, p.s.Receive(pl.Data, pl.Stream, pl.PipelineID))
	p.pump()
	sev := p.serverEvents()
	require.Len(t, sev, 1)
	req := sev[0].(psrp.CommandMetadataRequested)
	require.Equal(t, []string{"Get-*"}, req.Request.Names)
	require.Nil(t, req.Pipeline.Commands())
	require.NotNil(t, req.Pipeline.CommandMetadataRequest())
	require.NoError(t, req.Pipeline.WriteOutput(int32(1)))
	require.NoError(t, req.Pipeline.WriteOutput("Get-Thing"))
	require.NoError(t, req.Pipeline.Complete())
	p.pump()
	evs := p.clientEvents()
	require.Equal(t, []psrp.Event{
		psrp.PipelineStateChanged{PipelineID: cp.ID(), State: psrp.PipelineRunning, Previous: psrp.PipelineNotStarted},
		psrp.PipelineOutputEvent{PipelineID: cp.ID(), Value: int32(1)},
		psrp.PipelineOutputEvent{PipelineID: cp.ID(), Value: "Get-Thing"},
		psrp.PipelineStateChanged{PipelineID: cp.ID(), State: psrp.PipelineCompleted, Previous: psrp.PipelineRunning},
	}, evs)
}

func TestPairDisconnectReconnectClose(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	cp, sp := p.invoke(psrp.Script("x"), psrp.PipelineOptions{NoInput: true})
	require.NoError(t, p.c.Disconnected())
	require.NoError(t, p.s.Disconnected())
	var se *psrp.StateError
	require.ErrorAs(t, cp.Send("x"), &se, "no input while disconnected")
	require.NoError(t, p.c.Reconnected())
	require.NoError(t, p.s.Reconnected())
	require.Equal(t, []psrp.Event{
		psrp.PipelineStateChanged{PipelineID: cp.ID(), State: psrp.PipelineDisconnected, Previous: psrp.PipelineRunning},
		psrp.PoolStateChanged{State: psrp.RunspacePoolDisconnected, Previous: psrp.RunspacePoolOpened},
		psrp.PoolStateChanged{State: psrp.RunspacePoolOpened, Previous: psrp.RunspacePoolDisconnected},
		psrp.PipelineStateChanged{PipelineID: cp.ID(), State: psrp.PipelineRunning, Previous: psrp.PipelineDisconnected},
	}, p.clientEvents())
	require.NoError(t, sp.Complete())
	p.pump()
	require.Equal(t, psrp.PipelineCompleted, cp.State())
	p.clientEvents()

	require.NoError(t, p.c.Close())
	require.Equal(t, psrp.RunspacePoolClosing, p.c.State())
	require.NoError(t, p.s.Close())
	p.pump()
	p.c.Closed()
	require.Equal(t, psrp.RunspacePoolClosed, p.c.State())
	require.Equal(t, []psrp.Event{
		psrp.PoolStateChanged{State: psrp.RunspacePoolClosing, Previous: psrp.RunspacePoolOpened},
		psrp.PoolStateChanged{State: psrp.RunspacePoolClosed, Previous: psrp.RunspacePoolClosing},
	}, p.clientEvents())
	require.NoError(t, p.c.Close(), "closing twice is harmless")
}

func TestDisconnectNeedsProtocol22(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{ProtocolVersion: clixml.Version{Major: 2, Minor: 1, Build: -1, Revision: -1}})
	p.open()
	require.ErrorIs(t, p.c.Disconnected(), psrp.ErrProtocolVersion)
	require.False(t, psrp.VersionSupportsConnect(p.c.ProtocolVersion()))
	require.Equal(t, psrp.RunspacePoolOpened, p.c.State())
}

func TestPairUserEvent(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	rid := uuid.New()
	require.NoError(t, p.s.SendUserEvent(psrp.UserEvent{EventID: 7, SourceID: "Timer", ComputerName: "win01", RunspaceID: rid, MessageData: "tick"}))
	p.pump()
	evs := p.clientEvents()
	require.Len(t, evs, 1)
	ue := evs[0].(psrp.UserEventReceived).Event
	require.Equal(t, int32(7), ue.EventID)
	require.Equal(t, "Timer", ue.SourceID)
	require.Equal(t, rid, ue.RunspaceID)
	require.Equal(t, "tick", ue.MessageData)
}

func TestPipelineStateErrors(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	cp, err := p.c.NewPipeline(psrp.Script("x"), psrp.PipelineOptions{})
	require.NoError(t, err)
	var se *psrp.StateError
	require.ErrorAs(t, cp.Send(1), &se)
	require.Equal(t, psrp.PipelineNotStarted, se.State)
	require.ErrorAs(t, cp.CloseInput(), &se)
	require.ErrorAs(t, cp.BeginStop(), &se)
	require.NoError(t, cp.Invoke())
	require.ErrorAs(t, cp.Invoke(), &se, "invoke twice")
	require.ErrorIs(t, cp.HostResponse(99, nil, nil), psrp.ErrUnknownCallID)
	_, err = p.c.NewPipeline(&psrp.PowerShell{}, psrp.PipelineOptions{})
	require.Error(t, err, "a pipeline without commands")
	_, err = p.c.NewPipeline(psrp.Script("y"), psrp.PipelineOptions{ID: cp.ID()})
	require.Error(t, err, "duplicate pipeline ID")
	// Closing works in any state (client_lifecycle_test.go); afterwards
	// the pipeline refuses everything.
	require.NoError(t, cp.Close())
	require.ErrorIs(t, cp.Send(1), psrp.ErrPipelineClosed)
}

func TestBuilder(t *testing.T) {
	t.Parallel()
	ps := psrp.Cmd("Get-Service").Param("Name", "WinRM").Switch("Force").
		AddCommand("Select-Object").Arg("Status").UseLocalScope(true).
		AddStatement().AddScript("Write-Output 1").MergeErrorToOutput()
	require.Len(t, ps.Statements, 2)
	first := ps.Statements[0]
	require.Len(t, first, 2)
	require.Equal(t, psrp.Command{Cmd: "Get-Service", Args: []psrp.Argument{{Name: "Name", Value: "WinRM"}, {Name: "Force", Value: true}}}, first[0])
	require.Equal(t, "Select-Object", first[1].Cmd)
	require.Equal(t, []psrp.Argument{{Value: "Status"}}, first[1].Args)
	require.True(t, *first[1].UseLocalScope)
	second := ps.Statements[1][0]
	require.True(t, second.IsScript)
	require.Equal(t, psrp.PipelineResultOutput, second.MergeError)
	require.Equal(t, psrp.PipelineResultError, second.MergeMyResult)
	require.Equal(t, psrp.PipelineResultOutput, second.MergeToResult)
	require.Equal(t, psrp.PipelineResultNone, second.MergeWarning)

	// A zero builder never panics; what it builds is refused.
	var zero psrp.PowerShell
	require.Empty(t, zero.Param("x", 1).Arg(2).Statements)
	require.Len(t, new(psrp.PowerShell).AddCommand("Get-Date").Statements, 1)
	// AddStatement on an empty statement adds none; a trailing one is
	// refused when the pipeline is created.
	require.Len(t, psrp.Cmd("a").AddStatement().AddStatement().AddCommand("b").Statements, 2)
}

// Two statements travel as Cmds/ExtraCmds and arrive as two statements.
func TestPairMultipleStatements(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	ps := psrp.Cmd("Get-Date").AddStatement().AddCommand("Get-Host").AddCommand("Out-String")
	_, sp := p.invoke(ps, psrp.PipelineOptions{NoInput: true})
	cmds := sp.Commands()
	require.Len(t, cmds, 2)
	require.Equal(t, "Get-Date", cmds[0][0].Cmd)
	require.Equal(t, "Get-Host", cmds[1][0].Cmd)
	require.Equal(t, "Out-String", cmds[1][1].Cmd)
}

func TestPairReinvoke(t *testing.T) {
	t.Parallel()
	p := newPair(t, tinyChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	cp, sp := p.invoke(psrp.Script("1"), psrp.PipelineOptions{NoInput: true})
	var se *psrp.StateError
	require.ErrorAs(t, cp.Invoke(), &se, "still running")
	require.NoError(t, sp.WriteOutput(int32(1)))
	require.NoError(t, sp.Complete())
	p.pump()
	p.clientEvents()
	require.NoError(t, cp.Invoke())
	pl, ok := p.c.DataToSend(bigChunk)
	require.True(t, ok)
	require.True(t, pl.Create, "a re-invocation needs a new WS-Man Command")
	require.NoError(t, p.s.Receive(pl.Data, pl.Stream, pl.PipelineID))
	p.pump()
	sev := p.serverEvents()
	require.Len(t, sev, 1)
	sp2 := sev[0].(psrp.PipelineCreated).Pipeline
	require.NotSame(t, sp, sp2)
	require.Equal(t, cp.ID(), sp2.ID())
	require.NoError(t, sp2.Complete())
	p.pump()
	require.Equal(t, psrp.PipelineCompleted, cp.State())
}

// smClientMessage frames one client message as a single fragment.
func smClientMessage(t *testing.T, oid uint64, rpid, pid uuid.UUID, b psrp.Body) []byte {
	t.Helper()
	data, err := psrp.EncodeBody(b, clixml.MarshalOptions{})
	require.NoError(t, err)
	m := psrp.Message{Destination: psrp.DestinationServer, Type: b.MessageType(), RunspacePoolID: rpid, PipelineID: pid, Data: data}
	return psrp.Fragment{ObjectID: oid, Start: true, End: true, Data: m.Append(nil)}.Append(nil)
}

func TestServerProtocolErrors(t *testing.T) {
	t.Parallel()
	rpid := uuid.New()
	tests := []struct {
		name string
		body psrp.Body
		pid  uuid.UUID
		want string
	}{
		{"input for unknown pipeline", &psrp.PipelineInput{Value: "x"}, uuid.New(), "unknown pipeline"},
		{"second INIT_RUNSPACEPOOL", &psrp.InitRunspacePool{MinRunspaces: 1, MaxRunspaces: 1}, uuid.Nil, "INIT_RUNSPACEPOOL while the pool is Opened"},
		{"host response for unknown call", &psrp.RunspacePoolHostResponse{CallID: 77, Method: psrp.HostGetName}, uuid.Nil, "unknown call 77"},
		{"server message from a client", &psrp.PipelineOutput{Value: "x"}, uuid.Nil, "unexpected PIPELINE_OUTPUT"},
		{"CREATE_PIPELINE without ID", &psrp.CreatePipeline{PowerShell: *psrp.Script("x")}, uuid.Nil, "without a pipeline ID"},
		{"bad public key", &psrp.PublicKey{Key: []byte{1, 2, 3}}, uuid.Nil, "unusable PUBLIC_KEY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, bigChunk, psrp.ClientPoolConfig{ID: rpid}, psrp.ServerPoolConfig{})
			p.open()
			err := p.s.Receive(smClientMessage(t, 500, rpid, tc.pid, tc.body), psrp.StreamDefault, uuid.Nil)
			var pe *psrp.ProtocolError
			require.ErrorAs(t, err, &pe)
			require.Contains(t, err.Error(), tc.want)
			require.Equal(t, psrp.RunspacePoolOpened, p.s.State(), "a bad message does not break the pool")
		})
	}
	t.Run("before open", func(t *testing.T) {
		t.Parallel()
		s := psrp.NewServerPool(psrp.ServerPoolConfig{})
		err := s.Receive(smClientMessage(t, 1, rpid, uuid.New(), &psrp.CreatePipeline{PowerShell: *psrp.Script("x")}), psrp.StreamDefault, uuid.Nil)
		require.ErrorContains(t, err, "CREATE_PIPELINE while the pool is BeforeOpen")
		err = s.Receive(smClientMessage(t, 2, uuid.New(), uuid.Nil, &psrp.SetMaxRunspaces{Count: 2, CallID: 1}), psrp.StreamDefault, uuid.Nil)
		require.ErrorContains(t, err, "for runspace pool")
	})
}
