package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/wsman"
)

// maxRunspaceCount bounds the counts SetMaxRunspaces and SetMinRunspaces
// send, as WithRunspaces does. Counts below 1 are sent: the server refuses
// them (capture test_psrp_set_runspaces), and the caller gets that answer.
const maxRunspaceCount = 1 << 16

// RequestRefusedError reports a runspace pool request that the server
// answered with false: SetMaxRunspaces or SetMinRunspaces with a count it
// does not accept (below the minimum, above the maximum), or
// ResetRunspaceState on a pool that cannot reset (more than one runspace).
type RequestRefusedError struct {
	// Op is "SetMaxRunspaces", "SetMinRunspaces" or "ResetRunspaceState".
	Op string
	// Count is the count asked for; zero for ResetRunspaceState.
	Count int
}

// Error names the refused request.
func (e *RequestRefusedError) Error() string {
	if e.Op == opReset {
		return "session: the server refused " + e.Op
	}
	return "session: the server refused " + e.Op + "(" + strconv.Itoa(e.Count) + ")"
}

const (
	opSetMax = "SetMaxRunspaces"
	opSetMin = "SetMinRunspaces"
	opAvail  = "AvailableRunspaces"
	opReset  = "ResetRunspaceState"
)

// SetMaxRunspaces changes the pool's maximum number of runspaces on the
// server (RunspacePool.SetMaxRunspaces). Once the server agrees, at most n
// pipelines run at once: Start waits while n are running, and a smaller n
// lets running pipelines finish. A refusal (n below the minimum, or below
// 1) is a *RequestRefusedError; n above 65536 is refused without asking.
func (s *Session) SetMaxRunspaces(ctx context.Context, n int) error {
	if err := checkCount(opSetMax, n); err != nil {
		return err
	}
	ev, err := s.runspaceRequest(ctx, opSetMax, func() (int64, error) { return s.pool.SetMaxRunspaces(int32(n)) })
	if err != nil {
		return err
	}
	if !ev.Success {
		return &RequestRefusedError{Op: opSetMax, Count: n}
	}
	s.mu.Lock()
	before := s.availabilityLocked()
	s.maxRS = n
	s.wakeSlotWaitersLocked()
	s.availabilityChangedLocked(before)
	s.mu.Unlock()
	return nil
}

// SetMinRunspaces changes the pool's minimum number of runspaces on the
// server (RunspacePool.SetMinRunspaces). A refusal (n above the maximum,
// or below 1) is a *RequestRefusedError; n above 65536 is refused without
// asking.
func (s *Session) SetMinRunspaces(ctx context.Context, n int) error {
	if err := checkCount(opSetMin, n); err != nil {
		return err
	}
	ev, err := s.runspaceRequest(ctx, opSetMin, func() (int64, error) { return s.pool.SetMinRunspaces(int32(n)) })
	if err != nil {
		return err
	}
	if !ev.Success {
		return &RequestRefusedError{Op: opSetMin, Count: n}
	}
	return nil
}

// checkCount refuses counts that do not fit the wire's Int32 or exceed
// what WithRunspaces allows.
func checkCount(op string, n int) error {
	if n > maxRunspaceCount || n < -maxRunspaceCount {
		return fmt.Errorf("session: %s: count %d out of range (at most %d)", op, n, maxRunspaceCount)
	}
	return nil
}

// MaxRunspaces returns how many pipelines may run at once: the pool's
// maximum as opened or as last changed by SetMaxRunspaces.
func (s *Session) MaxRunspaces() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxRS
}

// AvailableRunspaces asks the server how many runspaces of the pool are
// free (RunspacePool.GetAvailableRunspaces). Availability answers the same
// question locally without a round trip.
func (s *Session) AvailableRunspaces(ctx context.Context) (int, error) {
	ev, err := s.runspaceRequest(ctx, opAvail, s.pool.GetAvailableRunspaces)
	if err != nil {
		return 0, err
	}
	return int(ev.Available), nil
}

// ResetRunspaceState resets the variables and state of the pool's runspace
// to those of a new one (RunspacePool.ResetRunspaceState). It needs
// protocol 2.3 or later: below that the error matches
// psrp.ErrProtocolVersion and nothing is sent. A refusal is a
// *RequestRefusedError.
func (s *Session) ResetRunspaceState(ctx context.Context) error {
	ev, err := s.runspaceRequest(ctx, opReset, s.pool.ResetRunspaceState)
	if err != nil {
		return err
	}
	if !ev.Success {
		return &RequestRefusedError{Op: opReset}
	}
	return nil
}

// runspaceRequest queues one runspace request with send (called with the
// session lock held), sends it and waits for the server's answer.
func (s *Session) runspaceRequest(ctx context.Context, op string, send func() (int64, error)) (psrp.RunspaceAvailabilityEvent, error) {
	var zero psrp.RunspaceAvailabilityEvent
	s.mu.Lock()
	if err := s.usableLocked(); err != nil {
		s.mu.Unlock()
		return zero, fmt.Errorf("session: %s: %w", op, err)
	}
	id, err := send()
	if err != nil {
		s.mu.Unlock()
		return zero, fmt.Errorf("session: %s: %w", op, err)
	}
	ch := make(chan psrp.RunspaceAvailabilityEvent, 1)
	s.calls[id] = ch
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		delete(s.calls, id)
		s.mu.Unlock()
	}
	if err := s.flush(ctx); err != nil {
		forget()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return zero, fmt.Errorf("session: %s: %w", op, err)
	}
	select {
	case ev, ok := <-ch:
		if !ok {
			s.mu.Lock()
			err := s.usableLocked()
			s.mu.Unlock()
			if err == nil {
				err = ErrBroken
			}
			return zero, fmt.Errorf("session: %s: %w", op, err)
		}
		return ev, nil
	case <-ctx.Done():
		forget()
		return zero, ctx.Err()
	case <-s.bgCtx.Done():
		return zero, ErrClosed
	}
}

// runspaceAnswer hands the server's answer to the waiting request.
func (s *Session) runspaceAnswer(e psrp.RunspaceAvailabilityEvent) {
	s.mu.Lock()
	ch := s.calls[e.CallID]
	delete(s.calls, e.CallID)
	s.mu.Unlock()
	if ch != nil {
		ch <- e // buffered: never blocks
	}
}

// failCallsLocked wakes every waiting runspace request with no answer.
func (s *Session) failCallsLocked() {
	for id, ch := range s.calls {
		close(ch)
		delete(s.calls, id)
	}
}

// Alive checks with the server that the session's shell still exists (a
// WS-Man Get on the shell, one round trip), like pypsrp's is-alive check.
// A shell the server no longer knows moves the session to Broken and the
// error matches ErrBroken and wsman.ErrShellNotFound. A shell the server
// reports Disconnected (by another client, or after a network outage) moves
// an Opened session to Disconnected and the error matches ErrDisconnected;
// Reconnect may then bring it back. Any other failure (a transport error, a
// different fault) is returned as is and changes nothing, since it says
// nothing certain about the shell.
func (s *Session) Alive(ctx context.Context) error {
	s.mu.Lock()
	st, closing := s.state, s.closing
	brokenErr := s.brokenErr
	asked := s.link // Reconnect replaces the link: tells if one ran meanwhile
	s.mu.Unlock()
	switch {
	case closing || st == StateClosed:
		return ErrClosed
	case st == StateBroken:
		return &brokenError{cause: brokenErr}
	}
	info, err := s.wsc.GetShell(ctx, s.shell.ID)
	if err != nil {
		err = fmt.Errorf("session: alive: %w", err)
		if errors.Is(err, wsman.ErrShellNotFound) {
			s.markBroken(err)
			return &brokenError{cause: err}
		}
		return err
	}
	if strings.EqualFold(info.State, "Disconnected") {
		if err := s.connLock.lock(ctx); err != nil {
			return fmt.Errorf("session: alive: %w", err)
		}
		defer s.connLock.unlock()
		s.mu.Lock()
		stale := s.link != asked
		s.mu.Unlock()
		if stale {
			// A Disconnect/Reconnect ran while the server answered: its
			// answer describes a link that is gone.
			return nil
		}
		s.disconnectedRemotely()
		return fmt.Errorf("session: alive: %w: the server reports the shell disconnected", ErrDisconnected)
	}
	return nil
}

// disconnectedRemotely moves an Opened session to Disconnected after the
// server disconnected its shell: the receive loops pause as after
// Disconnect. Called with connLock held.
func (s *Session) disconnectedRemotely() {
	s.mu.Lock()
	if s.closing || s.state != StateOpened {
		s.mu.Unlock()
		return
	}
	l := s.link
	s.mu.Unlock()
	l.cancel()
	<-l.poolDone
	s.mu.Lock()
	if s.closing || s.state != StateOpened {
		s.mu.Unlock()
		return
	}
	_ = s.pool.Disconnected()
	events := s.drainEventsLocked()
	s.setStateLocked(StateDisconnected, nil)
	s.mu.Unlock()
	s.handleEvents(s.bgCtx, events)
}
