package session

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/wsman"
)

// Robust connection (PowerShell's): when the network fails under an open
// session (a connection reset, an answer stalled past the request
// deadline, connections refused, the listener restarting) the session
// does not break. It goes to StateDisconnected (Watch sees the change,
// with the network error as its Err), probes the shell with backoff until
// the server answers, reconnects the shell and its commands if the server
// disconnected them meanwhile, and goes back to StateOpened; every
// pipeline then picks up where it was.
//
// Nothing is lost or duplicated:
//   - Output: every Receive carries a fresh wsmv:OperationID (MS-WSMV
//     3.1.4.1.39, robust connection support). A server that supports it
//     echoes the id and keeps its answer; a Receive whose answer the
//     network lost is sent again with the same id marked as a
//     retransmission, and the server answers with the same data; the next
//     Receive of that pipeline (or of the pool), with a new id,
//     acknowledges it. A server without that support (it echoes no
//     OperationID: older Windows) cannot repeat an answer: the session
//     still rides out the failure and reconnects, but the output carried
//     by an answer the network lost is lost with it (see
//     WithReconnectWindow).
//   - Input: a Send whose answer arrived is never sent again. One whose
//     answer was lost is sent again once the session is back, since the
//     client cannot know whether it arrived. Once the server has shown
//     robust connection support (its Receive answers echo the
//     OperationID), every Send carries a fresh wsmv:OperationID too, and
//     the one sent again carries the same id marked as a retransmission:
//     the server answers it from what it kept and does not take the input
//     a second time (MS-WSMV 3.1.4.1.39). Against a server without that
//     support the Send goes again as it was: its PSRP fragments are
//     numbered (ObjectId, FragmentId), and a server that drops fragments
//     it already has (as the emulated endpoint, sessiontest, does) takes
//     it once, but one that does not (older WinRM) may take the input of
//     that Send twice.
//   - Other requests (Command, Signal, Delete, runspace requests) are not
//     repeated: their caller gets the network error, as before, though the
//     session itself recovers.
//
// Past the window, or when the server says the shell is gone, the session
// is Broken with that reason (matching ErrBroken and, for a shell the
// server dropped, wsman.ErrShellNotFound).

// ErrOutputLost is matched by the error of a pipeline that ended while an
// answer carrying its output was lost to a network failure, on a server
// without robust connection support (which cannot send an answer again).
var ErrOutputLost = errors.New("session: output lost to a network failure (the server has no robust connection support)")

// DefaultReconnectWindow is how long a session rides out a network failure
// before it is Broken, unless WithReconnectWindow says otherwise:
// PowerShell's 4 minutes.
const DefaultReconnectWindow = 4 * time.Minute

// robustConfig is what WithReconnectWindow sets.
type robustConfig struct {
	window time.Duration
	set    bool
}

// WithReconnectWindow sets how long the session keeps trying to reach its
// shell when the network fails under it (see DefaultReconnectWindow, 4
// minutes): while it tries, the session is Disconnected; once the shell
// answers it is Opened again and its pipelines carry on, losing and
// repeating nothing. Past the window it is Broken. Zero turns the robust
// connection off: a network failure breaks the session at once.
//
// Losing nothing needs the server's robust connection support (MS-WSMV
// 3.1.4.1.39), which the session detects from its answers (they echo the
// wsmv:OperationID of each Receive). Against a server without it (older
// WinRM) the session still goes Disconnected and back to Opened, but the
// output in a Receive answer the network cut off is lost
// (RobustStats.LostAnswers counts such answers): a pipeline may miss
// objects, fail on a half-received one, or end with an error matching
// ErrOutputLost when its end was in the lost answer; a lost answer to the
// pool's Receive may lose pool messages, or break the session.
//
// Input: a Send whose answer the network lost is sent again once the
// session is back. Against a server with robust connection support it is
// marked as a retransmission of its wsmv:OperationID, and the server
// answers from what it kept without taking the input again: nothing is
// repeated. Against a server without it, the Send goes again as it was,
// and its input arrives once only if the server drops PSRP fragments it
// already has (the emulated endpoint, sessiontest, does); older WinRM may
// take it twice.
func WithReconnectWindow(d time.Duration) SessionOption {
	return func(c *poolConfig) { c.robust = robustConfig{window: max(d, 0), set: true} }
}

// reconnectWindow is the window in force.
func (c robustConfig) reconnectWindow() time.Duration {
	if !c.set {
		return DefaultReconnectWindow
	}
	return c.window
}

// robustState is the session's robust-connection bookkeeping.
type robustState struct {
	outage *outage // the outage being ridden out, or nil; guarded by Session.mu

	opMu sync.Mutex
	lost map[string]uuid.UUID // per target ("" the pool), the OperationID of a Receive whose answer was lost
	// echoes is whether the server's last Receive answer echoed its
	// OperationID: it supports robust connections, and a lost answer can
	// be asked for again. Before the first answer it is false: a Receive
	// lost that early is not retransmitted (the pool's first Receives
	// answer within the handshake, so the window is small).
	echoes atomic.Bool
	gaps   map[string]bool // pipelines that lost an answer the server could not repeat

	outages  atomic.Int64 // outages begun
	retries  atomic.Int64 // requests that waited for one and were repeated
	attempts atomic.Int64 // probes of the shell
	lostAns  atomic.Int64 // answers lost for good
}

// outage is one network failure being ridden out: done is closed once the
// session is back (err nil) or Broken (err says why).
type outage struct {
	done  chan struct{}
	start time.Time
	err   error
}

// RobustStats counts what the robust connection did over a session's life.
type RobustStats struct {
	// Outages is how many times the session went Disconnected on a
	// network failure.
	Outages int64
	// Retries is how many requests were repeated after one.
	Retries int64
	// Probes is how many times the session tried to reach the shell.
	Probes int64
	// LostAnswers is how many Receive answers the network lost that the
	// server could not send again, having no robust connection support:
	// the output they carried is gone. Always 0 against a server with it.
	LostAnswers int64
}

// RobustStats reports what the robust connection did so far.
func (s *Session) RobustStats() RobustStats {
	return RobustStats{Outages: s.rob.outages.Load(), Retries: s.rob.retries.Load(), Probes: s.rob.attempts.Load(),
		LostAnswers: s.rob.lostAns.Load()}
}

// receiveOp returns the wsmv:OperationID for the next Receive of cmd (""
// the pool), uuid.Nil when the robust connection is off, and whether it is
// a retransmission: the repeat of a Receive whose answer the network lost,
// which only a server that echoes OperationIDs can answer again. Without
// that support the lost answer is gone, and the Receive starts afresh.
func (s *Session) receiveOp(cmd string) (op uuid.UUID, retransmit bool) {
	if s.cfg.robust.reconnectWindow() == 0 {
		return uuid.Nil, false
	}
	s.rob.opMu.Lock()
	defer s.rob.opMu.Unlock()
	if id, ok := s.rob.lost[cmd]; ok {
		if s.rob.echoes.Load() {
			return id, true
		}
		delete(s.rob.lost, cmd)
		s.rob.lostAns.Add(1)
		if cmd != "" {
			if s.rob.gaps == nil {
				s.rob.gaps = make(map[string]bool)
			}
			s.rob.gaps[cmd] = true
		}
	}
	return uuid.New(), false
}

// outputLost reports whether the pipeline cmd lost an answer the server
// could not repeat. A command the server no longer knows after that (its
// end was in the lost answer) is then the pipeline's end, not the shell's.
func (s *Session) outputLost(cmd string) bool {
	s.rob.opMu.Lock()
	defer s.rob.opMu.Unlock()
	return s.rob.gaps[cmd]
}

// receiveEnded records how the Receive op of cmd ended: an answer (a
// result, or a fault) acknowledges it; a network failure keeps it, to be
// retransmitted.
func (s *Session) receiveEnded(cmd string, op uuid.UUID, res *wsman.ReceiveResult, err error) {
	if op == uuid.Nil {
		return
	}
	if res != nil {
		s.rob.echoes.Store(res.OperationID == op)
	}
	s.rob.opMu.Lock()
	defer s.rob.opMu.Unlock()
	if err != nil && networkFailure(err) {
		if s.rob.lost == nil {
			s.rob.lost = make(map[string]uuid.UUID)
		}
		s.rob.lost[cmd] = op
		return
	}
	delete(s.rob.lost, cmd)
}

// forgetReceiveOp drops the lost Receive of a command that ended.
func (s *Session) forgetReceiveOp(cmd string) {
	s.rob.opMu.Lock()
	defer s.rob.opMu.Unlock()
	delete(s.rob.lost, cmd)
	delete(s.rob.gaps, cmd)
}

// networkFailure reports whether err is the network failing under a
// request (connection reset or refused, a truncated answer, a deadline
// passed), which the robust connection rides out, rather than an answer:
// a SOAP fault, an HTTP status, refused credentials, a certificate that
// does not verify, a malformed response.
func networkFailure(err error) bool {
	if err == nil {
		return false
	}
	var (
		fault *wsman.Fault
		herr  *wsman.HTTPError
		rerr  *wsman.RedirectError
		perr  *wsman.ProtocolError
		cerr  *tls.CertificateVerificationError
		uerr  *url.Error
		nerr  net.Error
	)
	switch {
	case errors.As(err, &fault), errors.As(err, &herr), errors.As(err, &rerr), errors.As(err, &perr), errors.As(err, &cerr):
		return false
	case errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.Is(err, auth.ErrAccessDenied), errors.Is(err, auth.ErrUntrustedHost),
		errors.Is(err, auth.ErrSchemeNotOffered), errors.Is(err, auth.ErrNoMechanism),
		errors.Is(err, auth.ErrRequiresHTTPS), errors.Is(err, auth.ErrResponseTooLarge),
		errors.Is(err, auth.ErrUnsealedResponse), errors.Is(err, wsman.ErrAccessDenied):
		return false
	case errors.As(err, &nerr) && nerr.Timeout():
		return true
	case errors.As(err, &uerr):
		// What net/http reports of a connection that broke under it.
		return true
	}
	return false
}

// rideOut is called by a request of the session that failed with err. If
// err is a network failure under an open session, it waits (bounded by
// the reconnect window, and by ctx) until the session is back, and returns
// nil: the caller repeats its request. Otherwise, or if the session does
// not come back, it returns the error for the caller to report.
func (s *Session) rideOut(ctx context.Context, err error) error {
	if ctx.Err() != nil || s.cfg.robust.reconnectWindow() == 0 || !networkFailure(err) {
		return err
	}
	s.mu.Lock()
	o := s.rob.outage
	if o == nil {
		if s.closing || s.state != StateOpened || s.link.down {
			s.mu.Unlock()
			return err
		}
		o = &outage{done: make(chan struct{}), start: time.Now()}
		s.rob.outage = o
		s.rob.outages.Add(1)
		s.setStateLocked(StateDisconnected, err)
		s.wg.Add(1) // under mu, before Close can start waiting
		go s.recoverFrom(o, err)
		if s.logger != nil {
			s.logger.Debug("session: network failure; reconnecting", "err", err.Error(), "window", s.cfg.robust.reconnectWindow().String())
		}
	}
	s.mu.Unlock()
	select {
	case <-o.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if o.err != nil {
		return o.err
	}
	s.rob.retries.Add(1)
	return nil
}

// recoverFrom probes the shell with backoff until it answers, reattaches
// it, and ends the outage o: the session is Opened again, or Broken when
// the window passed or the server gave an answer that rules a return out
// (the shell is gone, access denied).
func (s *Session) recoverFrom(o *outage, cause error) {
	defer s.wg.Done()
	window := s.cfg.robust.reconnectWindow()
	deadline := o.start.Add(window)
	var bo backoff
	var err error
	for {
		bo.observe(false, 0, time.Hour) // 10 ms, doubling to 1 s
		if !bo.wait(s.bgCtx, nil) {
			s.endOutage(o, ErrClosed)
			return
		}
		ctx, cancel := context.WithDeadline(s.bgCtx, deadline)
		s.rob.attempts.Add(1)
		err = s.reattach(ctx)
		cancel()
		switch {
		case err == nil:
			s.endOutage(o, nil)
			return
		case s.bgCtx.Err() != nil:
			s.endOutage(o, ErrClosed)
			return
		case !networkFailure(err):
			s.endOutage(o, fmt.Errorf("session: reconnect after a network failure (%v): %w", cause, err))
			return
		case !time.Now().Before(deadline):
			s.endOutage(o, fmt.Errorf("session: the shell could not be reached within the reconnect window (%v): %w", window, err))
			return
		}
	}
}

// reattach asks the server about the shell and, if it disconnected it
// while the network was down (as WinRM does to a shell whose client went
// silent), reconnects it and its commands as Reconnect does.
func (s *Session) reattach(ctx context.Context) error {
	if err := s.connLock.lock(ctx); err != nil {
		return err
	}
	defer s.connLock.unlock()
	info, err := s.wsc.GetShell(ctx, s.shell.ID)
	if err != nil {
		return err
	}
	if !strings.EqualFold(info.State, "Disconnected") {
		return nil
	}
	if err := s.wsc.Reconnect(ctx, s.shell); err != nil {
		return err
	}
	s.reconnectCommands(ctx)
	return nil
}

// endOutage ends o with err (nil: the session is back), waking the
// requests that wait for it.
func (s *Session) endOutage(o *outage, err error) {
	if err != nil && !errors.Is(err, ErrClosed) {
		s.markBroken(err)
		err = &brokenError{cause: err}
	}
	s.mu.Lock()
	s.rob.outage = nil
	if err == nil {
		s.setStateLocked(StateOpened, nil)
	}
	s.mu.Unlock()
	o.err = err
	close(o.done)
	if s.logger != nil {
		if err != nil {
			s.logger.Debug("session: reconnect failed", "err", err.Error())
		} else {
			s.logger.Debug("session: reconnected", "after", time.Since(o.start).String())
		}
	}
}

// send sends data on stream to the pool (cmd "") or a command. A Send
// whose answer the network lost is sent again once the session is back,
// within the reconnect window from the first failure: as a retransmission
// of its OperationID when the server supports robust connections (it
// answers from its cache and does not take the input again), else as it
// was (a server that drops PSRP fragments it already has takes it once).
func (s *Session) send(ctx context.Context, cmd, stream string, data []byte) error {
	var first time.Time
	o := wsman.SendOptions{OperationID: s.sendOp()}
	for {
		err := s.wsc.Send(ctx, s.shell, cmd, stream, data, false, o)
		if err == nil {
			return nil
		}
		if first.IsZero() {
			first = time.Now()
		} else if time.Since(first) > s.cfg.robust.reconnectWindow() {
			return err
		}
		if err := s.rideOut(ctx, err); err != nil {
			return err
		}
		if o.OperationID != uuid.Nil && s.rob.echoes.Load() {
			o.Retransmit = true
		} else {
			// The server no longer shows robust support: a header it must
			// understand could be refused, so the Send goes as it was.
			o = wsman.SendOptions{}
		}
	}
}

// sendOp returns the wsmv:OperationID for a new Send: a fresh one once
// the server has shown robust connection support (it echoed a Receive's),
// uuid.Nil before that or with the robust connection off.
func (s *Session) sendOp() uuid.UUID {
	if s.cfg.robust.reconnectWindow() == 0 || !s.rob.echoes.Load() {
		return uuid.Nil
	}
	return uuid.New()
}
