package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/wsman"
)

// ErrDisconnected is matched (errors.Is) by the errors of operations that
// need a connected session while it is Disconnected, and by Alive when the
// server reports the shell disconnected.
var ErrDisconnected = errors.New("session: disconnected")

// ErrSessionNotFound is wrapped by the error of Connect when no shell on the
// server has the ID or name asked for.
var ErrSessionNotFound = errors.New("session: no such session on the server")

// disconnectSettle bounds how long Disconnect waits for the Receives that
// were in flight when it was sent: Windows answers them at once (with their
// output, or with the disconnected fault), so this only matters for a server
// that leaves them to run to OperationTimeout.
const disconnectSettle = time.Second

// link is one attachment of the session to its shell. Disconnect takes it
// down: no new Receive starts on it, but the Receives in flight are left to
// finish, since the server may already have taken output from its buffers
// for them; the receive loops then park until resumed is closed by
// Reconnect (or the session ends). Fields below resumed are guarded by
// Session.mu.
type link struct {
	resumed  chan struct{} // closed when a new link replaces this one
	poolDone chan struct{} // closed once the pool loop stopped receiving on this link
	poolOnce sync.Once
	// cancel takes the link down and waits, at most disconnectSettle, for
	// the pool loop to stop receiving on it; poolDone is closed when it
	// returns.
	cancel func()

	down     bool          // Disconnect was sent, or the shell was seen disconnected
	inflight int           // Receives running on this link
	quiet    chan struct{} // closed once down and no Receive is in flight
	quieted  bool
	// sawFault is set when a Receive on the down link ended with the
	// disconnected fault: the server did disconnect the shell.
	sawFault bool
}

func (s *Session) newLink() *link {
	l := &link{resumed: make(chan struct{}), poolDone: make(chan struct{}), quiet: make(chan struct{})}
	l.cancel = func() {
		s.mu.Lock()
		l.takeDownLocked()
		s.mu.Unlock()
		t := time.NewTimer(disconnectSettle)
		defer t.Stop()
		select {
		case <-l.poolDone:
		case <-t.C:
		case <-s.bgCtx.Done():
		}
		l.parkPool()
	}
	return l
}

// takeDownLocked stops new Receives on l. Called with Session.mu held.
func (l *link) takeDownLocked() {
	l.down = true
	l.quietIfIdleLocked()
}

func (l *link) quietIfIdleLocked() {
	if l.down && l.inflight == 0 && !l.quieted {
		l.quieted = true
		close(l.quiet)
	}
}

// parkPool records that the pool loop no longer receives on l.
func (l *link) parkPool() { l.poolOnce.Do(func() { close(l.poolDone) }) }

// currentLink returns the session's current attachment.
func (s *Session) currentLink() *link {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.link
}

// startPoolLoop starts the pool's receive loop, which lives as long as the
// session: it parks while the session is disconnected.
func (s *Session) startPoolLoop() {
	s.wg.Add(1)
	go s.poolLoop()
}

// beginReceive returns the current link with one more Receive counted in
// flight on it, or the link and false if it is down (the caller parks on
// its resumed channel).
func (s *Session) beginReceive() (*link, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.link
	if l.down {
		return l, false
	}
	l.inflight++
	return l, true
}

// endReceive ends a Receive counted by beginReceive, once what it brought
// has been handled.
func (s *Session) endReceive(l *link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l.inflight--
	l.quietIfIdleLocked()
}

// shellDisconnected handles the disconnected fault that ended a Receive on
// l, for the pool (cmd "") or the command cmd. It reports whether the loop
// should park: yes while l is down (our Disconnect, or one seen before).
// Otherwise the server disconnected the shell on its own (another client,
// an outage), and the session becomes Disconnected so that Reconnect can
// resume it; unless cmd is a command whose reconnect failed, which is
// detached on its own while the shell is connected: that pipeline fails.
func (s *Session) shellDisconnected(ctx context.Context, l *link, cmd string) bool {
	s.mu.Lock()
	if l.down {
		l.sawFault = true
		s.mu.Unlock()
		return true
	}
	_, detached := s.detached[cmd]
	if s.closing || s.state != StateOpened || (cmd != "" && detached) {
		s.mu.Unlock()
		return false
	}
	l.takeDownLocked()
	l.sawFault = true
	_ = s.pool.Disconnected() // an error only means psrp does not track it
	events := s.drainEventsLocked()
	s.setStateLocked(StateDisconnected, nil)
	s.mu.Unlock()
	s.handleEvents(ctx, events)
	if s.logger != nil {
		s.logger.Debug("session: the server disconnected the shell")
	}
	return true
}

// markDetached records that the command cmd could not be reconnected.
func (s *Session) markDetached(cmd string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.detached == nil {
		s.detached = make(map[string]struct{})
	}
	s.detached[cmd] = struct{}{}
}

// BufferMode says what a disconnected shell does when a pipeline's output
// buffer is full (Disconnect-PSSession -OutputBufferingMode). Its values
// are the names WinRM uses.
type BufferMode string

// Buffer modes.
const (
	// BufferServerDefault keeps the mode of the session configuration.
	BufferServerDefault BufferMode = ""
	// BufferBlock suspends the pipeline until the output is received.
	BufferBlock BufferMode = "Block"
	// BufferDrop discards the oldest output to make room.
	BufferDrop BufferMode = "Drop"
)

// DisconnectOption configures Disconnect.
type DisconnectOption func(*wsman.DisconnectOptions)

// WithDisconnectIdleTimeout sets how long the server keeps the disconnected
// shell before deleting it (Disconnect-PSSession -IdleTimeoutSec). Zero
// keeps the shell's idle timeout.
func WithDisconnectIdleTimeout(d time.Duration) DisconnectOption {
	return func(o *wsman.DisconnectOptions) { o.IdleTimeout = max(d, 0) }
}

// WithBufferMode sets the output buffering mode while disconnected
// (Disconnect-PSSession -OutputBufferingMode).
func WithBufferMode(m BufferMode) DisconnectOption {
	return func(o *wsman.DisconnectOptions) {
		switch m {
		case BufferBlock, BufferDrop:
			o.BufferMode = string(m)
		default:
			o.BufferMode = ""
		}
	}
}

// Disconnect disconnects the session from its shell (Disconnect-PSSession):
// the shell and its running pipelines keep running on the server, which
// buffers their output. The session becomes Disconnected; pipelines started
// here do not fail: their Records and Wait pause until Reconnect, or until
// the session is closed. Start and the runspace requests fail with
// ErrDisconnected meanwhile. The server must be at protocol 2.2 or later.
//
// Output the server already handed to a Receive in flight is not lost:
// Disconnect does not abandon those Receives, and waits (briefly, about a
// second at most) for them to deliver it before returning; any that is
// later still is delivered when it arrives. From the moment Disconnect is
// called, Start fails with ErrDisconnected.
func (s *Session) Disconnect(ctx context.Context, opts ...DisconnectOption) error {
	var o wsman.DisconnectOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if err := s.connLock.lock(ctx); err != nil {
		return fmt.Errorf("session: disconnect: %w", err)
	}
	defer s.connLock.unlock()
	s.mu.Lock()
	err := s.usableLocked()
	v := s.pool.ProtocolVersion()
	l := s.link
	if err == nil && psrp.VersionSupportsConnect(v) {
		// No new Receive from here on; those in flight carry on and end
		// with their output or, once the shell is disconnected, the
		// disconnected fault.
		l.takeDownLocked()
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("session: disconnect: %w", err)
	}
	if !psrp.VersionSupportsConnect(v) {
		return fmt.Errorf("session: disconnect: %w (server at %v, need 2.2)", psrp.ErrProtocolVersion, v)
	}
	if err := s.wsc.Disconnect(ctx, s.shell, o); err != nil {
		err = fmt.Errorf("session: disconnect: %w", err)
		if errors.Is(err, wsman.ErrShellNotFound) {
			s.markBroken(err)
			return err
		}
		s.mu.Lock()
		saw := l.sawFault
		s.mu.Unlock()
		if !saw {
			s.resumeLink(l) // still connected: carry on as before
			return err
		}
		// The answer was lost, but the Receives say the server did
		// disconnect the shell: the session is Disconnected.
		if s.logger != nil {
			s.logger.Debug("session: disconnect answer lost; the shell is disconnected", "err", err.Error())
		}
	}
	// What the Receives in flight carry was sent before the shell was
	// disconnected: let it arrive while the pool is still Opened.
	s.settle(ctx, l)
	s.mu.Lock()
	switch {
	case s.closing || s.state == StateClosed:
		s.mu.Unlock()
		return fmt.Errorf("session: disconnect: %w", ErrClosed)
	case s.state == StateBroken:
		s.mu.Unlock()
		return fmt.Errorf("session: disconnect: %w", &brokenError{cause: s.brokenErr})
	}
	perr := s.pool.Disconnected()
	events := s.drainEventsLocked()
	s.setStateLocked(StateDisconnected, nil)
	s.mu.Unlock()
	s.handleEvents(ctx, events)
	if perr != nil {
		return fmt.Errorf("session: disconnect: %w", perr)
	}
	return nil
}

// settle waits until the Receives in flight on the down link l have
// delivered what they carried, for at most disconnectSettle.
func (s *Session) settle(ctx context.Context, l *link) {
	t := time.NewTimer(disconnectSettle)
	defer t.Stop()
	select {
	case <-l.quiet:
	case <-t.C:
		if s.logger != nil {
			s.logger.Debug("session: disconnect: receives still in flight; their output is delivered when it arrives")
		}
	case <-ctx.Done():
	case <-s.bgCtx.Done():
	}
}

// resumeLink replaces the down link old with a new one and wakes the
// receive loops parked on it.
func (s *Session) resumeLink(old *link) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return // the loops end with the session
	}
	s.link = s.newLink()
	s.mu.Unlock()
	close(old.resumed)
}

// Reconnect reattaches a session that this client disconnected
// (Connect-PSSession on the same session): a WS-Man Reconnect of the shell
// and of each of its pipelines. The session becomes Opened again and paused
// pipelines resume receiving, starting with what the server buffered.
func (s *Session) Reconnect(ctx context.Context) (err error) {
	defer func() { err = accessDenied(err) }()
	if err := s.connLock.lock(ctx); err != nil {
		return fmt.Errorf("session: reconnect: %w", err)
	}
	defer s.connLock.unlock()
	s.mu.Lock()
	st, closing, old := s.state, s.closing, s.link
	s.mu.Unlock()
	switch {
	case closing || st == StateClosed:
		return ErrClosed
	case st != StateDisconnected:
		return fmt.Errorf("session: reconnect: not disconnected (state %v)", st)
	}
	if err := s.wsc.Reconnect(ctx, s.shell); err != nil {
		err = fmt.Errorf("session: reconnect: %w", err)
		if errors.Is(err, wsman.ErrShellNotFound) {
			s.markBroken(err)
		}
		return err
	}
	s.mu.Lock()
	perr := s.pool.Reconnected()
	events := s.drainEventsLocked()
	s.mu.Unlock()
	if perr != nil {
		return fmt.Errorf("session: reconnect: %w", perr)
	}
	s.reconnectCommands(ctx)
	s.mu.Lock()
	s.setStateLocked(StateOpened, nil)
	s.mu.Unlock()
	s.handleEvents(ctx, events)
	s.resumeLink(old)
	return nil
}

// connect attaches a new session of c to the disconnected shell ref, whose
// pool is id; own says that the session owns c.
func (c *Client) connect(ctx context.Context, pcfg poolConfig, id uuid.UUID, ref wsman.ShellRef, own bool) (*Session, error) {
	s := c.newSession(pcfg, own)
	s.shell = ref
	if s.shell.ResourceURI == "" {
		s.shell.ResourceURI = s.cfg.resourceURI()
	}
	s.pool = psrp.NewClientPool(psrp.ClientPoolConfig{ID: id, HostInfo: interactiveHostInfo()})
	s.maxRS = 1 // until the server's RUNSPACEPOOL_INIT_DATA says
	s.start()
	if err := s.connect(ctx); err != nil {
		s.abandon()
		if errors.Is(err, wsman.ErrShellNotFound) {
			err = fmt.Errorf("%w: %w", ErrSessionNotFound, err)
		}
		return nil, err
	}
	return s, nil
}

// findShell finds the one PowerShell session named name on c's host.
func (c *Client) findShell(ctx context.Context, name string) (*wsman.ShellInfo, error) {
	shells, err := c.WSMan().EnumerateShells(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("session: connect: %w", err)
	}
	var found []wsman.ShellInfo
	for _, sh := range shells {
		if _, ok := configurationName(sh.ResourceURI); !ok {
			continue // a WinRS shell
		}
		if strings.EqualFold(sh.Name, name) {
			found = append(found, sh)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: %q", ErrSessionNotFound, name)
	case 1:
		return &found[0], nil
	}
	return nil, fmt.Errorf("session: connect: %d sessions are named %q; connect by ID", len(found), name)
}

// connect sends the WS-Man Connect with the pool's connectXml, feeds the
// answer to the pool and waits until it is Opened.
func (s *Session) connect(ctx context.Context) error {
	data, err := s.firstPayload("connect", s.pool.Connect)
	if err != nil {
		return err
	}
	res, err := s.wsc.Connect(ctx, s.shell, data.Data, wsman.ConnectOptions{})
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return s.openFailed(fmt.Errorf("session: connect: %w", err))
	}
	s.mu.Lock()
	rerr := s.pool.Receive(res.Data)
	events := s.drainEventsLocked()
	s.mu.Unlock()
	s.handleEvents(ctx, events)
	if rerr != nil {
		return s.openFailed(fmt.Errorf("session: connect: %w", rerr))
	}
	s.demand.want() // the server may hold pool messages for a reattached pool
	s.startPoolLoop()
	select {
	case <-s.opened:
	case <-ctx.Done():
		return s.openFailed(ctx.Err())
	}
	s.mu.Lock()
	err = s.openErr
	if err == nil {
		s.maxRS = max(int(s.pool.MaxRunspaces()), 1)
	}
	s.mu.Unlock()
	if err != nil {
		return s.openFailed(err)
	}
	return nil
}

// reconnectCommands reconnects the commands of the running pipelines after
// a WS-Man Reconnect of the shell, which (MS-PSRP 3.1.5.3.18) does not
// reconnect them. A failure here is not fatal: a command the server no
// longer knows fails its own Receive, and that pipeline reports it.
func (s *Session) reconnectCommands(ctx context.Context) {
	s.mu.Lock()
	var cmds []string
	for _, p := range s.pipelines {
		p.mu.Lock()
		if p.commandSent && !p.finished {
			cmds = append(cmds, p.cmdID)
		}
		p.mu.Unlock()
	}
	s.mu.Unlock()
	for _, id := range cmds {
		if err := s.wsc.ReconnectCommand(ctx, s.shell, id); err != nil {
			s.markDetached(id) // its disconnected fault is then final
			if s.logger != nil {
				s.logger.Debug("session: reconnect command", "command", id, "err", err.Error())
			}
		}
	}
}

// Pipelines lists the IDs of the pipelines (WS-Man commands) the server
// keeps for this session: running ones and finished ones whose output was
// not received. Use ConnectPipeline to receive from one.
func (s *Session) Pipelines(ctx context.Context) ([]uuid.UUID, error) {
	ids, err := s.wsc.EnumerateCommands(ctx, s.shell.ID)
	if err != nil {
		return nil, fmt.Errorf("session: list pipelines: %w", err)
	}
	out := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		u, err := uuid.Parse(id)
		if err != nil {
			return nil, fmt.Errorf("session: list pipelines: CommandId %q is not a GUID", id)
		}
		out = append(out, u)
	}
	return out, nil
}

// ConnectPipeline attaches to a pipeline of a session opened with Connect
// (Receive-PSSession): the returned Pipeline streams the output the server
// buffered and then the rest, like one returned by Start. ctx governs it as
// it does for Start. The pipeline counts against MaxRunspaces, without
// waiting for a free runspace since it is already running.
//
// The server keeps a command detached from a new client until the client
// attaches to it. WinRM does that with a Connect naming the command
// (WSManConnectShellCommand), which package wsman cannot send yet; a
// Reconnect naming the command is sent instead, and a refusal of it is left
// to the pipeline's Receive to report.
func (s *Session) ConnectPipeline(ctx context.Context, id uuid.UUID) (*Pipeline, error) {
	s.mu.Lock()
	if err := s.usableLocked(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if s.pipelines[id] != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("session: connect pipeline: %v is already attached", id)
	}
	cp, err := s.pool.ConnectPipeline(id)
	if err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("session: connect pipeline: %w", err)
	}
	s.slotsUsed++ // released by finishPipeline
	p := s.registerPipelineLocked(ctx, cp, false)
	p.commandSent = true
	p.state = psrp.PipelineRunning
	s.mu.Unlock()
	p.closeCreated(nil)
	if err := s.wsc.ReconnectCommand(ctx, s.shell, p.cmdID); err != nil {
		s.markDetached(p.cmdID)
		if s.logger != nil {
			s.logger.Debug("session: attach command", "command", p.cmdID, "err", err.Error())
		}
	}
	s.mu.Lock()
	closing := s.closing
	if !closing {
		s.wg.Add(1) // under mu, before Close can start waiting
	}
	s.mu.Unlock()
	if closing {
		s.finishPipeline(p, ErrClosed)
		return nil, ErrClosed
	}
	go s.pipelineLoop(p)
	return p, nil
}
