package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// link is one attachment of the session to its shell. Every Receive of the
// attachment runs under ctx, which Disconnect cancels; receive loops then
// pause until resumed is closed by Reconnect (or the session ends).
type link struct {
	ctx      context.Context
	cancel   context.CancelFunc
	resumed  chan struct{} // closed when a new link replaces this one
	poolDone chan struct{} // closed when this link's pool loop has ended
}

func newLink(parent context.Context) *link {
	ctx, cancel := context.WithCancel(parent)
	return &link{ctx: ctx, cancel: cancel, resumed: make(chan struct{}), poolDone: make(chan struct{})}
}

// currentLink returns the session's current attachment.
func (s *Session) currentLink() *link {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.link
}

// startPoolLoop starts the pool's receive loop for l.
func (s *Session) startPoolLoop(l *link) {
	s.wg.Add(1)
	go s.poolLoop(l)
}

// BufferMode says what a disconnected shell does when a pipeline's output
// buffer is full (Disconnect-PSSession -OutputBufferingMode).
type BufferMode int

// Buffer modes.
const (
	// BufferServerDefault keeps the mode of the session configuration.
	BufferServerDefault BufferMode = iota
	// BufferBlock suspends the pipeline until the output is received.
	BufferBlock
	// BufferDrop discards the oldest output to make room.
	BufferDrop
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
		case BufferBlock:
			o.BufferMode = wsman.BufferModeBlock
		case BufferDrop:
			o.BufferMode = wsman.BufferModeDrop
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
func (s *Session) Disconnect(ctx context.Context, opts ...DisconnectOption) error {
	var o wsman.DisconnectOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.mu.Lock()
	err := s.usableLocked()
	v := s.pool.ProtocolVersion()
	old := s.link
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("session: disconnect: %w", err)
	}
	if !psrp.VersionSupportsConnect(v) {
		return fmt.Errorf("session: disconnect: %w (server at %v, need 2.2)", psrp.ErrProtocolVersion, v)
	}
	// End this attachment's Receives first: the shell stops serving them
	// once disconnected, and no new one may start.
	old.cancel()
	<-old.poolDone
	if err := s.wsc.Disconnect(ctx, s.shell, o); err != nil {
		err = fmt.Errorf("session: disconnect: %w", err)
		if errors.Is(err, wsman.ErrShellNotFound) {
			s.markBroken(err)
			return err
		}
		s.resumeLink(old) // still connected: carry on as before
		return err
	}
	s.mu.Lock()
	if err := s.usableLocked(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("session: disconnect: %w", err)
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

// resumeLink replaces the cancelled link old with a new one, restarts the
// pool loop and wakes the paused pipeline loops.
func (s *Session) resumeLink(old *link) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	l := newLink(s.bgCtx)
	s.link = l
	s.wg.Add(1) // under mu, before Close can start waiting
	s.mu.Unlock()
	close(old.resumed)
	go s.poolLoop(l)
}

// Reconnect reattaches a session that this client disconnected
// (Connect-PSSession on the same session): a WS-Man Reconnect of the shell
// and of each of its pipelines. The session becomes Opened again and paused
// pipelines resume receiving, starting with what the server buffered.
func (s *Session) Reconnect(ctx context.Context) error {
	s.connMu.Lock()
	defer s.connMu.Unlock()
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
	var cmds []string
	for _, p := range s.pipelines {
		p.mu.Lock()
		if p.commandSent && !p.finished {
			cmds = append(cmds, p.cmdID)
		}
		p.mu.Unlock()
	}
	s.mu.Unlock()
	if perr != nil {
		return fmt.Errorf("session: reconnect: %w", perr)
	}
	// MS-PSRP 3.1.5.3.18: a shell Reconnect does not reconnect its
	// commands. A failure here is not fatal: a command the server no longer
	// knows fails its own Receive, and that pipeline reports it.
	for _, id := range cmds {
		if err := s.wsc.ReconnectCommand(ctx, s.shell, id); err != nil && s.logger != nil {
			s.logger.Debug("session: reconnect command", "command", id, "err", err.Error())
		}
	}
	s.mu.Lock()
	s.setStateLocked(StateOpened, nil)
	s.mu.Unlock()
	s.handleEvents(ctx, events)
	s.resumeLink(old)
	return nil
}

// Connect attaches to a disconnected session on target from a new client
// (Connect-PSSession -ComputerName … -InstanceId/-Name): idOrName is the
// session's ID (its ShellId, Session.ID of the client that created it) or
// the name given with WithName. opts are New's options (transport,
// authentication, TLS …). By ID, the session is looked for in the
// configuration of WithConfigurationName (default Microsoft.PowerShell), as
// Connect-PSSession -InstanceId does, without a round trip; by name, the
// server's sessions are listed first. WithRunspaces and the other pool
// options do not apply, since the pool exists. A session the server does
// not know yields an error matching ErrSessionNotFound. The session
// returned is Opened; use Pipelines and ConnectPipeline to pick up its
// pipelines. The server must be at protocol 2.2 or later.
func Connect(ctx context.Context, target, idOrName string, opts ...Option) (*Session, error) {
	idOrName = strings.TrimSpace(idOrName)
	if idOrName == "" {
		return nil, errors.New("session: connect: empty session ID or name")
	}
	s, err := newSession(target, opts)
	if err != nil {
		return nil, err
	}
	ref := wsman.ShellRef{ID: strings.ToUpper(idOrName), ResourceURI: s.cfg.resourceURI()}
	id, err := uuid.Parse(idOrName)
	if err != nil {
		info, ferr := s.findShell(ctx, idOrName)
		if ferr != nil {
			s.closeTransport()
			return nil, ferr
		}
		if id, err = uuid.Parse(info.ID); err != nil {
			s.closeTransport()
			return nil, fmt.Errorf("session: connect: the server reports ShellId %q, not a GUID", info.ID)
		}
		ref = info.Ref()
	}
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

// findShell finds the PowerShell shell named by idOrName.
func (s *Session) findShell(ctx context.Context, idOrName string) (*wsman.ShellInfo, error) {
	shells, err := s.wsc.EnumerateShells(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("session: connect: %w", err)
	}
	_, uerr := uuid.Parse(idOrName)
	var found []wsman.ShellInfo
	for _, sh := range shells {
		if _, ok := configurationName(sh.ResourceURI); !ok {
			continue // a WinRS shell
		}
		if (uerr == nil && strings.EqualFold(sh.ID, idOrName)) || (uerr != nil && strings.EqualFold(sh.Name, idOrName)) {
			found = append(found, sh)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: %q", ErrSessionNotFound, idOrName)
	case 1:
		return &found[0], nil
	}
	return nil, fmt.Errorf("session: connect: %d sessions are named %q; connect by ID", len(found), idOrName)
}

// connect sends the WS-Man Connect with the pool's connectXml, feeds the
// answer to the pool and waits until it is Opened.
func (s *Session) connect(ctx context.Context) error {
	s.setState(StateOpening, nil)
	s.mu.Lock()
	err := s.pool.Connect()
	var data psrp.Payload
	var ok bool
	if err == nil {
		data, ok = s.pool.DataToSend(s.maxPayload())
	}
	s.mu.Unlock()
	if err != nil {
		return s.openFailed(fmt.Errorf("session: connect: %w", err))
	}
	if !ok {
		return s.openFailed(errors.New("session: connect: no connect data from the runspace pool"))
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
	l := s.currentLink()
	s.startPoolLoop(l)
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
	if err := s.wsc.ReconnectCommand(ctx, s.shell, p.cmdID); err != nil && s.logger != nil {
		s.logger.Debug("session: attach command", "command", p.cmdID, "err", err.Error())
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
