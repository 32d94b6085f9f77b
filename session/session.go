// Package session is what most programs use: open a runspace pool on a
// Windows host (like New-PSSession), run pipelines on it (like
// Invoke-Command), stream their output, and close it.
//
//	s, err := session.New(ctx, "win01.corp.example", session.WithNegotiate(`CORP\alice`, pw))
//	if err != nil { … }
//	defer s.Close(context.Background())
//	res, err := s.InvokeScript(ctx, "Get-Service WinRM")
//
// A Session owns goroutines: one receive loop for the runspace pool while it
// is open, and one per running pipeline. They service host calls (see Host)
// and end when the pipeline ends or the session is closed; none outlives
// Close.
//
// Options: New takes ClientOptions, which say how to reach the host
// (WithNegotiate, WithTLSConfig, WithOperationTimeout …), and
// SessionOptions, which shape the runspace pool (WithRunspaces, WithHost,
// WithName …). A Client (NewClient) holds the first kind for one host and
// opens any number of sessions there over one transport, as ssh.Client
// opens ssh.Sessions.
//
// A session outlives its client if asked: Disconnect leaves the pool and
// its pipelines running on the server (Disconnect-PSSession), Reconnect
// resumes them, Client.List finds the sessions on a host (Get-PSSession
// -ComputerName) and Client.Connect attaches a new client to one
// (Connect-PSSession), whose running pipelines ConnectPipeline picks up
// (Receive-PSSession). SetMaxRunspaces, SetMinRunspaces, AvailableRunspaces
// and ResetRunspaceState manage the pool; Alive checks that its shell still
// exists.
//
// Security: TLS certificates are verified. Over plain http:// (a default
// Windows host: port 5985, Negotiate, encryption required) WithNegotiate,
// WithKerberos, WithNTLM and WithCredSSP seal every message; NTLM, CredSSP
// and Basic there need the host in WithTrustedHosts, since they cannot
// prove the server's identity. Other plain-http traffic is refused with
// ErrUnencrypted unless the caller opts in with WithAllowUnencrypted.
// Refused credentials match ErrAccessDenied. Credentials never appear in
// errors or logs.
//
// Round trips: New costs a WS-Man Create and the Receives until the pool is
// Opened (one or two). After that the pool keeps one Receive outstanding so
// that the server can reach the client at any time, from the first moment
// something could need it: a pool operation (runspace requests, the key
// exchange), a pipeline that outlives its first Receive round or runs for
// half a second, a reconnect, or a second of the pool being open. Invoke
// costs a Command and the Receives until the pipeline is done; the Signal
// that releases a finished command on the server is sent in the background
// when the next pipeline starts, and skipped at Close, whose Delete releases
// everything. Against a server that opens the pool in one Receive, New +
// quick Invoke + Close take five calls (as pypsrp), each Invoke on an open
// pool three (Command, Receive, Signal). NTLM, Negotiate and CredSSP add a
// handshake per connection: the first of an endpoint probes the offered
// schemes, later ones over plain HTTP skip the probe.
//
// Envelope size: the session starts at 150 KiB (153600 bytes, which every
// Windows host accepts) and raises it to 500 KiB (512000) once the server
// reports protocol 2.2 or later, unless WithMaxEnvelopeSize fixed it.
// Outgoing fragments are sized to fit one envelope.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/wsman"
)

// closeTimeout bounds the best-effort Delete sent when New fails half way.
const closeTimeout = 10 * time.Second

// Session is an open runspace pool on a remote host. Its methods are safe for
// concurrent use by multiple goroutines.
type Session struct {
	cfg       config
	url       string
	wsc       *wsman.Client
	shell     wsman.ShellRef
	host      Host
	client    *Client
	ownClient bool // made by New for this session alone: closed with it
	logger    *slog.Logger

	bgCtx    context.Context // cancelled by Close: ends every loop
	bgCancel context.CancelFunc
	wg       sync.WaitGroup // every goroutine the session started

	sendLock   ctxMutex      // serialises DataToSend with its wire send, keeping fragment order
	connLock   ctxMutex      // serialises Disconnect and Reconnect
	reqTimeout time.Duration // the default deadline of one WS-Man request

	mu        sync.Mutex // guards pool and everything below
	pool      *psrp.ClientPool
	state     State
	brokenErr error
	closing   bool
	pipelines map[uuid.UUID]*Pipeline
	running   int                                           // pipelines registered in pipelines
	maxRS     int                                           // the throttle: at most maxRS pipelines run at once
	slotsUsed int                                           // runspaces taken by Start (reserved before the pipeline registers)
	slotWake  chan struct{}                                 // closed and replaced when a runspace frees or maxRS grows
	calls     map[int64]chan psrp.RunspaceAvailabilityEvent // pending runspace requests
	link      *link                                         // the current connection to the shell (see disconnect.go)
	detached  map[string]struct{}                           // CommandIds whose reconnect failed
	watchers  []*watcher
	opened    chan struct{} // closed once the pool is Opened or failed to open
	demand    poolDemand    // holds back the pool's Receive until needed (receive_loop.go)
	openErr   error
	toClose   []string // CommandIds of finished commands not yet terminated
	appData   *clixml.Object

	closeDone chan struct{}
	closeErr  error

	keyWait keyWait     // ExchangeKeys' waiters (keyexchange.go)
	rob     robustState // the robust connection (robust.go)
}

// New opens a runspace pool on target and returns when it is Opened: it is
// NewClient(target, …) and Client.New, with the client closed when the
// session is. opts are ClientOptions and SessionOptions.
//
// target is a URL ("https://host:5986/wsman", "http://host:5985/wsman") or
// a host name or IP address, optionally with a port ("win01", "10.0.0.5:5986",
// "[fe80::1]"); a bare host means https on port 5986 with path /wsman
// (WithHTTP and WithPort change that). Cancelling ctx aborts the open.
//
// Deadlines: every WS-Man request the session sends gets a deadline of its
// own, even when the caller's context has none: the OperationTimeout plus a
// margin (30 s by default: 20 s plus 10 s; see WithOperationTimeout). A
// server that withholds an answer therefore costs at most that long, and a
// caller's shorter context is honoured at every wait: for the send lock, a
// runspace, the Command, the answers.
//
// Errors: refused credentials, or a user the endpoint or configuration does
// not admit, match ErrAccessDenied (errors.Is), whichever layer refused
// (the HTTP authentication, or a WS-Man fault); a plain http:// endpoint
// without encryption is ErrUnencrypted; a cancelled ctx is ctx's error.
func New(ctx context.Context, target string, opts ...Option) (_ *Session, err error) {
	defer func() { err = accessDenied(err) }()
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	c, err := newClient(target, cfg.clientConfig)
	if err != nil {
		return nil, err
	}
	return c.open(ctx, cfg.poolConfig, true)
}

// open creates a runspace pool on c's host; own says that the session
// owns c and closes it with itself.
func (c *Client) open(ctx context.Context, pcfg poolConfig, own bool) (*Session, error) {
	s := c.newSession(pcfg, own)
	minRS, maxRS := s.cfg.minRunspaces, s.cfg.maxRunspaces
	if maxRS == 0 {
		minRS, maxRS = 1, 1
	}
	s.maxRS = maxRS
	s.pool = psrp.NewClientPool(psrp.ClientPoolConfig{
		MinRunspaces:         int32(minRS),
		MaxRunspaces:         int32(maxRS),
		HostInfo:             interactiveHostInfo(),
		ApplicationArguments: s.cfg.appArgs,
	})
	s.start()
	if err := s.open(ctx); err != nil {
		s.abandon()
		return nil, err
	}
	return s, nil
}

// newSession makes a session of c with its own WS-Man client. Nothing is
// sent yet.
func (c *Client) newSession(pcfg poolConfig, own bool) *Session {
	s := &Session{
		cfg:        config{clientConfig: c.cfg, poolConfig: pcfg},
		client:     c,
		ownClient:  own,
		url:        c.url,
		wsc:        c.WSMan(),
		host:       pcfg.host,
		logger:     c.cfg.logger,
		reqTimeout: c.reqTimeout,
		pipelines:  make(map[uuid.UUID]*Pipeline),
		opened:     make(chan struct{}),
		closeDone:  make(chan struct{}),
		slotWake:   make(chan struct{}),
		calls:      make(map[int64]chan psrp.RunspaceAvailabilityEvent),
		sendLock:   newCtxMutex(),
		connLock:   newCtxMutex(),
	}
	if s.host == nil {
		s.host = DefaultHost{}
	}
	s.demand.wanted = make(chan struct{})
	return s
}

// start creates the background context and the state hook; the pool is set.
func (s *Session) start() {
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	s.useExchangeKey()
	s.link = s.newLink()
}

// abandon releases a session whose New or Connect failed: its goroutines,
// watchers and transport.
func (s *Session) abandon() {
	s.bgCancel()
	s.wg.Wait()
	s.mu.Lock()
	for _, w := range s.watchers {
		w.finish()
	}
	s.watchers = nil
	s.mu.Unlock()
	s.closeTransport()
}

// interactiveHostInfo tells the server that the client has a host with a UI,
// so that Read-Host, prompts and Write-Host reach the Host interface.
func interactiveHostInfo() *clixml.HostInfo {
	return &clixml.HostInfo{} // every _isHost*Null false, _useRunspaceHost false
}

// closeTransport closes the session's client if the session owns it.
func (s *Session) closeTransport() {
	if s.ownClient {
		s.client.Close()
	}
}

// firstPayload moves the session to Opening, runs start (the pool's Open or
// Connect) and returns the first payload it queued: what the WS-Man Create
// or Connect carries.
func (s *Session) firstPayload(op string, start func() error) (psrp.Payload, error) {
	s.setState(StateOpening, nil)
	s.mu.Lock()
	err := start()
	var data psrp.Payload
	var ok bool
	if err == nil {
		data, ok = s.pool.DataToSend(s.maxPayload())
	}
	s.mu.Unlock()
	if err != nil {
		return data, s.openFailed(fmt.Errorf("session: %s: %w", op, err))
	}
	if !ok {
		return data, s.openFailed(fmt.Errorf("session: %s: the runspace pool queued no data", op))
	}
	return data, nil
}

// open creates the shell with the pool's opening fragments and waits until
// the pool loop reports Opened.
func (s *Session) open(ctx context.Context) error {
	creation, err := s.firstPayload("open", s.pool.Open)
	if err != nil {
		return err
	}
	shell, err := s.wsc.Create(ctx, wsman.ShellOptions{
		ResourceURI: s.cfg.resourceURI(),
		ShellID:     commandID(s.pool.ID()),
		Name:        s.cfg.name,
		CreationXML: creation.Data,
		IdleTimeout: s.cfg.idleTimeout,
		NoProfile:   s.cfg.noProfile,
	})
	if err != nil {
		if ctx.Err() != nil || networkFailure(err) {
			// The Create may have reached the server without its answer
			// reaching us (cancelled, timed out, connection lost): delete
			// the shell it asked for, so that none is left behind.
			s.shell = wsman.ShellRef{ID: commandID(s.pool.ID()), ResourceURI: s.cfg.resourceURI()}
			s.deleteInterruptedCreate()
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return s.openFailed(fmt.Errorf("session: open: %w", err))
	}
	s.shell = shell.Ref()
	if s.shell.ResourceURI == "" {
		s.shell.ResourceURI = s.cfg.resourceURI()
	}
	if err := s.flush(ctx); err != nil {
		return s.openFailed(s.deleteAfterFailedOpen(fmt.Errorf("session: open: %w", err)))
	}
	s.startPoolLoop()
	select {
	case <-s.opened:
	case <-ctx.Done():
		s.bgCancel()
		return s.openFailed(s.deleteAfterFailedOpen(ctx.Err()))
	}
	s.mu.Lock()
	err = s.openErr
	s.mu.Unlock()
	if err != nil {
		s.bgCancel()
		return s.openFailed(s.deleteAfterFailedOpen(err))
	}
	return nil
}

// openFailed records the failure of New; the session was never handed out.
func (s *Session) openFailed(err error) error {
	s.setState(StateBroken, err)
	return err
}

// deleteAfterFailedOpen removes the half-open shell, best effort, with a
// fresh short context since the caller's may be done.
func (s *Session) deleteAfterFailedOpen(cause error) error {
	if s.shell.ID == "" {
		return cause
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = s.wsc.Delete(ctx, s.shell)
	return cause
}

// interruptedCreateRetries are the pauses before each further Delete of a
// shell whose Create was interrupted: the server may still be creating it
// when the first Delete arrives (it then says the shell does not exist).
var interruptedCreateRetries = []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond}

// deleteInterruptedCreate deletes the shell an interrupted Create asked for,
// best effort: until the server deletes it or answers anything but "not
// found", a few times over a second.
func (s *Session) deleteInterruptedCreate() {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	for i := 0; ; i++ {
		err := s.wsc.Delete(ctx, s.shell)
		if !errors.Is(err, wsman.ErrShellNotFound) || i == len(interruptedCreateRetries) {
			return
		}
		select {
		case <-time.After(interruptedCreateRetries[i]):
		case <-ctx.Done():
			return
		}
	}
}

// envelopeOverhead is a conservative size of a Send envelope without its
// data: the header of PROTOCOL.md §3.3 (about 1.3 KB with a long URL and
// resource URI) and the Send body element.
func (s *Session) envelopeOverhead() int {
	return 1536 + len(s.url) + len(s.cfg.resourceURI())
}

// maxPayload is the largest fragment data that fits one Send envelope: the
// room left by the envelope overhead and a 256-byte margin, in base64.
func (s *Session) maxPayload() int {
	room := s.wsc.EffectiveMaxEnvelopeSize() - s.envelopeOverhead() - 256
	n := room / 4 * 3
	if n < 1024 {
		n = 1024
	}
	return n
}

// MaxEnvelopeSize returns the WS-Man MaxEnvelopeSize in use, in bytes.
func (s *Session) MaxEnvelopeSize() int { return s.wsc.EffectiveMaxEnvelopeSize() }

// ID returns the runspace pool's ID (the WS-Man ShellId).
func (s *Session) ID() uuid.UUID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pool.ID()
}

// ApplicationPrivateData returns the data the server sent while the pool
// opened (a PSPrimitiveDictionary: PSVersionTable and the like), or nil.
func (s *Session) ApplicationPrivateData() *clixml.Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appData
}

// ProtocolVersion returns the PSRP protocol version the server reported.
func (s *Session) ProtocolVersion() clixml.Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pool.ProtocolVersion()
}

// URL returns the WS-Man endpoint URL.
func (s *Session) URL() string { return s.url }

// State returns the session's current state.
func (s *Session) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Availability reports whether Start can run a pipeline right away:
// Available while a runspace is free, Busy while all MaxRunspaces run a
// pipeline, None unless the session is Opened.
func (s *Session) Availability() Availability {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.availabilityLocked()
}

func (s *Session) availabilityLocked() Availability {
	if s.state != StateOpened || s.closing {
		return AvailabilityNone
	}
	if s.running >= s.maxRS {
		return Busy
	}
	return Available
}

// Watch returns a channel that receives every later change of the session's
// state and availability, in order. State changes are never dropped;
// availability-only changes are coalesced if the reader falls behind. The
// channel is closed after the change to StateClosed has been delivered, or
// when ctx is done. Read it until it is closed or cancel ctx: an abandoned
// channel keeps a goroutine alive.
func (s *Session) Watch(ctx context.Context) <-chan StateChange {
	w := &watcher{wake: make(chan struct{}, 1)}
	out := make(chan StateChange)
	s.mu.Lock()
	if s.state == StateClosed {
		w.closed = true
	} else {
		s.watchers = append(s.watchers, w)
	}
	s.mu.Unlock()
	go w.run(ctx, out)
	return out
}

// setState changes the state and tells the watchers.
func (s *Session) setState(to State, cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setStateLocked(to, cause)
}

func (s *Session) setStateLocked(to State, cause error) {
	from := s.state
	if from == to || from == StateClosed || (from == StateBroken && to != StateClosed) {
		return // Broken is final until Close
	}
	s.state = to
	if to == StateBroken && s.brokenErr == nil {
		s.brokenErr = cause
	}
	c := StateChange{From: from, To: to, Availability: s.availabilityLocked()}
	if to == StateBroken || to == StateDisconnected {
		c.Err = cause // nil for a Disconnect the caller asked for
	}
	if s.logger != nil {
		s.logger.Debug("session state", "from", from.String(), "to", to.String())
	}
	for _, w := range s.watchers {
		w.push(c)
		if to == StateClosed {
			w.finish()
		}
	}
	if to == StateClosed {
		s.watchers = nil
	}
}

// availabilityChangedLocked tells the watchers about a new availability.
func (s *Session) availabilityChangedLocked(before Availability) {
	now := s.availabilityLocked()
	if now == before {
		return
	}
	c := StateChange{From: s.state, To: s.state, Availability: now}
	for _, w := range s.watchers {
		w.push(c)
	}
}

// usable returns nil if pipelines can run, else why not.
func (s *Session) usableLocked() error {
	switch {
	case s.closing || s.state == StateClosed:
		return ErrClosed
	case s.state == StateBroken:
		return &brokenError{cause: s.brokenErr}
	case s.state == StateDisconnected, s.link != nil && s.link.down:
		return ErrDisconnected // or disconnecting
	case s.state != StateOpened:
		return fmt.Errorf("session: not open (state %v)", s.state)
	}
	return nil
}

// markBroken moves an open session to Broken and ends its pipelines.
func (s *Session) markBroken(cause error) {
	cause = accessDenied(cause)
	s.mu.Lock()
	if s.closing || s.state == StateClosed || s.state == StateBroken {
		s.mu.Unlock()
		return
	}
	s.pool.Broken(cause)
	s.setStateLocked(StateBroken, cause)
	s.failCallsLocked()
	s.wakeSlotWaitersLocked()
	ps := make([]*Pipeline, 0, len(s.pipelines))
	for _, p := range s.pipelines {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	for _, p := range ps {
		p.abort(&brokenError{cause: cause})
	}
}

// InvokeScript runs script (like Invoke-Command -ScriptBlock) and collects
// its output; see Invoke.
func (s *Session) InvokeScript(ctx context.Context, script string, opts ...StartOption) (*Result, error) {
	return s.Invoke(ctx, Script(script), opts...)
}

// StartScript starts script; see Start.
func (s *Session) StartScript(ctx context.Context, script string, opts ...StartOption) (*Pipeline, error) {
	return s.Start(ctx, Script(script), opts...)
}

// Invoke runs ps, waits for it to end and returns everything it produced.
// Build ps with Cmd or Script, e.g.
//
//	s.Invoke(ctx, session.Cmd("Get-Service").Param("Name", "WinRM"))
//
// A pipeline that ends Failed returns the Result and a *PipelineError carrying
// the terminating ErrorRecord; non-terminating errors are in Result.Errors
// (and Result.HadErrors) with a nil error. Cancelling ctx stops the remote
// pipeline and returns an error matching ctx.Err() (see Pipeline.Wait).
func (s *Session) Invoke(ctx context.Context, ps *PowerShell, opts ...StartOption) (*Result, error) {
	p, err := s.Start(ctx, ps, opts...)
	if err != nil {
		return nil, err
	}
	return p.Wait()
}

// Start starts ps and returns while it runs. If all MaxRunspaces runspaces
// are busy, Start waits for one to be free (or ctx). ctx governs the whole
// pipeline, like exec.CommandContext: cancelling it, even after Start
// returned, stops the remote pipeline (WS-Man Signal crtl_c, bounded by a
// short timeout of its own) and Wait returns an error matching ctx.Err()
// and, once the server confirmed the stop, ErrStopped. A Start that waited
// for a free runspace until ctx ended says so in its error. Call
// Pipeline.Close (or Wait) on every pipeline Start returns: a pipeline left
// running keeps its runspace.
func (s *Session) Start(ctx context.Context, ps *PowerShell, opts ...StartOption) (_ *Pipeline, err error) {
	defer func() { err = accessDenied(err) }()
	var sc startConfig
	for _, o := range opts {
		if o != nil {
			o(&sc)
		}
	}
	s.mu.Lock()
	err = s.usableLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := s.acquireSlotFor(ctx, sc.nested); err != nil {
		return nil, err
	}
	p, err := s.newPipeline(ctx, ps, sc)
	if err != nil {
		s.releaseSlot()
		return nil, err
	}
	s.terminateFinished()
	if err := s.flush(ctx); err != nil {
		p.failCreate(err)
	}
	if err := p.waitCreated(ctx); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		p.abort(err)
		<-p.done
		return nil, err
	}
	switch {
	case sc.input != nil:
		go p.feed(sc.input) // not tracked: a caller's iterator may block forever
	case sc.inputCh != nil:
		s.goTracked(p.feedChannel, sc.inputCh)
	}
	return p, nil
}

// newPipeline registers a pipeline with the pool and queues CREATE_PIPELINE.
func (s *Session) newPipeline(ctx context.Context, ps *PowerShell, sc startConfig) (*Pipeline, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(); err != nil {
		return nil, err
	}
	input := sc.input != nil || sc.inputCh != nil || sc.openInput
	var cp *psrp.ClientPipeline
	var err error
	if sc.metadata != nil {
		cp, err = s.pool.GetCommandMetadata(*sc.metadata)
	} else {
		var run psrp.PowerShell // a copy: the caller's ps is not modified
		if ps != nil {
			run = *ps
		}
		run.IsNested = run.IsNested || sc.nested // both flags, as PowerShell sends them
		cp, err = s.pool.NewPipeline(&run, psrp.PipelineOptions{NoInput: !input, AddToHistory: sc.history, IsNested: sc.nested})
	}
	if err != nil {
		return nil, fmt.Errorf("session: start: %w", err)
	}
	if err := cp.Invoke(); err != nil {
		_ = cp.Close()
		return nil, fmt.Errorf("session: start: %w", err)
	}
	return s.registerPipelineLocked(ctx, cp, input), nil
}

// registerPipelineLocked wraps cp in a Pipeline governed by ctx and counts
// it as running.
func (s *Session) registerPipelineLocked(ctx context.Context, cp *psrp.ClientPipeline, input bool) *Pipeline {
	p := &Pipeline{
		s:       s,
		cp:      cp,
		id:      cp.ID(),
		cmdID:   commandID(cp.ID()),
		created: make(chan struct{}),
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		input:   input,
		state:   cp.State(), // Running: invoked, or running on the server
	}
	p.ctx, p.cancel = context.WithCancel(s.bgCtx)
	p.live, p.liveCancel = context.WithCancel(p.ctx)
	p.mu.Lock() // the watch may fire at once, and reads stopWatch when it finishes p
	p.stopWatch = context.AfterFunc(ctx, func() { p.giveUp(ctx.Err()) })
	p.mu.Unlock()
	before := s.availabilityLocked()
	s.pipelines[p.id] = p
	s.running++
	s.availabilityChangedLocked(before)
	return p
}

// acquireSlot waits for a free runspace: fewer than MaxRunspaces pipelines
// running (the throttle follows SetMaxRunspaces).
func (s *Session) acquireSlot(ctx context.Context) error {
	for {
		s.mu.Lock()
		if err := s.usableLocked(); err != nil {
			s.mu.Unlock()
			return err
		}
		if s.slotsUsed < s.maxRS {
			s.slotsUsed++
			s.mu.Unlock()
			return nil
		}
		wake, used, limit := s.slotWake, s.slotsUsed, s.maxRS
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("session: start: waiting for a free runspace (%d of %d busy; see WithMaxRunspaces): %w", used, limit, ctx.Err())
		case <-s.bgCtx.Done():
			return ErrClosed
		}
	}
}

// releaseSlot frees a runspace taken by acquireSlot or ConnectPipeline.
func (s *Session) releaseSlot() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slotsUsed--
	s.wakeSlotWaitersLocked()
}

// wakeSlotWaitersLocked makes every waiting Start look again.
func (s *Session) wakeSlotWaitersLocked() {
	close(s.slotWake)
	s.slotWake = make(chan struct{})
}

// failCreate ends a pipeline whose WS-Man Command could not be sent.
func (p *Pipeline) failCreate(err error) {
	p.mu.Lock()
	sent := p.commandSent
	p.mu.Unlock()
	if sent {
		return
	}
	p.closeCreated(err)
	p.s.finishPipeline(p, err)
}

// finishPipeline ends p with err (nil: derive it from the final state),
// releases its runspace and wakes its consumers. It runs once.
func (s *Session) finishPipeline(p *Pipeline, err error) {
	p.mu.Lock()
	stopWatch := p.stopWatch
	p.mu.Unlock()
	if stopWatch != nil {
		stopWatch()
	}
	p.mu.Lock()
	if p.finished {
		p.mu.Unlock()
		return
	}
	if err == nil {
		if p.cause != nil {
			err = fmt.Errorf("session: pipeline failed on bad data from the server: %w", p.cause)
		} else if p.record != nil {
			err = p.record
		} else if !p.state.Terminal() {
			err = errors.New("session: pipeline ended without a final state")
		}
	}
	if p.abortErr != nil && p.abortErr != p.sendErr && err != p.abortErr {
		// The caller gave up (its context ended): say so, and what the
		// pipeline ended as.
		err = outcomeAfter(p.abortErr, err)
	}
	p.err = accessDenied(err)
	p.finished = true
	sent := p.commandSent
	if p.sendTimer != nil {
		p.sendTimer.Stop()
	}
	p.mu.Unlock()

	s.mu.Lock()
	_ = p.cp.Close()
	before := s.availabilityLocked()
	if _, ok := s.pipelines[p.id]; ok {
		delete(s.pipelines, p.id)
		s.running--
	}
	if sent && !s.closing {
		s.toClose = append(s.toClose, p.cmdID)
	}
	s.availabilityChangedLocked(before)
	s.mu.Unlock()
	if p.cancel != nil {
		p.cancel()
	}
	p.closeCreated(err)
	s.releaseSlot()
	close(p.done)
	p.notify()
}

// terminateFinished closes the WS-Man commands of finished pipelines in the
// background (Signal terminate): not needed before Delete, so Close skips it
// and a short-lived session pays no extra round trip.
func (s *Session) terminateFinished() {
	s.mu.Lock()
	ids := s.toClose
	s.toClose = nil
	if len(ids) == 0 || s.closing {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1) // under mu, before Close can start waiting
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		for _, id := range ids {
			ctx, cancel := context.WithTimeout(s.bgCtx, stopTimeout)
			_ = s.wsc.Signal(ctx, s.shell, id, wsman.SignalTerminate)
			cancel()
		}
	}()
}

// goTrackedFunc runs f in a goroutine that Close waits for, unless the
// session is already closing; it reports whether f runs.
func (s *Session) goTrackedFunc(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// goTracked runs f(arg) in a goroutine that Close waits for, unless the
// session is already closing.
func (s *Session) goTracked(f func(<-chan any), arg <-chan any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.wg.Add(1)
	go f(arg)
}

// flush sends every payload the pool has queued, in order: pool data with
// Send, the first payload of a new pipeline with Command (then its receive
// loop starts), later pipeline data with Send on the pipeline.
func (s *Session) flush(ctx context.Context) error {
	if err := s.sendLock.lock(ctx); err != nil {
		return err
	}
	defer s.sendLock.unlock()
	for {
		s.mu.Lock()
		pl, ok := s.pool.DataToSend(s.maxPayload())
		var p *Pipeline
		if ok && pl.PipelineID != uuid.Nil {
			p = s.pipelines[pl.PipelineID]
		}
		s.mu.Unlock()
		if !ok {
			return nil
		}
		if pl.PipelineID == uuid.Nil {
			s.demand.want() // the answer comes on the pool's Receive
			if err := s.send(ctx, "", pl.Stream.Name(), pl.Data); err != nil {
				return s.shellLost(fmt.Errorf("session: send to pool: %w", err))
			}
			continue
		}
		if p == nil {
			continue // the pipeline is gone; its data is moot
		}
		p.mu.Lock()
		sent := p.commandSent
		p.mu.Unlock()
		if !sent {
			if _, err := s.wsc.Command(ctx, s.shell, p.cmdID, pl.Data); err != nil {
				if ctx.Err() != nil {
					// The server may have started the pipeline before the
					// request was abandoned: stop it.
					err = ctx.Err()
					s.stopRemote(p)
				} else {
					err = s.shellLost(fmt.Errorf("session: start pipeline: %w", err))
				}
				p.failCreate(err)
				continue
			}
			p.mu.Lock()
			p.commandSent = true
			p.mu.Unlock()
			p.closeCreated(nil)
			s.mu.Lock()
			closing := s.closing
			if !closing {
				s.wg.Add(1) // under mu, before Close can start waiting
			}
			s.mu.Unlock()
			if closing {
				// Close is deleting the shell, which ends the command.
				s.finishPipeline(p, ErrClosed)
				continue
			}
			go s.pipelineLoop(p)
			continue
		}
		if err := s.send(ctx, p.cmdID, pl.Stream.Name(), pl.Data); err != nil {
			// Not the pipeline's outcome yet: a command that has just
			// ended refuses input with w:InvalidSelectors while its final
			// state is on the way (see sendFailed).
			p.sendFailed(fmt.Errorf("session: send to pipeline: %w", err))
		}
	}
}

// Close stops the running pipelines, deletes the shell on the server (which
// ends everything it runs) and waits for every goroutine of the session to
// end. It waits for the Delete round trip and nothing else; ctx bounds it,
// and so does the default request deadline (see New): even
// Close(context.Background()) returns within OperationTimeout plus its
// margin (30 s by default) of a server that never answers the Delete,
// provided the Host's methods return when their context is cancelled.
// Closing a closed session returns the first Close's result.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		select {
		case <-s.closeDone:
			return s.closeErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.closing = true
	broken := s.state == StateBroken
	ps := make([]*Pipeline, 0, len(s.pipelines))
	for _, p := range s.pipelines {
		ps = append(ps, p)
	}
	_ = s.pool.Close()
	s.mu.Unlock()

	for _, p := range ps {
		p.abort(ErrClosed)
	}
	s.bgCancel() // aborts the pool's pending Receive
	var err error
	if !broken || !errors.Is(s.brokenErr, wsman.ErrShellNotFound) {
		if derr := s.wsc.Delete(ctx, s.shell); derr != nil && !errors.Is(derr, wsman.ErrShellNotFound) {
			err = fmt.Errorf("session: close: %w", derr)
		}
	}
	s.wg.Wait()
	s.mu.Lock()
	s.pool.Closed()
	s.drainEventsLocked() // the pool's final events concern nobody now
	s.setStateLocked(StateClosed, nil)
	s.closeErr = err
	s.mu.Unlock()
	s.closeTransport()
	close(s.closeDone)
	return err
}

// shellLost marks the session Broken if err says that the server no longer
// has the shell (the w:InvalidSelectors fault on a request to it), and
// returns err as the session's operations then report it: matching
// ErrBroken and the cause.
func (s *Session) shellLost(err error) error {
	if err == nil || !errors.Is(err, wsman.ErrShellNotFound) {
		return err
	}
	s.markBroken(err)
	return &brokenError{cause: err}
}

// bgSendContext bounds a send the session makes on its own (a host call's
// answer, a key exchange message): by the session's life and by the
// default request deadline, also while it waits for the send lock.
func (s *Session) bgSendContext(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, s.reqTimeout)
}

// String describes the session without credentials.
func (s *Session) String() string {
	return "session.Session{" + strings.TrimSpace(s.url) + ", " + s.State().String() + "}"
}
