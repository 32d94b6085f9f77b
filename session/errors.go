package session

import (
	"errors"
	"fmt"

	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/wsman"
)

// ErrClosed is returned by operations on a session that was closed, and by
// pipelines cut short by Close. Use errors.Is to test for it.
var ErrClosed = errors.New("session: closed")

// ErrBroken is wrapped by the errors of operations on a session whose pool
// broke (the server dropped the shell or the transport failed).
var ErrBroken = errors.New("session: runspace pool broken")

// ErrUnencrypted is returned by New for a plain http:// endpoint whose
// transport does not encrypt messages (Basic, or no authentication) unless
// WithAllowUnencrypted was given.
var ErrUnencrypted = errors.New("session: refusing unencrypted traffic over http:// " +
	"(use https://, an encrypting auth transport, or WithAllowUnencrypted)")

// ErrAccessDenied is matched (errors.Is) by the errors of New, Connect,
// List, Reconnect, Start and of pipelines when the server refused the
// caller: credentials it rejected (auth.ErrAccessDenied, a Kerberos or
// NTLM logon failure: auth.ErrLogonFailed) or a user the endpoint or
// session configuration does not admit (HTTP 401, the WS-Man AccessDenied
// fault: wsman.ErrAccessDenied). The underlying error stays in the chain
// and in the message.
var ErrAccessDenied = errors.New("session: access denied")

// ErrStopped is matched (errors.Is) by the *PipelineError of a pipeline that
// ended Stopped, e.g. after Pipeline.Stop.
var ErrStopped = errors.New("session: pipeline stopped")

// ErrNoFinalState is returned for a pipeline whose command the server
// reported Done (WS-Man CommandState Done) without having sent the
// pipeline's final PSRP state (Completed, Failed or Stopped): its outcome
// is unknown, and output may be missing.
var ErrNoFinalState = errors.New("session: the server ended the command without sending the pipeline's final state")

// ErrNoInput is returned by Pipeline.Send and CloseInput on a pipeline
// started without WithOpenInput.
var ErrNoInput = errors.New("session: pipeline does not accept input (start it with WithOpenInput)")

// PipelineError reports a pipeline that ended Failed or Stopped. Record is
// the terminating error the server sent (nil if it sent none).
type PipelineError struct {
	Record *ErrorRecord
	State  PipelineState
}

// Error returns the pipeline's final state and the record's text as .NET's
// ErrorRecord.ToString gives it (ErrorDetails.Message first, then the
// exception's message). A nil record, or a nil *PipelineError, is fine.
func (e *PipelineError) Error() string {
	if e == nil {
		return "session: pipeline error <nil>"
	}
	if e.Record == nil {
		return fmt.Sprintf("session: pipeline %v", e.State)
	}
	return fmt.Sprintf("session: pipeline %v: %s", e.State, e.Record.String())
}

// Is makes errors.Is(err, ErrStopped) true for a stopped pipeline.
func (e *PipelineError) Is(target error) bool {
	return e != nil && target == ErrStopped && e.State == psrp.PipelineStopped
}

// Unwrap returns the terminating ErrorRecord, so that errors.As finds a
// *ErrorRecord in a pipeline's error; nil without one.
func (e *PipelineError) Unwrap() error {
	if e == nil || e.Record == nil {
		return nil
	}
	return e.Record
}

// brokenError wraps the cause of a broken pool so that it matches both
// ErrBroken and the cause.
type brokenError struct{ cause error }

func (e *brokenError) Error() string {
	if e.cause == nil {
		return ErrBroken.Error()
	}
	return ErrBroken.Error() + ": " + e.cause.Error()
}

func (e *brokenError) Unwrap() []error { return []error{ErrBroken, e.cause} }

// PoolError reports a runspace pool that the server broke or closed, with
// the ErrorRecord it sent.
type PoolError struct {
	Record *ErrorRecord
}

// Error returns the record's message.
func (e *PoolError) Error() string {
	if e == nil || e.Record == nil {
		return "session: the server broke the runspace pool"
	}
	return "session: the server broke the runspace pool: " + e.Record.String()
}

// Unwrap returns the ErrorRecord the server sent, or nil.
func (e *PoolError) Unwrap() error {
	if e == nil || e.Record == nil {
		return nil
	}
	return e.Record
}

// accessDenied adds ErrAccessDenied to err when a lower layer refused the
// caller, so that a session user classifies it without importing auth or
// wsman.
func accessDenied(err error) error {
	if err == nil || errors.Is(err, ErrAccessDenied) {
		return err
	}
	if errors.Is(err, auth.ErrAccessDenied) || errors.Is(err, auth.ErrLogonFailed) || errors.Is(err, wsman.ErrAccessDenied) {
		return &deniedError{err}
	}
	return err
}

// deniedError is an error that also matches ErrAccessDenied.
type deniedError struct{ err error }

func (e *deniedError) Error() string { return e.err.Error() }

func (e *deniedError) Unwrap() error { return e.err }

func (e *deniedError) Is(target error) bool { return target == ErrAccessDenied }

// outcomeAfter is the error of a pipeline whose caller gave up (cause: its
// context's error): it matches cause and outcome, what the pipeline ended
// as (a Stopped *PipelineError once the server confirmed the stop), like
// the error of an exec.CommandContext whose context ended.
func outcomeAfter(cause, outcome error) error {
	if outcome == nil || outcome == cause {
		return cause
	}
	return &gaveUpError{cause: cause, outcome: outcome}
}

type gaveUpError struct{ cause, outcome error }

func (e *gaveUpError) Error() string { return e.cause.Error() + ": " + e.outcome.Error() }

func (e *gaveUpError) Unwrap() []error { return []error{e.cause, e.outcome} }
