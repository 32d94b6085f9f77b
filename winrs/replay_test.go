package winrs_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/replay"
	"github.com/gopsrp/gopsrp/internal/replay/winrsreplay"
	"github.com/gopsrp/gopsrp/wsman"
)

// TestReplayWinRSCaptures replays every recorded WinRS conversation
// (test_winrs_*) through the winrs client (winrsreplay.Replay): the shells
// and commands are derived from the recording, what the client sends is
// checked against what pypsrp sent (actions, selectors by routing, options,
// shell settings, command lines, stdin), and what Windows answered must
// come back (stdout, stderr, exit codes, faults as typed errors). Every
// recorded exchange must be requested, and every request must have a
// recorded counterpart.
func TestReplayWinRSCaptures(t *testing.T) {
	t.Parallel()
	dir, err := replay.CapturesDir()
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(dir, "test_winrs_*.yml"))
	require.NoError(t, err)
	require.Len(t, files, 12, "WinRS captures in %s", dir)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conv, err := replay.Load(f)
			require.NoError(t, err)
			srv := replay.NewServer(t, conv, replay.WithIdleReceive(5*time.Second))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			winrsreplay.Replay(ctx, t, conv, srv, wsman.NewClient(srv.URL, srv.Client()))
			for _, e := range srv.Unserved() {
				t.Errorf("recorded %s #%d (shell %d, command %d) was never requested", e.Action(), e.Index, e.Shell, e.Command)
			}
			for _, u := range srv.Unmatched() {
				t.Errorf("our client sent %s, which the recording has no counterpart for", u)
			}
			if t.Failed() {
				for _, l := range srv.Transcript() {
					t.Log(l)
				}
			} else {
				t.Logf("%s: replayed in full", name)
			}
		})
	}
}

// TestReplayWinRSShellByShell: winrsreplay.Shell drives one cmd shell of a
// conversation and nothing else, so that a caller can drive the shells in
// recorded Create order with other shells (PowerShell pools) between them.
// test_client_execute_cmd opens two cmd shells one after the other.
func TestReplayWinRSShellByShell(t *testing.T) {
	t.Parallel()
	dir, err := replay.CapturesDir()
	require.NoError(t, err)
	conv, err := replay.Load(filepath.Join(dir, "test_client_execute_cmd.yml"))
	require.NoError(t, err)
	srv := replay.NewServer(t, conv, replay.WithIdleReceive(5*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wsc := wsman.NewClient(srv.URL, srv.Client())

	winrsreplay.Replay(ctx, t, conv, srv, wsc, winrsreplay.Shell(0))
	left := srv.Unserved()
	require.NotEmpty(t, left, "the second shell is not driven yet")
	for _, e := range left {
		require.Equal(t, 1, e.Shell, "recorded %s #%d: only the second shell's exchanges are left", e.Action(), e.Index)
	}

	winrsreplay.Replay(ctx, t, conv, srv, wsc, winrsreplay.Shell(1))
	require.Empty(t, srv.Unserved())
	require.Empty(t, srv.Unmatched())
	for _, r := range srv.Received() {
		require.NotNil(t, r.Entry, "every request has its recorded answer")
	}
}
