package session_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// TestNestedPipelineWhileOuterRuns: with every runspace busy, a nested
// pipeline still starts (it runs in the outer pipeline's runspace) and
// finishes while the outer one runs; a plain Start has to wait.
func TestNestedPipelineWhileOuterRuns(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	release := make(chan struct{})
	srv.Handle("Wait-Outer", func(ctx context.Context, c *sessiontest.Call) error {
		select {
		case <-release:
			return c.WriteOutput("outer done")
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	s := open(t, srv, session.WithRunspaces(1, 1))
	ctx := testContext(t)

	outer, err := s.StartScript(ctx, "Wait-Outer")
	require.NoError(t, err)
	defer func() { _ = outer.Close(ctx) }()

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = s.StartScript(short, "Get-Date")
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a plain pipeline waits for the busy runspace")

	res, err := s.Invoke(ctx, psrp.Cmd("Write-Output").Param("InputObject", "inner"), session.WithNested())
	require.NoError(t, err)
	assert.Equal(t, []any{"inner"}, res.Output)
	assert.Equal(t, psrp.PipelineRunning, outer.State(), "the outer pipeline is still running")

	close(release)
	out, err := outer.Wait()
	require.NoError(t, err)
	assert.Equal(t, []any{"outer done"}, out.Output)

	// The nested pipeline gave back no runspace it did not take: one
	// plain pipeline runs again, and a second waits.
	res, err = s.InvokeScript(ctx, "Get-Date")
	require.NoError(t, err)
	assert.Len(t, res.Output, 1)
	assert.Equal(t, 1, s.MaxRunspaces())
}

// nestingHost answers Read-Host by running a nested pipeline, as a host
// servicing a call of the pipeline it is in does.
type nestingHost struct {
	session.DefaultHost
	s *session.Session
}

func (h *nestingHost) ReadLine(ctx context.Context) (string, error) {
	res, err := h.s.Invoke(ctx, psrp.Cmd("Write-Output").Param("InputObject", "from nested"), session.WithNested())
	if err != nil {
		return "", err
	}
	if len(res.Output) != 1 {
		return "", fmt.Errorf("nested pipeline wrote %d objects", len(res.Output))
	}
	s, _ := res.Output[0].(string)
	return s, nil
}

// TestNestedPipelineFromHostCall: a host call of the outer pipeline is
// answered from a nested pipeline while the outer one waits for it.
func TestNestedPipelineFromHostCall(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Ask-Host", func(ctx context.Context, c *sessiontest.Call) error {
		line, err := c.ReadLine(ctx, "question")
		if err != nil {
			return err
		}
		return c.WriteOutput("answer: " + line)
	})
	h := &nestingHost{}
	s := open(t, srv, session.WithRunspaces(1, 1), session.WithHost(h))
	h.s = s

	res, err := s.InvokeScript(testContext(t), "Ask-Host")
	require.NoError(t, err)
	assert.Equal(t, []any{"answer: from nested"}, res.Output)
}

// TestNestedPipelineWithoutOuter: nothing runs to nest in.
func TestNestedPipelineWithoutOuter(t *testing.T) {
	t.Parallel()
	s := open(t, newServer(t))
	ctx := testContext(t)
	_, err := s.StartScript(ctx, "Get-Date", session.WithNested())
	require.ErrorIs(t, err, session.ErrNoOuterPipeline)

	// After a refused nested start, the session and its runspaces are
	// intact.
	res, err := s.InvokeScript(ctx, "Get-Date")
	require.NoError(t, err)
	assert.Len(t, res.Output, 1)

	// A closed session says so, not that nothing runs.
	require.NoError(t, s.Close(ctx))
	_, err = s.StartScript(ctx, "Get-Date", session.WithNested())
	assert.True(t, errors.Is(err, session.ErrClosed), "%v", err)
}
