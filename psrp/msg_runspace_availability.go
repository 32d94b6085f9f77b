package psrp

import (
	"fmt"
	"math"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// RunspaceAvailability is RUNSPACE_AVAILABILITY (MS-PSRP 2.2.2.8), the
// server's answer to SET_MAX_RUNSPACES, SET_MIN_RUNSPACES,
// RESET_RUNSPACE_STATE (a bool) or GET_AVAILABLE_RUNSPACES (a count).
type RunspaceAvailability struct {
	CallID int64
	// IsCount says which form the answer has: false for the bool of a
	// set/reset request (SetMinMaxResponse), true for the count of
	// GET_AVAILABLE_RUNSPACES (Available).
	IsCount           bool
	SetMinMaxResponse bool
	Available         int64
}

// MessageType implements Body.
func (RunspaceAvailability) MessageType() MessageType { return MessageRunspaceAvailability }

// ServerMessage marks a server-to-client body.
func (RunspaceAvailability) ServerMessage() {}

func (b RunspaceAvailability) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	var resp any = b.SetMinMaxResponse
	if b.IsCount {
		// Windows writes the count as I32 (test_psrp_set_runspaces.yml)
		// although MS-PSRP says a long; I64 only when it does not fit.
		if b.Available >= math.MinInt32 && b.Available <= math.MaxInt32 {
			resp = int32(b.Available)
		} else {
			resp = b.Available
		}
	}
	return marshalModel(b.MessageType(), opts, msObject(
		prop("SetMinMaxRunspacesResponse", resp),
		prop("ci", b.CallID),
	))
}

func (b *RunspaceAvailability) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	r, err := newObjReader(MessageRunspaceAvailability, data, opts)
	if err != nil {
		return err
	}
	v := r.get("SetMinMaxRunspacesResponse")
	b.CallID = r.int64("ci")
	if r.err != nil {
		return r.err
	}
	if ok, isBool := v.(bool); isBool {
		b.SetMinMaxResponse = ok
		return nil
	}
	n, ok := int64Of(v)
	if !ok {
		return &BodyError{Type: MessageRunspaceAvailability, Property: "SetMinMaxRunspacesResponse",
			Err: fmt.Errorf("%w: %T, want a bool or an integer", ErrPropertyType, v)}
	}
	b.IsCount = true
	b.Available = n
	return nil
}

// GetAvailableRunspaces is GET_AVAILABLE_RUNSPACES (MS-PSRP 2.2.2.11).
type GetAvailableRunspaces struct {
	CallID int64
}

// MessageType implements Body.
func (GetAvailableRunspaces) MessageType() MessageType { return MessageGetAvailableRunspaces }

// ClientMessage marks a client-to-server body.
func (GetAvailableRunspaces) ClientMessage() {}

func (b GetAvailableRunspaces) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return marshalModel(b.MessageType(), opts, msObject(prop("ci", b.CallID)))
}

func (b *GetAvailableRunspaces) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	r, err := newObjReader(MessageGetAvailableRunspaces, data, opts)
	if err != nil {
		return err
	}
	b.CallID = r.int64("ci")
	return r.err
}

// ResetRunspaceState is RESET_RUNSPACE_STATE (MS-PSRP 2.2.2.31, protocol
// 2.3 and later). The server answers with RUNSPACE_AVAILABILITY.
type ResetRunspaceState struct {
	CallID int64
}

// MessageType implements Body.
func (ResetRunspaceState) MessageType() MessageType { return MessageResetRunspaceState }

// ClientMessage marks a client-to-server body.
func (ResetRunspaceState) ClientMessage() {}

func (b ResetRunspaceState) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return marshalModel(b.MessageType(), opts, msObject(prop("ci", b.CallID)))
}

func (b *ResetRunspaceState) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	r, err := newObjReader(MessageResetRunspaceState, data, opts)
	if err != nil {
		return err
	}
	b.CallID = r.int64("ci")
	return r.err
}

// RunspacePoolInitData is RUNSPACEPOOL_INIT_DATA (MS-PSRP 2.2.2.30): the
// server's answer to CONNECT_RUNSPACEPOOL with the pool's limits.
type RunspacePoolInitData struct {
	MinRunspaces int32
	MaxRunspaces int32
}

// MessageType implements Body.
func (RunspacePoolInitData) MessageType() MessageType { return MessageRunspacePoolInitData }

// ServerMessage marks a server-to-client body.
func (RunspacePoolInitData) ServerMessage() {}

func (b RunspacePoolInitData) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return marshalModel(b.MessageType(), opts, msObject(
		prop("MinRunspaces", b.MinRunspaces),
		prop("MaxRunspaces", b.MaxRunspaces),
	))
}

func (b *RunspacePoolInitData) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	r, err := newObjReader(MessageRunspacePoolInitData, data, opts)
	if err != nil {
		return err
	}
	b.MinRunspaces = r.int32("MinRunspaces")
	b.MaxRunspaces = r.int32("MaxRunspaces")
	return r.err
}
