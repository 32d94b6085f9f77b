package session

import (
	"errors"
	"fmt"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
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
	Record *clixml.ErrorRecord
	State  psrp.PSInvocationState
}

// Error returns the pipeline's final state and the record's message.
func (e *PipelineError) Error() string {
	msg := ""
	if e.Record != nil {
		msg = e.Record.Exception.Message
		if msg == "" && e.Record.ErrorDetails != nil {
			msg = e.Record.ErrorDetails.Message
		}
		if msg == "" {
			msg = e.Record.FullyQualifiedErrorID
		}
	}
	if msg == "" {
		return fmt.Sprintf("session: pipeline %v", e.State)
	}
	return fmt.Sprintf("session: pipeline %v: %s", e.State, msg)
}

// Is makes errors.Is(err, ErrStopped) true for a stopped pipeline.
func (e *PipelineError) Is(target error) bool {
	return target == ErrStopped && e.State == psrp.PipelineStopped
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
	Record *clixml.ErrorRecord
}

// Error returns the record's message.
func (e *PoolError) Error() string {
	if e.Record == nil || e.Record.Exception.Message == "" {
		return "session: the server broke the runspace pool"
	}
	return "session: the server broke the runspace pool: " + e.Record.Exception.Message
}
