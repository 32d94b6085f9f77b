package session

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/wsman"
)

// maxQueued bounds the records a pipeline buffers for a consumer that reads
// slower than the server writes: beyond it the receive loop stops polling,
// and the server blocks the remote pipeline (WinRM's Block buffer mode).
const maxQueued = 4096

// maxQueuedBytes bounds the same buffer by the size of its records, so that
// large objects (a file fetched in chunks of hundreds of KiB) cannot pile up
// 4096 deep; recordSize estimates what a record holds.
const maxQueuedBytes = 16 << 20

// recordSize estimates the memory a queued record holds: its text for the
// large outputs (strings, byte arrays), a small constant otherwise.
func recordSize(r Record) int {
	const overhead = 64
	if o, ok := r.(Output); ok {
		switch v := o.Value.(type) {
		case string:
			return overhead + len(v)
		case []byte:
			return overhead + len(v)
		}
	}
	return overhead
}

// sendFailGrace is how long a pipeline whose Send failed waits for its
// final state before the failure becomes its outcome. A command that ended
// on the server (a handler that failed without reading its input) refuses
// further input at once, and its Receive delivers the final state within a
// round trip; a command that still runs gets no input and would otherwise
// wait for ever.
const sendFailGrace = 2 * time.Second

// stopTimeout bounds the WS-Man signals sent to stop a pipeline whose
// context was cancelled: the caller gets its error promptly either way.
const stopTimeout = 5 * time.Second

// StartOption configures Start and Invoke.
type StartOption func(*startConfig)

type startConfig struct {
	input     iter.Seq[any]
	inputCh   <-chan any
	openInput bool
	history   bool
	nested    bool                     // WithNested (nested.go)
	metadata  *psrp.GetCommandMetadata // GET_COMMAND_METADATA instead of CREATE_PIPELINE (commandmetadata.go)
}

// WithInput feeds the values of seq to the pipeline as its input ($input,
// pipeline-bound parameters), then closes the input: any sequence, such as
// slices.Values([]string{"a", "b"}) or maps.Keys(m). seq runs in its own
// goroutine, which stops asking for values once the pipeline has ended;
// Close does not wait for a seq that blocks forever.
func WithInput[T any](seq iter.Seq[T]) StartOption {
	var in iter.Seq[any]
	if seq != nil {
		in = func(yield func(any) bool) {
			for v := range seq {
				if !yield(v) {
					return
				}
			}
		}
	}
	return func(c *startConfig) { c.input, c.inputCh = in, nil }
}

// WithInputChannel feeds the values received from ch to the pipeline as its
// input, and closes the input when ch is closed. Feeding stops when the
// pipeline ends.
func WithInputChannel(ch <-chan any) StartOption {
	return func(c *startConfig) { c.inputCh, c.input = ch, nil }
}

// WithOpenInput keeps the pipeline's input open so that the caller feeds it
// with Pipeline.Send and ends it with Pipeline.CloseInput.
func WithOpenInput() StartOption { return func(c *startConfig) { c.openInput = true } }

// WithAddToHistory adds the pipeline to the remote runspace's history.
func WithAddToHistory() StartOption { return func(c *startConfig) { c.history = true } }

// Pipeline is one running PowerShell pipeline, shaped like exec.Cmd and
// ssh.Session: records stream out through Records, Wait collects the rest and
// the outcome, Stop stops it, and Close (safe to defer) stops it if it still
// runs and frees its runspace. A Pipeline is single use; its methods are safe
// for concurrent use, but Records and Wait must not be consumed at the same
// time from two goroutines.
type Pipeline struct {
	s     *Session
	cp    *psrp.ClientPipeline
	id    uuid.UUID
	cmdID string

	ctx        context.Context // the receive loop's context
	cancel     context.CancelFunc
	live       context.Context // the caller's interest: host calls and input; ends when it gives up
	liveCancel context.CancelFunc
	stopWatch  func() bool // stops watching the Start context

	created     chan struct{} // closed when the WS-Man Command succeeded or the start failed
	createdOnce sync.Once
	createdErr  error         // set before created is closed on failure
	done        chan struct{} // closed when the pipeline has ended
	wake        chan struct{} // signals queue changes (cap 1)
	input       bool

	mu          sync.Mutex
	queue       []Record
	queuedBytes int // recordSize of everything in queue
	state       PipelineState
	record      *PipelineError // set when the server reports Failed/Stopped
	cause       error          // set when psrp failed the pipeline on bad data
	err         error          // final error, valid once done is closed
	abortErr    error          // why the caller gave up or the loop was cancelled
	commandSent bool
	finished    bool
	result      Result
	inputClosed bool
	sendErr     error       // the first failed Send of input or answers
	sendTimer   *time.Timer // aborts with sendErr unless a final state comes first
	hadErrors   bool        // an error record arrived
	givingUp    bool        // giveUp ran: the pipeline is being stopped for its caller
	stopSignal  bool        // the stop signal (crtl_c) was sent
}

// ID returns the pipeline's ID (its WS-Man CommandId).
func (p *Pipeline) ID() uuid.UUID { return p.id }

// State returns the pipeline's state: Running once started, Stopping while
// a stop is on its way, then the final state the server reported.
func (p *Pipeline) State() PipelineState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Done returns a channel that is closed when the pipeline has ended.
func (p *Pipeline) Done() <-chan struct{} { return p.done }

func (p *Pipeline) notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// push queues a record for the consumer.
func (p *Pipeline) push(r Record) {
	p.mu.Lock()
	if _, ok := r.(*ErrorRecord); ok {
		p.hadErrors = true
	}
	p.queue = append(p.queue, r)
	p.queuedBytes += recordSize(r)
	p.mu.Unlock()
	p.notify()
}

// waitRoom blocks the receive loop while the consumer is behind. A
// pipeline being stopped for its caller is not held up: its final state must
// get through, and stopTimeout bounds what arrives meanwhile.
func (p *Pipeline) waitRoom(ctx context.Context) error {
	for {
		p.mu.Lock()
		n, size, givingUp := len(p.queue), p.queuedBytes, p.givingUp
		p.mu.Unlock()
		if (n < maxQueued && size < maxQueuedBytes) || givingUp {
			return nil
		}
		select {
		case <-p.wake:
			// A consumer popped, or a record arrived; re-check.
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// drain takes every queued record at once, waiting for one: what Wait
// collects, without a lock and a wake-up per record. The queue goes on in
// spare (emptied), so that two buffers serve the whole pipeline. ok is false
// once the pipeline has ended and everything was consumed.
func (p *Pipeline) drain(spare []Record) (rs []Record, ok bool) {
	ok = p.take(func() {
		rs = p.queue
		p.queue, p.queuedBytes = spare[:0], 0
	})
	return rs, ok
}

// next pops the next record, waiting for one; ok is false once the pipeline
// has ended and everything was consumed.
func (p *Pipeline) next() (r Record, ok bool) {
	ok = p.take(func() {
		r = p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.queuedBytes -= recordSize(r)
		if len(p.queue) == 0 {
			p.queue = nil // let the backing array go
		}
	})
	return r, ok
}

// take waits until a record is queued and runs pop under p.mu to take from
// the queue, then makes room for the receive loop; it reports false once
// the pipeline has ended and everything was consumed.
func (p *Pipeline) take(pop func()) bool {
	for {
		p.mu.Lock()
		if len(p.queue) > 0 {
			pop()
			p.mu.Unlock()
			p.notify() // room for the receive loop
			return true
		}
		fin := p.finished
		p.mu.Unlock()
		if fin {
			return false
		}
		select {
		case <-p.wake:
		case <-p.done:
		}
	}
}

// Records returns an iterator over the pipeline's records in the order the
// server sent them. It ends when the pipeline has ended; if the pipeline
// failed, was stopped or was cut short, the last pair carries the error
// (Wait's error) with a nil Record. Records consumed here are not repeated in
// Wait's Result.
//
// Leaving the loop early (break, return, a panic) closes the pipeline, as
// leaving a database/sql Rows loop does: Close stops it if it still runs and
// frees its runspace before the loop statement returns. Wait then reports
// the outcome (ErrStopped).
func (p *Pipeline) Records() iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			r, ok := p.next()
			if !ok {
				break
			}
			if !p.yieldOrClose(yield, r) {
				return
			}
		}
		if err := p.finalErr(); err != nil {
			yield(nil, err)
		}
	}
}

// yieldOrClose yields r and closes the pipeline if the consumer stopped
// (early exit, or a panic in the loop body).
func (p *Pipeline) yieldOrClose(yield func(Record, error) bool, r Record) (more bool) {
	defer func() {
		if !more {
			ctx, cancel := context.WithTimeout(context.Background(), 2*stopTimeout)
			defer cancel()
			_ = p.Close(ctx)
		}
	}()
	return yield(r, nil)
}

func (p *Pipeline) finalErr() error {
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Wait waits for the pipeline to end and returns what it produced that was
// not consumed through Records. The error is a *PipelineError if the
// pipeline ended Failed or Stopped (errors.Is(err, ErrStopped) for the
// latter), ErrClosed if the session was closed, or a transport error. The
// Result is returned in every case.
//
// When the Start context ends first, the pipeline is stopped on the server,
// like exec.CommandContext kills its process: Wait waits for the server to
// confirm the stop (at most a few seconds; the command is terminated
// without confirmation after that), and its error matches both the
// context's error and what the pipeline ended as: ErrStopped and the
// Stopped *PipelineError once the server confirmed, or the Failed one if it
// failed first. Result.State says which.
func (p *Pipeline) Wait() (*Result, error) {
	var batch []Record
	for {
		rs, ok := p.drain(batch)
		if !ok {
			break
		}
		p.mu.Lock()
		for _, r := range rs {
			p.result.add(r)
		}
		p.mu.Unlock()
		clear(rs)
		batch = rs[:0]
	}
	err := p.finalErr()
	p.mu.Lock()
	defer p.mu.Unlock()
	res := p.result
	res.State = p.state
	res.HadErrors = p.hadErrors || p.state == psrp.PipelineFailed
	return &res, err
}

// Stop asks the server to stop the pipeline (WS-Man Signal
// powershell/signal/crtl_c) and waits until it has ended or ctx is done. The
// pipeline then ends Stopped and Wait returns a *PipelineError matching
// ErrStopped. Stopping a pipeline that already ended does nothing.
func (p *Pipeline) Stop(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.waitCreated(ctx); err != nil {
		select {
		case <-p.done:
			return nil
		default:
			return err
		}
	}
	if err := p.signalStop(ctx); err != nil {
		select {
		case <-p.done:
			return nil // it ended meanwhile; the command is gone
		default:
		}
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// signalStop marks the pipeline Stopping and sends the stop signal.
func (p *Pipeline) signalStop(ctx context.Context) error {
	p.s.mu.Lock()
	_ = p.cp.BeginStop() // a state error just means it already ended
	p.s.mu.Unlock()
	p.mu.Lock()
	if p.state == psrp.PipelineRunning {
		p.state = psrp.PipelineStopping
	}
	p.stopSignal = true
	p.mu.Unlock()
	if err := p.s.wsc.Signal(ctx, p.s.shell, p.cmdID, wsman.SignalPSCtrlC); err != nil {
		return fmt.Errorf("session: stop pipeline: %w", err)
	}
	return nil
}

// Close stops the pipeline if it still runs and frees its runspace, like
// database/sql's Rows.Close: defer it after Start, so that a function that
// returns early leaves no pipeline running. It waits for the server to
// confirm the stop, for a few seconds at most (then the command is
// terminated without confirmation), or until ctx is done. Records not read
// yet stay for Wait, whose error then matches ErrStopped (unless the
// pipeline had ended by itself). Close returns ctx's error if ctx ended
// first and nil otherwise; closing an ended or closed pipeline does nothing.
func (p *Pipeline) Close(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	p.giveUp(nil)
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errStopUnconfirmed ends a closed pipeline whose stop the server did not
// confirm in time.
var errStopUnconfirmed = fmt.Errorf("session: pipeline closed before the server confirmed the stop: %w", ErrStopped)

// giveUp stops the pipeline for a caller that no longer waits for it: its
// Start context ended (cause is the context's error) or it called Close
// (cause nil). Host calls and input feeding end at once; the stop signal is
// sent and the receive loop goes on, at most stopTimeout, so that the
// pipeline ends in the state the server reports; then it is aborted.
func (p *Pipeline) giveUp(cause error) {
	p.mu.Lock()
	if p.finished || p.givingUp {
		p.mu.Unlock()
		return
	}
	p.givingUp = true
	if cause != nil && p.abortErr == nil {
		p.abortErr = cause
	}
	sent := p.commandSent
	p.mu.Unlock()
	p.notify() // a receive loop waiting for room goes on
	if cause == nil {
		cause = errStopUnconfirmed
	}
	if p.liveCancel != nil {
		p.liveCancel()
	}
	if !sent || !p.s.goTrackedFunc(func() { p.stopAndWait(cause) }) {
		p.abort(cause)
	}
}

// stopAndWait sends the stop signal and waits for the pipeline to end, at
// most stopTimeout; then it aborts the pipeline with cause.
func (p *Pipeline) stopAndWait(cause error) {
	ctx, cancel := context.WithTimeout(p.ctx, stopTimeout)
	defer cancel()
	if err := p.signalStop(ctx); err == nil {
		select {
		case <-p.done:
			return
		case <-ctx.Done():
		}
	}
	p.abort(cause)
}

// waitCreated waits until the WS-Man Command of the pipeline was sent.
func (p *Pipeline) waitCreated(ctx context.Context) error {
	select {
	case <-p.created:
		return p.createdErr
	case <-p.done:
		return p.finalErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Send sends one value to the pipeline's input, one WS-Man round trip per
// call (WithInput and WithInputChannel batch values instead). The pipeline
// must have been started with WithOpenInput.
func (p *Pipeline) Send(ctx context.Context, v any) error {
	if err := p.queueInput(ctx, v); err != nil {
		return err
	}
	if err := p.s.flush(ctx); err != nil {
		return err
	}
	return p.failedSend()
}

// failedSend returns the error of a failed Send to the pipeline, or nil.
func (p *Pipeline) failedSend() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sendErr
}

// queueInput queues one PIPELINE_INPUT without sending it yet.
func (p *Pipeline) queueInput(ctx context.Context, v any) error {
	if !p.input {
		return ErrNoInput
	}
	if err := p.waitCreated(ctx); err != nil {
		return err
	}
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	p.mu.Lock()
	closed, sendErr := p.inputClosed, p.sendErr
	p.mu.Unlock()
	if sendErr != nil {
		return sendErr // input already went missing
	}
	if closed {
		return errors.New("session: pipeline input already closed")
	}
	if err := p.cp.Send(v); err != nil {
		return fmt.Errorf("session: send input: %w", err)
	}
	return nil
}

// CloseInput ends the pipeline's input (the remote pipeline's input loop
// finishes). Closing it twice does nothing.
func (p *Pipeline) CloseInput(ctx context.Context) error {
	if !p.input {
		return ErrNoInput
	}
	if err := p.waitCreated(ctx); err != nil {
		return err
	}
	p.s.mu.Lock()
	p.mu.Lock()
	already := p.inputClosed
	p.inputClosed = true
	p.mu.Unlock()
	var err error
	if !already {
		err = p.cp.CloseInput()
	}
	p.s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("session: close input: %w", err)
	}
	if err := p.s.flush(ctx); err != nil {
		return err
	}
	return p.failedSend()
}

// inputBatch is how many input values are queued before they are sent:
// they then share Send envelopes instead of costing a round trip each.
const inputBatch = 64

// feed sends the values of seq, then closes the input.
func (p *Pipeline) feed(seq iter.Seq[any]) {
	n := 0
	for v := range seq {
		if p.live.Err() != nil {
			return
		}
		if err := p.queueInput(p.live, v); err != nil {
			return // the pipeline reports the failure
		}
		if n++; n%inputBatch == 0 {
			if err := p.s.flush(p.live); err != nil {
				return
			}
		}
	}
	_ = p.CloseInput(p.live)
}

// closeCreated releases the waiters of the WS-Man Command, with err if the
// pipeline could not be created.
func (p *Pipeline) closeCreated(err error) {
	p.createdOnce.Do(func() {
		p.createdErr = err
		close(p.created)
	})
}

// feedChannel sends the values received from ch until it is closed, then
// closes the input. Values that are ready at once are batched.
func (p *Pipeline) feedChannel(ch <-chan any) {
	defer p.s.wg.Done()
	pending := 0
	for {
		var (
			v  any
			ok bool
		)
		select {
		case v, ok = <-ch:
		default:
			// Nothing ready: send what is queued before blocking.
			if pending > 0 {
				if err := p.s.flush(p.live); err != nil {
					return
				}
				pending = 0
			}
			select {
			case v, ok = <-ch:
			case <-p.live.Done():
				return
			}
		}
		if !ok {
			_ = p.CloseInput(p.live)
			return
		}
		if err := p.queueInput(p.live, v); err != nil {
			return
		}
		if pending++; pending == inputBatch {
			if err := p.s.flush(p.live); err != nil {
				return
			}
			pending = 0
		}
	}
}

// sendFailed records a failed Send to the pipeline. The Receive in flight
// decides what it meant: a final state (the command had ended, and the
// server refused its input) is the outcome; an unknown shell breaks the
// session there; otherwise, after sendFailGrace, the pipeline ends with err.
func (p *Pipeline) sendFailed(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished || p.sendErr != nil || p.state.Terminal() {
		return
	}
	p.sendErr = err
	p.sendTimer = time.AfterFunc(sendFailGrace, func() {
		if !p.endedRemotely() {
			p.abort(err)
		}
	})
}

// abort cancels the receive loop with cause (the Start context's error,
// ErrClosed, or a broken pool). A pipeline whose Command was never sent has
// no loop, so it is finished here.
func (p *Pipeline) abort(cause error) {
	p.mu.Lock()
	if p.abortErr == nil && !p.finished {
		p.abortErr = cause
	}
	sent := p.commandSent
	p.mu.Unlock()
	if p.cancel != nil {
		p.cancel()
	}
	if !sent {
		p.s.finishPipeline(p, cause)
	}
}

// commandID formats a pipeline ID as WS-Man expects it.
func commandID(id uuid.UUID) string { return strings.ToUpper(id.String()) }
