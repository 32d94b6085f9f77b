package psrp

import (
	"strconv"
	"strings"
)

// RunspacePoolState is the state of a runspace pool as carried in
// RUNSPACEPOOL_STATE (MS-PSRP 2.2.3.4).
//
// The values are those of the .NET enum
// System.Management.Automation.Runspaces.RunspacePoolState, which is what
// PowerShell sends. MS-PSRP 2.2.3.4 lists different values above 5
// (6 NegotiationSent, 7 NegotiationSucceeded, 8 Connecting, 9 Disconnected);
// Windows servers never send those on the wire for a pool, so this package
// follows .NET, as psrpcore does. Only 2 (Opened), 3 (Closed) and 5 (Broken)
// mean the same under both lists.
type RunspacePoolState int32

// Runspace pool states (.NET values).
const (
	RunspacePoolBeforeOpen    RunspacePoolState = 0
	RunspacePoolOpening       RunspacePoolState = 1
	RunspacePoolOpened        RunspacePoolState = 2
	RunspacePoolClosed        RunspacePoolState = 3
	RunspacePoolClosing       RunspacePoolState = 4
	RunspacePoolBroken        RunspacePoolState = 5
	RunspacePoolDisconnecting RunspacePoolState = 6
	RunspacePoolDisconnected  RunspacePoolState = 7
	RunspacePoolConnecting    RunspacePoolState = 8
)

// String returns the .NET name of s.
func (s RunspacePoolState) String() string {
	switch s {
	case RunspacePoolBeforeOpen:
		return "BeforeOpen"
	case RunspacePoolOpening:
		return "Opening"
	case RunspacePoolOpened:
		return "Opened"
	case RunspacePoolClosed:
		return "Closed"
	case RunspacePoolClosing:
		return "Closing"
	case RunspacePoolBroken:
		return "Broken"
	case RunspacePoolDisconnecting:
		return "Disconnecting"
	case RunspacePoolDisconnected:
		return "Disconnected"
	case RunspacePoolConnecting:
		return "Connecting"
	}
	return "RunspacePoolState(" + strconv.Itoa(int(s)) + ")"
}

// PSInvocationState is the state of a pipeline as carried in PIPELINE_STATE
// (MS-PSRP 2.2.3.5).
type PSInvocationState int32

// Pipeline states.
const (
	PipelineNotStarted   PSInvocationState = 0
	PipelineRunning      PSInvocationState = 1
	PipelineStopping     PSInvocationState = 2
	PipelineStopped      PSInvocationState = 3
	PipelineCompleted    PSInvocationState = 4
	PipelineFailed       PSInvocationState = 5
	PipelineDisconnected PSInvocationState = 6
)

// String returns the .NET name of s.
func (s PSInvocationState) String() string {
	switch s {
	case PipelineNotStarted:
		return "NotStarted"
	case PipelineRunning:
		return "Running"
	case PipelineStopping:
		return "Stopping"
	case PipelineStopped:
		return "Stopped"
	case PipelineCompleted:
		return "Completed"
	case PipelineFailed:
		return "Failed"
	case PipelineDisconnected:
		return "Disconnected"
	}
	return "PSInvocationState(" + strconv.Itoa(int(s)) + ")"
}

// defined reports whether s is one of the states of the .NET enum
// (MS-PSRP 2.2.3.5).
func (s PSInvocationState) defined() bool {
	return s >= PipelineNotStarted && s <= PipelineDisconnected
}

// defined reports whether s is one of the states of the .NET enum, which
// PowerShell sends (see RunspacePoolState).
func (s RunspacePoolState) defined() bool {
	return s >= RunspacePoolBeforeOpen && s <= RunspacePoolConnecting
}

// Terminal reports whether s is a final state: Stopped, Completed or Failed.
func (s PSInvocationState) Terminal() bool {
	return s == PipelineStopped || s == PipelineCompleted || s == PipelineFailed
}

// PSThreadOptions says how the server uses threads for pipelines
// (MS-PSRP 2.2.3.6).
type PSThreadOptions int32

// Thread options.
const (
	ThreadOptionsDefault          PSThreadOptions = 0
	ThreadOptionsUseNewThread     PSThreadOptions = 1
	ThreadOptionsReuseThread      PSThreadOptions = 2
	ThreadOptionsUseCurrentThread PSThreadOptions = 3
)

// String returns the .NET name of o.
func (o PSThreadOptions) String() string {
	switch o {
	case ThreadOptionsDefault:
		return "Default"
	case ThreadOptionsUseNewThread:
		return "UseNewThread"
	case ThreadOptionsReuseThread:
		return "ReuseThread"
	case ThreadOptionsUseCurrentThread:
		return "UseCurrentThread"
	}
	return "PSThreadOptions(" + strconv.Itoa(int(o)) + ")"
}

// ApartmentState is the COM apartment of the server's threads
// (MS-PSRP 2.2.3.7).
type ApartmentState int32

// Apartment states.
const (
	ApartmentSTA     ApartmentState = 0
	ApartmentMTA     ApartmentState = 1
	ApartmentUnknown ApartmentState = 2
)

// String returns the .NET name of a. On the wire, Unknown is written with
// the ToString "UNKNOWN" as pypsrp does (see wireString).
func (a ApartmentState) String() string {
	switch a {
	case ApartmentSTA:
		return "STA"
	case ApartmentMTA:
		return "MTA"
	case ApartmentUnknown:
		return "Unknown"
	}
	return "ApartmentState(" + strconv.Itoa(int(a)) + ")"
}

// wireString is the ToString written on the wire: real clients (pypsrp,
// accepted by Windows) write "UNKNOWN" for 2, and the captures are
// reproduced byte for byte.
func (a ApartmentState) wireString() string {
	if a == ApartmentUnknown {
		return "UNKNOWN"
	}
	return a.String()
}

// RemoteStreamOptions is a set of flags that ask the server to add
// invocation info to records of some streams (MS-PSRP 2.2.3.8).
type RemoteStreamOptions int32

// Remote stream option flags.
const (
	RemoteStreamNone                             RemoteStreamOptions = 0
	RemoteStreamAddInvocationInfoToErrorRecord   RemoteStreamOptions = 1
	RemoteStreamAddInvocationInfoToWarningRecord RemoteStreamOptions = 2
	RemoteStreamAddInvocationInfoToDebugRecord   RemoteStreamOptions = 4
	RemoteStreamAddInvocationInfoToVerboseRecord RemoteStreamOptions = 8
	RemoteStreamAddInvocationInfo                RemoteStreamOptions = 15
)

// String returns the .NET flags form of o, e.g. "AddInvocationInfo" or
// "AddInvocationInfoToErrorRecord, AddInvocationInfoToDebugRecord".
func (o RemoteStreamOptions) String() string {
	switch o {
	case RemoteStreamNone:
		return "None"
	case RemoteStreamAddInvocationInfo:
		return "AddInvocationInfo"
	}
	names := [...]string{
		"AddInvocationInfoToErrorRecord",
		"AddInvocationInfoToWarningRecord",
		"AddInvocationInfoToDebugRecord",
		"AddInvocationInfoToVerboseRecord",
	}
	if o < 0 || o > RemoteStreamAddInvocationInfo {
		return strconv.Itoa(int(o))
	}
	var parts []string
	for i, n := range names {
		if o&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ", ")
}

// PipelineResultTypes names a stream in the Merge* settings of a command
// (MS-PSRP 2.2.3.31).
type PipelineResultTypes int32

// Pipeline result types.
const (
	PipelineResultNone        PipelineResultTypes = 0
	PipelineResultOutput      PipelineResultTypes = 1
	PipelineResultError       PipelineResultTypes = 2
	PipelineResultWarning     PipelineResultTypes = 3
	PipelineResultVerbose     PipelineResultTypes = 4
	PipelineResultDebug       PipelineResultTypes = 5
	PipelineResultInformation PipelineResultTypes = 6
	PipelineResultAll         PipelineResultTypes = 7
	PipelineResultNull        PipelineResultTypes = 8
)

// String returns the .NET name of r.
func (r PipelineResultTypes) String() string {
	switch r {
	case PipelineResultNone:
		return "None"
	case PipelineResultOutput:
		return "Output"
	case PipelineResultError:
		return "Error"
	case PipelineResultWarning:
		return "Warning"
	case PipelineResultVerbose:
		return "Verbose"
	case PipelineResultDebug:
		return "Debug"
	case PipelineResultInformation:
		return "Information"
	case PipelineResultAll:
		return "All"
	case PipelineResultNull:
		return "Null"
	}
	return "PipelineResultTypes(" + strconv.Itoa(int(r)) + ")"
}

// HostMethodID identifies the host method of a host call
// (System.Management.Automation.Remoting.RemoteHostMethodId, MS-PSRP 2.2.3.17).
type HostMethodID int32

// Host methods. The numbered suffixes are the overloads of the .NET
// methods, as in the .NET enum.
const (
	HostGetName                          HostMethodID = 1
	HostGetVersion                       HostMethodID = 2
	HostGetInstanceID                    HostMethodID = 3
	HostGetCurrentCulture                HostMethodID = 4
	HostGetCurrentUICulture              HostMethodID = 5
	HostSetShouldExit                    HostMethodID = 6
	HostEnterNestedPrompt                HostMethodID = 7
	HostExitNestedPrompt                 HostMethodID = 8
	HostNotifyBeginApplication           HostMethodID = 9
	HostNotifyEndApplication             HostMethodID = 10
	HostReadLine                         HostMethodID = 11
	HostReadLineAsSecureString           HostMethodID = 12
	HostWrite1                           HostMethodID = 13
	HostWrite2                           HostMethodID = 14
	HostWriteLine1                       HostMethodID = 15
	HostWriteLine2                       HostMethodID = 16
	HostWriteLine3                       HostMethodID = 17
	HostWriteErrorLine                   HostMethodID = 18
	HostWriteDebugLine                   HostMethodID = 19
	HostWriteProgress                    HostMethodID = 20
	HostWriteVerboseLine                 HostMethodID = 21
	HostWriteWarningLine                 HostMethodID = 22
	HostPrompt                           HostMethodID = 23
	HostPromptForCredential1             HostMethodID = 24
	HostPromptForCredential2             HostMethodID = 25
	HostPromptForChoice                  HostMethodID = 26
	HostGetForegroundColor               HostMethodID = 27
	HostSetForegroundColor               HostMethodID = 28
	HostGetBackgroundColor               HostMethodID = 29
	HostSetBackgroundColor               HostMethodID = 30
	HostGetCursorPosition                HostMethodID = 31
	HostSetCursorPosition                HostMethodID = 32
	HostGetWindowPosition                HostMethodID = 33
	HostSetWindowPosition                HostMethodID = 34
	HostGetCursorSize                    HostMethodID = 35
	HostSetCursorSize                    HostMethodID = 36
	HostGetBufferSize                    HostMethodID = 37
	HostSetBufferSize                    HostMethodID = 38
	HostGetWindowSize                    HostMethodID = 39
	HostSetWindowSize                    HostMethodID = 40
	HostGetWindowTitle                   HostMethodID = 41
	HostSetWindowTitle                   HostMethodID = 42
	HostGetMaxWindowSize                 HostMethodID = 43
	HostGetMaxPhysicalWindowSize         HostMethodID = 44
	HostGetKeyAvailable                  HostMethodID = 45
	HostReadKey                          HostMethodID = 46
	HostFlushInputBuffer                 HostMethodID = 47
	HostSetBufferContents1               HostMethodID = 48
	HostSetBufferContents2               HostMethodID = 49
	HostGetBufferContents                HostMethodID = 50
	HostScrollBufferContents             HostMethodID = 51
	HostPushRunspace                     HostMethodID = 52
	HostPopRunspace                      HostMethodID = 53
	HostGetIsRunspacePushed              HostMethodID = 54
	HostGetRunspace                      HostMethodID = 55
	HostPromptForChoiceMultipleSelection HostMethodID = 56
)

// hostMethodNames is indexed by HostMethodID; it is a function-local array
// so that the package has no mutable globals.
func hostMethodName(m HostMethodID) string {
	names := [...]string{
		"", "GetName", "GetVersion", "GetInstanceId", "GetCurrentCulture", "GetCurrentUICulture",
		"SetShouldExit", "EnterNestedPrompt", "ExitNestedPrompt", "NotifyBeginApplication",
		"NotifyEndApplication", "ReadLine", "ReadLineAsSecureString", "Write1", "Write2",
		"WriteLine1", "WriteLine2", "WriteLine3", "WriteErrorLine", "WriteDebugLine",
		"WriteProgress", "WriteVerboseLine", "WriteWarningLine", "Prompt", "PromptForCredential1",
		"PromptForCredential2", "PromptForChoice", "GetForegroundColor", "SetForegroundColor",
		"GetBackgroundColor", "SetBackgroundColor", "GetCursorPosition", "SetCursorPosition",
		"GetWindowPosition", "SetWindowPosition", "GetCursorSize", "SetCursorSize",
		"GetBufferSize", "SetBufferSize", "GetWindowSize", "SetWindowSize", "GetWindowTitle",
		"SetWindowTitle", "GetMaxWindowSize", "GetMaxPhysicalWindowSize", "GetKeyAvailable",
		"ReadKey", "FlushInputBuffer", "SetBufferContents1", "SetBufferContents2",
		"GetBufferContents", "ScrollBufferContents", "PushRunspace", "PopRunspace",
		"GetIsRunspacePushed", "GetRunspace", "PromptForChoiceMultipleSelection",
	}
	if m <= 0 || int(m) >= len(names) {
		return ""
	}
	return names[m]
}

// String returns the .NET name of m (e.g. "ReadKey"), as written in the
// ToString of the "mi" property.
func (m HostMethodID) String() string {
	if n := hostMethodName(m); n != "" {
		return n
	}
	return "HostMethodID(" + strconv.Itoa(int(m)) + ")"
}

// Valid reports whether m is one of the 56 host methods.
func (m HostMethodID) Valid() bool { return hostMethodName(m) != "" }

// VoidCallID is the call ID a server gives a host call whose method returns
// nothing (Windows sends -100, as in test_psrp_pshost_methods): the client
// answers no such call.
const VoidCallID int64 = -100

// IsVoid reports whether the host method returns nothing: the client sends
// no response for it (PowerShell's RemoteHostCall.IsVoidMethod).
func (m HostMethodID) IsVoid() bool {
	switch m {
	case HostSetShouldExit, HostEnterNestedPrompt, HostExitNestedPrompt,
		HostNotifyBeginApplication, HostNotifyEndApplication,
		HostWrite1, HostWrite2, HostWriteLine1, HostWriteLine2, HostWriteLine3,
		HostWriteErrorLine, HostWriteDebugLine, HostWriteProgress,
		HostWriteVerboseLine, HostWriteWarningLine,
		HostSetForegroundColor, HostSetBackgroundColor, HostSetCursorPosition,
		HostSetWindowPosition, HostSetCursorSize, HostSetBufferSize,
		HostSetWindowSize, HostSetWindowTitle, HostFlushInputBuffer,
		HostSetBufferContents1, HostSetBufferContents2, HostScrollBufferContents,
		HostPushRunspace, HostPopRunspace:
		return true
	}
	return false
}

// CommandTypes is the System.Management.Automation.CommandTypes flags enum
// used by GET_COMMAND_METADATA (MS-PSRP 2.2.3.19).
type CommandTypes int32

// Command type flags.
const (
	CommandTypeAlias          CommandTypes = 1
	CommandTypeFunction       CommandTypes = 2
	CommandTypeFilter         CommandTypes = 4
	CommandTypeCmdlet         CommandTypes = 8
	CommandTypeExternalScript CommandTypes = 16
	CommandTypeApplication    CommandTypes = 32
	CommandTypeScript         CommandTypes = 64
	CommandTypeWorkflow       CommandTypes = 128
	CommandTypeConfiguration  CommandTypes = 256
	CommandTypeAll            CommandTypes = 511
)

// String returns the .NET flags form of c, e.g. "Alias, Function, Filter, Cmdlet".
func (c CommandTypes) String() string {
	if c == CommandTypeAll {
		return "All"
	}
	if c == 0 {
		return "0"
	}
	names := [...]string{"Alias", "Function", "Filter", "Cmdlet", "ExternalScript",
		"Application", "Script", "Workflow", "Configuration"}
	if c < 0 || c > CommandTypeAll {
		return strconv.Itoa(int(c))
	}
	var parts []string
	for i, n := range names {
		if c&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ", ")
}
