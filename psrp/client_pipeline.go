package psrp

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// PipelineOptions configures a pipeline created by ClientPool.NewPipeline.
type PipelineOptions struct {
	// ID is the pipeline ID (the WS-Man CommandId); zero means a random one.
	ID uuid.UUID
	// NoInput tells the server that no input will be sent. Leave it false
	// when the caller will call Send/CloseInput.
	NoInput bool
	// AddToHistory adds the invocation to the remote history.
	AddToHistory bool
	// RemoteStreamOptions asks for invocation info on records; nil means
	// RemoteStreamAddInvocationInfo, as Windows clients send.
	RemoteStreamOptions *RemoteStreamOptions
	// ApartmentState is the pipeline's apartment; nil means
	// ApartmentUnknown.
	ApartmentState *ApartmentState
	// HostInfo describes the pipeline's host; nil means the pool's.
	HostInfo *clixml.HostInfo
	// IsNested runs the pipeline nested in the one currently running.
	IsNested bool
}

// ClientPipeline is the client side of one pipeline (a PowerShell
// invocation) of a ClientPool. Its data goes through the pool's DataToSend
// and Receive; it is not safe for concurrent use.
type ClientPipeline struct {
	pool  *ClientPool
	id    uuid.UUID
	seq   uint64 // creation order within the pool
	state PSInvocationState
	// body is what Invoke sends: a CREATE_PIPELINE or GET_COMMAND_METADATA.
	body Body
	// hold keeps messages back while the session key is being exchanged;
	// they are encoded and queued in order once it arrives.
	hold        keyHold
	inputClosed bool
	// closed is set by Close: the pipeline is no longer in the pool.
	closed    bool
	hostCalls map[int64]HostMethodID
}

// ErrPipelineClosed is wrapped by the errors of operations on a pipeline
// after its Close.
var ErrPipelineClosed = errors.New("psrp: pipeline is closed")

// NewPipeline creates a pipeline in state NotStarted for the PowerShell
// ps. Nothing is sent until Invoke. The pool must be Opened.
func (p *ClientPool) NewPipeline(ps *PowerShell, opts PipelineOptions) (*ClientPipeline, error) {
	if err := p.requireOpened("create a pipeline"); err != nil {
		return nil, err
	}
	if ps == nil || len(ps.Statements) == 0 {
		return nil, fmt.Errorf("psrp: create a pipeline: no commands")
	}
	for i, st := range ps.Statements {
		if len(st) == 0 {
			return nil, fmt.Errorf("psrp: create a pipeline: statement %d has no commands", i)
		}
	}
	hi := p.hostInfo()
	if opts.HostInfo != nil {
		hi = *opts.HostInfo
	}
	cp := &CreatePipeline{
		NoInput:             opts.NoInput,
		ApartmentState:      apartmentOr(opts.ApartmentState),
		RemoteStreamOptions: RemoteStreamAddInvocationInfo,
		AddToHistory:        opts.AddToHistory,
		HostInfo:            hi,
		PowerShell:          *ps,
		IsNested:            opts.IsNested,
	}
	if opts.RemoteStreamOptions != nil {
		cp.RemoteStreamOptions = *opts.RemoteStreamOptions
	}
	return p.addPipeline(opts.ID, cp)
}

// GetCommandMetadata creates a pipeline-like request for the metadata of
// the commands matching names (wildcards allowed). Invoke sends it; the
// server answers on the returned pipeline with a count, then one
// CommandMetadata object per command as output, then Completed.
func (p *ClientPool) GetCommandMetadata(req GetCommandMetadata) (*ClientPipeline, error) {
	if err := p.requireOpened("get command metadata"); err != nil {
		return nil, err
	}
	r := req
	return p.addPipeline(uuid.Nil, &r)
}

// ConnectPipeline attaches to a pipeline that is already running on a pool
// this client connected to (Connect), so that its output can be received.
func (p *ClientPool) ConnectPipeline(id uuid.UUID) (*ClientPipeline, error) {
	if err := p.requireOpened("connect to a pipeline"); err != nil {
		return nil, err
	}
	if id == uuid.Nil {
		return nil, fmt.Errorf("psrp: connect to a pipeline: zero pipeline ID")
	}
	pl, err := p.addPipeline(id, nil)
	if err != nil {
		return nil, err
	}
	pl.state = PipelineRunning
	return pl, nil
}

func (p *ClientPool) addPipeline(id uuid.UUID, body Body) (*ClientPipeline, error) {
	if id == uuid.Nil {
		id = uuid.New()
	}
	if _, dup := p.pipelines[id]; dup {
		return nil, fmt.Errorf("psrp: pipeline %v already exists", id)
	}
	p.lastSeq++
	pl := &ClientPipeline{pool: p, id: id, seq: p.lastSeq, state: PipelineNotStarted, body: body, hostCalls: make(map[int64]HostMethodID)}
	p.pipelines[id] = pl
	return pl, nil
}

// ID returns the pipeline ID (the WS-Man CommandId).
func (pl *ClientPipeline) ID() uuid.UUID { return pl.id }

// State returns the pipeline's state.
func (pl *ClientPipeline) State() PSInvocationState { return pl.state }

// Pool returns the pool the pipeline belongs to.
func (pl *ClientPipeline) Pool() *ClientPool { return pl.pool }

func (pl *ClientPipeline) stateError(op string, want ...PSInvocationState) error {
	w := make([]fmt.Stringer, len(want))
	for i, s := range want {
		w[i] = s
	}
	return &StateError{Op: op, State: pl.state, Want: w}
}

func (pl *ClientPipeline) setState(s PSInvocationState, rec *clixml.ErrorRecord, cause error) {
	if pl.state == s {
		return
	}
	prev := pl.state
	pl.state = s
	pl.pool.events.push(PipelineStateChanged{PipelineID: pl.id, State: s, Previous: prev, Err: rec, Cause: cause})
}

// send queues b for this pipeline, or holds it while the key exchange runs
// (see ClientPool.send); secret says b holds a SecureString.
func (pl *ClientPipeline) send(b Body, stream StreamType, secret bool) error {
	if pl.closed {
		return fmt.Errorf("%w: %v", ErrPipelineClosed, pl.id)
	}
	return pl.pool.send(&pl.hold, pl.id, b, stream, secret)
}

// Invoke starts the pipeline: it queues CREATE_PIPELINE (or
// GET_COMMAND_METADATA). When the arguments hold a clixml.SecureString and
// no session key is known, it first queues PUBLIC_KEY and holds the
// pipeline's messages until the server's ENCRYPTED_SESSION_KEY arrives.
//
// A finished pipeline may be invoked again with the same ID, as pypsrp and
// PowerShell's PowerShell.Invoke allow; the transport creates a new WS-Man
// command for it.
func (pl *ClientPipeline) Invoke() error {
	if pl.closed {
		return fmt.Errorf("psrp: invoke the pipeline: %w: %v", ErrPipelineClosed, pl.id)
	}
	if (pl.state != PipelineNotStarted && !pl.state.Terminal()) || pl.body == nil {
		return pl.stateError("invoke the pipeline", PipelineNotStarted, PipelineCompleted, PipelineFailed, PipelineStopped)
	}
	if err := pl.pool.requireOpened("invoke a pipeline"); err != nil {
		return err
	}
	secret := false
	if cp, ok := pl.body.(*CreatePipeline); ok {
		// The server's version decides which Merge* properties are sent.
		cp.ProtocolVersion = pl.pool.ProtocolVersion()
		secret = containsSecureString(cp)
	}
	if err := pl.send(pl.body, streamCreate, secret); err != nil {
		return err
	}
	pl.inputClosed = false
	clear(pl.hostCalls)
	pl.setState(PipelineRunning, nil, nil)
	return nil
}

func (pl *ClientPipeline) requireRunning(op string) error {
	if pl.closed {
		return fmt.Errorf("psrp: %s: %w: %v", op, ErrPipelineClosed, pl.id)
	}
	if pl.state != PipelineRunning {
		return pl.stateError(op, PipelineRunning)
	}
	return nil
}

// Send queues one input object (PIPELINE_INPUT). The pipeline must have
// been created without NoInput. An input holding a SecureString without a
// session key is held for the key exchange, like a host response.
func (pl *ClientPipeline) Send(value any) error {
	if err := pl.requireRunning("send input"); err != nil {
		return err
	}
	if pl.inputClosed {
		return fmt.Errorf("psrp: send input: input already closed")
	}
	return pl.send(&PipelineInput{Value: value}, StreamDefault, hasSecureString(value, 0))
}

// CloseInput queues END_OF_PIPELINE_INPUT.
func (pl *ClientPipeline) CloseInput() error {
	if err := pl.requireRunning("close the input"); err != nil {
		return err
	}
	if pl.inputClosed {
		return nil
	}
	if err := pl.send(&EndOfPipelineInput{}, StreamDefault, false); err != nil {
		return err
	}
	pl.inputClosed = true
	return nil
}

// HostResponse answers the pipeline host call callID with result, or with
// errRec when the host method failed (PIPELINE_HOST_RESPONSE, sent on the
// prompt-response stream).
//
// When result holds a clixml.SecureString or clixml.PSCredential (Read-Host
// -AsSecureString, Get-Credential, a Prompt field of type SecureString) and
// no session key is known yet, the key exchange is started and the
// response, with everything sent for the pipeline after it, is held until
// the server's ENCRYPTED_SESSION_KEY arrives, then queued in order, as
// Invoke does for SecureString arguments.
func (pl *ClientPipeline) HostResponse(callID int64, result any, errRec *clixml.ErrorRecord) error {
	if pl.closed {
		return fmt.Errorf("psrp: answer a host call: %w: %v", ErrPipelineClosed, pl.id)
	}
	if pl.state != PipelineRunning && pl.state != PipelineStopping {
		return pl.stateError("answer a host call", PipelineRunning, PipelineStopping)
	}
	m, ok := pl.hostCalls[callID]
	if !ok {
		return fmt.Errorf("%w %d for pipeline %v", ErrUnknownCallID, callID, pl.id)
	}
	if err := pl.send(&PipelineHostResponse{CallID: callID, Method: m, Result: result, Error: errRec}, StreamPromptResponse, hasSecureString(result, 0)); err != nil {
		return err
	}
	delete(pl.hostCalls, callID)
	return nil
}

// BeginStop marks a running pipeline Stopping. The transport sends the
// WS-Man stop signal; the server then reports the pipeline Stopped.
func (pl *ClientPipeline) BeginStop() error {
	if pl.closed {
		return fmt.Errorf("psrp: stop the pipeline: %w: %v", ErrPipelineClosed, pl.id)
	}
	switch pl.state {
	case PipelineStopping:
		return nil
	case PipelineRunning:
		pl.setState(PipelineStopping, nil, nil)
		return nil
	}
	return pl.stateError("stop the pipeline", PipelineRunning)
}

// Close removes the pipeline from its pool, in any state. Call it when the
// pipeline finished, or to abandon one that has not (its caller gave up,
// e.g. after sending the WS-Man stop signal): its queued outgoing data,
// including messages held for the key exchange, is discarded, and no
// events are reported for it any more.
//
// The pool remembers the IDs of the last 1024 closed pipelines: messages the
// server still sends for them are dropped silently by Receive, while a
// message for an ID the pool never knew remains a *ProtocolError. After
// Close, the pipeline's methods fail with ErrPipelineClosed; Close itself
// may be called again. State keeps the last state known.
func (pl *ClientPipeline) Close() error {
	if pl.closed {
		return nil
	}
	pl.closed = true
	pl.hold = keyHold{}
	clear(pl.hostCalls)
	delete(pl.pool.pipelines, pl.id)
	pl.pool.out.remove(pl.id)
	pl.pool.closed.add(pl.id)
	return nil
}

// process handles one decoded message for this pipeline.
func (pl *ClientPipeline) process(body Body) error {
	id := pl.id
	ev := &pl.pool.events
	if pl.state == PipelineNotStarted || pl.state.Terminal() {
		// Nothing real sends data for an invocation that has not started
		// or has ended (PIPELINE_STATE comes last): it cannot be told
		// apart from a confused server's, so it is dropped rather than
		// attributed to the result already complete.
		return &ProtocolError{Msg: fmt.Sprintf("%v for pipeline %v in state %v", body.MessageType(), id, pl.state), Err: ErrUnexpectedMessage, PipelineID: id}
	}
	switch b := body.(type) {
	case *PipelineOutput:
		ev.pushOutput(PipelineOutputEvent{PipelineID: id, Value: b.Value})
	case *ErrorRecord:
		r := b.Record
		ev.push(PipelineErrorEvent{PipelineID: id, Record: &r})
	case *DebugRecord:
		r := b.Record
		ev.push(PipelineDebugEvent{PipelineID: id, Record: &r})
	case *VerboseRecord:
		r := b.Record
		ev.push(PipelineVerboseEvent{PipelineID: id, Record: &r})
	case *WarningRecord:
		r := b.Record
		ev.push(PipelineWarningEvent{PipelineID: id, Record: &r})
	case *ProgressRecord:
		r := b.Record
		ev.push(PipelineProgressEvent{PipelineID: id, Record: &r})
	case *InformationRecord:
		r := b.Record
		ev.push(PipelineInformationEvent{PipelineID: id, Record: &r})
	case *PipelineHostCall:
		if len(pl.hostCalls) >= maxOutstandingHostCalls {
			// The server would wait for ever for the dropped call.
			return pl.pool.failPipeline(pl, &ProtocolError{Msg: fmt.Sprintf("more than %d unanswered host calls on pipeline %v", maxOutstandingHostCalls, id), Err: ErrTooManyHostCalls})
		}
		if !b.Method.IsVoid() { // void calls get no response
			pl.hostCalls[b.CallID] = b.Method
		}
		ev.push(PipelineHostCallEvent{PipelineID: id, CallID: b.CallID, Method: b.Method, Params: b.Params})
	case *PipelineState:
		if !b.State.defined() {
			return pl.pool.failPipeline(pl, &ProtocolError{Err: &UnknownStateError{Message: MessagePipelineState, Value: int32(b.State), PipelineID: id}})
		}
		pl.setState(b.State, b.Error, nil)
	case *RunspaceAvailability:
		// GET_COMMAND_METADATA answers its count this way on some servers.
		ev.pushOutput(PipelineOutputEvent{PipelineID: id, Value: b.Available})
	default:
		return &ProtocolError{Msg: fmt.Sprintf("unexpected %v message for pipeline %v", body.MessageType(), id), Err: ErrUnexpectedMessage, PipelineID: id}
	}
	return nil
}

// containsSecureString reports whether any argument of the pipeline holds
// a SecureString (directly, or inside lists, maps or objects).
func containsSecureString(cp *CreatePipeline) bool {
	for _, st := range cp.PowerShell.Statements {
		for _, c := range st {
			for _, a := range c.Args {
				if hasSecureString(a.Value, 0) {
					return true
				}
			}
		}
	}
	return false
}

func hasSecureString(v any, depth int) bool {
	if depth > 64 {
		return false
	}
	switch x := v.(type) {
	case clixml.SecureString, *clixml.SecureString:
		return true
	case clixml.PSCredential, *clixml.PSCredential:
		return true
	case []any:
		for _, e := range x {
			if hasSecureString(e, depth+1) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasSecureString(e, depth+1) {
				return true
			}
		}
	case *clixml.Object:
		if x == nil {
			return false
		}
		if hasSecureString(x.Value, depth+1) {
			return true
		}
		for _, set := range [2][]clixml.Property{x.Members, x.Props} {
			for _, p := range set {
				if hasSecureString(p.Value, depth+1) {
					return true
				}
			}
		}
		for _, e := range x.Items {
			if hasSecureString(e, depth+1) {
				return true
			}
		}
		for _, e := range x.Entries {
			if hasSecureString(e.Key, depth+1) || hasSecureString(e.Value, depth+1) {
				return true
			}
		}
	}
	return false
}
