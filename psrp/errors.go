package psrp

import (
	"errors"
	"fmt"
	"strings"
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
// does not decode.
type ProtocolError struct {
	// Msg says what was wrong.
	Msg string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error.
func (e *ProtocolError) Error() string {
	if e.Err != nil {
		return "psrp: " + e.Msg + ": " + e.Err.Error()
	}
	return "psrp: " + e.Msg
}

// Unwrap returns the underlying error.
func (e *ProtocolError) Unwrap() error { return e.Err }

// ErrProtocolVersion is wrapped by errors for operations the negotiated
// protocol version does not support (e.g. ResetRunspaceState below 2.3).
var ErrProtocolVersion = errors.New("psrp: not supported by the server's protocol version")

// ErrUnknownCallID is wrapped by the error a host response for a call ID
// that is not outstanding returns.
var ErrUnknownCallID = errors.New("psrp: unknown host call ID")
