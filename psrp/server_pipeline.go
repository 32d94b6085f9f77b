package psrp

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// ServerPipeline is the server side of one pipeline: the endpoint runs its
// commands and writes results with the Write methods, then ends it with
// Complete, Fail or Stopped. Everything written is queued on the pool's
// DataToSend with this pipeline's ID.
type ServerPipeline struct {
	pool      *ServerPool
	id        uuid.UUID
	seq       uint64
	state     PSInvocationState
	create    *CreatePipeline
	metadata  *GetCommandMetadata
	inputDone bool
	hostCalls map[int64]HostMethodID
}

// ID returns the pipeline ID (the WS-Man CommandId).
func (pl *ServerPipeline) ID() uuid.UUID { return pl.id }

// State returns the pipeline's state.
func (pl *ServerPipeline) State() PSInvocationState { return pl.state }

// Create returns the decoded CREATE_PIPELINE, or nil for a
// GET_COMMAND_METADATA request.
func (pl *ServerPipeline) Create() *CreatePipeline { return pl.create }

// CommandMetadataRequest returns the GET_COMMAND_METADATA request, or nil
// for an ordinary pipeline.
func (pl *ServerPipeline) CommandMetadataRequest() *GetCommandMetadata { return pl.metadata }

// Commands returns the statements of the pipeline (the first is the main
// pipeline, later ones come from ExtraCmds); nil for a metadata request.
// SecureString arguments are decrypted when the key exchange happened.
func (pl *ServerPipeline) Commands() [][]Command {
	if pl.create == nil {
		return nil
	}
	return pl.create.PowerShell.Statements
}

// NoInput reports whether the client said it sends no input.
func (pl *ServerPipeline) NoInput() bool { return pl.create != nil && pl.create.NoInput }

// InputClosed reports whether END_OF_PIPELINE_INPUT arrived.
func (pl *ServerPipeline) InputClosed() bool { return pl.inputDone }

func (pl *ServerPipeline) write(op string, b Body) error {
	if pl.state != PipelineRunning && pl.state != PipelineStopping {
		return &StateError{Op: op, State: pl.state, Want: []fmt.Stringer{PipelineRunning}}
	}
	return pl.pool.queue(b, pl.id)
}

// WriteOutput writes one object to the pipeline's output (PIPELINE_OUTPUT).
func (pl *ServerPipeline) WriteOutput(v any) error {
	return pl.write("write output", &PipelineOutput{Value: v})
}

// WriteError writes one record to the error stream (ERROR_RECORD).
func (pl *ServerPipeline) WriteError(rec *clixml.ErrorRecord) error {
	if rec == nil {
		return fmt.Errorf("psrp: write error: nil record")
	}
	return pl.write("write an error", &ErrorRecord{Record: *rec})
}

// WriteDebug writes a message to the debug stream (DEBUG_RECORD).
func (pl *ServerPipeline) WriteDebug(msg string) error {
	return pl.write("write debug", &DebugRecord{Record: clixml.InformationalRecord{Message: msg}})
}

// WriteVerbose writes a message to the verbose stream (VERBOSE_RECORD).
func (pl *ServerPipeline) WriteVerbose(msg string) error {
	return pl.write("write verbose", &VerboseRecord{Record: clixml.InformationalRecord{Message: msg}})
}

// WriteWarning writes a message to the warning stream (WARNING_RECORD).
func (pl *ServerPipeline) WriteWarning(msg string) error {
	return pl.write("write a warning", &WarningRecord{Record: clixml.InformationalRecord{Message: msg}})
}

// WriteProgress writes a progress record (PROGRESS_RECORD).
func (pl *ServerPipeline) WriteProgress(rec clixml.ProgressRecord) error {
	return pl.write("write progress", &ProgressRecord{Record: rec})
}

// WriteInformation writes a record to the information stream
// (INFORMATION_RECORD); it needs protocol 2.3 on both sides.
func (pl *ServerPipeline) WriteInformation(rec clixml.InformationRecord) error {
	if cc := pl.pool.clientCap; cc != nil && !VersionSupportsInformation(cc.ProtocolVersion) {
		return fmt.Errorf("%w: the client's protocol %s has no information stream", ErrProtocolVersion, versionString(cc.ProtocolVersion))
	}
	return pl.write("write information", &InformationRecord{Record: rec})
}

// HostCall calls a method of the client's host for this pipeline
// (PIPELINE_HOST_CALL). The answer comes as a HostResponseReceived event
// with the returned call ID, unless the method returns nothing: such calls
// carry VoidCallID and get no answer.
func (pl *ServerPipeline) HostCall(method HostMethodID, params ...any) (int64, error) {
	ci := pl.pool.nextCallID(method)
	if err := pl.write("make a host call", &PipelineHostCall{CallID: ci, Method: method, Params: params}); err != nil {
		return 0, err
	}
	if ci != VoidCallID {
		pl.hostCalls[ci] = method
	}
	return ci, nil
}

func (pl *ServerPipeline) finish(st PSInvocationState, rec *clixml.ErrorRecord) error {
	if pl.state.Terminal() {
		return &StateError{Op: "end the pipeline", State: pl.state, Want: []fmt.Stringer{PipelineRunning, PipelineStopping}}
	}
	if err := pl.pool.queue(&PipelineState{State: st, Error: rec}, pl.id); err != nil {
		return err
	}
	pl.state = st
	return nil
}

// Complete ends the pipeline successfully (PIPELINE_STATE Completed).
func (pl *ServerPipeline) Complete() error { return pl.finish(PipelineCompleted, nil) }

// Fail ends the pipeline with a terminating error (PIPELINE_STATE Failed
// with rec as its ExceptionAsErrorRecord).
func (pl *ServerPipeline) Fail(rec *clixml.ErrorRecord) error {
	return pl.finish(PipelineFailed, rec)
}

// Stopped ends the pipeline after the client's stop signal (PIPELINE_STATE
// Stopped with the PipelineStoppedException record PowerShell sends).
func (pl *ServerPipeline) Stopped() error {
	return pl.finish(PipelineStopped, PipelineStoppedRecord())
}

// Stopping marks the pipeline Stopping when the endpoint received the stop
// signal; it still has to call Stopped (or Complete/Fail).
func (pl *ServerPipeline) Stopping() error {
	if pl.state != PipelineRunning {
		return &StateError{Op: "stop the pipeline", State: pl.state, Want: []fmt.Stringer{PipelineRunning}}
	}
	pl.state = PipelineStopping
	return nil
}

// Close forgets a finished pipeline once its data was sent.
func (pl *ServerPipeline) Close() {
	delete(pl.pool.pipelines, pl.id)
}

// PipelineStoppedRecord is the error record PowerShell attaches to a
// pipeline stopped by the user.
func PipelineStoppedRecord() *clixml.ErrorRecord {
	return &clixml.ErrorRecord{
		Exception: clixml.ExceptionInfo{
			TypeNames: []string{
				"System.Management.Automation.PipelineStoppedException",
				"System.Management.Automation.RuntimeException",
				"System.SystemException",
				"System.Exception",
				"System.Object",
			},
			Message: "The pipeline has been stopped.",
		},
		FullyQualifiedErrorID: "PipelineStopped",
		CategoryInfo: clixml.ErrorCategoryInfo{
			Category: 14, // OperationStopped
			Reason:   "PipelineStoppedException",
		},
	}
}

// process handles a message the client sent to this pipeline.
func (pl *ServerPipeline) process(body Body) error {
	ev := &pl.pool.events
	switch b := body.(type) {
	case *PipelineInput:
		if pl.inputDone {
			return &ProtocolError{Msg: fmt.Sprintf("PIPELINE_INPUT after the end of input of pipeline %v", pl.id), Err: ErrUnexpectedMessage}
		}
		ev.push(PipelineInputReceived{Pipeline: pl, Value: b.Value})
	case *EndOfPipelineInput:
		pl.inputDone = true
		ev.push(PipelineInputEnded{Pipeline: pl})
	case *PipelineHostResponse:
		m, ok := pl.hostCalls[b.CallID]
		if !ok {
			return &ProtocolError{Msg: fmt.Sprintf("PIPELINE_HOST_RESPONSE for unknown call %d of pipeline %v", b.CallID, pl.id), Err: ErrUnknownCallID}
		}
		delete(pl.hostCalls, b.CallID)
		ev.push(HostResponseReceived{Pipeline: pl, CallID: b.CallID, Method: m, Result: b.Result, Err: b.Error})
	default:
		return &ProtocolError{Msg: fmt.Sprintf("unexpected %v message for pipeline %v", body.MessageType(), pl.id), Err: ErrUnexpectedMessage}
	}
	return nil
}
