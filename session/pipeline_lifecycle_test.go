package session_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/wsman"
)

// TestFailureBeforeInputWinsOverSendFault: a handler that fails without
// reading its input ends the command while the client is still sending
// input. The Send then faults (w:InvalidSelectors: the command is gone),
// but the pipeline's own outcome, the Failed state the Receive delivers,
// is what Invoke reports, and the session stays usable. Before the fix the
// transport fault won about one run in three under -race, and broke the
// session.
func TestFailureBeforeInputWinsOverSendFault(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Test-Refuse", func(ctx context.Context, c *sessiontest.Call) error {
		return &sessiontest.TerminatingError{Record: sessiontest.NewErrorRecord("refused", "Refused", sessiontest.CategoryInvalidOperation)}
	})
	s := open(t, srv)
	ctx := testContext(t)
	for i := range 20 {
		_, err := s.InvokeScript(ctx, "Test-Refuse", session.WithInput(func(yield func(any) bool) {
			for v := range 300 {
				if !yield(int32(v)) {
					return
				}
			}
		}))
		var pe *session.PipelineError
		if !errors.As(err, &pe) || pe.State != psrp.PipelineFailed {
			t.Fatalf("run %d: err = %v (%T), want *PipelineError Failed", i, err, err)
		}
		if got := s.State(); got != session.StateOpened {
			t.Fatalf("run %d: session state %v, want Opened", i, got)
		}
	}
	res, err := s.InvokeScript(ctx, "Write-Output still-here")
	if err != nil || !slices.Equal(res.Output, []any{"still-here"}) {
		t.Fatalf("Invoke after the failures: %v, %v", res, err)
	}
}

// TestRecordsEarlyExitFreesRunspace: leaving a Records loop early stops the
// pipeline and frees its runspace before the loop statement returns, as
// leaving a database/sql Rows loop does. Before the fix the runspace stayed
// Busy and the next Invoke waited until its context ended.
func TestRecordsEarlyExitFreesRunspace(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	b := newBlocker()
	srv.Handle("Test-Block", b.handle)
	s := open(t, srv) // one runspace
	ctx := testContext(t)
	p, err := s.StartScript(ctx, "Test-Block")
	if err != nil {
		t.Fatal(err)
	}
	for rec, err := range p.Records() {
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := rec.(session.Output); !ok || o.Value != "started" {
			t.Fatalf("first record %#v", rec)
		}
		break
	}
	waitFor(t, b.cancelled, "the remote pipeline to be stopped")
	if a := s.Availability(); a != session.Available {
		t.Errorf("Availability after the early exit = %v, want Available", a)
	}
	next, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if res, err := s.InvokeScript(next, "Write-Output next"); err != nil || !slices.Equal(res.Output, []any{"next"}) {
		t.Fatalf("Invoke after the early exit: %v, %v", res, err)
	}
	res, err := p.Wait()
	if !errors.Is(err, session.ErrStopped) || res.State != psrp.PipelineStopped {
		t.Errorf("Wait after the early exit = %v, %v; want ErrStopped, Stopped", res.State, err)
	}
	if err := p.Close(ctx); err != nil {
		t.Errorf("Close after the early exit = %v, want nil", err)
	}
}

// TestPipelineClose: Close stops a running pipeline and frees its runspace,
// is idempotent, and leaves an ended pipeline's records to Wait.
func TestPipelineClose(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	b := newBlocker()
	srv.Handle("Test-Block", b.handle)
	s := open(t, srv)
	ctx := testContext(t)

	p, err := s.StartScript(ctx, "Test-Block")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, b.started, "the handler to start")
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Close returned before the pipeline ended")
	}
	if err := p.Close(ctx); err != nil {
		t.Errorf("second Close = %v", err)
	}
	res, err := p.Wait()
	if !errors.Is(err, session.ErrStopped) || !slices.Equal(res.Output, []any{"started"}) {
		t.Errorf("Wait after Close = %+v, %v; want the output and ErrStopped", res, err)
	}

	// Closing a pipeline that ended by itself changes nothing.
	p2, err := s.StartScript(ctx, "Write-Output done")
	if err != nil {
		t.Fatal(err)
	}
	<-p2.Done()
	if err := p2.Close(ctx); err != nil {
		t.Errorf("Close of an ended pipeline = %v", err)
	}
	if res, err := p2.Wait(); err != nil || !slices.Equal(res.Output, []any{"done"}) {
		t.Errorf("Wait after Close of an ended pipeline = %+v, %v", res, err)
	}
}

// TestWaitForRunspaceSaysSo: a Start that waits for a free runspace until
// its context ends says what it was waiting for.
func TestWaitForRunspaceSaysSo(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	b := newBlocker()
	srv.Handle("Test-Block", b.handle)
	s := open(t, srv)
	ctx := testContext(t)
	p, err := s.StartScript(ctx, "Test-Block")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = s.InvokeScript(short, "Write-Output x")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "free runspace") {
		t.Errorf("Invoke while the only runspace is busy = %v, want DeadlineExceeded saying it waited for a free runspace", err)
	}
}

// TestStateAfterCancel: a running pipeline reports Running; after its
// context is cancelled, Wait waits for the server to confirm the stop and
// returns an error matching both the context's error and ErrStopped, with
// the state Stopped, as exec.CommandContext reports a killed process.
func TestStateAfterCancel(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	b := newBlocker()
	srv.Handle("Test-Block", b.handle)
	s := open(t, srv)
	ctx, cancel := context.WithCancel(testContext(t))
	p, err := s.StartScript(ctx, "Test-Block")
	if err != nil {
		t.Fatal(err)
	}
	if st := p.State(); st != psrp.PipelineRunning {
		t.Errorf("State while running = %v, want Running", st)
	}
	waitFor(t, b.started, "the handler to start")
	cancel()
	res, err := p.Wait()
	if !errors.Is(err, context.Canceled) || !errors.Is(err, session.ErrStopped) {
		t.Errorf("Wait after cancel = %v, want context.Canceled and ErrStopped", err)
	}
	var pe *session.PipelineError
	if !errors.As(err, &pe) || pe.State != psrp.PipelineStopped {
		t.Errorf("Wait after cancel = %v, want a Stopped *PipelineError inside", err)
	}
	if res.State != psrp.PipelineStopped || p.State() != psrp.PipelineStopped {
		t.Errorf("state after cancel: Result %v, Pipeline %v; want Stopped", res.State, p.State())
	}
	if !slices.Equal(res.Output, []any{"started"}) {
		t.Errorf("output %v", res.Output)
	}
	waitFor(t, b.cancelled, "the remote pipeline to be stopped")
}

// A Send that fails while the command still runs (here: the server refuses
// the pipeline's input with a fault) ends the pipeline with that failure
// within the grace period instead of leaving it waiting for input for
// ever, and the session, whose shell is fine, stays usable.
func TestSendFailureOfARunningPipeline(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Read-All", func(ctx context.Context, c *sessiontest.Call) error {
		for {
			_, ok, err := c.NextInput(ctx)
			if err != nil || !ok {
				return err
			}
		}
	})
	h := newHostile(t, srv)
	s := openVia(t, h)
	h.add(&rule{match: func(r seenRequest) bool { return r.Action == "Send" && r.CommandID != "" }, answer: func(r seenRequest) (int, []byte) {
		return 500, soapEnvelope(wsman.NsAddressing+"/fault", r.MessageID,
			`<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:InternalError</s:Value></s:Subcode></s:Code>`+
				`<s:Reason><s:Text xml:lang="en-US">refused</s:Text></s:Reason></s:Fault>`)
	}})
	ctx := testContext(t)
	p, err := s.StartScript(ctx, "Read-All", session.WithOpenInput())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(ctx, "x"); err == nil || !strings.Contains(err.Error(), "send to pipeline") {
		t.Errorf("Send = %v, want the send failure", err)
	}
	var werr error
	within(t, 10*time.Second, "the pipeline to end", func() { _, werr = p.Wait() })
	if werr == nil || !strings.Contains(werr.Error(), "send to pipeline") {
		t.Errorf("Wait = %v, want the send failure", werr)
	}
	if st := s.State(); st != session.StateOpened {
		t.Errorf("session %v after a refused Send, want Opened", st)
	}
}
