package psrp

import (
	"strconv"

	"github.com/google/uuid"
)

// StreamType says on which WS-Man stream a payload travels.
type StreamType uint8

const (
	// StreamDefault is the ordinary data stream ("stdin" towards the server,
	// "stdout" from it).
	StreamDefault StreamType = iota
	// StreamPromptResponse carries host responses ("pr"), so that they reach
	// the server even while it waits for input.
	StreamPromptResponse
)

// Name returns the WS-Man stream name the client sends the payload on:
// "stdin" or "pr".
func (s StreamType) Name() string {
	switch s {
	case StreamDefault:
		return "stdin"
	case StreamPromptResponse:
		return "pr"
	}
	return "StreamType(" + strconv.Itoa(int(s)) + ")"
}

// String returns the WS-Man stream name; see Name.
func (s StreamType) String() string { return s.Name() }

// Payload is one unit of data to hand to the transport: whole fragments, all
// for the same target and stream.
type Payload struct {
	// Data holds one or more complete fragments.
	Data []byte
	// Stream is the WS-Man stream to send Data on.
	Stream StreamType
	// PipelineID is the target pipeline (the WS-Man CommandId); the zero
	// UUID means the runspace pool itself.
	PipelineID uuid.UUID
	// Create is set on the (first) payload of the message that starts a
	// pipeline (CREATE_PIPELINE or GET_COMMAND_METADATA): the client
	// transport sends it as the Arguments of the WS-Man Command that creates
	// PipelineID. Such a payload holds nothing else; if the message did not
	// fit, the rest follows in payloads without Create, sent on Stream.
	Create bool
}
