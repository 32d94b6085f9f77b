package psrp

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

func boolPtr(b bool) *bool { return &b }

// TestBodyRoundTrip: every body type, built in Go, survives EncodeBody →
// DecodeBody unchanged, and has the direction markers of MS-PSRP 2.2.1.
func TestBodyRoundTrip(t *testing.T) {
	t.Parallel()
	when := clixml.DateTime{Time: time.Date(2024, 5, 6, 7, 8, 9, 100, time.UTC), Kind: clixml.UTC}
	pipeline := noProfilePipeline()
	pipeline.NoInput = false
	pipeline.AddToHistory = true
	pipeline.IsNested = true
	pipeline.RemoteStreamOptions = RemoteStreamAddInvocationInfoToErrorRecord
	pipeline.ApartmentState = ApartmentMTA
	pipeline.PowerShell = PowerShell{
		Statements: [][]Command{
			{
				{Cmd: "Get-Service", Args: []Argument{{Name: "Name", Value: "WinRM"}, {Value: int32(3)}},
					MergeMyResult: PipelineResultError, MergeToResult: PipelineResultOutput},
				{Cmd: "Select-Object", Args: []Argument{{Name: "First", Value: int32(1)}}, UseLocalScope: boolPtr(true)},
			},
			{{Cmd: "echo hi", IsScript: true, UseLocalScope: boolPtr(false), MergeInformation: PipelineResultOutput,
				MergeWarning: PipelineResultOutput, MergeDebug: PipelineResultNull, MergeVerbose: PipelineResultAll,
				MergeError: PipelineResultOutput, MergePreviousResults: PipelineResultAll}},
		},
		IsNested:                     true,
		History:                      "Get-Service WinRM",
		RedirectShellErrorOutputPipe: true,
	}
	tests := []struct {
		body   Body
		client bool
		server bool
	}{
		{v23(), true, true},
		{SessionCapability{ProtocolVersion: clixml.Version{Major: 2, Minor: 2, Build: -1, Revision: -1},
			PSVersion: clixml.Version{Major: 2, Minor: 0, Build: -1, Revision: -1}, SerializationVersion: clixml.Version{Major: 1, Minor: 1, Build: 0, Revision: 1},
			TimeZone: []byte{1, 2, 3}}, true, true},
		{InitRunspacePool{MinRunspaces: 1, MaxRunspaces: 5, ThreadOptions: ThreadOptionsReuseThread, ApartmentState: ApartmentSTA,
			HostInfo: noHost(), ApplicationArguments: map[string]any{"b": "x", "a": int32(1), "nested": map[string]any{"k": true}}}, true, false},
		{InitRunspacePool{MinRunspaces: 1, MaxRunspaces: 1, ApartmentState: ApartmentUnknown,
			HostInfo: clixml.HostInfo{IsHostNull: false, IsHostUINull: true, IsHostRawUINull: true, UseRunspaceHost: false}}, true, false},
		{PublicKey{Key: append([]byte{6, 2, 0, 0, 0, 0xa4}, make([]byte, 270)...)}, true, false},
		{EncryptedSessionKey{Key: append([]byte{1, 2, 0, 0, 0x10, 0x66}, make([]byte, 262)...)}, false, true},
		{PublicKeyRequest{}, false, true},
		{ConnectRunspacePool{}, true, false},
		{ConnectRunspacePool{MinRunspaces: 2, MaxRunspaces: 4}, true, false},
		{SetMaxRunspaces{Count: 5, CallID: 1}, true, false},
		{SetMinRunspaces{Count: -1, CallID: 4}, true, false},
		{RunspaceAvailability{CallID: 3, SetMinMaxResponse: true}, false, true},
		{RunspaceAvailability{CallID: 2, IsCount: true, Available: 5}, false, true},
		{RunspaceAvailability{CallID: 2, IsCount: true, Available: 1 << 40}, false, true},
		{RunspacePoolStateMessage{State: RunspacePoolOpened}, false, true},
		{pipeline, true, false},
		{GetAvailableRunspaces{CallID: 9}, true, false},
		{UserEvent{EventID: 3, SourceID: "src", TimeGenerated: when, Sender: "me", SourceArgs: nil,
			MessageData: int32(5), ComputerName: "host", RunspaceID: uuid.MustParse("00112233-4455-6677-8899-aabbccddeeff")}, false, true},
		{ApplicationPrivateData{Data: PrimitiveDictionary(map[string]any{"PSVersionTable": map[string]any{"PSVersion": clixml.Version{Major: 5, Minor: 1, Build: -1, Revision: -1}}})}, false, true},
		{ApplicationPrivateData{}, false, true},
		{GetCommandMetadata{Names: []string{"Get-*"}, CommandType: CommandTypeAlias | CommandTypeCmdlet}, true, false},
		{GetCommandMetadata{Names: []string{"a", "b"}, CommandType: CommandTypeAll, Namespace: []string{"M"}, ArgumentList: []any{"x", int32(1)}}, true, false},
		{RunspacePoolInitData{MinRunspaces: 1, MaxRunspaces: 3}, false, true},
		{ResetRunspaceState{CallID: 7}, true, false},
		{RunspacePoolHostCall{CallID: 1, Method: HostGetName, Params: []any{}}, false, true},
		{RunspacePoolHostResponse{CallID: 1, Method: HostGetName, Result: "gopsrp"}, true, false},
		{PipelineInput{Value: "line"}, true, false},
		{PipelineInput{Value: nil}, true, false},
		{EndOfPipelineInput{}, true, false},
		{PipelineOutput{Value: int32(42)}, false, true},
		{PipelineState{State: PipelineStopped}, false, true},
		{PipelineHostCall{CallID: -100, Method: HostSetShouldExit, Params: []any{int32(1)}}, false, true},
		{PipelineHostResponse{CallID: 1, Method: HostReadKey}, true, false},
	}
	for _, tc := range tests {
		name := tc.body.MessageType().String()
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, isClient := tc.body.(ClientBody)
			_, isServer := tc.body.(ServerBody)
			assert.Equal(t, tc.client, isClient, "ClientMessage marker")
			assert.Equal(t, tc.server, isServer, "ServerMessage marker")
			data, err := EncodeBody(tc.body, clixml.MarshalOptions{})
			require.NoError(t, err)
			got, err := DecodeBody(tc.body.MessageType(), data, clixml.UnmarshalOptions{})
			require.NoError(t, err, string(data))
			want := tc.body
			if cp, ok := want.(CreatePipeline); ok {
				cp.ProtocolVersion = clixml.Version{}
				want = cp
			}
			if rk, ok := want.(RunspaceAvailability); ok && !rk.IsCount {
				assert.Contains(t, string(data), `<B N="SetMinMaxRunspacesResponse">`)
			}
			assert.Equal(t, pointerTo(want), got)
			// Pointers encode the same as values.
			data2, err := EncodeBody(pointerTo(tc.body), clixml.MarshalOptions{})
			require.NoError(t, err)
			assert.Equal(t, string(data), string(data2))
		})
	}
}

// pointerTo returns a pointer to a copy of the body, the form DecodeBody
// returns.
func pointerTo(b Body) Body {
	switch x := b.(type) {
	case SessionCapability:
		return &x
	case InitRunspacePool:
		return &x
	case PublicKey:
		return &x
	case EncryptedSessionKey:
		return &x
	case PublicKeyRequest:
		return &x
	case ConnectRunspacePool:
		return &x
	case SetMaxRunspaces:
		return &x
	case SetMinRunspaces:
		return &x
	case RunspaceAvailability:
		return &x
	case RunspacePoolStateMessage:
		return &x
	case CreatePipeline:
		return &x
	case GetAvailableRunspaces:
		return &x
	case UserEvent:
		return &x
	case ApplicationPrivateData:
		return &x
	case GetCommandMetadata:
		return &x
	case RunspacePoolInitData:
		return &x
	case ResetRunspaceState:
		return &x
	case RunspacePoolHostCall:
		return &x
	case RunspacePoolHostResponse:
		return &x
	case PipelineInput:
		return &x
	case EndOfPipelineInput:
		return &x
	case PipelineOutput:
		return &x
	case PipelineState:
		return &x
	case PipelineHostCall:
		return &x
	case PipelineHostResponse:
		return &x
	}
	return b
}

// TestBodyWireForms checks bodies against the captured wire text.
func TestBodyWireForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body Body
		want string
	}{
		{"set max (capital CI)", SetMaxRunspaces{Count: 5, CallID: 1},
			`<Obj RefId="0"><MS><I32 N="MaxRunspaces">5</I32><I64 N="CI">1</I64></MS></Obj>`},
		{"set min", SetMinRunspaces{Count: 2, CallID: 3},
			`<Obj RefId="0"><MS><I32 N="MinRunspaces">2</I32><I64 N="CI">3</I64></MS></Obj>`},
		{"get available", GetAvailableRunspaces{CallID: 2},
			`<Obj RefId="0"><MS><I64 N="ci">2</I64></MS></Obj>`},
		{"reset", ResetRunspaceState{CallID: 0},
			`<Obj RefId="0"><MS><I64 N="ci">0</I64></MS></Obj>`},
		{"availability bool", RunspaceAvailability{CallID: 4, SetMinMaxResponse: false},
			`<Obj RefId="0"><MS><B N="SetMinMaxRunspacesResponse">false</B><I64 N="ci">4</I64></MS></Obj>`},
		{"availability count as Windows sends it", RunspaceAvailability{CallID: 0, IsCount: true, Available: 1},
			`<Obj RefId="0"><MS><I32 N="SetMinMaxRunspacesResponse">1</I32><I64 N="ci">0</I64></MS></Obj>`},
		{"connect default", ConnectRunspacePool{}, `<S />`},
		{"init data", RunspacePoolInitData{MinRunspaces: 1, MaxRunspaces: 1},
			`<Obj RefId="0"><MS><I32 N="MinRunspaces">1</I32><I32 N="MaxRunspaces">1</I32></MS></Obj>`},
		{"pool state", RunspacePoolStateMessage{State: RunspacePoolOpened},
			`<Obj RefId="0"><MS><I32 N="RunspaceState">2</I32></MS></Obj>`},
		{"host call (server order: N first)", PipelineHostCall{CallID: -100, Method: HostSetShouldExit, Params: []any{int32(1)}},
			`<Obj RefId="0"><MS><I64 N="ci">-100</I64><Obj N="mi" RefId="1"><TN RefId="0"><T>System.Management.Automation.Remoting.RemoteHostMethodId</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>SetShouldExit</ToString><I32>6</I32></Obj><Obj N="mp" RefId="2"><TN RefId="1"><T>System.Collections.ArrayList</T><T>System.Object</T></TN><LST><I32>1</I32></LST></Obj></MS></Obj>`},
		{"host response (client order: RefId first)", PipelineHostResponse{CallID: 1, Method: HostReadKey, Result: "k"},
			`<Obj RefId="0"><MS><I64 N="ci">1</I64><Obj RefId="1" N="mi"><TN RefId="0"><T>System.Management.Automation.Remoting.RemoteHostMethodId</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>ReadKey</ToString><I32>46</I32></Obj><S N="mr">k</S></MS></Obj>`},
		{"public key", PublicKey{Key: []byte{6, 2}}, `<Obj RefId="0"><MS><S N="PublicKey">BgI=</S></MS></Obj>`},
		{"application arguments", InitRunspacePool{MinRunspaces: 1, MaxRunspaces: 1, ApartmentState: ApartmentUnknown, HostInfo: noHost(),
			ApplicationArguments: map[string]any{"test_var": "abcdef12345"}},
			strings.Replace(initPoolXML, `<Nil N="ApplicationArguments" />`,
				`<Obj RefId="4" N="ApplicationArguments"><TN RefId="2"><T>System.Management.Automation.PSPrimitiveDictionary</T><T>System.Collections.Hashtable</T><T>System.Object</T></TN><DCT><En><S N="Key">test_var</S><S N="Value">abcdef12345</S></En></DCT></Obj>`, 1)},
		{"get command metadata (MS-PSRP 2.2.2.14)", GetCommandMetadata{Names: []string{"Get-*"}, CommandType: 15},
			`<Obj RefId="0"><MS><Obj RefId="1" N="Name"><TN RefId="0"><T>System.String[]</T><T>System.Array</T><T>System.Object</T></TN><LST><S>Get-*</S></LST></Obj><Obj RefId="2" N="CommandType"><TN RefId="1"><T>System.Management.Automation.CommandTypes</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>Alias, Function, Filter, Cmdlet</ToString><I32>15</I32></Obj><Nil N="Namespace" /><Nil N="ArgumentList" /></MS></Obj>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data, err := EncodeBody(tc.body, clixml.MarshalOptions{})
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(data))
		})
	}
}

// TestCreatePipelineStatements: several statements go to ExtraCmds with
// the first repeated in Cmds, as in test_client_execute_cmd_environment;
// decoding also accepts ExtraCmds without the first statement.
func TestCreatePipelineStatements(t *testing.T) {
	t.Parallel()
	st := func(cmd string) []Command { return []Command{{Cmd: cmd}} }
	cp := CreatePipeline{HostInfo: noHost(), PowerShell: PowerShell{Statements: [][]Command{st("a"), st("b"), st("c")}}}
	data, err := EncodeBody(cp, clixml.MarshalOptions{})
	require.NoError(t, err)
	s := string(data)
	extra := s[strings.Index(s, `N="ExtraCmds"`):strings.LastIndex(s, `N="Cmds"`)]
	assert.Equal(t, 3, strings.Count(extra, `<S N="Cmd">`), "ExtraCmds holds every statement")
	afterExtra := s[strings.LastIndex(s, `N="Cmds"`):]
	assert.Equal(t, 1, strings.Count(afterExtra, `<S N="Cmd">a</S>`))

	// A peer listing only the later statements in ExtraCmds.
	v, err := clixml.UnmarshalOptions{}.Decode(data)
	require.NoError(t, err)
	ps, _ := v.(*clixml.Object).Member("PowerShell")
	extraObj, _ := ps.(*clixml.Object).Member("ExtraCmds")
	eo := extraObj.(*clixml.Object)
	eo.Items = eo.Items[1:]
	data2, err := clixml.MarshalOptions{}.Marshal(v)
	require.NoError(t, err)
	got, err := DecodeBody(MessageCreatePipeline, data2, clixml.UnmarshalOptions{})
	require.NoError(t, err)
	assert.Equal(t, cp.PowerShell.Statements, got.(*CreatePipeline).PowerShell.Statements)

	// No command at all is refused.
	_, err = EncodeBody(CreatePipeline{}, clixml.MarshalOptions{})
	assert.ErrorIs(t, err, ErrPropertyType)
	_, err = EncodeBody(CreatePipeline{PowerShell: PowerShell{Statements: [][]Command{st("a"), nil}}}, clixml.MarshalOptions{})
	assert.ErrorIs(t, err, ErrPropertyType)
}

// TestCreatePipelineProtocolVersions: Merge* properties follow the peer's
// protocol version.
func TestCreatePipelineProtocolVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v         clixml.Version
		mergeErr  bool
		mergeInfo bool
	}{
		{clixml.Version{}, true, true},
		{clixml.Version{Major: 2, Minor: 3, Build: -1, Revision: -1}, true, true},
		{clixml.Version{Major: 2, Minor: 4, Build: -1, Revision: -1}, true, true},
		{clixml.Version{Major: 2, Minor: 2, Build: -1, Revision: -1}, true, false},
		{clixml.Version{Major: 2, Minor: 1, Build: -1, Revision: -1}, false, false},
		{clixml.Version{Major: 3, Minor: 0, Build: -1, Revision: -1}, true, true},
	}
	for _, tc := range tests {
		cp := noProfilePipeline()
		cp.ProtocolVersion = tc.v
		data, err := EncodeBody(cp, clixml.MarshalOptions{})
		require.NoError(t, err)
		assert.Equal(t, tc.mergeErr, strings.Contains(string(data), `N="MergeError"`), "%v", tc.v)
		assert.Equal(t, tc.mergeInfo, strings.Contains(string(data), `N="MergeInformation"`), "%v", tc.v)
		got, err := DecodeBody(MessageCreatePipeline, data, clixml.UnmarshalOptions{})
		require.NoError(t, err)
		assert.Equal(t, noProfilePipeline().PowerShell, got.(*CreatePipeline).PowerShell)
	}
}

func TestDecodeBodyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		typ  MessageType
		data string
		want error
		prop string
	}{
		{"missing property", MessageSetMaxRunspaces, `<Obj RefId="0"><MS><I64 N="CI">1</I64></MS></Obj>`, ErrMissingProperty, "MaxRunspaces"},
		{"wrong type", MessagePipelineState, `<Obj RefId="0"><MS><S N="PipelineState">x</S></MS></Obj>`, ErrPropertyType, "PipelineState"},
		{"int32 overflow", MessageRunspacePoolState, `<Obj RefId="0"><MS><I64 N="RunspaceState">4294967296</I64></MS></Obj>`, ErrPropertyType, "RunspaceState"},
		{"not an object", MessageSessionCapability, `<S>x</S>`, ErrPropertyType, ""},
		{"bool expected", MessageCreatePipeline, `<Obj RefId="0"><MS><I32 N="NoInput">1</I32></MS></Obj>`, ErrPropertyType, "NoInput"},
		{"bad base64 key", MessagePublicKey, `<Obj RefId="0"><MS><S N="PublicKey">!!</S></MS></Obj>`, ErrPropertyType, "PublicKey"},
		{"availability neither", MessageRunspaceAvailability, `<Obj RefId="0"><MS><S N="SetMinMaxRunspacesResponse">x</S><I64 N="ci">1</I64></MS></Obj>`, ErrPropertyType, "SetMinMaxRunspacesResponse"},
		{"host params not a list", MessagePipelineHostCall, `<Obj RefId="0"><MS><I64 N="ci">1</I64><I32 N="mi">1</I32><S N="mp">x</S></MS></Obj>`, ErrPropertyType, "mp"},
		{"private data not a dictionary", MessageApplicationPrivateData, `<Obj RefId="0"><MS><Obj RefId="1" N="ApplicationPrivateData"><LST /></Obj></MS></Obj>`, ErrPropertyType, "ApplicationPrivateData"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeBody(tc.typ, []byte(tc.data), clixml.UnmarshalOptions{})
			require.ErrorIs(t, err, tc.want)
			var be *BodyError
			require.ErrorAs(t, err, &be)
			assert.Equal(t, tc.typ, be.Type)
			assert.Equal(t, tc.prop, be.Property)
			assert.True(t, strings.HasPrefix(err.Error(), "psrp: "+tc.typ.String()), err.Error())
		})
	}

	// Malformed CLIXML: a BodyError wrapping the clixml error.
	_, err := DecodeBody(MessagePipelineOutput, []byte(`<S>unclosed`), clixml.UnmarshalOptions{})
	var be *BodyError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, MessagePipelineOutput, be.Type)
	assert.Contains(t, err.Error(), "clixml")

	// Unknown type.
	_, err = DecodeBody(0x00041012, []byte(`<S />`), clixml.UnmarshalOptions{})
	var ue *UnknownMessageError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, MessageType(0x00041012), ue.Type)
	assert.Equal(t, "psrp: unknown message type 0x00041012", err.Error())

	// Encoding nil or a foreign Body.
	_, err = EncodeBody(nil, clixml.MarshalOptions{})
	assert.Error(t, err)
	_, err = EncodeBody(foreignBody{}, clixml.MarshalOptions{})
	assert.Error(t, err)
}

type foreignBody struct{}

func (foreignBody) MessageType() MessageType { return MessagePipelineOutput }

// TestSecureStringArgument: a SecureString argument needs a cipher; an
// already-encrypted one is written as is and stays ciphertext when decoded
// without a cipher.
func TestSecureStringArgument(t *testing.T) {
	t.Parallel()
	cp := noProfilePipeline()
	cp.PowerShell.Statements[0][0].Args = []Argument{{Name: "P", Value: clixml.NewSecureString("secret")}}
	_, err := EncodeBody(cp, clixml.MarshalOptions{})
	require.Error(t, err)
	assert.True(t, errors.Is(err, clixml.ErrNoCipher), err.Error())
	assert.NotContains(t, err.Error(), "secret")

	cp.PowerShell.Statements[0][0].Args = []Argument{{Name: "P", Value: clixml.SecureString{Ciphertext: []byte{1, 2, 3}}}}
	data, err := EncodeBody(cp, clixml.MarshalOptions{})
	require.NoError(t, err)
	assert.Contains(t, string(data), `<SS N="V">AQID</SS>`)
	got, err := DecodeBody(MessageCreatePipeline, data, clixml.UnmarshalOptions{})
	require.NoError(t, err)
	ss, ok := got.(*CreatePipeline).PowerShell.Statements[0][0].Args[0].Value.(clixml.SecureString)
	require.True(t, ok)
	assert.Equal(t, []byte{1, 2, 3}, ss.Ciphertext)
	assert.False(t, ss.Decrypted)
}
