package psrp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// StateError reports an operation that the current state of a runspace pool
// or pipeline does not allow.
type StateError struct {
	// Op describes the operation, e.g. "open the runspace pool".
	Op string
	// State is the state the object was in (a RunspacePoolState or a
	// PSInvocationState).
	State fmt.Stringer
	// Want lists the states in which Op is allowed.
	Want []fmt.Stringer
}

// Error implements error.
func (e *StateError) Error() string {
	var b strings.Builder
	b.WriteString("psrp: cannot ")
	b.WriteString(e.Op)
	b.WriteString(" in state ")
	if e.State != nil {
		b.WriteString(e.State.String())
	} else {
		b.WriteString("<nil>")
	}
	if len(e.Want) > 0 {
		b.WriteString(" (want ")
		for i, w := range e.Want {
			if i > 0 {
				b.WriteString(" or ")
			}
			b.WriteString(w.String())
		}
		b.WriteString(")")
	}
	return b.String()
}

// ProtocolError reports data from the peer that breaks the protocol: a
// message for an unknown pipeline, an unexpected message type, a body that
// does not decode. Effect says what the ClientPool did about it.
type ProtocolError struct {
	// Msg says what was wrong.
	Msg string
	// Err is the underlying error, if any.
	Err error
	// PipelineID is the pipeline the message was for, when known.
	PipelineID uuid.UUID
	// Effect is what the error did to the client: the zero value,
	// EffectDropped, means the message was ignored and nothing else
	// changed (also the meaning on the server side).
	Effect Effect
}

// Error implements error.
func (e *ProtocolError) Error() string {
	if e.Msg == "" && e.Err != nil {
		return e.Err.Error()
	}
	if e.Err != nil {
		return "psrp: " + e.Msg + ": " + e.Err.Error()
	}
	return "psrp: " + e.Msg
}

// Unwrap returns the underlying error.
func (e *ProtocolError) Unwrap() error { return e.Err }

// Is reports whether target is ErrMessageDropped and the error's Effect is
// EffectDropped, so that errors.Is can classify it.
func (e *ProtocolError) Is(target error) bool {
	return target == ErrMessageDropped && e.Effect == EffectDropped
}

// Fatal reports whether the error broke the runspace pool.
func (e *ProtocolError) Fatal() bool { return e.Effect == EffectPoolBroken }

// Effect says what an error in received data did to a ClientPool.
type Effect uint8

// Effects of a *ProtocolError, from the mildest.
const (
	// EffectDropped: the message was ignored; the pool, its pipelines and
	// the incoming stream are as they were.
	EffectDropped Effect = iota
	// EffectPipelineFailed: the pipeline named by PipelineID was moved to
	// Failed with the error as the Cause of its PipelineStateChanged; the
	// pool and the other pipelines go on.
	EffectPipelineFailed
	// EffectPoolBroken: the pool was moved to Broken with the error as the
	// Cause of its PoolStateChanged, and its unfinished pipelines to Failed.
	EffectPoolBroken
)

// String returns "dropped", "pipeline failed" or "pool broken".
func (e Effect) String() string {
	switch e {
	case EffectDropped:
		return "dropped"
	case EffectPipelineFailed:
		return "pipeline failed"
	case EffectPoolBroken:
		return "pool broken"
	}
	return "Effect(" + strconv.Itoa(int(e)) + ")"
}

// ErrMessageDropped is matched (errors.Is) by the errors of received data
// that the client ignored: a message for an unknown pipeline or another
// runspace pool, a message type this package does not know, output after a
// pipeline's final state, and a message the defragmenter discarded (a
// non-fatal *FragmentError). What the loss cost is in the Effect of the
// enclosing *ProtocolError: a discarded fragment of a pipeline's output
// also fails that pipeline.
var ErrMessageDropped = errors.New("psrp: message dropped")

// ErrStreamCorrupt is matched (errors.Is) by fragment errors after which the
// incoming stream cannot be re-synchronised (a malformed fragment header, a
// fragment longer than the reassembly limit): the Defragmenter refuses all
// later input, and a ClientPool goes Broken.
var ErrStreamCorrupt = errors.New("psrp: incoming stream corrupt")

// ErrUnknownState is wrapped by *UnknownStateError.
var ErrUnknownState = errors.New("psrp: unknown state")

// UnknownStateError reports a RUNSPACEPOOL_STATE or PIPELINE_STATE carrying
// a state value MS-PSRP does not define. A pipeline that receives one is
// failed with it; a pool is broken with it.
type UnknownStateError struct {
	// Message is MessagePipelineState or MessageRunspacePoolState.
	Message MessageType
	// Value is the state value the server sent.
	Value int32
	// PipelineID is the pipeline of a PIPELINE_STATE.
	PipelineID uuid.UUID
}

// Error implements error: "psrp: unknown pipeline state 99 (pipeline ...)".
func (e *UnknownStateError) Error() string {
	if e.Message == MessageRunspacePoolState {
		return "psrp: unknown runspace pool state " + strconv.Itoa(int(e.Value))
	}
	s := "psrp: unknown pipeline state " + strconv.Itoa(int(e.Value))
	if e.PipelineID != uuid.Nil {
		s += " (pipeline " + e.PipelineID.String() + ")"
	}
	return s
}

// Unwrap returns ErrUnknownState.
func (e *UnknownStateError) Unwrap() error { return ErrUnknownState }

// ErrUnsupportedProtocolVersion is wrapped by *VersionError.
var ErrUnsupportedProtocolVersion = errors.New("psrp: unsupported protocol version")

// VersionError reports a server whose SESSION_CAPABILITY announces a
// protocol version this client cannot speak (see SupportedServerVersion),
// or one that cannot be read. The ClientPool goes Broken with it.
type VersionError struct {
	// Version is what the server announced; zero when it could not be read.
	Version clixml.Version
	// Err is why the capability could not be read, for a malformed one.
	Err error
}

// Error implements error.
func (e *VersionError) Error() string {
	if e.Err != nil {
		return "psrp: unsupported protocol version: cannot read the server's SESSION_CAPABILITY: " + e.Err.Error()
	}
	return "psrp: unsupported protocol version " + versionString(e.Version) + " announced by the server (this client speaks 2.1 and later 2.x)"
}

// Unwrap returns ErrUnsupportedProtocolVersion and the decoding error.
func (e *VersionError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrUnsupportedProtocolVersion, e.Err}
	}
	return []error{ErrUnsupportedProtocolVersion}
}

// ErrForeignRunspacePool is wrapped by the error for a message whose
// RunspacePoolId is neither the pool's nor (for session messages) zero;
// the message is dropped.
var ErrForeignRunspacePool = errors.New("psrp: message for another runspace pool")

// ErrUnknownPipeline is wrapped by the error for a message for a pipeline
// the pool does not know (and did not recently close); it is dropped.
var ErrUnknownPipeline = errors.New("psrp: message for an unknown pipeline")

// ErrUnexpectedMessage is wrapped by the error for a message of a known
// type that the receiving side does not expect where it arrived (a
// client-to-server message sent to the client, a pipeline message for the
// pool, output after the pipeline's final state).
var ErrUnexpectedMessage = errors.New("psrp: unexpected message")

// ErrTooManyHostCalls is wrapped by the error for a host call beyond
// the bound of unanswered calls; the call is dropped.
var ErrTooManyHostCalls = errors.New("psrp: too many unanswered host calls")

// ErrProtocolVersion is wrapped by errors for operations the negotiated
// protocol version does not support (e.g. ResetRunspaceState below 2.3).
var ErrProtocolVersion = errors.New("psrp: not supported by the server's protocol version")

// ErrUnknownCallID is wrapped by the error a host response for a call ID
// that is not outstanding returns.
var ErrUnknownCallID = errors.New("psrp: unknown host call ID")
