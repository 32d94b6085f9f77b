package clixml

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// The typed records of MS-PSRP 2.2.3. Each maps to and from the lossless
// model with MarshalCLIXML/UnmarshalCLIXML, writing what Windows PowerShell
// writes and reading what it sends (checked against real captures).
// UnmarshalCLIXML fills what it can; a member of the wrong type is skipped
// and reported as an *UnmarshalTypeError once the rest is filled in.

// ErrorRecord is a PowerShell ErrorRecord (MS-PSRP 2.2.3.15) as sent in
// ERROR_RECORD messages and in the ExceptionAsErrorRecord of state messages.
type ErrorRecord struct {
	Exception             ExceptionInfo
	TargetObject          any
	FullyQualifiedErrorID string
	CategoryInfo          ErrorCategoryInfo
	ErrorDetails          *ErrorDetails
	// InvocationInfo is read from the record's InvocationInfo property and,
	// when the server serialized extended info (RemoteStreamOptions
	// AddInvocationInfo), from its InvocationInfo_* members. Marshal writes
	// both when it is non-nil.
	InvocationInfo        *InvocationInfo
	ScriptStackTrace      string
	PipelineIterationInfo []int32
	// Raw is the object as received; nil for records built in Go. Marshal
	// ignores it and writes the fields.
	Raw *Object
}

// ExceptionInfo is the exception an ErrorRecord carries.
type ExceptionInfo struct {
	// TypeNames lists the exception's .NET types, most specific first, as
	// received (possibly with the "Deserialized." prefix).
	TypeNames []string
	Message   string
	// HResult is the exception's HRESULT.
	HResult int32
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
	// Message is the category message the server sent
	// (ErrorCategory_Message), e.g. "NotSpecified: (:) [Write-Error],
	// WriteErrorException"; empty for records built in Go, in which case
	// String computes it.
	Message string
}

// ErrorCategory is System.Management.Automation.ErrorCategory.
type ErrorCategory int32

// Error categories, with the values of the .NET enum.
const (
	CategoryNotSpecified        ErrorCategory = 0
	CategoryOpenError           ErrorCategory = 1
	CategoryCloseError          ErrorCategory = 2
	CategoryDeviceError         ErrorCategory = 3
	CategoryDeadlockDetected    ErrorCategory = 4
	CategoryInvalidArgument     ErrorCategory = 5
	CategoryInvalidData         ErrorCategory = 6
	CategoryInvalidOperation    ErrorCategory = 7
	CategoryInvalidResult       ErrorCategory = 8
	CategoryInvalidType         ErrorCategory = 9
	CategoryMetadataError       ErrorCategory = 10
	CategoryNotImplemented      ErrorCategory = 11
	CategoryNotInstalled        ErrorCategory = 12
	CategoryObjectNotFound      ErrorCategory = 13
	CategoryOperationStopped    ErrorCategory = 14
	CategoryOperationTimeout    ErrorCategory = 15
	CategorySyntaxError         ErrorCategory = 16
	CategoryParserError         ErrorCategory = 17
	CategoryPermissionDenied    ErrorCategory = 18
	CategoryResourceBusy        ErrorCategory = 19
	CategoryResourceExists      ErrorCategory = 20
	CategoryResourceUnavailable ErrorCategory = 21
	CategoryReadError           ErrorCategory = 22
	CategoryWriteError          ErrorCategory = 23
	CategoryFromStdErr          ErrorCategory = 24
	CategorySecurityError       ErrorCategory = 25
	CategoryProtocolError       ErrorCategory = 26
	CategoryConnectionError     ErrorCategory = 27
	CategoryAuthenticationError ErrorCategory = 28
	CategoryLimitsExceeded      ErrorCategory = 29
	CategoryQuotaExceeded       ErrorCategory = 30
	CategoryNotEnabled          ErrorCategory = 31
)

var errorCategoryNames = [...]string{
	"NotSpecified", "OpenError", "CloseError", "DeviceError", "DeadlockDetected",
	"InvalidArgument", "InvalidData", "InvalidOperation", "InvalidResult", "InvalidType",
	"MetadataError", "NotImplemented", "NotInstalled", "ObjectNotFound", "OperationStopped",
	"OperationTimeout", "SyntaxError", "ParserError", "PermissionDenied", "ResourceBusy",
	"ResourceExists", "ResourceUnavailable", "ReadError", "WriteError", "FromStdErr",
	"SecurityError", "ProtocolError", "ConnectionError", "AuthenticationError",
	"LimitsExceeded", "QuotaExceeded", "NotEnabled",
}

// String returns the .NET name of c, or its number when it has none (as
// .NET's Enum.ToString does).
func (c ErrorCategory) String() string {
	if c >= 0 && int(c) < len(errorCategoryNames) {
		return errorCategoryNames[c]
	}
	return strconv.Itoa(int(c))
}

// String returns the category message: Message when the server sent one,
// otherwise the form .NET's ErrorCategoryInfo.GetMessage builds,
// "Category: (TargetName:TargetType) [Activity], Reason", each part longer
// than 40 characters shortened to its first and last 15 around "...".
func (ci ErrorCategoryInfo) String() string {
	if ci.Message != "" {
		return ci.Message
	}
	return ci.Category.String() + ": (" + ellipsize(ci.TargetName) + ":" + ellipsize(ci.TargetType) +
		") [" + ellipsize(ci.Activity) + "], " + ellipsize(ci.Reason)
}

func ellipsize(s string) string {
	r := []rune(s)
	if len(r) <= 40 {
		return s
	}
	return string(r[:15]) + "..." + string(r[len(r)-15:])
}

// ErrorDetails is an ErrorRecord's optional ErrorDetails.
type ErrorDetails struct {
	Message           string
	RecommendedAction string
}

// InvocationInfo says where a record was produced.
type InvocationInfo struct {
	// MyCommand is the command's name, or a script's text.
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
	// CommandOrigin is System.Management.Automation.CommandOrigin:
	// 0 Runspace, 1 Internal.
	CommandOrigin  int32
	ExpectingInput bool
	PSScriptRoot   string
	PSCommandPath  string
	// CommandType is the command's System.Management.Automation.CommandTypes
	// (flags: 1 Alias, 2 Function, 4 Filter, 8 Cmdlet, 16 ExternalScript,
	// 32 Application, 64 Script...), known only from extended info.
	CommandType int32
	// CommandDefinition is the command's definition (a script's text),
	// known only from extended info.
	CommandDefinition string
	// BoundParameters and UnboundArguments hold model values.
	BoundParameters  map[string]any
	UnboundArguments []any
	// PipelineIterationInfo is InvocationInfo_PipelineIterationInfo.
	PipelineIterationInfo []int32
}

// InformationalRecord is a warning, verbose or debug record.
type InformationalRecord struct {
	Message               string
	InvocationInfo        *InvocationInfo
	PipelineIterationInfo []int32
	// TypeNames are the record's type names as received (e.g.
	// System.Management.Automation.WarningRecord first); Marshal writes
	// them, or InformationalRecord's own when empty.
	TypeNames []string
}

// ProgressRecordType is System.Management.Automation.ProgressRecordType.
type ProgressRecordType int32

// Progress record types.
const (
	ProgressProcessing ProgressRecordType = 0
	ProgressCompleted  ProgressRecordType = 1
)

// String returns the .NET name of t.
func (t ProgressRecordType) String() string {
	switch t {
	case ProgressProcessing:
		return "Processing"
	case ProgressCompleted:
		return "Completed"
	}
	return strconv.Itoa(int(t))
}

// ProgressRecord is a PowerShell ProgressRecord (also the <PR> tag). As a
// model value it is the <PR> element; through its pointer's MarshalCLIXML it
// is the Obj body of a PROGRESS_RECORD message.
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
	// MessageData is a model value: a string, or for Write-Host an *Object
	// (HostInformationMessage).
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
	// HostDefaultData holds the raw UI values by key (MS-PSRP 2.2.3.13); nil
	// when absent. Keys are the HostData* constants. Values are int32 for
	// colours (ConsoleColor) and CursorSize, HostCoordinates, HostSize,
	// string for WindowTitle, and HostDefaultValue for types not known here.
	HostDefaultData map[int32]any
}

// Keys of HostInfo.HostDefaultData (MS-PSRP 2.2.3.13).
const (
	HostDataForegroundColor       int32 = 0
	HostDataBackgroundColor       int32 = 1
	HostDataCursorPosition        int32 = 2
	HostDataWindowPosition        int32 = 3
	HostDataCursorSize            int32 = 4
	HostDataBufferSize            int32 = 5
	HostDataWindowSize            int32 = 6
	HostDataMaxWindowSize         int32 = 7
	HostDataMaxPhysicalWindowSize int32 = 8
	HostDataWindowTitle           int32 = 9
)

// HostCoordinates is System.Management.Automation.Host.Coordinates.
type HostCoordinates struct{ X, Y int32 }

// HostSize is System.Management.Automation.Host.Size.
type HostSize struct{ Width, Height int32 }

// HostDefaultValue is a host default value of a type HostInfo does not
// know: its .NET type name and model value, kept so it can be written back.
type HostDefaultValue struct {
	Type  string
	Value any
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
	Name            string
	ParameterType   string
	IsDynamic       bool
	Aliases         []string
	SwitchParameter bool
}

// ---------------------------------------------------------------------------
// Helpers

// recReader reads the members of a record's object, keeping the first type
// mismatch.
type recReader struct {
	o   *Object
	typ reflect.Type
	err error
}

// asObject checks that v is an object, for a record of type typ.
func asObject(v any, typ reflect.Type) (*Object, error) {
	o, ok := v.(*Object)
	if !ok || o == nil {
		return nil, &UnmarshalTypeError{Value: reflDescribe(v), Type: typ}
	}
	return o, nil
}

// get stores member name into *dst and reports whether it was present.
func (r *recReader) get(name string, dst any) bool {
	v, ok := r.o.Member(name)
	if !ok {
		return false
	}
	r.set(name, v, dst)
	return true
}

// set stores v into *dst, recording a mismatch under name.
func (r *recReader) set(name string, v any, dst any) {
	err := fromModel(v, reflect.ValueOf(dst).Elem())
	if err == nil || r.err != nil {
		return
	}
	if te, ok := err.(*UnmarshalTypeError); ok {
		c := *te
		c.Struct = r.typ.Name()
		if c.Field != "" {
			c.Field = name + "." + c.Field
		} else {
			c.Field = name
		}
		r.err = &c
		return
	}
	r.err = fmt.Errorf("clixml: %s.%s: %w", r.typ.Name(), name, err)
}

// enumObject builds an enum value the way PowerShell writes one.
func enumObject(typeName, name string, v int32) *Object {
	return &Object{
		TypeNames:   []string{typeName, "System.Enum", "System.ValueType", "System.Object"},
		ToString:    name,
		HasToString: true,
		Value:       v,
	}
}

// strOrNil writes "" as Nil, as PowerShell does for absent strings.
func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func int32List(typeNames []string, xs []int32) *Object {
	items := make([]any, len(xs))
	for i, x := range xs {
		items[i] = x
	}
	return &Object{TypeNames: typeNames, Kind: List, Items: items}
}

func stringList(typeNames []string, xs []string) *Object {
	items := make([]any, len(xs))
	for i, x := range xs {
		items[i] = x
	}
	return &Object{TypeNames: typeNames, Kind: List, Items: items}
}

const (
	mscorlib      = ", mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089"
	tnStringList  = "System.Collections.Generic.List`1[[System.String" + mscorlib + "]]"
	tnObjectList  = "System.Collections.Generic.List`1[[System.Object" + mscorlib + "]]"
	tnIterInfo    = "System.Collections.ObjectModel.ReadOnlyCollection`1[[System.Int32" + mscorlib + "]]"
	tnDictStrObj  = "System.Collections.Generic.Dictionary`2[[System.String" + mscorlib + "],[System.Object" + mscorlib + "]]"
	tnBoundParams = "System.Management.Automation.PSBoundParametersDictionary"
	tnCommandType = "System.Management.Automation.CommandTypes"
)

var commandTypeNames = []struct {
	v    int32
	name string
}{
	{1, "Alias"}, {2, "Function"}, {4, "Filter"}, {8, "Cmdlet"}, {16, "ExternalScript"},
	{32, "Application"}, {64, "Script"}, {128, "Workflow"}, {256, "Configuration"},
}

// commandTypesString renders CommandTypes flags as .NET does ("Alias,
// Function"), or the number for bits it has no name for.
func commandTypesString(v int32) string {
	if v == 0 {
		return "0"
	}
	var names []string
	rest := v
	for _, c := range commandTypeNames {
		if v&c.v != 0 {
			names = append(names, c.name)
			rest &^= c.v
		}
	}
	if rest != 0 {
		return strconv.Itoa(int(v))
	}
	return strings.Join(names, ", ")
}

func commandOriginString(v int32) string {
	switch v {
	case 0:
		return "Runspace"
	case 1:
		return "Internal"
	}
	return strconv.Itoa(int(v))
}

// getCommandOrigin reads a CommandOrigin that may be an enum, an integer
// or its name (the InvocationInfo property carries the name).
func (r *recReader) getCommandOrigin(name string, dst *int32) {
	v, ok := r.o.Member(name)
	if !ok {
		return
	}
	if s, ok := v.(string); ok {
		switch s {
		case "Runspace":
			*dst = 0
		case "Internal":
			*dst = 1
		default:
			r.set(name, v, dst)
		}
		return
	}
	r.set(name, v, dst)
}

// modelMap converts a map of Go values to dictionary entries sorted by key.
func modelMap(m map[string]any) ([]DictEntry, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ents := make([]DictEntry, len(keys))
	for i, k := range keys {
		v, err := reflToModel(reflect.ValueOf(m[k]), 1)
		if err != nil {
			return nil, err
		}
		ents[i] = DictEntry{Key: k, Value: v}
	}
	return ents, nil
}

// ---------------------------------------------------------------------------
// InvocationInfo

// readInvocationProps fills ii from the properties of a serialized
// InvocationInfo object.
func readInvocationProps(r *recReader, ii *InvocationInfo) {
	r.get("MyCommand", &ii.MyCommand)
	r.get("ScriptName", &ii.ScriptName)
	r.get("ScriptLineNumber", &ii.ScriptLineNumber)
	r.get("OffsetInLine", &ii.OffsetInLine)
	r.get("Line", &ii.Line)
	r.get("PositionMessage", &ii.PositionMessage)
	r.get("InvocationName", &ii.InvocationName)
	r.get("PipelineLength", &ii.PipelineLength)
	r.get("PipelinePosition", &ii.PipelinePosition)
	r.get("HistoryId", &ii.HistoryID)
	r.getCommandOrigin("CommandOrigin", &ii.CommandOrigin)
	r.get("ExpectingInput", &ii.ExpectingInput)
	r.get("PSScriptRoot", &ii.PSScriptRoot)
	r.get("PSCommandPath", &ii.PSCommandPath)
	r.get("BoundParameters", &ii.BoundParameters)
	r.get("UnboundArguments", &ii.UnboundArguments)
}

// readInvocationExtended fills ii from the InvocationInfo_* and
// CommandInfo_* members a record carries when it serialized extended info.
func readInvocationExtended(r *recReader, ii *InvocationInfo) {
	r.get("InvocationInfo_BoundParameters", &ii.BoundParameters)
	r.getCommandOrigin("InvocationInfo_CommandOrigin", &ii.CommandOrigin)
	r.get("InvocationInfo_ExpectingInput", &ii.ExpectingInput)
	r.get("InvocationInfo_InvocationName", &ii.InvocationName)
	r.get("InvocationInfo_Line", &ii.Line)
	r.get("InvocationInfo_OffsetInLine", &ii.OffsetInLine)
	r.get("InvocationInfo_HistoryId", &ii.HistoryID)
	r.get("InvocationInfo_PipelineIterationInfo", &ii.PipelineIterationInfo)
	r.get("InvocationInfo_PipelineLength", &ii.PipelineLength)
	r.get("InvocationInfo_PipelinePosition", &ii.PipelinePosition)
	r.get("InvocationInfo_PSScriptRoot", &ii.PSScriptRoot)
	r.get("InvocationInfo_PSCommandPath", &ii.PSCommandPath)
	r.get("InvocationInfo_PositionMessage", &ii.PositionMessage)
	r.get("InvocationInfo_ScriptLineNumber", &ii.ScriptLineNumber)
	r.get("InvocationInfo_ScriptName", &ii.ScriptName)
	r.get("InvocationInfo_UnboundArguments", &ii.UnboundArguments)
	r.get("CommandInfo_CommandType", &ii.CommandType)
	r.get("CommandInfo_Definition", &ii.CommandDefinition)
	var name string
	r.get("CommandInfo_Name", &name)
	if ii.MyCommand == "" {
		// A script's CommandInfo has no name; PowerShell shows its text.
		ii.MyCommand = name
		if name == "" {
			ii.MyCommand = ii.CommandDefinition
		}
	}
}

// invocationObject is the InvocationInfo property PowerShell writes.
func invocationObject(ii *InvocationInfo, bound []DictEntry, unbound *Object) *Object {
	return &Object{
		TypeNames:   []string{"System.Management.Automation.InvocationInfo", "System.Object"},
		ToString:    "System.Management.Automation.InvocationInfo",
		HasToString: true,
		Props: []Property{
			{"MyCommand", strOrNil(ii.MyCommand)},
			{"BoundParameters", &Object{TypeNames: []string{tnDictStrObj, "System.Object"}, Kind: Dictionary, Entries: bound}},
			{"UnboundArguments", unbound},
			{"ScriptLineNumber", ii.ScriptLineNumber},
			{"OffsetInLine", ii.OffsetInLine},
			{"HistoryId", ii.HistoryID},
			{"ScriptName", ii.ScriptName},
			{"Line", ii.Line},
			{"PositionMessage", ii.PositionMessage},
			{"PSScriptRoot", ii.PSScriptRoot},
			{"PSCommandPath", strOrNil(ii.PSCommandPath)},
			{"InvocationName", ii.InvocationName},
			{"PipelineLength", ii.PipelineLength},
			{"PipelinePosition", ii.PipelinePosition},
			{"ExpectingInput", ii.ExpectingInput},
			{"CommandOrigin", commandOriginString(ii.CommandOrigin)},
			{"DisplayScriptPosition", nil},
		},
	}
}

// anyList converts Go values to a list object.
func anyList(typeName string, xs []any) (*Object, error) {
	items := make([]any, len(xs))
	for i, x := range xs {
		m, err := reflToModel(reflect.ValueOf(x), 1)
		if err != nil {
			return nil, err
		}
		items[i] = m
	}
	return &Object{TypeNames: []string{typeName, "System.Object"}, Kind: List, Items: items}, nil
}

// invocationParts converts the Go-valued parts of ii.
func invocationParts(ii *InvocationInfo) (bound []DictEntry, unbound *Object, err error) {
	if bound, err = modelMap(ii.BoundParameters); err != nil {
		return nil, nil, fmt.Errorf("clixml: InvocationInfo.BoundParameters: %w", err)
	}
	if unbound, err = anyList(tnObjectList, ii.UnboundArguments); err != nil {
		return nil, nil, fmt.Errorf("clixml: InvocationInfo.UnboundArguments: %w", err)
	}
	return bound, unbound, nil
}

// invocationMembers are the extended-info members PowerShell writes.
func invocationMembers(ii *InvocationInfo, bound []DictEntry, unbound *Object) []Property {
	name := ii.MyCommand
	if name == ii.CommandDefinition {
		name = "" // a script: its CommandInfo has no name
	}
	return []Property{
		{"InvocationInfo_BoundParameters", &Object{TypeNames: []string{tnBoundParams, tnDictStrObj, "System.Object"}, Kind: Dictionary, Entries: bound}},
		{"InvocationInfo_CommandOrigin", enumObject("System.Management.Automation.CommandOrigin", commandOriginString(ii.CommandOrigin), ii.CommandOrigin)},
		{"InvocationInfo_ExpectingInput", ii.ExpectingInput},
		{"InvocationInfo_InvocationName", ii.InvocationName},
		{"InvocationInfo_Line", ii.Line},
		{"InvocationInfo_OffsetInLine", ii.OffsetInLine},
		{"InvocationInfo_HistoryId", ii.HistoryID},
		{"InvocationInfo_PipelineIterationInfo", int32List([]string{"System.Int32[]", "System.Array", "System.Object"}, ii.PipelineIterationInfo)},
		{"InvocationInfo_PipelineLength", ii.PipelineLength},
		{"InvocationInfo_PipelinePosition", ii.PipelinePosition},
		{"InvocationInfo_PSScriptRoot", ii.PSScriptRoot},
		{"InvocationInfo_PSCommandPath", strOrNil(ii.PSCommandPath)},
		{"InvocationInfo_PositionMessage", ii.PositionMessage},
		{"InvocationInfo_ScriptLineNumber", ii.ScriptLineNumber},
		{"InvocationInfo_ScriptName", ii.ScriptName},
		{"InvocationInfo_UnboundArguments", unbound},
		{"SerializeExtent", false},
		{"CommandInfo_CommandType", enumObject(tnCommandType, commandTypesString(ii.CommandType), ii.CommandType)},
		{"CommandInfo_Definition", ii.CommandDefinition},
		{"CommandInfo_Name", name},
		{"CommandInfo_Visibility", enumObject("System.Management.Automation.SessionStateEntryVisibility", "Public", 0)},
	}
}

// ---------------------------------------------------------------------------
// ErrorRecord

// Message returns the record's message: ErrorDetails.Message when set,
// otherwise the exception's message (what PowerShell's ToString returns).
// A nil record has no message.
func (r *ErrorRecord) Message() string {
	if r == nil {
		return ""
	}
	if r.ErrorDetails != nil && r.ErrorDetails.Message != "" {
		return r.ErrorDetails.Message
	}
	return r.Exception.Message
}

// String returns the record's text as .NET's ErrorRecord.ToString does:
// Message, or when that is empty the exception's type name (what the
// exception's ToString starts with), the FullyQualifiedErrorId, or the
// record's own type name.
func (r *ErrorRecord) String() string {
	if msg := r.Message(); msg != "" {
		return msg
	}
	if r == nil {
		return "System.Management.Automation.ErrorRecord"
	}
	if len(r.Exception.TypeNames) > 0 {
		return strings.TrimPrefix(r.Exception.TypeNames[0], "Deserialized.")
	}
	if r.FullyQualifiedErrorID != "" {
		return r.FullyQualifiedErrorID
	}
	return "System.Management.Automation.ErrorRecord"
}

// Error makes a record an error, so that it can be returned, wrapped and
// found with errors.As; its text is String's.
func (r *ErrorRecord) Error() string { return r.String() }

// NormalView renders the record the way Windows PowerShell's console prints
// an error with the default $ErrorView, NormalView (PowerShell 7 defaults to
// ConciseView instead): the message, the position message when there is
// one, then indented "+ CategoryInfo" and "+ FullyQualifiedErrorId" lines.
// Lines end in "\n" (the server's CRLFs are turned into LF), nothing is
// wrapped to a console width, and the trailing blank line and the
// PSComputerName line of remote jobs are left out.
func (r *ErrorRecord) NormalView() string {
	norm := func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
	if r.FullyQualifiedErrorID == "NativeCommandErrorMessage" {
		return norm(r.Exception.Message)
	}
	var b strings.Builder
	ii := r.InvocationInfo
	if ii != nil {
		switch {
		case ii.MyCommand != "":
			// A deserialized command has no type, so PowerShell falls back to
			// the invocation name unless it is empty, "&" or ".".
			if n := ii.InvocationName; n != "" && n != "&" && n != "." {
				b.WriteString(n + " : ")
			}
		case ii.InvocationName != "":
			b.WriteString(ii.InvocationName + " : ")
		}
	}
	b.WriteString(norm(r.Message()))
	if ii != nil && (ii.MyCommand != "" || r.CategoryInfo.Category != CategoryParserError) && ii.PositionMessage != "" {
		b.WriteString("\n")
		b.WriteString(norm(ii.PositionMessage))
	}
	b.WriteString("\n    + CategoryInfo          : ")
	b.WriteString(r.CategoryInfo.String())
	b.WriteString("\n    + FullyQualifiedErrorId : ")
	b.WriteString(r.FullyQualifiedErrorID)
	return b.String()
}

// MarshalCLIXML returns the record as PowerShell serializes it: an Obj with
// type names ErrorRecord and System.Object, the message as ToString and the
// fields as extended members.
func (r *ErrorRecord) MarshalCLIXML() (any, error) {
	exTN := r.Exception.TypeNames
	if len(exTN) == 0 {
		exTN = []string{"System.Exception", "System.Object"}
	}
	ex := &Object{
		TypeNames:   exTN,
		ToString:    strings.TrimPrefix(exTN[0], "Deserialized.") + ": " + r.Exception.Message,
		HasToString: true,
		Props: []Property{
			{"Message", r.Exception.Message},
			{"Data", &Object{TypeNames: []string{"System.Collections.ListDictionaryInternal", "System.Object"}, Kind: Dictionary}},
			{"InnerException", nil},
			{"TargetSite", nil},
			{"StackTrace", nil},
			{"HelpLink", nil},
			{"Source", nil},
			{"HResult", r.Exception.HResult},
		},
	}
	target, err := reflToModel(reflect.ValueOf(r.TargetObject), 1)
	if err != nil {
		return nil, fmt.Errorf("clixml: ErrorRecord.TargetObject: %w", err)
	}
	ms := []Property{
		{"Exception", ex},
		{"TargetObject", target},
		{"FullyQualifiedErrorId", r.FullyQualifiedErrorID},
	}
	var bound []DictEntry
	var unbound *Object
	if r.InvocationInfo != nil {
		if bound, unbound, err = invocationParts(r.InvocationInfo); err != nil {
			return nil, err
		}
		ms = append(ms, Property{"InvocationInfo", invocationObject(r.InvocationInfo, bound, unbound)})
	}
	ci := r.CategoryInfo
	ms = append(ms,
		Property{"ErrorCategory_Category", int32(ci.Category)},
		Property{"ErrorCategory_Activity", ci.Activity},
		Property{"ErrorCategory_Reason", ci.Reason},
		Property{"ErrorCategory_TargetName", ci.TargetName},
		Property{"ErrorCategory_TargetType", ci.TargetType},
		Property{"ErrorCategory_Message", ci.String()},
	)
	if r.ErrorDetails != nil {
		ms = append(ms,
			Property{"ErrorDetails_Message", r.ErrorDetails.Message},
			Property{"ErrorDetails_RecommendedAction", r.ErrorDetails.RecommendedAction},
		)
	}
	ms = append(ms, Property{"SerializeExtendedInfo", r.InvocationInfo != nil})
	if r.InvocationInfo != nil {
		ms = append(ms, invocationMembers(r.InvocationInfo, bound, unbound)...)
	}
	if r.InvocationInfo != nil || r.PipelineIterationInfo != nil {
		ms = append(ms, Property{"PipelineIterationInfo", int32List([]string{tnIterInfo, "System.Object"}, r.PipelineIterationInfo)})
	}
	if r.ScriptStackTrace != "" {
		ms = append(ms, Property{"ErrorDetails_ScriptStackTrace", r.ScriptStackTrace})
	}
	return &Object{
		TypeNames:   []string{"System.Management.Automation.ErrorRecord", "System.Object"},
		ToString:    r.Message(),
		HasToString: true,
		Members:     ms,
	}, nil
}

// UnmarshalCLIXML fills r from an ErrorRecord object.
func (r *ErrorRecord) UnmarshalCLIXML(v any) error {
	typ := reflect.TypeFor[ErrorRecord]()
	o, err := asObject(v, typ)
	if err != nil {
		return err
	}
	*r = ErrorRecord{Raw: o}
	rd := &recReader{o: o, typ: typ}
	if ex, ok := o.Member("Exception"); ok {
		switch x := ex.(type) {
		case *Object:
			if x != nil {
				r.Exception.Raw = x
				r.Exception.TypeNames = x.TypeNames
				er := &recReader{o: x, typ: reflect.TypeFor[ExceptionInfo]()}
				if !er.get("Message", &r.Exception.Message) && x.HasToString {
					// .NET's Exception.ToString is "Type: message".
					r.Exception.Message = x.ToString
					if len(x.TypeNames) > 0 {
						r.Exception.Message = strings.TrimPrefix(x.ToString, strings.TrimPrefix(x.TypeNames[0], "Deserialized.")+": ")
					}
				}
				er.get("HResult", &r.Exception.HResult)
				if rd.err == nil {
					rd.err = er.err
				}
			}
		case string:
			r.Exception.Message = x
		case nil:
		default:
			rd.set("Exception", ex, new(*Object))
		}
	}
	if t, ok := o.Member("TargetObject"); ok {
		r.TargetObject = t
	}
	rd.get("FullyQualifiedErrorId", &r.FullyQualifiedErrorID)
	rd.get("ErrorCategory_Category", &r.CategoryInfo.Category)
	rd.get("ErrorCategory_Activity", &r.CategoryInfo.Activity)
	rd.get("ErrorCategory_Reason", &r.CategoryInfo.Reason)
	rd.get("ErrorCategory_TargetName", &r.CategoryInfo.TargetName)
	rd.get("ErrorCategory_TargetType", &r.CategoryInfo.TargetType)
	rd.get("ErrorCategory_Message", &r.CategoryInfo.Message)
	var det ErrorDetails
	m := rd.get("ErrorDetails_Message", &det.Message)
	a := rd.get("ErrorDetails_RecommendedAction", &det.RecommendedAction)
	if m || a {
		r.ErrorDetails = &det
	}
	rd.get("ErrorDetails_ScriptStackTrace", &r.ScriptStackTrace)
	rd.get("PipelineIterationInfo", &r.PipelineIterationInfo)
	var ii InvocationInfo
	have := false
	if iv, ok := o.Member("InvocationInfo"); ok {
		if io, ok := iv.(*Object); ok && io != nil {
			ir := &recReader{o: io, typ: reflect.TypeFor[InvocationInfo]()}
			readInvocationProps(ir, &ii)
			if rd.err == nil {
				rd.err = ir.err
			}
			have = true
		}
	}
	var ext bool
	rd.get("SerializeExtendedInfo", &ext)
	if ext {
		readInvocationExtended(rd, &ii)
		have = true
	}
	if have {
		r.InvocationInfo = &ii
	}
	return rd.err
}

// ---------------------------------------------------------------------------
// InformationalRecord

// MarshalCLIXML returns the record as PowerShell serializes a warning,
// verbose or debug record.
func (r *InformationalRecord) MarshalCLIXML() (any, error) {
	tn := r.TypeNames
	if len(tn) == 0 {
		tn = []string{"System.Management.Automation.InformationalRecord", "System.Object"}
	}
	ms := []Property{
		{"InformationalRecord_Message", r.Message},
		{"InformationalRecord_SerializeInvocationInfo", r.InvocationInfo != nil},
	}
	if r.InvocationInfo != nil {
		bound, unbound, err := invocationParts(r.InvocationInfo)
		if err != nil {
			return nil, err
		}
		ms = append(ms, invocationMembers(r.InvocationInfo, bound, unbound)...)
		ms = append(ms, Property{"InformationalRecord_PipelineIterationInfo", int32List([]string{tnIterInfo, "System.Object"}, r.PipelineIterationInfo)})
	}
	return &Object{TypeNames: tn, ToString: r.Message, HasToString: true, Members: ms}, nil
}

// UnmarshalCLIXML fills r from a WarningRecord, VerboseRecord or
// DebugRecord object.
func (r *InformationalRecord) UnmarshalCLIXML(v any) error {
	typ := reflect.TypeFor[InformationalRecord]()
	o, err := asObject(v, typ)
	if err != nil {
		return err
	}
	*r = InformationalRecord{TypeNames: o.TypeNames}
	rd := &recReader{o: o, typ: typ}
	if !rd.get("InformationalRecord_Message", &r.Message) && o.HasToString {
		r.Message = o.ToString
	}
	var inv bool
	rd.get("InformationalRecord_SerializeInvocationInfo", &inv)
	if inv {
		r.InvocationInfo = &InvocationInfo{}
		readInvocationExtended(rd, r.InvocationInfo)
	}
	rd.get("InformationalRecord_PipelineIterationInfo", &r.PipelineIterationInfo)
	return rd.err
}

// ---------------------------------------------------------------------------
// ProgressRecord

// MarshalCLIXML returns the body of a PROGRESS_RECORD message.
func (r *ProgressRecord) MarshalCLIXML() (any, error) {
	return &Object{Members: []Property{
		{"Activity", r.Activity},
		{"ActivityId", r.ActivityID},
		{"StatusDescription", r.StatusDescription},
		{"CurrentOperation", strOrNil(r.CurrentOperation)},
		{"ParentActivityId", r.ParentActivityID},
		{"PercentComplete", r.PercentComplete},
		{"Type", enumObject("System.Management.Automation.ProgressRecordType", r.RecordType.String(), int32(r.RecordType))},
		{"SecondsRemaining", r.SecondsRemaining},
	}}, nil
}

// UnmarshalCLIXML fills r from a PROGRESS_RECORD body, or from a <PR>
// model value.
func (r *ProgressRecord) UnmarshalCLIXML(v any) error {
	if pr, ok := v.(ProgressRecord); ok {
		*r = pr
		return nil
	}
	typ := reflect.TypeFor[ProgressRecord]()
	o, err := asObject(v, typ)
	if err != nil {
		return err
	}
	*r = ProgressRecord{}
	rd := &recReader{o: o, typ: typ}
	rd.get("Activity", &r.Activity)
	rd.get("ActivityId", &r.ActivityID)
	rd.get("StatusDescription", &r.StatusDescription)
	rd.get("CurrentOperation", &r.CurrentOperation)
	rd.get("ParentActivityId", &r.ParentActivityID)
	rd.get("PercentComplete", &r.PercentComplete)
	rd.get("Type", &r.RecordType)
	rd.get("SecondsRemaining", &r.SecondsRemaining)
	return rd.err
}

// ---------------------------------------------------------------------------
// InformationRecord

// MarshalCLIXML returns the body of an INFORMATION_RECORD message.
func (r *InformationRecord) MarshalCLIXML() (any, error) {
	md, err := reflToModel(reflect.ValueOf(r.MessageData), 1)
	if err != nil {
		return nil, fmt.Errorf("clixml: InformationRecord.MessageData: %w", err)
	}
	return &Object{Members: []Property{
		{"MessageData", md},
		{"Source", r.Source},
		{"TimeGenerated", r.TimeGenerated},
		{"Tags", stringList([]string{tnStringList, "System.Object"}, r.Tags)},
		{"User", r.User},
		{"Computer", r.Computer},
		{"ProcessId", r.ProcessID},
		{"NativeThreadId", r.NativeThreadID},
		{"ManagedThreadId", r.ManagedThreadID},
	}}, nil
}

// UnmarshalCLIXML fills r from an INFORMATION_RECORD body.
func (r *InformationRecord) UnmarshalCLIXML(v any) error {
	typ := reflect.TypeFor[InformationRecord]()
	o, err := asObject(v, typ)
	if err != nil {
		return err
	}
	*r = InformationRecord{}
	rd := &recReader{o: o, typ: typ}
	if md, ok := o.Member("MessageData"); ok {
		r.MessageData = md
	}
	rd.get("Source", &r.Source)
	rd.get("TimeGenerated", &r.TimeGenerated)
	rd.get("Tags", &r.Tags)
	rd.get("User", &r.User)
	rd.get("Computer", &r.Computer)
	rd.get("ProcessId", &r.ProcessID)
	rd.get("NativeThreadId", &r.NativeThreadID)
	rd.get("ManagedThreadId", &r.ManagedThreadID)
	return rd.err
}

// ---------------------------------------------------------------------------
// HostInfo

const (
	tnConsoleColor = "System.ConsoleColor"
	tnCoordinates  = "System.Management.Automation.Host.Coordinates"
	tnSize         = "System.Management.Automation.Host.Size"
)

// MarshalCLIXML returns the HostInfo object of INIT_RUNSPACEPOOL and
// CREATE_PIPELINE.
func (h *HostInfo) MarshalCLIXML() (any, error) {
	var ms []Property
	if h.HostDefaultData != nil {
		keys := make([]int32, 0, len(h.HostDefaultData))
		for k := range h.HostDefaultData {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		ents := make([]DictEntry, 0, len(keys))
		for _, k := range keys {
			t, val, err := hostValueModel(k, h.HostDefaultData[k])
			if err != nil {
				return nil, err
			}
			ents = append(ents, DictEntry{Key: k, Value: &Object{Members: []Property{{"T", t}, {"V", val}}}})
		}
		data := &Object{TypeNames: []string{"System.Collections.Hashtable", "System.Object"}, Kind: Dictionary, Entries: ents}
		ms = append(ms, Property{"_hostDefaultData", &Object{Members: []Property{{"data", data}}}})
	}
	ms = append(ms,
		Property{"_isHostNull", h.IsHostNull},
		Property{"_isHostUINull", h.IsHostUINull},
		Property{"_isHostRawUINull", h.IsHostRawUINull},
		Property{"_useRunspaceHost", h.UseRunspaceHost},
	)
	return &Object{Members: ms}, nil
}

// hostValueModel returns the .NET type name and model value of one host
// default value.
func hostValueModel(key int32, v any) (string, any, error) {
	switch x := v.(type) {
	case HostCoordinates:
		return tnCoordinates, &Object{Members: []Property{{"x", x.X}, {"y", x.Y}}}, nil
	case HostSize:
		return tnSize, &Object{Members: []Property{{"width", x.Width}, {"height", x.Height}}}, nil
	case string:
		return "System.String", x, nil
	case int32:
		if key == HostDataForegroundColor || key == HostDataBackgroundColor {
			return tnConsoleColor, x, nil
		}
		return "System.Int32", x, nil
	case HostDefaultValue:
		m, err := reflToModel(reflect.ValueOf(x.Value), 1)
		if err != nil {
			return "", nil, fmt.Errorf("clixml: HostInfo.HostDefaultData[%d]: %w", key, err)
		}
		return x.Type, m, nil
	}
	return "", nil, fmt.Errorf("clixml: HostInfo.HostDefaultData[%d]: unsupported value type %T", key, v)
}

// UnmarshalCLIXML fills h from a HostInfo object.
func (h *HostInfo) UnmarshalCLIXML(v any) error {
	typ := reflect.TypeFor[HostInfo]()
	o, err := asObject(v, typ)
	if err != nil {
		return err
	}
	*h = HostInfo{}
	rd := &recReader{o: o, typ: typ}
	rd.get("_isHostNull", &h.IsHostNull)
	rd.get("_isHostUINull", &h.IsHostUINull)
	rd.get("_isHostRawUINull", &h.IsHostRawUINull)
	rd.get("_useRunspaceHost", &h.UseRunspaceHost)
	hd, ok := o.Member("_hostDefaultData")
	if !ok || hd == nil {
		return rd.err
	}
	hdo, ok := hd.(*Object)
	if !ok {
		rd.set("_hostDefaultData", hd, new(*Object))
		return rd.err
	}
	data, ok := hdo.Member("data")
	if !ok {
		return rd.err
	}
	do, ok := data.(*Object)
	if !ok || do == nil || do.Kind != Dictionary {
		rd.set("_hostDefaultData.data", data, new(map[int32]any))
		return rd.err
	}
	h.HostDefaultData = make(map[int32]any, len(do.Entries))
	for _, e := range do.Entries {
		var key int32
		kr := &recReader{o: &Object{Members: []Property{{"Key", e.Key}}}, typ: typ}
		kr.get("Key", &key)
		eo, ok := e.Value.(*Object)
		if kr.err != nil || !ok || eo == nil {
			if rd.err == nil {
				rd.err = &UnmarshalTypeError{Value: reflDescribe(e.Value), Type: reflect.TypeFor[HostDefaultValue](), Struct: "HostInfo", Field: "_hostDefaultData.data"}
			}
			continue
		}
		er := &recReader{o: eo, typ: typ}
		var tname string
		er.get("T", &tname)
		val, _ := eo.Member("V")
		switch tname {
		case tnConsoleColor, "System.Int32":
			var c int32
			er.set("V", val, &c)
			h.HostDefaultData[key] = c
		case "System.String":
			var s string
			er.set("V", val, &s)
			h.HostDefaultData[key] = s
		case tnCoordinates:
			var c HostCoordinates
			if vo, ok := val.(*Object); ok && vo != nil {
				vr := &recReader{o: vo, typ: reflect.TypeFor[HostCoordinates]()}
				vr.get("x", &c.X)
				vr.get("y", &c.Y)
				er.err = cmpErr(er.err, vr.err)
			} else {
				er.set("V", val, new(*Object))
			}
			h.HostDefaultData[key] = c
		case tnSize:
			var s HostSize
			if vo, ok := val.(*Object); ok && vo != nil {
				vr := &recReader{o: vo, typ: reflect.TypeFor[HostSize]()}
				vr.get("width", &s.Width)
				vr.get("height", &s.Height)
				er.err = cmpErr(er.err, vr.err)
			} else {
				er.set("V", val, new(*Object))
			}
			h.HostDefaultData[key] = s
		default:
			h.HostDefaultData[key] = HostDefaultValue{Type: tname, Value: val}
		}
		rd.err = cmpErr(rd.err, er.err)
	}
	return rd.err
}

// cmpErr returns the first non-nil error.
func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// ---------------------------------------------------------------------------
// PSCredential

// MarshalCLIXML returns the credential as PowerShell serializes it. The
// password stays a SecureString: encoding it needs the pool's Cipher.
func (c *PSCredential) MarshalCLIXML() (any, error) {
	return &Object{
		TypeNames: []string{"System.Management.Automation.PSCredential", "System.Object"},
		Props: []Property{
			{"UserName", c.UserName},
			{"Password", c.Password},
		},
	}, nil
}

// UnmarshalCLIXML fills c from a PSCredential object.
func (c *PSCredential) UnmarshalCLIXML(v any) error {
	typ := reflect.TypeFor[PSCredential]()
	o, err := asObject(v, typ)
	if err != nil {
		return err
	}
	*c = PSCredential{}
	rd := &recReader{o: o, typ: typ}
	rd.get("UserName", &c.UserName)
	rd.get("Password", &c.Password)
	return rd.err
}

// ---------------------------------------------------------------------------
// CommandMetadata

// MarshalCLIXML returns the command as a GET_COMMAND_METADATA reply
// describes it (MS-PSRP 2.2.3.22).
func (m *CommandMetadata) MarshalCLIXML() (any, error) {
	names := make([]string, 0, len(m.Parameters))
	for k := range m.Parameters {
		names = append(names, k)
	}
	slices.Sort(names)
	ents := make([]DictEntry, len(names))
	for i, k := range names {
		p := m.Parameters[k]
		ents[i] = DictEntry{Key: k, Value: &Object{
			TypeNames: []string{"System.Management.Automation.ParameterMetadata", "System.Object"},
			Props: []Property{
				{"Name", p.Name},
				{"ParameterType", p.ParameterType},
				{"Aliases", stringList([]string{tnStringList, "System.Object"}, p.Aliases)},
				{"IsDynamic", p.IsDynamic},
				{"SwitchParameter", p.SwitchParameter},
			},
		}}
	}
	return &Object{
		TypeNames: []string{"Selected.System.Management.Automation.CommandInfo", "System.Management.Automation.PSCustomObject", "System.Object"},
		Members: []Property{
			{"Name", m.Name},
			{"CommandType", enumObject(tnCommandType, commandTypesString(m.CommandType), m.CommandType)},
			{"Namespace", m.Namespace},
			{"HelpUri", strOrNil(m.HelpURI)},
			{"OutputType", stringList([]string{"System.Collections.ObjectModel.ReadOnlyCollection`1[[System.Management.Automation.PSTypeName, System.Management.Automation]]", "System.Object"}, m.OutputType)},
			{"Parameters", &Object{
				TypeNames: []string{"System.Collections.Generic.Dictionary`2[[System.String" + mscorlib + "],[System.Management.Automation.ParameterMetadata, System.Management.Automation]]", "System.Object"},
				Kind:      Dictionary,
				Entries:   ents,
			}},
		},
	}, nil
}

// UnmarshalCLIXML fills m from one object of a GET_COMMAND_METADATA reply.
// OutputType entries may be strings or PSTypeName objects (their Name, or
// their ToString).
func (m *CommandMetadata) UnmarshalCLIXML(v any) error {
	typ := reflect.TypeFor[CommandMetadata]()
	o, err := asObject(v, typ)
	if err != nil {
		return err
	}
	*m = CommandMetadata{}
	rd := &recReader{o: o, typ: typ}
	rd.get("Name", &m.Name)
	rd.get("CommandType", &m.CommandType)
	rd.get("Namespace", &m.Namespace)
	rd.get("HelpUri", &m.HelpURI)
	if ot, ok := o.Member("OutputType"); ok && ot != nil {
		items, ok := reflItems(ot)
		if !ok {
			rd.set("OutputType", ot, &m.OutputType)
		}
		for _, it := range items {
			var s string
			if io, ok := it.(*Object); ok && io != nil {
				ir := &recReader{o: io, typ: typ}
				if !ir.get("Name", &s) && io.HasToString {
					s = io.ToString
				}
			} else {
				rd.set("OutputType", it, &s)
			}
			m.OutputType = append(m.OutputType, s)
		}
	}
	if pv, ok := o.Member("Parameters"); ok && pv != nil {
		po, ok := pv.(*Object)
		if !ok || po == nil || po.Kind != Dictionary {
			rd.set("Parameters", pv, new(map[string]any))
			return rd.err
		}
		m.Parameters = make(map[string]ParameterMetadata, len(po.Entries))
		for _, e := range po.Entries {
			var key string
			rd.set("Parameters", e.Key, &key)
			eo, ok := e.Value.(*Object)
			if !ok || eo == nil {
				rd.set("Parameters", e.Value, new(*Object))
				continue
			}
			var p ParameterMetadata
			pr := &recReader{o: eo, typ: reflect.TypeFor[ParameterMetadata]()}
			pr.get("Name", &p.Name)
			pr.get("ParameterType", &p.ParameterType)
			pr.get("IsDynamic", &p.IsDynamic)
			pr.get("Aliases", &p.Aliases)
			pr.get("SwitchParameter", &p.SwitchParameter)
			rd.err = cmpErr(rd.err, pr.err)
			m.Parameters[key] = p
		}
	}
	return rd.err
}
