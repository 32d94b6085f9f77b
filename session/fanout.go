package session

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"sync"
	"time"
)

// DefaultThrottleLimit is how many hosts a Fanout works on at once when its
// ThrottleLimit is zero: 32, as Invoke-Command's -ThrottleLimit.
const DefaultThrottleLimit = 32

// fanoutCloseTimeout bounds the Close of each session a fan-out opened,
// which runs after the fan-out's context may have ended.
const fanoutCloseTimeout = 10 * time.Second

// Fanout runs one pipeline on many hosts, like Invoke-Command -ComputerName
// a,b,c -ThrottleLimit N: for each target it opens a session (New), runs the
// pipeline, and closes the session, working on at most ThrottleLimit hosts at
// once. A host that fails (unreachable, access denied, a script that ends
// Failed) is reported with a *TargetError and does not stop the others;
// cancelling the context stops them all.
//
// Invoke collects each host's Result; Records streams the records of every
// host as they arrive, each tagged with its host (PowerShell's
// PSComputerName). The zero Fanout is ready to use; InvokeAll is the
// shorthand for the common case. A Fanout may be used for several runs at once
// and must not be changed while one runs.
type Fanout struct {
	// ThrottleLimit is how many hosts are worked on at once (sessions
	// opening, open or closing). Zero means DefaultThrottleLimit.
	ThrottleLimit int
	// Options are New's options for every host: authentication, TLS,
	// transport, pool options.
	Options []Option
	// HostOptions, if set, returns further options for one target, applied
	// after Options (e.g. per-host credentials or ports).
	HostOptions func(target string) []Option
	// StartOptions are Start's options, for the pipeline on every host. An
	// input sequence (WithInput) is iterated by every host, at once; an
	// input channel (WithInputChannel) is shared, each value going to one
	// host.
	StartOptions []StartOption
	// Progress, if set, is called as each host moves on (see FanoutProgress),
	// with the counts of the whole run. Calls are serialized, in the order
	// of the events, from the fan-out's goroutines: a slow Progress slows
	// the fan-out, and it must not wait for the fan-out to end.
	Progress func(FanoutProgress)
}

// InvokeAll runs ps on every target with opts (New's options) and the
// default throttle, and returns each host's outcome; see Fanout.Invoke.
func InvokeAll(ctx context.Context, targets []string, ps *PowerShell, opts ...Option) ([]TargetResult, error) {
	f := Fanout{Options: opts}
	return f.Invoke(ctx, targets, ps)
}

// TargetResult is the outcome of a pipeline on one host of a fan-out.
type TargetResult struct {
	// Target is the target as given.
	Target string
	// Result is what the pipeline produced; nil if the host failed before
	// the pipeline ran (unreachable, access denied, cancelled).
	Result *Result
	// Err is nil, or a *TargetError carrying Target and the cause: New's error,
	// the pipeline's (a *PipelineError for a script that ended Failed), or
	// the context's.
	Err error
}

// TargetRecord is one record of a fan-out's stream, tagged with the host that
// produced it.
type TargetRecord struct {
	// Target is the target as given (PowerShell's PSComputerName).
	Target string
	// Record is the record, as Pipeline.Records yields it; nil in the pair
	// that reports a host's failure.
	Record Record
}

// TargetError reports the failure of one host of a fan-out. errors.Is and
// errors.As see through it to the cause (ErrAccessDenied, *PipelineError,
// context.Canceled …).
type TargetError struct {
	Target string
	Err    error
}

// Error names the host and the cause.
func (e *TargetError) Error() string { return "session: host " + e.Target + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *TargetError) Unwrap() error { return e.Err }

// FanoutError is the error of a fan-out in which some hosts failed: each
// failure as a *TargetError, in target order. errors.Is and errors.As look
// into every one of them.
type FanoutError struct {
	// Failed are the failures, in target order.
	Failed []*TargetError
	// Total is how many targets the fan-out had.
	Total int
}

// fanoutErrorListed bounds how many hosts FanoutError's text names.
const fanoutErrorListed = 5

// Error counts the failed hosts and lists the first few.
func (e *FanoutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "session: %d of %d hosts failed", len(e.Failed), e.Total)
	for i, h := range e.Failed {
		if i == fanoutErrorListed {
			fmt.Fprintf(&b, "\n… and %d more", len(e.Failed)-i)
			break
		}
		b.WriteString("\n")
		b.WriteString(h.Error())
	}
	return b.String()
}

// Unwrap returns the hosts' errors.
func (e *FanoutError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, h := range e.Failed {
		errs[i] = h
	}
	return errs
}

// FanoutEvent says what happened to a host of a fan-out.
type FanoutEvent int

// Fan-out events, in the order a host goes through them. A host that fails
// to open goes from TargetOpening to TargetDone; one never started (the context
// ended first) reports TargetDone alone.
const (
	// TargetOpening: the session to the host is being opened.
	TargetOpening FanoutEvent = iota
	// TargetRunning: the pipeline was started on the host.
	TargetRunning
	// TargetDone: the host is finished with and its session closed; Err says
	// whether it failed.
	TargetDone
)

// String returns the event's name.
func (e FanoutEvent) String() string {
	switch e {
	case TargetOpening:
		return "Opening"
	case TargetRunning:
		return "Running"
	case TargetDone:
		return "Done"
	}
	return fmt.Sprintf("FanoutEvent(%d)", int(e))
}

// FanoutProgress is one progress report of a fan-out: an event of one host,
// and the counts of the whole run after it.
type FanoutProgress struct {
	// Target is the target the event is about, Index its position in
	// the targets.
	Target string
	Index  int
	Event  FanoutEvent
	// Err is the host's *TargetError for a TargetDone that failed, else nil.
	Err error
	// Total is the number of targets; Started counts the hosts taken up
	// (opening or later, or failed without being contacted because the
	// context ended), Done those finished, Failed those of Done that
	// failed. Started - Done are in progress.
	Total, Started, Done, Failed int
}

// Invoke runs ps on every target and returns, in target order, each host's
// Result and error. The error is nil when every host succeeded, else a
// *FanoutError listing the failed hosts; the results are complete either
// way, so a caller may also look at each TargetResult.Err. A pipeline that
// wrote non-terminating errors (HadErrors) is no failure, as for
// Session.Invoke. Cancelling ctx stops the pipelines that run, and the hosts
// not begun fail with ctx's error without being contacted. Invoke returns
// once every session it opened is closed.
func (f *Fanout) Invoke(ctx context.Context, targets []string, ps *PowerShell) ([]TargetResult, error) {
	return f.invoke(ctx, targets, f.openTarget(targets), ps)
}

// InvokeSessions runs ps on sessions already open, like Invoke-Command
// -Session: at most ThrottleLimit at once, each session's outcome in
// order, as Invoke. The sessions stay open (and cancelling ctx stops the
// pipelines, not the sessions); each TargetResult's Target is the
// session's URL. A session must not appear twice unless it has a runspace
// for each.
func (f *Fanout) InvokeSessions(ctx context.Context, sessions []*Session, ps *PowerShell) ([]TargetResult, error) {
	return f.invoke(ctx, sessionURLs(sessions), openSessions(sessions), ps)
}

// RecordsSessions streams the records of ps on sessions already open, as
// Records does for targets; the sessions stay open.
func (f *Fanout) RecordsSessions(ctx context.Context, sessions []*Session, ps *PowerShell) iter.Seq2[TargetRecord, error] {
	return f.records(ctx, sessionURLs(sessions), openSessions(sessions), ps)
}

// opener gives the session of target i, and whether the fan-out owns it
// (opened it, and closes it at the end).
type opener func(ctx context.Context, i int) (s *Session, owned bool, err error)

// openTarget opens a new session to each target with the fan-out's options.
func (f *Fanout) openTarget(targets []string) opener {
	return func(ctx context.Context, i int) (*Session, bool, error) {
		opts := f.Options
		if f.HostOptions != nil {
			opts = append(opts[:len(opts):len(opts)], f.HostOptions(targets[i])...)
		}
		s, err := New(ctx, targets[i], opts...)
		return s, true, err
	}
}

// openSessions hands out the caller's sessions, which it keeps.
func openSessions(sessions []*Session) opener {
	return func(_ context.Context, i int) (*Session, bool, error) {
		if sessions[i] == nil {
			return nil, false, fmt.Errorf("session: fan-out: session %d is nil", i)
		}
		return sessions[i], false, nil
	}
}

// sessionURLs names each session by its URL, as the fan-out's targets.
func sessionURLs(sessions []*Session) []string {
	urls := make([]string, len(sessions))
	for i, s := range sessions {
		if s != nil {
			urls[i] = s.URL()
		}
	}
	return urls
}

func (f *Fanout) invoke(ctx context.Context, targets []string, open opener, ps *PowerShell) ([]TargetResult, error) {
	results := make([]TargetResult, len(targets))
	for i, t := range targets {
		results[i].Target = t
	}
	f.run(ctx, targets, open, func(ctx context.Context, i int, s *Session, running func()) error {
		p, err := s.Start(ctx, ps, f.StartOptions...)
		if err != nil {
			return err
		}
		running()
		res, err := p.Wait()
		results[i].Result = res
		return err
	}, func(i int, err *TargetError) {
		if err != nil {
			results[i].Err = err
		}
	})
	var failed []*TargetError
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, r.Err.(*TargetError))
		}
	}
	if failed != nil {
		return results, &FanoutError{Failed: failed, Total: len(targets)}
	}
	return results, nil
}

// Records runs ps on every target and streams the records of all hosts as
// they arrive, each tagged with its host; the records of one host come in
// the order its pipeline wrote them. A host that fails yields one pair
// (TargetRecord{Target: host}, *TargetError) and the others go on; every host ends
// either without an error pair or with exactly one. The sequence ends when
// every host is done and its session closed.
//
// The stream is paced by its reader: a host whose record waits to be read
// reads no further output from its server. Leaving the loop early (break,
// return, a panic) stops every pipeline and closes every session before
// the loop statement returns, which may take a few seconds with slow hosts.
// Cancelling ctx stops them too; the hosts then yield their errors (ctx's
// error, for those not begun).
func (f *Fanout) Records(ctx context.Context, targets []string, ps *PowerShell) iter.Seq2[TargetRecord, error] {
	return f.records(ctx, targets, f.openTarget(targets), ps)
}

func (f *Fanout) records(ctx context.Context, targets []string, open opener, ps *PowerShell) iter.Seq2[TargetRecord, error] {
	return func(yield func(TargetRecord, error) bool) {
		type item struct {
			rec TargetRecord
			err error
		}
		out := make(chan item)
		left := make(chan struct{}) // closed when the reader left the loop
		runCtx, cancel := context.WithCancel(ctx)
		finished := make(chan struct{})
		send := func(it item) bool {
			select {
			case out <- it:
				return true
			case <-left:
				return false
			}
		}
		go func() {
			defer close(finished)
			f.run(runCtx, targets, open, func(ctx context.Context, i int, s *Session, running func()) error {
				p, err := s.Start(ctx, ps, f.StartOptions...)
				if err != nil {
					return err
				}
				running()
				for rec, err := range p.Records() {
					if err != nil {
						return err
					}
					if !send(item{rec: TargetRecord{Target: targets[i], Record: rec}}) {
						return context.Canceled // leaving the loop closes the pipeline
					}
				}
				return nil
			}, func(i int, err *TargetError) {
				if err != nil {
					send(item{rec: TargetRecord{Target: targets[i]}, err: err})
				}
			})
		}()
		defer func() {
			// Whatever ended the loop, stop the hosts and wait until every
			// session is closed.
			close(left)
			cancel()
			<-finished
		}()
		for {
			select {
			case it := <-out:
				if !yield(it.rec, it.err) {
					return
				}
			case <-finished:
				return
			}
		}
	}
}

// run works on every target, at most ThrottleLimit at once: it gets the
// session from open, calls work (which reports the pipeline's start with
// running), closes the session if open made it, and hands the outcome to
// done, in the goroutine that
// worked on the host. Targets not begun when ctx ends are handed to done
// with ctx's error. run returns when every host is done.
func (f *Fanout) run(ctx context.Context, targets []string, open opener,
	work func(ctx context.Context, i int, s *Session, running func()) error,
	done func(i int, err *TargetError)) {
	limit := f.ThrottleLimit
	if limit <= 0 {
		limit = DefaultThrottleLimit
	}
	prog := &fanoutProgress{fn: f.Progress, targets: targets}
	finish := func(i int, err error) {
		var herr *TargetError
		if err != nil {
			herr = &TargetError{Target: targets[i], Err: err}
		}
		prog.event(i, TargetDone, herr)
		done(i, herr)
	}
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range targets {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			// Not begun: fail it without contacting the host.
			prog.event(i, hostSkipped, nil)
			finish(i, ctx.Err())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			prog.event(i, TargetOpening, nil)
			finish(i, runHost(ctx, i, open, work, func() { prog.event(i, TargetRunning, nil) }))
		}()
	}
}

// runHost gets the session of target i, runs work on it and, if the
// fan-out opened it, closes it.
func runHost(ctx context.Context, i int, open opener,
	work func(ctx context.Context, i int, s *Session, running func()) error, running func()) error {
	s, owned, err := open(ctx, i)
	if err != nil {
		return err
	}
	err = work(ctx, i, s, running)
	if !owned {
		return err
	}
	// Close even when ctx ended, so that the shell does not outlive the
	// fan-out on the host. Its error does not change the host's outcome:
	// the pipeline's result is had.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fanoutCloseTimeout)
	defer cancel()
	_ = s.Close(cctx)
	return err
}

// hostSkipped is the internal event of a host that is not begun because the
// context ended: it counts as started, and TargetDone follows at once.
const hostSkipped FanoutEvent = -1

// fanoutProgress is the progress bookkeeping of one run.
type fanoutProgress struct {
	mu      sync.Mutex
	fn      func(FanoutProgress)
	targets []string
	started int
	done    int
	failed  int
}

// event records an event of host i and reports it to fn.
func (r *fanoutProgress) event(i int, ev FanoutEvent, err *TargetError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev {
	case TargetOpening, hostSkipped:
		r.started++
	case TargetDone:
		r.done++
		if err != nil {
			r.failed++
		}
	}
	if r.fn == nil || ev == hostSkipped {
		return
	}
	p := FanoutProgress{Target: r.targets[i], Index: i, Event: ev,
		Total: len(r.targets), Started: r.started, Done: r.done, Failed: r.failed}
	if err != nil {
		p.Err = err
	}
	r.fn(p)
}
