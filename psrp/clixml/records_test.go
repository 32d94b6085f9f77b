package clixml

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const mergeScript = "$DebugPreference = 'Continue'\n" +
	"            $VerbosePreference = 'Continue'\n" +
	"            Write-Debug 'debug stream'\n" +
	"            Write-Verbose 'verbose stream'\n" +
	"            Write-Error 'error stream'\n" +
	"            Write-Output 'output stream'\n" +
	"            Write-Warning 'warning stream'\n" +
	"            Write-Information 'information stream'\n" +
	"            "

// decodeBody decodes a testdata record body into the lossless model.
func decodeBody(t *testing.T, file string) any {
	t.Helper()
	m, err := Decode(recordBody(t, file))
	require.NoError(t, err)
	return m
}

// stateErrorRecord returns the ExceptionAsErrorRecord of a PIPELINE_STATE
// body.
func stateErrorRecord(t *testing.T, file string) *ErrorRecord {
	t.Helper()
	var st struct {
		PipelineState          int32
		ExceptionAsErrorRecord *ErrorRecord
	}
	require.NoError(t, Unmarshal(recordBody(t, file), &st))
	assert.Equal(t, int32(5), st.PipelineState, "Failed")
	require.NotNil(t, st.ExceptionAsErrorRecord)
	return st.ExceptionAsErrorRecord
}

func TestErrorRecordFromWindows(t *testing.T) {
	t.Parallel()
	var r ErrorRecord
	require.NoError(t, Unmarshal(recordBody(t, "error_extended.xml"), &r))
	require.NotNil(t, r.Raw)
	require.NotNil(t, r.Exception.Raw)
	assert.Equal(t, []string{"Microsoft.PowerShell.Commands.WriteErrorException", "System.SystemException", "System.Exception", "System.Object"}, r.Exception.TypeNames)
	assert.Equal(t, "error stream", r.Exception.Message)
	assert.Equal(t, int32(-2146233087), r.Exception.HResult)
	assert.Nil(t, r.TargetObject)
	assert.Equal(t, "Microsoft.PowerShell.Commands.WriteErrorException", r.FullyQualifiedErrorID)
	assert.Equal(t, ErrorCategoryInfo{
		Category: CategoryNotSpecified, Activity: "Write-Error", Reason: "WriteErrorException",
		Message: "NotSpecified: (:) [Write-Error], WriteErrorException",
	}, r.CategoryInfo)
	assert.Nil(t, r.ErrorDetails)
	assert.Equal(t, "at <ScriptBlock>, <No file>: line 5", r.ScriptStackTrace)
	assert.Equal(t, []int32{0, 0}, r.PipelineIterationInfo)
	assert.Equal(t, &InvocationInfo{
		MyCommand:             mergeScript,
		HistoryID:             1,
		CommandOrigin:         1, // Internal
		CommandType:           64,
		CommandDefinition:     mergeScript,
		BoundParameters:       map[string]any{},
		UnboundArguments:      []any{},
		PipelineIterationInfo: []int32{},
	}, r.InvocationInfo)
	assert.Equal(t, "error stream", r.String())

	// Without extended info only the InvocationInfo property is read.
	var p ErrorRecord
	require.NoError(t, Unmarshal(recordBody(t, "error_plain.xml"), &p))
	require.NotNil(t, p.InvocationInfo)
	assert.Equal(t, mergeScript, p.InvocationInfo.MyCommand)
	assert.Equal(t, int32(0), p.InvocationInfo.CommandType)
	assert.Nil(t, p.PipelineIterationInfo)
}

func TestErrorRecordThrownFromWindows(t *testing.T) {
	t.Parallel()
	r := stateErrorRecord(t, "state_failed_throw.xml")
	const msg = "The path at 'C:\\fakefile.txt' does not exist"
	assert.Equal(t, []string{"System.Management.Automation.RuntimeException", "System.SystemException", "System.Exception", "System.Object"}, r.Exception.TypeNames)
	assert.Equal(t, msg, r.Exception.Message)
	assert.Equal(t, msg, r.TargetObject)
	assert.Equal(t, msg, r.FullyQualifiedErrorID)
	assert.Equal(t, CategoryOperationStopped, r.CategoryInfo.Category)
	assert.Equal(t, "", r.CategoryInfo.Activity)
	assert.Equal(t, "RuntimeException", r.CategoryInfo.Reason)
	assert.Equal(t, msg, r.CategoryInfo.TargetName)
	assert.Equal(t, "String", r.CategoryInfo.TargetType)
	assert.Equal(t, "at <ScriptBlock>, <No file>: line 11", r.ScriptStackTrace)
	ii := r.InvocationInfo
	require.NotNil(t, ii)
	assert.Equal(t, "", ii.MyCommand)
	assert.Equal(t, int32(11), ii.ScriptLineNumber)
	assert.Equal(t, int32(1), ii.OffsetInLine)
	assert.Equal(t, int64(-1), ii.HistoryID)
	assert.Equal(t, "throw \"The path at '$src_path' does not exist\"\n", ii.Line)
	assert.Equal(t, "At line:11 char:1\r\n+ throw \"The path at '$src_path' does not exist\"\r\n+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~", ii.PositionMessage)

	// .NET's GetMessage, computed here, matches what Windows sent,
	// shortening of the long target name included.
	computed := r.CategoryInfo
	computed.Message = ""
	assert.Equal(t, r.CategoryInfo.Message, computed.String())
	assert.Equal(t, "OperationStopped: (The path at 'C:... does not exist:String) [], RuntimeException", computed.String())
}

func TestErrorRecordNormalView(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want []string
	}{
		{"state_failed_write_error.xml", []string{
			"error",
			"At line:1 char:55",
			"+ ... onPreference = 'Stop'; Write-Output before; Write-Error error; Write- ...",
			"+                                                 ~~~~~~~~~~~~~~~~~",
			"    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException",
			"    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException",
		}},
		{"state_failed_throw.xml", []string{
			"The path at 'C:\\fakefile.txt' does not exist",
			"At line:11 char:1",
			"+ throw \"The path at '$src_path' does not exist\"",
			"+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~",
			"    + CategoryInfo          : OperationStopped: (The path at 'C:... does not exist:String) [], RuntimeException",
			"    + FullyQualifiedErrorId : The path at 'C:\\fakefile.txt' does not exist",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			r := stateErrorRecord(t, tt.file)
			assert.Equal(t, tt.want, strings.Split(r.NormalView(), "\n"))
		})
	}
}

func TestErrorRecordNormalViewCases(t *testing.T) {
	t.Parallel()
	base := func() *ErrorRecord {
		return &ErrorRecord{
			Exception:             ExceptionInfo{Message: "Cannot find path 'C:\\x' because it does not exist."},
			FullyQualifiedErrorID: "PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand",
			CategoryInfo:          ErrorCategoryInfo{Category: CategoryObjectNotFound, Activity: "Get-Item", Reason: "ItemNotFoundException", TargetName: "C:\\x", TargetType: "String"},
		}
	}
	tests := []struct {
		name string
		mod  func(r *ErrorRecord)
		want []string
	}{
		{"no invocation info", func(*ErrorRecord) {}, []string{
			"Cannot find path 'C:\\x' because it does not exist.",
			"    + CategoryInfo          : ObjectNotFound: (C:\\x:String) [Get-Item], ItemNotFoundException",
			"    + FullyQualifiedErrorId : PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand",
		}},
		{"invocation name prefix and details", func(r *ErrorRecord) {
			r.InvocationInfo = &InvocationInfo{MyCommand: "Get-Item", InvocationName: "gi", PositionMessage: "At line:1 char:1\r\n+ gi C:\\x"}
			r.ErrorDetails = &ErrorDetails{Message: "custom details"}
		}, []string{
			"gi : custom details",
			"At line:1 char:1",
			"+ gi C:\\x",
			"    + CategoryInfo          : ObjectNotFound: (C:\\x:String) [Get-Item], ItemNotFoundException",
			"    + FullyQualifiedErrorId : PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand",
		}},
		{"& invocation gets no prefix", func(r *ErrorRecord) {
			r.InvocationInfo = &InvocationInfo{MyCommand: "Get-Item", InvocationName: "&"}
		}, []string{
			"Cannot find path 'C:\\x' because it does not exist.",
			"    + CategoryInfo          : ObjectNotFound: (C:\\x:String) [Get-Item], ItemNotFoundException",
			"    + FullyQualifiedErrorId : PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand",
		}},
		{"parser error without command hides position", func(r *ErrorRecord) {
			r.CategoryInfo.Category = CategoryParserError
			r.InvocationInfo = &InvocationInfo{PositionMessage: "At line:1 char:1"}
		}, []string{
			"Cannot find path 'C:\\x' because it does not exist.",
			"    + CategoryInfo          : ParserError: (C:\\x:String) [Get-Item], ItemNotFoundException",
			"    + FullyQualifiedErrorId : PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand",
		}},
		{"native command stderr", func(r *ErrorRecord) {
			r.FullyQualifiedErrorID = "NativeCommandErrorMessage"
		}, []string{"Cannot find path 'C:\\x' because it does not exist."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := base()
			tt.mod(r)
			assert.Equal(t, tt.want, strings.Split(r.NormalView(), "\n"))
		})
	}
}

func TestErrorCategoryString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "NotSpecified", CategoryNotSpecified.String())
	assert.Equal(t, "OperationStopped", ErrorCategory(14).String())
	assert.Equal(t, "NotEnabled", CategoryNotEnabled.String())
	assert.Equal(t, "32", ErrorCategory(32).String())
	assert.Equal(t, "-1", ErrorCategory(-1).String())
	assert.Equal(t, "Completed", ProgressCompleted.String())
	assert.Equal(t, "7", ProgressRecordType(7).String())
	assert.Equal(t, "Alias, Cmdlet", commandTypesString(9))
	assert.Equal(t, "1024", commandTypesString(1024))
}

func TestInformationalRecordsFromWindows(t *testing.T) {
	t.Parallel()
	ext := func(origin int32) *InvocationInfo {
		return &InvocationInfo{
			MyCommand: mergeScript, HistoryID: 1, CommandOrigin: origin,
			PipelineLength: 1, PipelinePosition: 1, CommandType: 64, CommandDefinition: mergeScript,
			BoundParameters: map[string]any{}, UnboundArguments: []any{}, PipelineIterationInfo: []int32{0, 0},
		}
	}
	tests := []struct {
		file string
		want InformationalRecord
	}{
		{"debug_extended.xml", InformationalRecord{
			Message: "debug stream", InvocationInfo: ext(0), PipelineIterationInfo: []int32{0, 0},
			TypeNames: []string{"System.Management.Automation.DebugRecord", "System.Management.Automation.InformationalRecord", "System.Object"},
		}},
		{"verbose_extended.xml", InformationalRecord{
			Message: "verbose stream", InvocationInfo: ext(0), PipelineIterationInfo: []int32{0, 0},
			TypeNames: []string{"System.Management.Automation.VerboseRecord", "System.Management.Automation.InformationalRecord", "System.Object"},
		}},
		{"warning_extended.xml", InformationalRecord{
			Message: "warning stream", InvocationInfo: ext(0), PipelineIterationInfo: []int32{0, 0},
			TypeNames: []string{"System.Management.Automation.WarningRecord", "System.Management.Automation.InformationalRecord", "System.Object"},
		}},
		{"warning_plain.xml", InformationalRecord{
			Message:   "warning stream",
			TypeNames: []string{"System.Management.Automation.WarningRecord", "System.Management.Automation.InformationalRecord", "System.Object"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			var r InformationalRecord
			require.NoError(t, Unmarshal(recordBody(t, tt.file), &r))
			assert.Equal(t, tt.want, r)
		})
	}
}

func TestInformationRecordFromWindows(t *testing.T) {
	t.Parallel()
	var r InformationRecord
	require.NoError(t, Unmarshal(recordBody(t, "information.xml"), &r))
	want := time.Date(2018, 6, 13, 23, 46, 12, 131633200, time.UTC)
	assert.True(t, r.TimeGenerated.Time.Equal(want), r.TimeGenerated.Time.String())
	assert.Equal(t, Local, r.TimeGenerated.Kind, "written with an offset")
	r.TimeGenerated = DateTime{}
	assert.Equal(t, InformationRecord{
		MessageData:     "information stream",
		Source:          "Write-Information",
		Tags:            []string{},
		User:            "WIN-NNMU24VVKJ0\\vagrant",
		Computer:        "WIN-NNMU24VVKJ0",
		ProcessID:       4040,
		NativeThreadID:  1328,
		ManagedThreadID: 10,
	}, r)
}

func TestProgressRecordFromWindows(t *testing.T) {
	t.Parallel()
	var r ProgressRecord
	body := recordBody(t, "progress.xml")
	require.NoError(t, Unmarshal(body, &r))
	assert.Equal(t, ProgressRecord{
		ActivityID: 0, ParentActivityID: -1, Activity: "Preparing modules for first use.",
		StatusDescription: " ", PercentComplete: -1, SecondsRemaining: -1, RecordType: ProgressCompleted,
	}, r)
	// Marshal writes what Windows wrote, byte for byte.
	out, err := Marshal(&r)
	require.NoError(t, err)
	assert.Equal(t, string(body), string(out))
}

// memberNames lists the names of an object's extended members.
func memberNames(o *Object, skip ...string) []string {
	var n []string
	for _, p := range o.Members {
		if !slices.Contains(skip, p.Name) {
			n = append(n, p.Name)
		}
	}
	return n
}

func propNames(o *Object) []string {
	var n []string
	for _, p := range o.Props {
		n = append(n, p.Name)
	}
	return n
}

func TestRecordsMarshalLikeWindows(t *testing.T) {
	t.Parallel()
	t.Run("ErrorRecord", func(t *testing.T) {
		t.Parallel()
		orig := decodeBody(t, "error_extended.xml").(*Object)
		var r ErrorRecord
		require.NoError(t, r.UnmarshalCLIXML(orig))
		m, err := r.MarshalCLIXML()
		require.NoError(t, err)
		o := m.(*Object)
		assert.Equal(t, orig.TypeNames, o.TypeNames)
		assert.Equal(t, orig.ToString, o.ToString)
		// writeErrorStream and PSMessageDetails are notes Write-Error adds.
		assert.Equal(t, memberNames(orig, "writeErrorStream", "PSMessageDetails"), memberNames(o))
		oi, _ := orig.Member("InvocationInfo")
		ni, _ := o.Member("InvocationInfo")
		assert.Equal(t, propNames(oi.(*Object)), propNames(ni.(*Object)))
		assert.Equal(t, oi.(*Object).TypeNames, ni.(*Object).TypeNames)
		oe, _ := orig.Member("Exception")
		ne, _ := o.Member("Exception")
		assert.Equal(t, propNames(oe.(*Object)), propNames(ne.(*Object)))
		assert.Equal(t, oe.(*Object).ToString, ne.(*Object).ToString)
		for _, name := range []string{"CommandInfo_CommandType", "InvocationInfo_CommandOrigin", "PipelineIterationInfo"} {
			a, _ := orig.Member(name)
			b, _ := o.Member(name)
			assert.Equal(t, a, b, name)
		}
	})
	t.Run("InformationalRecord", func(t *testing.T) {
		t.Parallel()
		orig := decodeBody(t, "debug_extended.xml").(*Object)
		var r InformationalRecord
		require.NoError(t, r.UnmarshalCLIXML(orig))
		m, err := r.MarshalCLIXML()
		require.NoError(t, err)
		o := m.(*Object)
		assert.Equal(t, orig.TypeNames, o.TypeNames)
		assert.Equal(t, orig.ToString, o.ToString)
		assert.Equal(t, memberNames(orig), memberNames(o))
		for _, p := range orig.Members {
			if p.Name == "InvocationInfo_BoundParameters" {
				continue // PowerShell's PSBoundParametersDictionary TN differs only in assembly details
			}
			b, _ := o.Member(p.Name)
			assert.Equal(t, p.Value, b, p.Name)
		}
	})
	t.Run("InformationRecord", func(t *testing.T) {
		t.Parallel()
		orig := decodeBody(t, "information.xml").(*Object)
		var r InformationRecord
		require.NoError(t, r.UnmarshalCLIXML(orig))
		m, err := r.MarshalCLIXML()
		require.NoError(t, err)
		assert.Equal(t, orig, m)
	})
}

// testRecordCipher is a reversible stand-in for the session key.
type testRecordCipher struct{}

func (testRecordCipher) Encrypt(p []byte) ([]byte, error) {
	out := slices.Clone(p)
	for i := range out {
		out[i] ^= 0x5A
	}
	return out, nil
}
func (c testRecordCipher) Decrypt(p []byte) ([]byte, error) { return c.Encrypt(p) }

func sampleRecords() []any {
	ts := time.Date(2026, 11, 23, 2, 36, 16, 123456700, time.UTC)
	ii := &InvocationInfo{
		MyCommand: "Get-Item", ScriptName: "C:\\s.ps1", ScriptLineNumber: 3, OffsetInLine: 5,
		Line: "Get-Item C:\\x", PositionMessage: "At C:\\s.ps1:3 char:5\r\n+ Get-Item C:\\x", InvocationName: "Get-Item",
		PipelineLength: 1, PipelinePosition: 1, HistoryID: 4, CommandOrigin: 1, ExpectingInput: true,
		PSScriptRoot: "C:\\", PSCommandPath: "C:\\s.ps1", CommandType: 8, CommandDefinition: "Get-Item [[-Path] <string[]>]",
		BoundParameters: map[string]any{"Path": "C:\\x", "Force": true}, UnboundArguments: []any{"extra"},
		PipelineIterationInfo: []int32{1, 0},
	}
	return []any{
		&ErrorRecord{
			Exception:             ExceptionInfo{TypeNames: []string{"System.Management.Automation.ItemNotFoundException", "System.Exception", "System.Object"}, Message: "not found", HResult: -2146233087},
			TargetObject:          "C:\\x",
			FullyQualifiedErrorID: "PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand",
			CategoryInfo:          ErrorCategoryInfo{Category: CategoryObjectNotFound, Activity: "Get-Item", Reason: "ItemNotFoundException", TargetName: "C:\\x", TargetType: "String", Message: "ObjectNotFound: (C:\\x:String) [Get-Item], ItemNotFoundException"},
			ErrorDetails:          &ErrorDetails{Message: "details", RecommendedAction: "check the path"},
			InvocationInfo:        ii,
			ScriptStackTrace:      "at <ScriptBlock>, C:\\s.ps1: line 3",
			PipelineIterationInfo: []int32{1, 0},
		},
		&ErrorRecord{
			Exception:             ExceptionInfo{TypeNames: []string{"System.Exception", "System.Object"}, Message: "plain"},
			FullyQualifiedErrorID: "X",
			CategoryInfo:          ErrorCategoryInfo{Message: "NotSpecified: (:) [], "},
		},
		&InformationalRecord{Message: "careful", InvocationInfo: ii, PipelineIterationInfo: []int32{0, 0},
			TypeNames: []string{"System.Management.Automation.WarningRecord", "System.Management.Automation.InformationalRecord", "System.Object"}},
		&InformationalRecord{Message: "plain", TypeNames: []string{"System.Management.Automation.InformationalRecord", "System.Object"}},
		&ProgressRecord{ActivityID: 2, ParentActivityID: 1, Activity: "Copying", StatusDescription: "50%", CurrentOperation: "a.txt", PercentComplete: 50, SecondsRemaining: 9, RecordType: ProgressProcessing},
		&InformationRecord{MessageData: "hello", Source: "Write-Host", TimeGenerated: DateTime{Time: ts, Kind: UTC}, Tags: []string{"PSHOST"}, User: "u", Computer: "c", ProcessID: 1, NativeThreadID: 2, ManagedThreadID: 3},
		&HostInfo{
			UseRunspaceHost: false,
			HostDefaultData: map[int32]any{
				HostDataForegroundColor:       int32(7),
				HostDataBackgroundColor:       int32(5),
				HostDataCursorPosition:        HostCoordinates{X: 1, Y: 2},
				HostDataWindowPosition:        HostCoordinates{X: 0, Y: 3},
				HostDataCursorSize:            int32(25),
				HostDataBufferSize:            HostSize{Width: 120, Height: 3000},
				HostDataWindowSize:            HostSize{Width: 120, Height: 50},
				HostDataMaxWindowSize:         HostSize{Width: 120, Height: 80},
				HostDataMaxPhysicalWindowSize: HostSize{Width: 300, Height: 80},
				HostDataWindowTitle:           "gopsrp",
				42:                            HostDefaultValue{Type: "System.Boolean", Value: true},
			},
		},
		&HostInfo{IsHostNull: true, IsHostUINull: true, IsHostRawUINull: true, UseRunspaceHost: true},
		&PSCredential{UserName: "CORP\\alice", Password: NewSecureString("s3cret")},
		&CommandMetadata{
			Name: "Get-Item", CommandType: 8, Namespace: "Microsoft.PowerShell.Management", HelpURI: "https://go.microsoft.com/fwlink/?LinkID=113319",
			OutputType: []string{"System.IO.FileInfo", "System.IO.DirectoryInfo"},
			Parameters: map[string]ParameterMetadata{
				"Path":  {Name: "Path", ParameterType: "System.String[]", Aliases: []string{}},
				"Force": {Name: "Force", ParameterType: "System.Management.Automation.SwitchParameter", SwitchParameter: true, Aliases: []string{"f"}},
			},
		},
	}
}

// clearRaw drops what only a decoded record has.
func clearRaw(v any) {
	if r, ok := v.(*ErrorRecord); ok {
		r.Raw = nil
		r.Exception.Raw = nil
	}
}

func TestRecordsRoundTripModel(t *testing.T) {
	t.Parallel()
	for _, rec := range sampleRecords() {
		t.Run(reflect.TypeOf(rec).Elem().Name(), func(t *testing.T) {
			t.Parallel()
			m, err := rec.(Marshaler).MarshalCLIXML()
			require.NoError(t, err)
			got := reflect.New(reflect.TypeOf(rec).Elem()).Interface()
			require.NoError(t, got.(Unmarshaler).UnmarshalCLIXML(m))
			clearRaw(got)
			assert.Equal(t, rec, got)
		})
	}
}

func TestRecordsRoundTripXML(t *testing.T) {
	t.Parallel()
	for _, rec := range sampleRecords() {
		t.Run(reflect.TypeOf(rec).Elem().Name(), func(t *testing.T) {
			t.Parallel()
			data, err := MarshalOptions{Cipher: testRecordCipher{}}.Marshal(rec)
			require.NoError(t, err)
			got := reflect.New(reflect.TypeOf(rec).Elem()).Interface()
			require.NoError(t, UnmarshalOptions{Cipher: testRecordCipher{}}.Unmarshal(data, got))
			clearRaw(got)
			if ir, ok := got.(*InformationRecord); ok {
				// The codec keeps the instant; compare it as an instant.
				want := rec.(*InformationRecord)
				assert.True(t, want.TimeGenerated.Time.Equal(ir.TimeGenerated.Time))
				assert.Equal(t, want.TimeGenerated.Kind, ir.TimeGenerated.Kind)
				ir.TimeGenerated = want.TimeGenerated
			}
			if c, ok := got.(*PSCredential); ok {
				assert.Equal(t, "s3cret", string(c.Password.Plaintext))
				assert.True(t, c.Password.Decrypted)
				c.Password = rec.(*PSCredential).Password
			}
			assert.Equal(t, rec, got)
		})
	}
}

func TestHostInfoWire(t *testing.T) {
	t.Parallel()
	// The HostInfo pypsrp sends in INIT_RUNSPACEPOOL (PROTOCOL.md 1.5).
	out, err := Marshal(&HostInfo{IsHostNull: true, IsHostUINull: true, IsHostRawUINull: true, UseRunspaceHost: true})
	require.NoError(t, err)
	assert.Equal(t, `<Obj RefId="0"><MS><B N="_isHostNull">true</B><B N="_isHostUINull">true</B><B N="_isHostRawUINull">true</B><B N="_useRunspaceHost">true</B></MS></Obj>`, string(out))

	// Host default data in the shape of MS-PSRP 2.2.3.14.
	in := `<Obj RefId="0"><MS><Obj N="_hostDefaultData" RefId="1"><MS><Obj N="data" RefId="2"><TN RefId="0"><T>System.Collections.Hashtable</T><T>System.Object</T></TN><DCT>` +
		`<En><I32 N="Key">9</I32><Obj N="Value" RefId="3"><MS><S N="T">System.String</S><S N="V">Windows PowerShell ISE</S></MS></Obj></En>` +
		`<En><I32 N="Key">8</I32><Obj N="Value" RefId="4"><MS><S N="T">System.Management.Automation.Host.Size</S><Obj N="V" RefId="5"><MS><I32 N="width">181</I32><I32 N="height">98</I32></MS></Obj></MS></Obj></En>` +
		`<En><I32 N="Key">2</I32><Obj N="Value" RefId="6"><MS><S N="T">System.Management.Automation.Host.Coordinates</S><Obj N="V" RefId="7"><MS><I32 N="x">0</I32><I32 N="y">4</I32></MS></Obj></MS></Obj></En>` +
		`<En><I32 N="Key">0</I32><Obj N="Value" RefId="8"><MS><S N="T">System.ConsoleColor</S><I32 N="V">7</I32></MS></Obj></En>` +
		`</DCT></Obj></MS></Obj><B N="_isHostNull">false</B><B N="_isHostUINull">false</B><B N="_isHostRawUINull">false</B><B N="_useRunspaceHost">false</B></MS></Obj>`
	var h HostInfo
	require.NoError(t, Unmarshal([]byte(in), &h))
	assert.Equal(t, HostInfo{HostDefaultData: map[int32]any{
		HostDataWindowTitle:           "Windows PowerShell ISE",
		HostDataMaxPhysicalWindowSize: HostSize{Width: 181, Height: 98},
		HostDataCursorPosition:        HostCoordinates{X: 0, Y: 4},
		HostDataForegroundColor:       int32(7),
	}}, h)
}

func TestPSCredentialWire(t *testing.T) {
	t.Parallel()
	_, err := Marshal(&PSCredential{UserName: "u", Password: NewSecureString("p")})
	assert.ErrorIs(t, err, ErrNoCipher, "a password is never written in clear")
	out, err := MarshalOptions{Cipher: testRecordCipher{}}.Marshal(&PSCredential{UserName: "u", Password: NewSecureString("p")})
	require.NoError(t, err)
	assert.Contains(t, string(out), `<T>System.Management.Automation.PSCredential</T>`)
	assert.Contains(t, string(out), `<Props><S N="UserName">u</S><SS N="Password">`)
}

func TestCommandMetadataOutputTypeObjects(t *testing.T) {
	t.Parallel()
	m := &Object{Members: []Property{
		{"Name", "Get-Date"},
		{"CommandType", enumObject(tnCommandType, "Cmdlet", 8)},
		{"OutputType", &Object{Kind: List, Items: []any{
			&Object{ToString: "System.DateTime", HasToString: true, Props: []Property{{"Name", "System.DateTime"}}},
			&Object{ToString: "System.String", HasToString: true},
			"System.Object",
		}}},
		{"Parameters", &Object{Kind: Dictionary, Entries: []DictEntry{{"Date", &Object{Props: []Property{
			{"Name", "Date"}, {"ParameterType", "System.DateTime"}, {"Aliases", &Object{Kind: List, Items: []any{"LastWriteTime"}}}, {"IsDynamic", false}, {"SwitchParameter", false},
		}}}}}},
	}}
	var c CommandMetadata
	require.NoError(t, c.UnmarshalCLIXML(m))
	assert.Equal(t, CommandMetadata{
		Name: "Get-Date", CommandType: 8,
		OutputType: []string{"System.DateTime", "System.String", "System.Object"},
		Parameters: map[string]ParameterMetadata{"Date": {Name: "Date", ParameterType: "System.DateTime", Aliases: []string{"LastWriteTime"}}},
	}, c)
}

func TestRecordsBadInput(t *testing.T) {
	t.Parallel()
	targets := []func() Unmarshaler{
		func() Unmarshaler { return new(ErrorRecord) },
		func() Unmarshaler { return new(InformationalRecord) },
		func() Unmarshaler { return new(ProgressRecord) },
		func() Unmarshaler { return new(InformationRecord) },
		func() Unmarshaler { return new(HostInfo) },
		func() Unmarshaler { return new(PSCredential) },
		func() Unmarshaler { return new(CommandMetadata) },
	}
	for _, in := range []any{"text", int32(1), nil, (*Object)(nil), []byte{1}} {
		for _, mk := range targets {
			u := mk()
			err := u.UnmarshalCLIXML(in)
			var te *UnmarshalTypeError
			require.ErrorAs(t, err, &te, "%T from %T", u, in)
			assert.True(t, strings.HasPrefix(err.Error(), "clixml: "))
		}
	}

	// A mistyped member is skipped and reported; the rest is read.
	bad := obj(
		Property{"FullyQualifiedErrorId", "id"},
		Property{"ErrorCategory_Category", "NotANumber"},
		Property{"ErrorCategory_Reason", "r"},
	)
	var r ErrorRecord
	err := r.UnmarshalCLIXML(bad)
	var te *UnmarshalTypeError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, UnmarshalTypeError{Value: "S", Type: reflect.TypeFor[ErrorCategory](), Struct: "ErrorRecord", Field: "ErrorCategory_Category"}, *te)
	assert.Equal(t, "id", r.FullyQualifiedErrorID)
	assert.Equal(t, "r", r.CategoryInfo.Reason)

	// Inside a struct the record's error carries the path and the other
	// fields are still filled.
	var st struct {
		Rec   ErrorRecord `clixml:"ExceptionAsErrorRecord"`
		State int32       `clixml:"PipelineState"`
	}
	err = fromModel(obj(Property{"ExceptionAsErrorRecord", bad}, Property{"PipelineState", int32(5)}), reflect.ValueOf(&st).Elem())
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "ExceptionAsErrorRecord.ErrorCategory_Category", te.Field)
	assert.Equal(t, "ErrorRecord", te.Struct)
	assert.Equal(t, int32(5), st.State)

	// HostInfo with a malformed entry keeps the good ones.
	hd := obj(Property{"_hostDefaultData", obj(Property{"data", &Object{Kind: Dictionary, Entries: []DictEntry{
		{int32(9), obj(Property{"T", "System.String"}, Property{"V", "title"})},
		{"notakey", obj(Property{"T", "System.String"}, Property{"V", "x"})},
		{int32(4), "not an object"},
		{int32(5), obj(Property{"T", "System.Management.Automation.Host.Size"}, Property{"V", "not an object"})},
	}}})})
	var h HostInfo
	require.ErrorAs(t, h.UnmarshalCLIXML(hd), &te)
	assert.Equal(t, "title", h.HostDefaultData[9])

	// Go values a record cannot write are errors, not silent Nils.
	_, err = (&ErrorRecord{InvocationInfo: &InvocationInfo{BoundParameters: map[string]any{"C": make(chan int)}}}).MarshalCLIXML()
	var ute *UnsupportedTypeError
	require.ErrorAs(t, err, &ute)
	_, err = (&InformationalRecord{InvocationInfo: &InvocationInfo{UnboundArguments: []any{func() {}}}}).MarshalCLIXML()
	require.ErrorAs(t, err, &ute)
	_, err = (&InformationRecord{MessageData: make(chan int)}).MarshalCLIXML()
	require.ErrorAs(t, err, &ute)

	_, err = (&HostInfo{HostDefaultData: map[int32]any{1: 3.5}}).MarshalCLIXML()
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "clixml: "))
}

func BenchmarkUnmarshalErrorRecord(b *testing.B) {
	data, err := osReadRecord("error_extended.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var r ErrorRecord
		if err := Unmarshal(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalErrorRecord(b *testing.B) {
	r := sampleRecords()[0].(*ErrorRecord)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}

func TestErrorRecordExceptionFallbacks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ex   any
		want ExceptionInfo
	}{
		{"ToString without Message", &Object{TypeNames: []string{"Deserialized.System.IO.IOException", "Deserialized.System.Exception"}, ToString: "System.IO.IOException: disk full", HasToString: true},
			ExceptionInfo{TypeNames: []string{"Deserialized.System.IO.IOException", "Deserialized.System.Exception"}, Message: "disk full"}},
		{"plain string", "just text", ExceptionInfo{Message: "just text"}},
		{"Nil", nil, ExceptionInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r ErrorRecord
			require.NoError(t, r.UnmarshalCLIXML(obj(Property{"Exception", tt.ex})))
			r.Exception.Raw = nil
			assert.Equal(t, tt.want, r.Exception)
		})
	}
}
