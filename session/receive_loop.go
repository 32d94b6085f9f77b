package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/wsman"
)

// receive issues one WS-Man Receive for the pool (p nil) or a pipeline and
// feeds what arrives to the pool state machine, then handles the events and
// sends what the pool queued in answer (a PUBLIC_KEY, say) at once. It
// returns the command state's Done flag and whether data arrived.
//
// Errors in the data are dealt with by what they did to the stream (see
// receiveErrors): one that leaves the pool's stream unusable breaks the
// session, with that error as its reason, before the events of the same
// data are handled (so that a pool cannot open on a stream it rejected);
// one confined to this pipeline is returned; messages psrp dropped are
// logged.
func (s *Session) receive(ctx context.Context, p *Pipeline) (done, got bool, err error) {
	cmd := ""
	if p != nil {
		cmd = p.cmdID
	}
	op, again := s.receiveOp(cmd) // repeated after a lost answer (robust.go)
	res, err := s.wsc.Receive(ctx, s.shell, cmd, wsman.ReceiveOptions{KeepAlive: true, OperationID: op, Retransmit: again})
	s.receiveEnded(cmd, op, res, err)
	if err != nil {
		return false, false, err
	}
	// The pool consumes the data before Receive returns (the defragmenter
	// copies what it must keep), so the buffer can go back for the next
	// response.
	defer res.Release()
	run := errorRun{pipeline: uuid.Nil}
	if p != nil {
		run.pipeline = p.id
	}
	// One slice for the events of every stream, recycled: handleEvents
	// does not keep it.
	buf := eventBuffers.Get().(*[]psrp.QueuedEvent)
	events := (*buf)[:0]
	defer func() {
		clear(events)
		*buf = events[:0]
		eventBuffers.Put(buf)
	}()
	for _, st := range res.Streams {
		if len(st.Data) == 0 {
			continue
		}
		got = true
		s.mu.Lock()
		rerr := s.pool.Receive(st.Data)
		clear(events)
		events = s.appendEventsLocked(events[:0])
		poolBroken := s.pool.State() == psrp.RunspacePoolBroken && s.state != StateBroken && !s.closing
		s.mu.Unlock()
		run.add(rerr)
		if fatal := run.fatalErr(); fatal != nil || poolBroken {
			if fatal == nil {
				fatal = brokenCause(events)
			}
			err := fmt.Errorf("session: receive: %w", fatal)
			s.openDone(err)
			s.markBroken(err)
			s.handleEvents(ctx, events)
			return false, true, &brokenError{cause: err}
		}
		s.handleEvents(ctx, events)
	}
	if got {
		// Answers the pool queued while handling the data (a PUBLIC_KEY
		// for the server's PUBLIC_KEY_REQUEST) go now, not with the next
		// pipeline; the send has a deadline of its own.
		fctx, cancel := s.bgSendContext(s.bgCtx)
		ferr := s.flush(fctx)
		cancel()
		if ferr != nil && s.logger != nil {
			s.logger.Debug("session: send after receive", "err", ferr.Error())
		}
	}
	perr := run.confinedErr()
	if p == nil && perr != nil {
		// Nothing on the pool's stream is confined to a pipeline we
		// could fail: the stream is intact, so the session goes on.
		if s.logger != nil {
			s.logger.Warn("session: ignored bad data from the server", "err", perr.Error())
		}
		perr = nil
	}
	if dropped := run.droppedErr(); dropped != nil && s.logger != nil {
		s.logger.Debug("session: dropped data from the server", "err", dropped.Error())
	}
	if perr != nil {
		return false, got, fmt.Errorf("session: receive: %w", perr)
	}
	return res.CommandState.Done(), got, nil
}

// eventBuffers recycles receive's event slices: a stream can carry a
// thousand messages, and growing a new slice for each response was about
// 7% of what a large pipeline allocated.
var eventBuffers = sync.Pool{New: func() any { return new([]psrp.QueuedEvent) }}

// brokenCause finds why psrp broke the pool in events, for the session's
// reason.
func brokenCause(events []psrp.QueuedEvent) error {
	for _, ev := range events {
		if e, ok := ev.Event.(psrp.PoolStateChanged); ok && e.State == psrp.RunspacePoolBroken {
			if e.Cause != nil {
				return e.Cause
			}
			if e.Err != nil {
				return &PoolError{Record: e.Err}
			}
		}
	}
	return errors.New("session: the runspace pool broke on data from the server")
}

// opTimeout is the OperationTimeout the session's Receives carry.
func (s *Session) opTimeout() time.Duration {
	if s.wsc.OperationTimeout > 0 {
		return s.wsc.OperationTimeout
	}
	return wsman.DefaultOperationTimeout
}

func (s *Session) drainEventsLocked() []psrp.QueuedEvent {
	return s.appendEventsLocked(nil)
}

// appendEventsLocked is drainEventsLocked appending to evs, so that a
// loop can reuse one slice.
func (s *Session) appendEventsLocked(evs []psrp.QueuedEvent) []psrp.QueuedEvent {
	return s.pool.AppendEvents(evs)
}

// poolIdleDelay is how long an opened pool that nothing has needed yet
// goes without its Receive (see poolDemand).
const poolIdleDelay = time.Second

// pipelineWakeDelay is how long a pipeline runs before the pool's Receive
// starts, unless its first Receive round returns before it ends.
const pipelineWakeDelay = 500 * time.Millisecond

// poolDemand holds back the pool's Receive after the open until something
// could need it, so that a short-lived session (open, a quick pipeline,
// close) does not pay a round trip for it. The pool stream carries answers
// to what the client sends on it (runspace requests, the key exchange), pool
// host calls and key requests, which come only while a pipeline runs, and
// what the server sends on its own (user events, state changes), which it
// holds until a Receive comes. So the Receive starts, for good, at the first
// of: a Send on the pool stream, a pipeline outliving its first Receive
// round or running for pipelineWakeDelay, a Connect or Reconnect, or the
// pool being open for poolIdleDelay.
type poolDemand struct {
	once   sync.Once
	wanted chan struct{} // closed by want; made with the session
}

// want starts the pool's Receive; later calls do nothing.
func (d *poolDemand) want() { d.once.Do(func() { close(d.wanted) }) }

// awaitPoolDemand returns once the opened pool's Receive is wanted, the link
// goes down with nothing in flight (the loop then parks as usual), or ctx
// ends (false). While the pool is opening it returns at once.
func (s *Session) awaitPoolDemand(ctx context.Context) bool {
	select {
	case <-s.opened:
	default:
		return true
	}
	wanted := s.demand.wanted
	select {
	case <-wanted:
		return true
	default:
	}
	idle := time.NewTimer(poolIdleDelay)
	defer idle.Stop()
	select {
	case <-wanted:
	case <-idle.C:
		s.demand.want()
	case <-s.currentLink().quiet:
	case <-ctx.Done():
		return false
	}
	return true
}

// poolLoop keeps a Receive outstanding on the pool while the session is
// attached and the Receive is wanted (see poolDemand): it completes the
// open, and carries pool host calls, key exchange answers, runspace answers
// and state changes. While the session is disconnected it parks until
// Reconnect. It ends when the session closes or breaks.
func (s *Session) poolLoop() {
	defer s.wg.Done()
	defer func() { s.currentLink().parkPool() }()
	ctx := s.bgCtx
	var bo backoff
	for {
		if !bo.wait(ctx, nil) || !s.awaitPoolDemand(ctx) {
			s.openDone(ErrClosed)
			return
		}
		l, ok := s.beginReceive()
		if !ok {
			l.parkPool()
			select {
			case <-l.resumed:
				// The server may hold pool messages from the time the
				// session was away.
				s.demand.want()
				continue
			case <-ctx.Done():
				s.openDone(ErrClosed)
				return
			}
		}
		start := time.Now()
		_, got, err := s.receive(ctx, nil)
		s.endReceive(l)
		if ctx.Err() != nil {
			s.openDone(ErrClosed)
			return
		}
		bo.observe(got, time.Since(start), s.opTimeout())
		if err != nil {
			if errors.Is(err, wsman.ErrOperationTimeout) {
				continue
			}
			if err = s.rideOut(ctx, err); err == nil {
				continue // back after a network failure: the same Receive again
			}
			if errors.Is(err, wsman.ErrShellDisconnected) && s.shellDisconnected(ctx, l, "") {
				continue // parks until Reconnect
			}
			err = fmt.Errorf("session: pool receive: %w", err)
			s.openDone(err)
			s.markBroken(err)
			return
		}
		s.mu.Lock()
		st := s.state
		s.mu.Unlock()
		if st == StateBroken || st == StateClosed {
			s.openDone(&brokenError{cause: s.brokenErr})
			return
		}
	}
}

// openDone releases New with err (nil: opened).
func (s *Session) openDone(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.opened:
		return
	default:
	}
	s.openErr = err
	close(s.opened)
}

// pipelineLoop receives a pipeline's output until it ends, then finishes it.
func (s *Session) pipelineLoop(p *Pipeline) {
	defer s.wg.Done()
	err := s.pipelineReceive(p)
	s.mu.Lock()
	delete(s.detached, p.cmdID)
	s.mu.Unlock()
	if p.ctx.Err() != nil {
		p.mu.Lock()
		cause := p.abortErr
		p.mu.Unlock()
		if cause == nil {
			cause = ErrClosed
		}
		s.mu.Lock()
		closing := s.closing
		s.mu.Unlock()
		if p.endedRemotely() {
			// The final state arrived: it is the outcome, with the
			// cause (see finishPipeline).
			s.finishPipeline(p, nil)
			return
		}
		if !closing && !errors.Is(cause, ErrBroken) {
			s.stopRemote(p)
		}
		s.finishPipeline(p, cause)
		return
	}
	s.finishPipeline(p, err)
}

// endedRemotely reports whether the server already reported a final state.
func (p *Pipeline) endedRemotely() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.Terminal()
}

// pipelineReceive receives until the pipeline ends. While the session is
// disconnected it parks until Reconnect; a Receive in flight when Disconnect
// was sent is handled like any other, so output the server already took
// from its buffer for it is delivered.
func (s *Session) pipelineReceive(p *Pipeline) error {
	defer s.forgetReceiveOp(p.cmdID)
	var bo backoff
	// A pipeline that runs on may bring pool host calls or key requests.
	wake := time.AfterFunc(pipelineWakeDelay, s.demand.want)
	defer wake.Stop()
	for {
		if err := p.waitRoom(p.ctx); err != nil {
			return err
		}
		if !bo.wait(p.ctx, nil) {
			return p.ctx.Err()
		}
		l, ok := s.beginReceive()
		if !ok {
			select {
			case <-l.resumed:
				continue
			case <-p.ctx.Done():
				return p.ctx.Err()
			}
		}
		start := time.Now()
		done, got, err := s.receive(p.ctx, p)
		s.endReceive(l)
		bo.observe(got, time.Since(start), s.opTimeout())
		if err != nil {
			if p.ctx.Err() != nil {
				return p.ctx.Err()
			}
			if errors.Is(err, wsman.ErrOperationTimeout) {
				continue // nothing yet
			}
			if err = s.rideOut(p.ctx, err); err == nil {
				continue // back after a network failure: the same Receive again
			}
			if p.ctx.Err() != nil {
				return p.ctx.Err()
			}
			if errors.Is(err, wsman.ErrShellDisconnected) && s.shellDisconnected(p.ctx, l, p.cmdID) {
				continue // parks until Reconnect
			}
			if errors.Is(err, ErrBroken) {
				return err
			}
			if errors.Is(err, wsman.ErrShellNotFound) && s.outputLost(p.cmdID) {
				return fmt.Errorf("%w: %w", ErrOutputLost, err) // robust.go
			}
			return s.shellLost(fmt.Errorf("session: pipeline receive: %w", err))
		}
		if p.endedRemotely() {
			return nil
		}
		if done {
			return ErrNoFinalState
		}
		s.demand.want() // the pipeline outlived a Receive round
	}
}

// stopRemote stops a pipeline whose caller gave up (context cancelled): the
// PowerShell stop signal, then terminate to release the command. A fresh,
// short context bounds both, since the caller's is already done.
func (s *Session) stopRemote(p *Pipeline) {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	p.mu.Lock()
	signalled := p.stopSignal
	p.mu.Unlock()
	if !signalled {
		_ = s.wsc.Signal(ctx, s.shell, p.cmdID, wsman.SignalPSCtrlC)
	}
	_ = s.wsc.Signal(ctx, s.shell, p.cmdID, wsman.SignalTerminate)
	p.mu.Lock()
	p.commandSent = false // already terminated: keep it off the toClose list
	p.mu.Unlock()
}

// handleEvents routes the pool's events: records to their pipeline, state
// changes to the session or pipeline, host calls to the Host.
func (s *Session) handleEvents(ctx context.Context, events []psrp.QueuedEvent) {
	// Outputs come in runs for one pipeline, looked up once per run; any
	// other event ends the run (it may end the pipeline).
	var outTo *Pipeline
	var outID uuid.UUID
	for _, ev := range events {
		if ev.Event == nil {
			e := ev.Output
			if outTo == nil || e.PipelineID != outID {
				outTo, outID = s.pipelineByID(e.PipelineID), e.PipelineID
			}
			if outTo != nil {
				outTo.push(Output{Value: e.Value})
			}
			continue
		}
		outTo = nil
		switch e := ev.Event.(type) {
		case psrp.PoolStateChanged:
			s.poolStateChanged(e)
		case psrp.PipelineErrorEvent:
			if e.Record != nil {
				s.toPipeline(e.PipelineID, e.Record)
			}
		case psrp.PipelineWarningEvent:
			if e.Record != nil {
				s.toPipeline(e.PipelineID, Warning{*e.Record})
			}
		case psrp.PipelineVerboseEvent:
			if e.Record != nil {
				s.toPipeline(e.PipelineID, Verbose{*e.Record})
			}
		case psrp.PipelineDebugEvent:
			if e.Record != nil {
				s.toPipeline(e.PipelineID, Debug{*e.Record})
			}
		case psrp.PipelineProgressEvent:
			if e.Record != nil {
				s.toPipeline(e.PipelineID, Progress{*e.Record})
			}
		case psrp.PipelineInformationEvent:
			if e.Record != nil {
				s.toPipeline(e.PipelineID, Information{*e.Record})
			}
		case psrp.PipelineStateChanged:
			s.pipelineStateChanged(e)
		case psrp.ApplicationPrivateDataReceived:
			if e.Data != nil {
				s.mu.Lock()
				s.appData = e.Data.Data
				s.mu.Unlock()
			}
		case psrp.RunspaceAvailabilityEvent:
			s.runspaceAnswer(e)
		case psrp.SessionKeyReceived:
			s.keyWait.arrived()
			// Messages psrp held for the key exchange (pipelines with a
			// SecureString argument, host responses carrying one) can go.
			fctx, cancel := s.bgSendContext(ctx)
			err := s.flush(fctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				s.markBroken(err)
			}
		case psrp.PoolHostCallEvent:
			s.serviceHostCall(ctx, nil, e.CallID, e.Method, e.Params)
		case psrp.PipelineHostCallEvent:
			s.mu.Lock()
			p := s.pipelines[e.PipelineID]
			s.mu.Unlock()
			if p != nil {
				s.serviceHostCall(p.live, p, e.CallID, e.Method, e.Params)
			}
		}
	}
}

func (s *Session) pipelineByID(id uuid.UUID) *Pipeline {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pipelines[id]
}

func (s *Session) toPipeline(id uuid.UUID, r Record) {
	if p := s.pipelineByID(id); p != nil {
		p.push(r)
	}
}

func (s *Session) pipelineStateChanged(e psrp.PipelineStateChanged) {
	p := s.pipelineByID(e.PipelineID)
	if p == nil {
		return
	}
	p.mu.Lock()
	p.state = e.State
	switch {
	case e.State == psrp.PipelineFailed && e.Err == nil && e.Cause != nil:
		// psrp failed the pipeline itself, on bad data from the server.
		p.cause = e.Cause
	case e.State == psrp.PipelineFailed || e.State == psrp.PipelineStopped:
		p.record = &PipelineError{Record: e.Err, State: e.State}
	}
	p.mu.Unlock()
	p.notify()
}

func (s *Session) poolStateChanged(e psrp.PoolStateChanged) {
	switch e.State {
	case psrp.RunspacePoolOpened:
		s.mu.Lock()
		v := s.pool.ProtocolVersion()
		s.mu.Unlock()
		if s.cfg.maxEnvelope == 0 && psrp.VersionSupportsConnect(v) {
			s.wsc.SetMaxEnvelopeSize(v22EnvelopeSize)
		}
		s.setState(StateOpened, nil)
		s.openDone(nil)
	case psrp.RunspacePoolBroken, psrp.RunspacePoolClosed:
		var err error = errors.New("session: the server closed the runspace pool")
		switch {
		case e.Err != nil:
			err = &PoolError{Record: e.Err}
		case e.Cause != nil:
			err = e.Cause
		}
		s.openDone(fmt.Errorf("session: open: %w", err))
		s.markBroken(err)
	}
}

// serviceHostCall runs a host call on the Host and sends the answer back for
// methods that return a value. An answer that cannot be sent is replaced by
// an error answer, so the remote call never waits forever.
func (s *Session) serviceHostCall(ctx context.Context, p *Pipeline, callID int64, m psrp.HostMethodID, params []any) {
	val, err := callHost(hostCallContext(ctx, p), s.host, m, params)
	if m.IsVoid() {
		return
	}
	var rec *clixml.ErrorRecord
	if err != nil {
		rec, val = hostErrorRecord(m, err), nil
	}
	respond := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if p != nil {
			return p.cp.HostResponse(callID, val, rec)
		}
		return s.pool.HostResponse(callID, val, rec)
	}
	// A response carrying a SecureString before the session key is known
	// is held by psrp, which starts the key exchange; flush sends it.
	rerr := respond()
	if rerr != nil && !errors.Is(rerr, psrp.ErrUnknownCallID) {
		val, rec = nil, hostErrorRecord(m, rerr)
		rerr = respond()
	}
	if rerr != nil {
		return // the call is gone (pipeline ended); nothing to answer
	}
	// The answer is a send of the session's own: it gets a deadline of its
	// own, so that a server that withholds the Send's answer holds up
	// neither this loop nor (through the send lock) anyone else for long.
	fctx, cancel := s.bgSendContext(ctx)
	defer cancel()
	if err := s.flush(fctx); err != nil && p != nil {
		p.abort(err)
	}
}
