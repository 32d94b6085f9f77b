package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/wsman"
)

// psrpBackend runs a psrp.ServerPool for one shell and a goroutine per
// pipeline for its handler. The pool is not safe for concurrent use, so
// every call into it holds mu; handler goroutines take mu for each write.
type psrpBackend struct {
	srv    *Server
	notify func()
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	pool *psrp.ServerPool
	runs map[uuid.UUID]*pipeRun
	// overflow is set when a pipeline's input queue is full; the Send that
	// caused it fails.
	overflow error
	// bufferMode is how detached pipelines buffer (set by Disconnect).
	bufferMode string
	// drained, when not nil, is closed (and cleared) by the next Output or
	// Disconnect: it wakes handlers waiting for their backlog to shrink.
	drained chan struct{}
}

// maxBacklog bounds the output a pipeline's handler may have queued and
// not yet received by the client: past it, its writes wait for a Receive,
// so that the endpoint's memory stays flat however much a handler writes.
// It is as much as the session's client queues for a pipeline (16 MiB):
// a client that reads slowly is then held back by its own bound, not by a
// handler that has to catch up, and every Receive is full.
const maxBacklog = 16 << 20

// backlog is the Server's bound on a pipeline's queued output.
func (b *psrpBackend) backlog() int {
	if b.srv.outputBacklog > 0 {
		return b.srv.outputBacklog
	}
	return maxBacklog
}

// wakeWriters wakes the handlers waiting for their backlog to drain.
// Called with mu held.
func (b *psrpBackend) wakeWriters() {
	if b.drained != nil {
		close(b.drained)
		b.drained = nil
	}
}

// pipeRun is the state of one pipeline's handler.
type pipeRun struct {
	pl       *psrp.ServerPipeline
	cancel   context.CancelFunc
	input    *inputQueue
	stopped  bool // the client sent the stop signal
	closed   bool // the client terminated the command
	finished bool // the final PIPELINE_STATE is queued
	waits    map[int64]chan hostReply
	ctx      context.Context // the handler's; nil until it starts

	// detached is set from the shell's Disconnect until the command is
	// reconnected: the handler's writes go to pending instead of the
	// pool, so that they reach whichever client picks the command up.
	detached bool
	pending  []pendingWrite
	// resume is closed (and replaced) whenever pending is released, to
	// wake handlers blocked on a full buffer.
	resume chan struct{}
}

// pendingWrite is one buffered write of a detached pipeline.
type pendingWrite struct {
	apply func(pl *psrp.ServerPipeline) error
	final bool // the terminal state; never dropped
}

func newPipeRun() *pipeRun {
	return &pipeRun{input: newInputQueue(), waits: make(map[int64]chan hostReply), resume: make(chan struct{})}
}

type hostReply struct {
	result any
	err    *clixml.ErrorRecord
}

// maxDefaultMessage bounds what one client message may reassemble to.
const maxDefaultMessage = 16 << 20

func parseProtocolVersion(v string) (clixml.Version, error) {
	major, minor, ok := strings.Cut(v, ".")
	a, err1 := strconv.Atoi(major)
	b, err2 := strconv.Atoi(minor)
	if !ok || err1 != nil || err2 != nil || a != 2 {
		return clixml.Version{}, fmt.Errorf("sessiontest: ProtocolVersion %q is not 2.x", v)
	}
	return clixml.Version{Major: int32(a), Minor: int32(b), Build: -1, Revision: -1}, nil
}

// defaultBackend makes the PSRP backend of a shell from its creationXml.
func defaultBackend(s *Server, shellID uuid.UUID, creationXML []byte, notify func()) (backend, error) {
	v, err := parseProtocolVersion(s.protocolVersion())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(s.ctx)
	b := &psrpBackend{
		srv: s, notify: notify, ctx: ctx, cancel: cancel,
		pool: psrp.NewServerPool(psrp.ServerPoolConfig{ProtocolVersion: v, MaxMessageSize: maxDefaultMessage}),
		runs: make(map[uuid.UUID]*pipeRun),
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.pool.Receive(creationXML, psrp.StreamDefault, uuid.Nil); err != nil {
		cancel()
		return nil, err
	}
	// Windows does not check that the RPID matches the ShellId (old pypsrp
	// sent byte-swapped GUIDs and worked), so neither does the endpoint.
	b.processEvents()
	return b, nil
}

func (b *psrpBackend) Command(id uuid.UUID, args []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.runs[id] = newPipeRun()
	err := b.pool.Receive(args, psrp.StreamDefault, id)
	b.processEvents()
	if err != nil {
		delete(b.runs, id)
	}
	return err
}

func (b *psrpBackend) Input(id uuid.UUID, stream string, data []byte) error {
	st := psrp.StreamDefault
	if stream == "pr" {
		st = psrp.StreamPromptResponse
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.pool.Receive(data, st, id)
	b.processEvents()
	if b.overflow != nil {
		err, b.overflow = b.overflow, nil
	}
	return err
}

// processEvents acts on what the pool reports. Called with mu held.
func (b *psrpBackend) processEvents() {
	for {
		ev, ok := b.pool.NextEvent()
		if !ok {
			return
		}
		switch e := ev.(type) {
		case psrp.PipelineCreated:
			b.startPipeline(e.Pipeline)
		case psrp.CommandMetadataRequested:
			b.srv.answerCommandMetadata(e.Pipeline, e.Request)
			if r := b.runs[e.Pipeline.ID()]; r != nil {
				r.pl, r.finished = e.Pipeline, true
			}
		case psrp.PipelineInputReceived:
			if r := b.runs[e.Pipeline.ID()]; r != nil && !r.input.push(e.Value) {
				b.overflow = fmt.Errorf("sessiontest: pipeline %v has %d unread input objects", e.Pipeline.ID(), maxQueuedInput)
			}
		case psrp.PipelineInputEnded:
			if r := b.runs[e.Pipeline.ID()]; r != nil {
				r.input.end()
			}
		case psrp.HostResponseReceived:
			if e.Pipeline == nil {
				continue
			}
			if r := b.runs[e.Pipeline.ID()]; r != nil {
				if ch := r.waits[e.CallID]; ch != nil {
					delete(r.waits, e.CallID)
					ch <- hostReply{result: e.Result, err: e.Err}
				}
			}
		}
	}
}

// startPipeline resolves the pipeline's handler and runs it in its own
// goroutine. Called with mu held.
func (b *psrpBackend) startPipeline(pl *psrp.ServerPipeline) {
	r := b.runs[pl.ID()]
	if r == nil { // pipeline data arrived on the pool's stream
		r = newPipeRun()
		b.runs[pl.ID()] = r
	}
	r.pl = pl
	if pl.NoInput() {
		r.input.end()
	}
	stmts := pl.Commands()
	if len(stmts) == 0 || len(stmts[0]) == 0 {
		_ = pl.Fail(recordFromError(errors.New("the pipeline has no commands")))
		r.finished = true
		return
	}
	plan := b.srv.plan(stmts)
	if plan[0].missing != "" {
		// PowerShell resolves a statement's commands before running any.
		_ = pl.Fail(CommandNotFoundRecord(plan[0].missing))
		r.finished = true
		return
	}
	var appArgs map[string]any
	if init := b.pool.InitData(); init != nil {
		appArgs = init.ApplicationArguments
	}
	ctx, cancel := context.WithCancel(b.ctx)
	r.cancel, r.ctx = cancel, ctx
	b.wg.Add(1)
	b.srv.wg.Add(1)
	go func() {
		defer b.srv.wg.Done()
		defer b.wg.Done()
		defer cancel()
		err := runStatements(ctx, plan, r.input, pl.NoInput(), &pipeSink{b: b, r: r}, appArgs)
		b.finish(r, err)
	}()
}

// runHandler calls h, turning a panic into an error so that one broken
// handler fails its pipeline instead of the test binary.
func runHandler(ctx context.Context, h HandlerFunc, c *Call) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sessiontest: handler for %s panicked: %v", c.Name, p)
		}
	}()
	return h(ctx, c)
}

// finish ends the pipeline as the handler's result says. A detached
// pipeline's end is buffered behind its output.
func (b *psrpBackend) finish(r *pipeRun, err error) {
	b.mu.Lock()
	var end func(pl *psrp.ServerPipeline) error
	switch {
	case r.closed:
		// Terminated by the client: nobody will read a state.
		r.pl.Close()
	case b.ctx.Err() != nil:
		// The shell is gone.
	case r.stopped:
		end = (*psrp.ServerPipeline).Stopped
	case err == nil:
		end = (*psrp.ServerPipeline).Complete
	default:
		rec := recordFromError(err)
		end = func(pl *psrp.ServerPipeline) error { return pl.Fail(rec) }
	}
	if end != nil && (r.detached || len(r.pending) > 0) {
		r.pending = append(r.pending, pendingWrite{apply: end, final: true})
		b.mu.Unlock()
		return
	}
	if end != nil {
		_ = end(r.pl)
	}
	r.finished = true
	b.mu.Unlock()
	b.notify()
}

// release writes a reattached pipeline's buffered output into the pool.
// Called with mu held.
func (b *psrpBackend) release(r *pipeRun) {
	for _, w := range r.pending {
		_ = w.apply(r.pl)
		if w.final {
			r.finished = true
		}
	}
	clear(r.pending)
	r.pending = r.pending[:0]
	close(r.resume)
	r.resume = make(chan struct{})
}

func (b *psrpBackend) Output(id uuid.UUID, max int) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.wakeWriters()
	// Only this target's data: the output of the others stays in the pool's
	// queues, where it counts against their backlog (maxBacklog).
	p, ok := b.pool.DataToSendTo(id, max)
	if !ok {
		if max < psrp.FragmentHeaderSize+1 && b.pool.HasDataToSend(id) {
			return nil, &errChunkTooLarge{need: psrp.FragmentHeaderSize + 1}
		}
		return nil, nil
	}
	return p.Data, nil
}

func (b *psrpBackend) Done(id uuid.UUID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.runs[id]
	if r == nil || !r.finished || b.pool.HasDataToSend(id) {
		return false
	}
	return true
}

func (b *psrpBackend) Signal(id uuid.UUID, code string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.runs[id]
	if r == nil {
		return fmt.Errorf("sessiontest: no pipeline %v", id)
	}
	if code == wsman.SignalPSCtrlC {
		if !r.finished && !r.stopped && r.pl != nil {
			r.stopped = true
			_ = r.pl.Stopping()
			if r.cancel != nil {
				r.cancel()
			}
		}
		return nil
	}
	// Any other code closes the command (terminate).
	r.closed = true
	if r.cancel != nil {
		r.cancel()
	}
	if r.pl != nil && r.finished {
		r.pl.Close()
	}
	delete(b.runs, id)
	return nil
}

func (b *psrpBackend) Disconnect(bufferMode string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.pool.Disconnected(); err != nil {
		return err
	}
	b.bufferMode = bufferMode
	for _, r := range b.runs {
		r.detached = true
	}
	b.wakeWriters() // detached writes buffer instead
	return nil
}

func (b *psrpBackend) ReconnectCommand(id uuid.UUID) error {
	b.mu.Lock()
	r := b.runs[id]
	if r == nil {
		b.mu.Unlock()
		return fmt.Errorf("sessiontest: no pipeline %v", id)
	}
	r.detached = false
	b.release(r)
	b.mu.Unlock()
	b.notify()
	return nil
}

func (b *psrpBackend) Reconnect() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pool.Reconnected()
}

func (b *psrpBackend) Connect(data []byte) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.pool.Receive(data, psrp.StreamDefault, uuid.Nil); err != nil {
		return nil, err
	}
	b.processEvents()
	out, ok := b.pool.ConnectResponse(b.srv.maxEnvelope() / 2)
	if !ok {
		return nil, errors.New("sessiontest: connectXml held no CONNECT_RUNSPACEPOOL")
	}
	return out, nil
}

func (b *psrpBackend) Close() {
	b.mu.Lock()
	_ = b.pool.Close()
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}

// pipeSink writes a handler's streams into its ServerPipeline.
type pipeSink struct {
	b *psrpBackend
	r *pipeRun
}

// do writes f to the pipeline, or buffers it while the pipeline is
// detached.
func (k *pipeSink) do(f func(pl *psrp.ServerPipeline) error) error {
	return k.write(f, true)
}

// write applies f to the pipeline. While the pipeline is detached, f is
// buffered when bufferable (up to Server.DisconnectedBufferSize writes;
// beyond that Block waits for a reconnect and Drop forgets the oldest),
// and otherwise (a host call, which needs a client to answer) waits for a
// reconnect.
func (k *pipeSink) write(f func(pl *psrp.ServerPipeline) error, bufferable bool) error {
	b, r := k.b, k.r
	b.mu.Lock()
	for {
		if r.closed {
			b.mu.Unlock()
			return errors.New("sessiontest: the command was terminated")
		}
		if !r.detached && len(r.pending) == 0 && bufferable && b.pool.QueuedBytes(r.pl.ID()) >= b.backlog() {
			// Backpressure: wait for the client to receive.
			if b.drained == nil {
				b.drained = make(chan struct{})
			}
			drained, ctx := b.drained, r.ctx
			if ctx == nil {
				ctx = b.ctx
			}
			b.mu.Unlock()
			select {
			case <-drained:
			case <-ctx.Done():
				return fmt.Errorf("sessiontest: waiting for the client to receive: %w", ctx.Err())
			}
			b.mu.Lock()
			continue
		}
		if !r.detached && len(r.pending) == 0 {
			err := f(r.pl)
			b.mu.Unlock()
			if err == nil {
				b.notify()
			}
			return err
		}
		full := len(r.pending) >= b.srv.disconnectedBuffer()
		if bufferable && (!full || b.bufferMode == wsman.BufferModeDrop) {
			if full {
				r.pending = dropOldest(r.pending)
			}
			r.pending = append(r.pending, pendingWrite{apply: f})
			b.mu.Unlock()
			return nil
		}
		resume, ctx := r.resume, r.ctx
		if ctx == nil {
			ctx = b.ctx
		}
		b.mu.Unlock()
		select {
		case <-resume:
		case <-ctx.Done():
			return fmt.Errorf("sessiontest: waiting for the disconnected client: %w", ctx.Err())
		}
		b.mu.Lock()
	}
}

// dropOldest removes the oldest write that is not the terminal state.
func dropOldest(p []pendingWrite) []pendingWrite {
	for i, w := range p {
		if !w.final {
			return append(p[:i], p[i+1:]...)
		}
	}
	return p
}

func (k *pipeSink) output(v any) error {
	return k.do(func(pl *psrp.ServerPipeline) error { return pl.WriteOutput(v) })
}

func (k *pipeSink) errorRecord(rec *clixml.ErrorRecord) error {
	return k.do(func(pl *psrp.ServerPipeline) error { return pl.WriteError(rec) })
}

func (k *pipeSink) informational(kind recordKind, msg string) error {
	return k.do(func(pl *psrp.ServerPipeline) error {
		switch kind {
		case kindDebug:
			return pl.WriteDebug(msg)
		case kindVerbose:
			return pl.WriteVerbose(msg)
		}
		return pl.WriteWarning(msg)
	})
}

func (k *pipeSink) progress(rec clixml.ProgressRecord) error {
	return k.do(func(pl *psrp.ServerPipeline) error { return pl.WriteProgress(rec) })
}

func (k *pipeSink) information(rec clixml.InformationRecord) error {
	return k.do(func(pl *psrp.ServerPipeline) error { return pl.WriteInformation(rec) })
}

// HostError is the error a host call returns when the client's host
// answered with an error record.
type HostError struct {
	Record *clixml.ErrorRecord
}

func (e *HostError) Error() string {
	return "sessiontest: host call failed: " + e.Record.Exception.Message
}

func (k *pipeSink) hostCall(ctx context.Context, method psrp.HostMethodID, params []any) (any, error) {
	var ch chan hostReply
	var ci int64
	err := k.write(func(pl *psrp.ServerPipeline) error {
		var err error
		ci, err = pl.HostCall(method, params...)
		if err == nil && !method.IsVoid() {
			ch = make(chan hostReply, 1)
			k.r.waits[ci] = ch
		}
		return err
	}, false)
	if err != nil || ch == nil {
		return nil, err
	}
	select {
	case rep := <-ch:
		if rep.err != nil {
			return nil, &HostError{Record: rep.err}
		}
		return rep.result, nil
	case <-ctx.Done():
		k.b.mu.Lock()
		delete(k.r.waits, ci)
		k.b.mu.Unlock()
		return nil, ctx.Err()
	}
}
