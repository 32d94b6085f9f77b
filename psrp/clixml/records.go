package clixml

import "errors"

// SKELETON: the typed records. Field names below are a contract other
// packages code against; more fields may be added. The stub methods at the
// bottom are replaced by real ones.

// ErrorRecord is a PowerShell ErrorRecord (MS-PSRP 2.2.3.15) as sent in
// ERROR_RECORD messages and in the ExceptionAsErrorRecord of state messages.
type ErrorRecord struct {
	Exception             ExceptionInfo
	TargetObject          any
	FullyQualifiedErrorID string
	CategoryInfo          ErrorCategoryInfo
	ErrorDetails          *ErrorDetails
	InvocationInfo        *InvocationInfo
	ScriptStackTrace      string
	PipelineIterationInfo []int32
	// Raw is the object as received; nil for records built in Go.
	Raw *Object
}

// ExceptionInfo is the exception an ErrorRecord carries.
type ExceptionInfo struct {
	TypeNames []string
	Message   string
	// Raw is the exception object as received.
	Raw *Object
}

// ErrorCategoryInfo is an ErrorRecord's CategoryInfo.
type ErrorCategoryInfo struct {
	Category   ErrorCategory
	Activity   string
	Reason     string
	TargetName string
	TargetType string
}

// ErrorCategory is System.Management.Automation.ErrorCategory.
type ErrorCategory int32

// ErrorDetails is an ErrorRecord's optional ErrorDetails.
type ErrorDetails struct {
	Message           string
	RecommendedAction string
}

// InvocationInfo says where a record was produced.
type InvocationInfo struct {
	MyCommand        string
	ScriptName       string
	ScriptLineNumber int32
	OffsetInLine     int32
	Line             string
	PositionMessage  string
	InvocationName   string
	PipelineLength   int32
	PipelinePosition int32
	HistoryID        int64
	CommandOrigin    int32
}

// InformationalRecord is a warning, verbose or debug record.
type InformationalRecord struct {
	Message               string
	InvocationInfo        *InvocationInfo
	PipelineIterationInfo []int32
}

// ProgressRecordType is System.Management.Automation.ProgressRecordType.
type ProgressRecordType int32

// Progress record types.
const (
	ProgressProcessing ProgressRecordType = 0
	ProgressCompleted  ProgressRecordType = 1
)

// ProgressRecord is a PowerShell ProgressRecord (also the <PR> tag).
type ProgressRecord struct {
	ActivityID        int32
	ParentActivityID  int32
	Activity          string
	StatusDescription string
	CurrentOperation  string
	PercentComplete   int32
	SecondsRemaining  int32
	RecordType        ProgressRecordType
}

// InformationRecord is a record of the information stream (Write-Information,
// Write-Host).
type InformationRecord struct {
	MessageData     any
	Source          string
	TimeGenerated   DateTime
	Tags            []string
	User            string
	Computer        string
	ProcessID       uint32
	NativeThreadID  uint32
	ManagedThreadID uint32
}

// HostInfo describes the client's host to the server (MS-PSRP 2.2.3.14).
type HostInfo struct {
	IsHostNull      bool
	IsHostUINull    bool
	IsHostRawUINull bool
	UseRunspaceHost bool
	// HostDefaultData holds the raw UI values by key (MS-PSRP 2.2.3.13); nil when absent.
	HostDefaultData map[int32]any
}

// PSCredential is a System.Management.Automation.PSCredential.
type PSCredential struct {
	UserName string
	Password SecureString
}

// CommandMetadata describes one command, as GET_COMMAND_METADATA replies.
type CommandMetadata struct {
	Name        string
	CommandType int32
	Namespace   string
	HelpURI     string
	OutputType  []string
	Parameters  map[string]ParameterMetadata
}

// ParameterMetadata describes one parameter of a command.
type ParameterMetadata struct {
	Name          string
	ParameterType string
	IsDynamic     bool
	Aliases       []string
	SwitchParameter bool
}

var errSkeleton = errors.New("clixml: not implemented yet")

func (r *ErrorRecord) MarshalCLIXML() (any, error)          { return nil, errSkeleton }
func (r *ErrorRecord) UnmarshalCLIXML(v any) error          { return errSkeleton }
func (r *InformationalRecord) MarshalCLIXML() (any, error)  { return nil, errSkeleton }
func (r *InformationalRecord) UnmarshalCLIXML(v any) error  { return errSkeleton }
func (r *ProgressRecord) MarshalCLIXML() (any, error)       { return nil, errSkeleton }
func (r *ProgressRecord) UnmarshalCLIXML(v any) error       { return errSkeleton }
func (r *InformationRecord) MarshalCLIXML() (any, error)    { return nil, errSkeleton }
func (r *InformationRecord) UnmarshalCLIXML(v any) error    { return errSkeleton }
func (r *HostInfo) MarshalCLIXML() (any, error)             { return nil, errSkeleton }
func (r *HostInfo) UnmarshalCLIXML(v any) error             { return errSkeleton }
func (r *PSCredential) MarshalCLIXML() (any, error)         { return nil, errSkeleton }
func (r *PSCredential) UnmarshalCLIXML(v any) error         { return errSkeleton }
func (r *CommandMetadata) MarshalCLIXML() (any, error)      { return nil, errSkeleton }
func (r *CommandMetadata) UnmarshalCLIXML(v any) error      { return errSkeleton }
