package psrp

import (
	"fmt"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// maxHostParams bounds the parameters of a decoded host call; no host
// method takes more than a handful.
const maxHostParams = 1024

// RunspacePoolHostCall is RUNSPACEPOOL_HOST_CALL (MS-PSRP 2.2.2.27): the
// server calls a method of the client's host on behalf of the pool.
type RunspacePoolHostCall struct {
	CallID int64
	Method HostMethodID
	// Params are the method's arguments (the "mp" ArrayList), in the
	// lossless model when decoded.
	Params []any
}

// MessageType implements Body.
func (RunspacePoolHostCall) MessageType() MessageType { return MessageRunspacePoolHostCall }

// ServerMessage marks a server-to-client body.
func (RunspacePoolHostCall) ServerMessage() {}

func (b RunspacePoolHostCall) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return encodeHostCall(b.MessageType(), opts, b.CallID, b.Method, b.Params)
}

func (b *RunspacePoolHostCall) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	var err error
	b.CallID, b.Method, b.Params, err = decodeHostCall(MessageRunspacePoolHostCall, data, opts)
	return err
}

// PipelineHostCall is PIPELINE_HOST_CALL (MS-PSRP 2.2.2.27): the server
// calls a method of the client's host on behalf of a pipeline.
type PipelineHostCall struct {
	CallID int64
	Method HostMethodID
	// Params are the method's arguments (the "mp" ArrayList).
	Params []any
}

// MessageType implements Body.
func (PipelineHostCall) MessageType() MessageType { return MessagePipelineHostCall }

// ServerMessage marks a server-to-client body.
func (PipelineHostCall) ServerMessage() {}

func (b PipelineHostCall) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return encodeHostCall(b.MessageType(), opts, b.CallID, b.Method, b.Params)
}

func (b *PipelineHostCall) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	var err error
	b.CallID, b.Method, b.Params, err = decodeHostCall(MessagePipelineHostCall, data, opts)
	return err
}

// RunspacePoolHostResponse is RUNSPACEPOOL_HOST_RESPONSE (MS-PSRP
// 2.2.2.28): the client's answer to a RunspacePoolHostCall, sent on the
// prompt-response stream.
type RunspacePoolHostResponse struct {
	CallID int64
	Method HostMethodID
	// Result is the method's return value ("mr"); nil for void methods.
	Result any
	// Error is the exception the method threw ("me"), or nil.
	Error *clixml.ErrorRecord
}

// MessageType implements Body.
func (RunspacePoolHostResponse) MessageType() MessageType { return MessageRunspacePoolHostResponse }

// ClientMessage marks a client-to-server body.
func (RunspacePoolHostResponse) ClientMessage() {}

func (b RunspacePoolHostResponse) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return encodeHostResponse(b.MessageType(), opts, b.CallID, b.Method, b.Result, b.Error)
}

func (b *RunspacePoolHostResponse) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	var err error
	b.CallID, b.Method, b.Result, b.Error, err = decodeHostResponse(MessageRunspacePoolHostResponse, data, opts)
	return err
}

// PipelineHostResponse is PIPELINE_HOST_RESPONSE (MS-PSRP 2.2.2.28): the
// client's answer to a PipelineHostCall, sent on the prompt-response stream.
type PipelineHostResponse struct {
	CallID int64
	Method HostMethodID
	// Result is the method's return value ("mr"); nil for void methods.
	Result any
	// Error is the exception the method threw ("me"), or nil.
	Error *clixml.ErrorRecord
}

// MessageType implements Body.
func (PipelineHostResponse) MessageType() MessageType { return MessagePipelineHostResponse }

// ClientMessage marks a client-to-server body.
func (PipelineHostResponse) ClientMessage() {}

func (b PipelineHostResponse) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return encodeHostResponse(b.MessageType(), opts, b.CallID, b.Method, b.Result, b.Error)
}

func (b *PipelineHostResponse) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	var err error
	b.CallID, b.Method, b.Result, b.Error, err = decodeHostResponse(MessagePipelineHostResponse, data, opts)
	return err
}

func hostMethodObject(m HostMethodID) *clixml.Object {
	return enumObject(typeHostMethodID, m.String(), int32(m))
}

func encodeHostCall(t MessageType, opts clixml.MarshalOptions, ci int64, m HostMethodID, params []any) ([]byte, error) {
	items := params
	if items == nil {
		items = []any{}
	}
	return marshalModel(t, opts, msObject(
		prop("ci", ci),
		prop("mi", hostMethodObject(m)),
		prop("mp", &clixml.Object{
			TypeNames: []string{typeArrayList, typeObject},
			Kind:      clixml.List,
			Items:     items,
		}),
	))
}

func decodeHostCall(t MessageType, data []byte, opts clixml.UnmarshalOptions) (int64, HostMethodID, []any, error) {
	r, err := newObjReader(t, data, opts)
	if err != nil {
		return 0, 0, nil, err
	}
	ci := r.int64("ci")
	mi := HostMethodID(r.int32("mi"))
	params := r.listItems("mp")
	if r.err == nil && len(params) > maxHostParams {
		r.fail("mp", fmt.Errorf("%w: %d parameters", ErrPropertyType, len(params)))
	}
	return ci, mi, params, r.err
}

func encodeHostResponse(t MessageType, opts clixml.MarshalOptions, ci int64, m HostMethodID, result any, rec *clixml.ErrorRecord) ([]byte, error) {
	o := msObject(prop("ci", ci), prop("mi", hostMethodObject(m)))
	if result != nil {
		o.Members = append(o.Members, prop("mr", result))
	}
	if rec != nil {
		em, err := rec.MarshalCLIXML()
		if err != nil {
			return nil, &BodyError{Type: t, Property: "me", Err: err}
		}
		o.Members = append(o.Members, prop("me", em))
	}
	return marshalModel(t, opts, o)
}

func decodeHostResponse(t MessageType, data []byte, opts clixml.UnmarshalOptions) (int64, HostMethodID, any, *clixml.ErrorRecord, error) {
	r, err := newObjReader(t, data, opts)
	if err != nil {
		return 0, 0, nil, nil, err
	}
	ci := r.int64("ci")
	mi := HostMethodID(r.int32("mi"))
	result := r.opt("mr")
	rec := r.errorRecord("me")
	return ci, mi, result, rec, r.err
}
