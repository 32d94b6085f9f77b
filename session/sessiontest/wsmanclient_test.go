package sessiontest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/wsman"
)

// TestWSManClientInterop drives the endpoint with the project's own wsman
// client: every operation it offers must work, and every fault must map to
// the sentinel error a client relies on.
func TestWSManClientInterop(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, func(s *Server) { s.MaxShellsPerUser = 1 })
	ctx := context.Background()
	c := wsman.NewClient(s.URL, s.Client())
	c.OperationTimeout = 5 * time.Second

	kb, err := c.MaxEnvelopeSizeKB(ctx)
	require.NoError(t, err)
	assert.Equal(t, 500, kb)

	id := strings.ToUpper(uuid.NewString())
	sh, err := c.Create(ctx, wsman.ShellOptions{ShellID: id, CreationXML: []byte("pool"), NoProfile: true})
	require.NoError(t, err)
	assert.Equal(t, id, sh.ID)
	ref := wsman.ShellRef{ID: sh.ID}

	res, err := c.Receive(ctx, ref, "", wsman.ReceiveOptions{KeepAlive: true})
	require.NoError(t, err)
	require.Len(t, res.Streams, 1)
	assert.Equal(t, "opened:pool", string(res.Streams[0].Data))

	_, err = c.Receive(ctx, ref, "", wsman.ReceiveOptions{OperationTimeout: 100 * time.Millisecond})
	assert.ErrorIs(t, err, wsman.ErrOperationTimeout)
	assert.ErrorIs(t, err, wsman.ErrOperationTimeout)

	cmd := strings.ToUpper(uuid.NewString())
	got, err := c.Command(ctx, ref, cmd, []byte("args"))
	require.NoError(t, err)
	assert.Equal(t, cmd, got)
	require.NoError(t, c.Send(ctx, ref, cmd, "stdin", []byte("in"), false))
	res, err = c.Receive(ctx, ref, cmd, wsman.ReceiveOptions{})
	require.NoError(t, err)
	require.NotNil(t, res.CommandState)
	assert.Len(t, res.Streams, 2)
	require.NoError(t, c.Signal(ctx, ref, cmd, wsman.SignalTerminate))

	_, err = c.Create(ctx, wsman.ShellOptions{CreationXML: []byte("x")})
	assert.ErrorIs(t, err, wsman.ErrQuotaExceeded)

	require.NoError(t, c.Disconnect(ctx, ref, wsman.DisconnectOptions{}))
	info, err := c.GetShell(ctx, sh.ID)
	require.NoError(t, err)
	assert.Equal(t, "Disconnected", info.State)
	require.NoError(t, c.Reconnect(ctx, ref))
	shells, err := c.EnumerateShells(ctx, wsman.ResourceShell)
	require.NoError(t, err)
	require.Len(t, shells, 1)
	assert.Equal(t, "Connected", shells[0].State)

	require.NoError(t, c.Delete(ctx, ref))
	_, err = c.Receive(ctx, ref, "", wsman.ReceiveOptions{})
	assert.ErrorIs(t, err, wsman.ErrShellNotFound)
	_, err = c.GetShell(ctx, sh.ID)
	assert.ErrorIs(t, err, wsman.ErrShellNotFound)

	denied := NewUnstartedServer()
	denied.Disabled = true
	denied.Start()
	defer denied.Close()
	_, err = wsman.NewClient(denied.URL, denied.Client()).Create(ctx, wsman.ShellOptions{CreationXML: []byte("x")})
	assert.ErrorIs(t, err, wsman.ErrAccessDenied)
	var f *wsman.Fault
	require.ErrorAs(t, err, &f)
	assert.Contains(t, f.Message, "remoting is disabled")
}
