package psrp

import "github.com/gopsrp/gopsrp/psrp/clixml"

// SetMaxRunspaces is SET_MAX_RUNSPACES (MS-PSRP 2.2.2.6). The server answers
// with RUNSPACE_AVAILABILITY carrying the same CallID.
type SetMaxRunspaces struct {
	Count  int32
	CallID int64
}

// MessageType implements Body.
func (SetMaxRunspaces) MessageType() MessageType { return MessageSetMaxRunspaces }

// ClientMessage marks a client-to-server body.
func (SetMaxRunspaces) ClientMessage() {}

func (b SetMaxRunspaces) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	// "CI" is upper-case in this message and the next one, lower-case
	// elsewhere; that is what Windows and pypsrp send.
	return marshalModel(b.MessageType(), opts, msObject(
		prop("MaxRunspaces", b.Count),
		prop("CI", b.CallID),
	))
}

func (b *SetMaxRunspaces) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	r, err := newObjReader(MessageSetMaxRunspaces, data, opts)
	if err != nil {
		return err
	}
	b.Count = r.int32("MaxRunspaces")
	b.CallID = r.int64("CI")
	return r.err
}

// SetMinRunspaces is SET_MIN_RUNSPACES (MS-PSRP 2.2.2.7). The server answers
// with RUNSPACE_AVAILABILITY carrying the same CallID.
type SetMinRunspaces struct {
	Count  int32
	CallID int64
}

// MessageType implements Body.
func (SetMinRunspaces) MessageType() MessageType { return MessageSetMinRunspaces }

// ClientMessage marks a client-to-server body.
func (SetMinRunspaces) ClientMessage() {}

func (b SetMinRunspaces) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return marshalModel(b.MessageType(), opts, msObject(
		prop("MinRunspaces", b.Count),
		prop("CI", b.CallID),
	))
}

func (b *SetMinRunspaces) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	r, err := newObjReader(MessageSetMinRunspaces, data, opts)
	if err != nil {
		return err
	}
	b.Count = r.int32("MinRunspaces")
	b.CallID = r.int64("CI")
	return r.err
}
