package psrp_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
)

// AppendEvents hands over the same events, in the same order, as NextEvent,
// with outputs unboxed, and leaves the queue empty.
func TestAppendEventsMatchesNextEvent(t *testing.T) {
	t.Parallel()
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	p.open()
	cp, sp := p.invoke(psrp.Script("Get-Thing"), psrp.PipelineOptions{NoInput: true})
	id := cp.ID()
	require.NoError(t, sp.WriteOutput("a"))
	require.NoError(t, sp.WriteOutput(int32(1)))
	require.NoError(t, sp.WriteWarning("w"))
	require.NoError(t, sp.WriteOutput("b"))
	require.NoError(t, sp.Complete())
	p.pump()

	// One event taken the old way first: AppendEvents continues after it.
	first, ok := p.c.NextEvent()
	require.True(t, ok)
	require.Equal(t, psrp.PipelineOutputEvent{PipelineID: id, Value: "a"}, first)

	got := p.c.AppendEvents([]psrp.QueuedEvent{{Event: psrp.SessionKeyReceived{}}})
	require.Len(t, got, 5, "dst's own element kept, then the four events left")
	require.Equal(t, psrp.SessionKeyReceived{}, got[0].Event)
	got = got[1:]
	require.Nil(t, got[0].Event, "an output is not boxed")
	require.Equal(t, psrp.PipelineOutputEvent{PipelineID: id, Value: int32(1)}, got[0].Output)
	require.Equal(t, psrp.PipelineOutputEvent{PipelineID: id, Value: int32(1)}, got[0].Get())
	w, ok := got[1].Event.(psrp.PipelineWarningEvent)
	require.True(t, ok, "got %T", got[1].Event)
	require.Equal(t, "w", w.Record.Message)
	require.Equal(t, got[1].Event, got[1].Get())
	require.Equal(t, psrp.PipelineOutputEvent{PipelineID: id, Value: "b"}, got[2].Get())
	st, ok := got[3].Event.(psrp.PipelineStateChanged)
	require.True(t, ok, "got %T", got[3].Event)
	require.Equal(t, psrp.PipelineCompleted, st.State)

	_, ok = p.c.NextEvent()
	require.False(t, ok, "AppendEvents took everything")
	require.Empty(t, p.c.AppendEvents(nil))
}
