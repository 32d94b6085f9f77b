package session

import "github.com/gopsrp/gopsrp/psrp"

// PowerShell describes a pipeline to run: its statements, each a chain of
// commands with their arguments (psrp.PowerShell, reachable from here so
// that everyday code needs only this package). Build one with Cmd or
// Script and the chained methods:
//
//	s.Invoke(ctx, session.Cmd("Get-Service").Param("Name", "WinRM").AddCommand("Select-Object").Arg("Status"))
type PowerShell = psrp.PowerShell

// Cmd returns a pipeline whose first command is a cmdlet, function or
// program name (PowerShell.AddCommand).
func Cmd(name string) *PowerShell { return psrp.Cmd(name) }

// Script returns a pipeline whose first command is script text
// (PowerShell.AddScript): what InvokeScript and StartScript run.
func Script(script string) *PowerShell { return psrp.Script(script) }

// PipelineState is the state of a pipeline, as Pipeline.State and
// Result.State report it (.NET's PSInvocationState).
type PipelineState = psrp.PSInvocationState

// Pipeline states.
const (
	PipelineNotStarted   = psrp.PipelineNotStarted
	PipelineRunning      = psrp.PipelineRunning
	PipelineStopping     = psrp.PipelineStopping
	PipelineStopped      = psrp.PipelineStopped
	PipelineCompleted    = psrp.PipelineCompleted
	PipelineFailed       = psrp.PipelineFailed
	PipelineDisconnected = psrp.PipelineDisconnected
)
