package psrp

import "github.com/gopsrp/gopsrp/psrp/clixml"

// RunspacePoolStateMessage is RUNSPACEPOOL_STATE (MS-PSRP 2.2.2.9): the
// pool's new state, with the error that caused it when it broke or failed.
type RunspacePoolStateMessage struct {
	State RunspacePoolState
	// Error is the ExceptionAsErrorRecord property, or nil.
	Error *clixml.ErrorRecord
}

// MessageType implements Body.
func (RunspacePoolStateMessage) MessageType() MessageType { return MessageRunspacePoolState }

// ServerMessage marks a server-to-client body.
func (RunspacePoolStateMessage) ServerMessage() {}

func (b RunspacePoolStateMessage) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	o := msObject(prop("RunspaceState", int32(b.State)))
	if err := appendErrorRecord(o, b.Error); err != nil {
		return nil, &BodyError{Type: b.MessageType(), Property: "ExceptionAsErrorRecord", Err: err}
	}
	return marshalModel(b.MessageType(), opts, o)
}

func (b *RunspacePoolStateMessage) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	r, err := newObjReader(MessageRunspacePoolState, data, opts)
	if err != nil {
		return err
	}
	b.State = RunspacePoolState(r.int32("RunspaceState"))
	b.Error = r.errorRecord("ExceptionAsErrorRecord")
	return r.err
}

// PipelineState is PIPELINE_STATE (MS-PSRP 2.2.2.21): the pipeline's new
// state, with the error that made it fail.
type PipelineState struct {
	State PSInvocationState
	// Error is the ExceptionAsErrorRecord property, or nil.
	Error *clixml.ErrorRecord
}

// MessageType implements Body.
func (PipelineState) MessageType() MessageType { return MessagePipelineState }

// ServerMessage marks a server-to-client body.
func (PipelineState) ServerMessage() {}

func (b PipelineState) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	o := msObject(prop("PipelineState", int32(b.State)))
	if err := appendErrorRecord(o, b.Error); err != nil {
		return nil, &BodyError{Type: b.MessageType(), Property: "ExceptionAsErrorRecord", Err: err}
	}
	return marshalModel(b.MessageType(), opts, o)
}

func (b *PipelineState) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	r, err := newObjReader(MessagePipelineState, data, opts)
	if err != nil {
		return err
	}
	b.State = PSInvocationState(r.int32("PipelineState"))
	b.Error = r.errorRecord("ExceptionAsErrorRecord")
	return r.err
}

// appendErrorRecord adds ExceptionAsErrorRecord to o when rec is set.
func appendErrorRecord(o *clixml.Object, rec *clixml.ErrorRecord) error {
	if rec == nil {
		return nil
	}
	m, err := rec.MarshalCLIXML()
	if err != nil {
		return err
	}
	o.Members = append(o.Members, prop("ExceptionAsErrorRecord", m))
	return nil
}
