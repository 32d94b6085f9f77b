package session_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/wsman"
)

func TestSetMaxRunspacesRaisesTheThrottle(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	b := newBlocker()
	srv.Handle("Test-Block", b.handle)
	s := open(t, srv) // one runspace
	ctx := testContext(t)
	if got := s.MaxRunspaces(); got != 1 {
		t.Fatalf("MaxRunspaces = %d, want 1", got)
	}
	p1, err := s.Start(ctx, psrp.Script("Test-Block"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, b.started, "first handler")
	if a := s.Availability(); a != session.Busy {
		t.Fatalf("Availability = %v, want Busy", a)
	}
	// A second Start waits for a runspace; raising the maximum releases it.
	started := make(chan *session.Pipeline, 1)
	go func() {
		p, err := s.Start(ctx, psrp.Script("Test-Block"))
		if err != nil {
			t.Errorf("second Start: %v", err)
			close(started)
			return
		}
		started <- p
	}()
	select {
	case <-started:
		t.Fatal("second Start did not wait for a runspace")
	case <-time.After(100 * time.Millisecond):
	}
	if err := s.SetMaxRunspaces(ctx, 2); err != nil {
		t.Fatalf("SetMaxRunspaces(2): %v", err)
	}
	if got := s.MaxRunspaces(); got != 2 {
		t.Errorf("MaxRunspaces = %d, want 2", got)
	}
	var p2 *session.Pipeline
	select {
	case p2 = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("second Start still waits after SetMaxRunspaces(2)")
	}
	if p2 == nil {
		return
	}
	waitFor(t, b.started, "second handler")
	n, err := s.AvailableRunspaces(ctx)
	if err != nil {
		t.Fatalf("AvailableRunspaces: %v", err)
	}
	if n != 0 {
		t.Errorf("AvailableRunspaces with 2 of 2 busy = %d, want 0", n)
	}
	for _, p := range []*session.Pipeline{p1, p2} {
		if err := p.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n, err = s.AvailableRunspaces(ctx)
	if err != nil || n != 2 {
		t.Errorf("AvailableRunspaces when idle = %d, %v; want 2", n, err)
	}
}

func TestSetMaxRunspacesLowersTheThrottle(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	b := newBlocker()
	srv.Handle("Test-Block", b.handle)
	s := open(t, srv, session.WithRunspaces(1, 3))
	ctx := testContext(t)
	if err := s.SetMaxRunspaces(ctx, 1); err != nil {
		t.Fatalf("SetMaxRunspaces(1): %v", err)
	}
	p, err := s.Start(ctx, psrp.Script("Test-Block"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, b.started, "handler")
	if a := s.Availability(); a != session.Busy {
		t.Errorf("Availability = %v, want Busy", a)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = s.Start(short, psrp.Script("Write-Output x"))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Start over the lowered maximum = %v, want DeadlineExceeded", err)
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRunspaceRequestsRefused(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	s := open(t, srv, session.WithRunspaces(2, 3))
	ctx := testContext(t)
	tests := []struct {
		name  string
		call  func() error
		op    string
		count int
	}{
		{"min above max", func() error { return s.SetMinRunspaces(ctx, 4) }, "SetMinRunspaces", 4},
		{"max below min", func() error { return s.SetMaxRunspaces(ctx, 1) }, "SetMaxRunspaces", 1},
		{"max zero", func() error { return s.SetMaxRunspaces(ctx, 0) }, "SetMaxRunspaces", 0},
		{"min negative", func() error { return s.SetMinRunspaces(ctx, -1) }, "SetMinRunspaces", -1},
	}
	for _, tt := range tests {
		err := tt.call()
		var re *session.RequestRefusedError
		if !errors.As(err, &re) || re.Op != tt.op || re.Count != tt.count {
			t.Errorf("%s: err = %v, want RequestRefusedError{%s %d}", tt.name, err, tt.op, tt.count)
		}
	}
	if got := s.MaxRunspaces(); got != 3 {
		t.Errorf("MaxRunspaces after a refusal = %d, want 3", got)
	}
	// Accepted changes.
	if err := s.SetMinRunspaces(ctx, 3); err != nil {
		t.Errorf("SetMinRunspaces(3): %v", err)
	}
	// Counts that do not fit never reach the server.
	var re *session.RequestRefusedError
	for _, n := range []int{1<<16 + 1, -(1 << 20), 1 << 40} {
		if err := s.SetMaxRunspaces(ctx, n); err == nil || errors.As(err, &re) {
			t.Errorf("SetMaxRunspaces(%d) = %v, want a local error", n, err)
		}
		if err := s.SetMinRunspaces(ctx, n); err == nil || errors.As(err, &re) {
			t.Errorf("SetMinRunspaces(%d) = %v, want a local error", n, err)
		}
	}
	// The session is still usable.
	if _, err := s.InvokeScript(ctx, "Write-Output x"); err != nil {
		t.Errorf("Invoke after refusals: %v", err)
	}
}

func TestResetRunspaceState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		version string
		wantErr error
	}{
		{"2.3", nil},
		{"2.2", psrp.ErrProtocolVersion},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			t.Parallel()
			srv := sessiontest.NewUnstartedServer()
			srv.ProtocolVersion = tt.version
			srv.Start()
			t.Cleanup(srv.Close)
			s := open(t, srv)
			err := s.ResetRunspaceState(testContext(t))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("ResetRunspaceState = %v, want %v", err, tt.wantErr)
			}
			if _, err := s.InvokeScript(testContext(t), "Write-Output x"); err != nil {
				t.Errorf("Invoke after ResetRunspaceState: %v", err)
			}
		})
	}
}

func TestRunspaceRequestsOnClosedSession(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	s := open(t, srv)
	ctx := testContext(t)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMaxRunspaces(ctx, 2); !errors.Is(err, session.ErrClosed) {
		t.Errorf("SetMaxRunspaces after Close = %v, want ErrClosed", err)
	}
	if _, err := s.AvailableRunspaces(ctx); !errors.Is(err, session.ErrClosed) {
		t.Errorf("AvailableRunspaces after Close = %v, want ErrClosed", err)
	}
	if err := s.Alive(ctx); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Alive after Close = %v, want ErrClosed", err)
	}
}

func TestAlive(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	s := open(t, srv)
	ctx := testContext(t)
	if err := s.Alive(ctx); err != nil {
		t.Fatalf("Alive on an open session: %v", err)
	}
	// A transport failure says nothing certain: the state stays.
	srv.InjectFault(sessiontest.Fault{Action: "Get", Status: http.StatusInternalServerError, Message: "boom"})
	if err := s.Alive(ctx); err == nil || errors.Is(err, session.ErrBroken) {
		t.Errorf("Alive with a failing Get = %v, want a non-broken error", err)
	}
	if st := s.State(); st != session.StateOpened {
		t.Errorf("State after a failed Get = %v, want Opened", st)
	}
	// A shell the server lost breaks the session.
	if !srv.KillShell(s.ID()) {
		t.Fatal("KillShell found no shell")
	}
	err := s.Alive(ctx)
	if !errors.Is(err, session.ErrBroken) || !errors.Is(err, wsman.ErrShellNotFound) {
		t.Errorf("Alive after the shell died = %v, want ErrBroken and ErrShellNotFound", err)
	}
	if st := s.State(); st != session.StateBroken {
		t.Errorf("State = %v, want Broken", st)
	}
}
