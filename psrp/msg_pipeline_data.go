package psrp

import "github.com/gopsrp/gopsrp/psrp/clixml"

// PipelineInput is PIPELINE_INPUT (MS-PSRP 2.2.2.17): one input object for
// a pipeline, serialized on its own.
type PipelineInput struct {
	// Value is any value clixml can encode; decoded it is the lossless model.
	Value any
}

// MessageType implements Body.
func (PipelineInput) MessageType() MessageType { return MessagePipelineInput }

// ClientMessage marks a client-to-server body.
func (PipelineInput) ClientMessage() {}

func (b PipelineInput) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return marshalModel(b.MessageType(), opts, b.Value)
}

func (b *PipelineInput) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	v, err := decodeModel(MessagePipelineInput, data, opts)
	b.Value = v
	return err
}

// EndOfPipelineInput is END_OF_PIPELINE_INPUT (MS-PSRP 2.2.2.18): no more
// input will follow. Its body is empty.
type EndOfPipelineInput struct{}

// MessageType implements Body.
func (EndOfPipelineInput) MessageType() MessageType { return MessageEndOfPipelineInput }

// ClientMessage marks a client-to-server body.
func (EndOfPipelineInput) ClientMessage() {}

func (EndOfPipelineInput) encodeBody(clixml.MarshalOptions) ([]byte, error) { return []byte{}, nil }

// decodeBody ignores any data: real clients send none, and there is
// nothing in it a receiver could use.
func (*EndOfPipelineInput) decodeBody([]byte, clixml.UnmarshalOptions) error { return nil }

// PipelineOutput is PIPELINE_OUTPUT (MS-PSRP 2.2.2.19): one output object.
type PipelineOutput struct {
	// Value is any value clixml can encode; decoded it is the lossless model.
	Value any
}

// MessageType implements Body.
func (PipelineOutput) MessageType() MessageType { return MessagePipelineOutput }

// ServerMessage marks a server-to-client body.
func (PipelineOutput) ServerMessage() {}

func (b PipelineOutput) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return marshalModel(b.MessageType(), opts, b.Value)
}

func (b *PipelineOutput) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	v, err := decodeModel(MessagePipelineOutput, data, opts)
	b.Value = v
	return err
}
