package psrp

import (
	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// Event is something the server told a ClientPool, returned by
// ClientPool.NextEvent. The concrete types are the ones in this file; the
// interface is sealed so that a type switch over them is exhaustive.
type Event interface {
	clientEvent()
}

// PoolStateChanged reports a new state of the runspace pool.
type PoolStateChanged struct {
	State, Previous RunspacePoolState
	// Err is the error record the server sent with the state, if any.
	Err *clixml.ErrorRecord
	// Cause is the transport error given to ClientPool.Broken, if any.
	Cause error
}

// ApplicationPrivateDataReceived carries the server's application private
// data (PSVersionTable and so on), sent while the pool opens.
type ApplicationPrivateDataReceived struct {
	Data *ApplicationPrivateData
}

// AvailabilityRequest says which request a RunspaceAvailabilityEvent answers.
type AvailabilityRequest uint8

// Requests answered by RUNSPACE_AVAILABILITY.
const (
	RequestSetMaxRunspaces AvailabilityRequest = iota + 1
	RequestSetMinRunspaces
	RequestGetAvailableRunspaces
	RequestResetRunspaceState
)

// String returns the request's name.
func (r AvailabilityRequest) String() string {
	switch r {
	case RequestSetMaxRunspaces:
		return "SetMaxRunspaces"
	case RequestSetMinRunspaces:
		return "SetMinRunspaces"
	case RequestGetAvailableRunspaces:
		return "GetAvailableRunspaces"
	case RequestResetRunspaceState:
		return "ResetRunspaceState"
	}
	return "AvailabilityRequest(?)"
}

// RunspaceAvailabilityEvent answers SetMaxRunspaces, SetMinRunspaces,
// ResetRunspaceState (Success) or GetAvailableRunspaces (Available).
type RunspaceAvailabilityEvent struct {
	CallID  int64
	Request AvailabilityRequest
	// Success is the server's answer to a set or reset request.
	Success bool
	// Available is the number of available runspaces, for
	// GetAvailableRunspaces.
	Available int64
}

// PoolHostCallEvent is a host method the server calls on the pool's host.
// Answer it with ClientPool.HostResponse unless the method returns nothing.
type PoolHostCallEvent struct {
	CallID int64
	Method HostMethodID
	Params []any
}

// UserEventReceived carries a PowerShell event forwarded by the server.
type UserEventReceived struct {
	Event *UserEvent
}

// PublicKeyRequested reports that the server asked for the client's public
// key (PUBLIC_KEY_REQUEST, sent before it transfers a SecureString) and
// that the pool queued its PUBLIC_KEY: send it now (DataToSend) instead of
// with the next pipeline, since the server waits for it. It is reported
// once per answer; requests while one is outstanding are ignored.
type PublicKeyRequested struct{}

// SessionKeyReceived reports that the session-key exchange completed:
// SecureString values can be sent and received from now on.
type SessionKeyReceived struct{}

// PipelineOutputEvent is one object a pipeline wrote to its output.
type PipelineOutputEvent struct {
	PipelineID uuid.UUID
	Value      any
}

// PipelineErrorEvent is one record of a pipeline's error stream.
type PipelineErrorEvent struct {
	PipelineID uuid.UUID
	Record     *clixml.ErrorRecord
}

// PipelineDebugEvent is one record of a pipeline's debug stream.
type PipelineDebugEvent struct {
	PipelineID uuid.UUID
	Record     *clixml.InformationalRecord
}

// PipelineVerboseEvent is one record of a pipeline's verbose stream.
type PipelineVerboseEvent struct {
	PipelineID uuid.UUID
	Record     *clixml.InformationalRecord
}

// PipelineWarningEvent is one record of a pipeline's warning stream.
type PipelineWarningEvent struct {
	PipelineID uuid.UUID
	Record     *clixml.InformationalRecord
}

// PipelineProgressEvent is one progress record of a pipeline.
type PipelineProgressEvent struct {
	PipelineID uuid.UUID
	Record     *clixml.ProgressRecord
}

// PipelineInformationEvent is one record of a pipeline's information stream
// (protocol 2.3 and later).
type PipelineInformationEvent struct {
	PipelineID uuid.UUID
	Record     *clixml.InformationRecord
}

// PipelineStateChanged reports a new state of a pipeline. Completed, Failed
// and Stopped are final.
type PipelineStateChanged struct {
	PipelineID      uuid.UUID
	State, Previous PSInvocationState
	// Err is the error record the server sent (for Failed and Stopped).
	Err *clixml.ErrorRecord
	// Cause is the transport error when the pool broke under the pipeline.
	Cause error
}

// PipelineHostCallEvent is a host method a pipeline calls. Answer it with
// ClientPipeline.HostResponse unless the method returns nothing.
type PipelineHostCallEvent struct {
	PipelineID uuid.UUID
	CallID     int64
	Method     HostMethodID
	Params     []any
}

func (PoolStateChanged) clientEvent()               {}
func (ApplicationPrivateDataReceived) clientEvent() {}
func (RunspaceAvailabilityEvent) clientEvent()      {}
func (PoolHostCallEvent) clientEvent()              {}
func (UserEventReceived) clientEvent()              {}
func (SessionKeyReceived) clientEvent()             {}
func (PublicKeyRequested) clientEvent()             {}
func (PipelineOutputEvent) clientEvent()            {}
func (PipelineErrorEvent) clientEvent()             {}
func (PipelineDebugEvent) clientEvent()             {}
func (PipelineVerboseEvent) clientEvent()           {}
func (PipelineWarningEvent) clientEvent()           {}
func (PipelineProgressEvent) clientEvent()          {}
func (PipelineInformationEvent) clientEvent()       {}
func (PipelineStateChanged) clientEvent()           {}
func (PipelineHostCallEvent) clientEvent()          {}

// ServerEvent is something a client asked of a ServerPool, returned by
// ServerPool.NextEvent. Requests the pool answers by itself (runspace
// counts, the key exchange) are reported after the answer is queued.
type ServerEvent interface {
	serverEvent()
}

// PoolOpened reports that a client opened the pool; the pool has queued
// its capability, application private data and the Opened state.
type PoolOpened struct {
	Init *InitRunspacePool
}

// PoolConnected reports that a client connected to the (disconnected)
// pool; the answer is in ServerPool.ConnectResponse.
type PoolConnected struct {
	Request *ConnectRunspacePool
}

// PipelineCreated reports a new pipeline. Run its commands and finish it
// with Complete, Fail or Stopped.
type PipelineCreated struct {
	Pipeline *ServerPipeline
}

// CommandMetadataRequested reports a GET_COMMAND_METADATA request, answered
// like a pipeline: WriteOutput the count then each CommandMetadata, then
// Complete.
type CommandMetadataRequested struct {
	Pipeline *ServerPipeline
	Request  *GetCommandMetadata
}

// PipelineInputReceived is one input object sent to a pipeline.
type PipelineInputReceived struct {
	Pipeline *ServerPipeline
	Value    any
}

// PipelineInputEnded reports that the client closed a pipeline's input.
type PipelineInputEnded struct {
	Pipeline *ServerPipeline
}

// HostResponseReceived is the client's answer to a host call. Pipeline is
// nil for a call made by the pool.
type HostResponseReceived struct {
	Pipeline *ServerPipeline
	CallID   int64
	Method   HostMethodID
	Result   any
	Err      *clixml.ErrorRecord
}

// RunspaceRequestAnswered reports a SetMaxRunspaces, SetMinRunspaces,
// GetAvailableRunspaces or ResetRunspaceState request the pool answered.
type RunspaceRequestAnswered struct {
	CallID  int64
	Request AvailabilityRequest
	// Value is the requested count for the set requests.
	Value int32
	// Success is what the pool answered for set and reset requests.
	Success bool
	// Available is what the pool answered for GetAvailableRunspaces.
	Available int64
}

// SessionKeyExchanged reports that the client sent its public key and the
// pool answered with the encrypted session key.
type SessionKeyExchanged struct{}

func (PoolOpened) serverEvent()               {}
func (PoolConnected) serverEvent()            {}
func (PipelineCreated) serverEvent()          {}
func (CommandMetadataRequested) serverEvent() {}
func (PipelineInputReceived) serverEvent()    {}
func (PipelineInputEnded) serverEvent()       {}
func (HostResponseReceived) serverEvent()     {}
func (RunspaceRequestAnswered) serverEvent()  {}
func (SessionKeyExchanged) serverEvent()      {}

// QueuedEvent is one event as ClientPool.AppendEvents hands them over. An
// output object, by far the most frequent event, is kept out of the Event
// interface (whose boxing would cost an allocation per object): Event is
// nil and Output holds it. Any other event is in Event.
type QueuedEvent struct {
	Event  Event
	Output PipelineOutputEvent
}

// Get returns the event as NextEvent would (boxing an output object).
func (q QueuedEvent) Get() Event {
	if q.Event != nil {
		return q.Event
	}
	return q.Output
}

// clientEvents is ClientPool's event queue.
type clientEvents struct{ q eventQueue[QueuedEvent] }

func (c *clientEvents) push(e Event) { c.q.push(QueuedEvent{Event: e}) }

func (c *clientEvents) pushOutput(e PipelineOutputEvent) { c.q.push(QueuedEvent{Output: e}) }

func (c *clientEvents) pop() (Event, bool) {
	q, ok := c.q.pop()
	if !ok {
		return nil, false
	}
	return q.Get(), true
}

// appendTo moves every queued event to dst.
func (c *clientEvents) appendTo(dst []QueuedEvent) []QueuedEvent {
	dst = append(dst, c.q.items[c.q.head:]...)
	clear(c.q.items)
	c.q.items, c.q.head = c.q.items[:0], 0
	return dst
}

// eventQueue is a FIFO that does not keep delivered events alive.
type eventQueue[T any] struct {
	items []T
	head  int
}

func (q *eventQueue[T]) push(e T) { q.items = append(q.items, e) }

func (q *eventQueue[T]) pop() (T, bool) {
	var zero T
	if q.head >= len(q.items) {
		return zero, false
	}
	e := q.items[q.head]
	q.items[q.head] = zero
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return e, true
}
