package psrp

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMessageAppendDecode(t *testing.T) {
	t.Parallel()
	m := Message{
		Destination:    DestinationServer,
		Type:           MessageCreatePipeline,
		RunspacePoolID: noProfileRPID,
		PipelineID:     noProfilePID,
		Data:           []byte("<S>x</S>"),
	}
	b := m.Append(nil)
	assert.Equal(t, mustHex(t, `02000000 06100200 c913804a87733942842ab290ac4da47b 63f88cfc411d0242afd7a82484d8f6d1 3c533e783c2f533e`), b)
	got, err := DecodeMessage(b)
	require.NoError(t, err)
	assert.Equal(t, m, got)

	// A BOM is stripped; Data aliases the input.
	withBOM := append(m.Append(nil)[:MessageHeaderSize], append([]byte(utf8BOM), "<S>x</S>"...)...)
	got, err = DecodeMessage(withBOM)
	require.NoError(t, err)
	assert.Equal(t, "<S>x</S>", string(got.Data))
	assert.Same(t, &withBOM[MessageHeaderSize+3], &got.Data[0])

	// Only a BOM, or nothing: empty data.
	for _, data := range [][]byte{nil, []byte(utf8BOM)} {
		got, err = DecodeMessage(append(m.Append(nil)[:MessageHeaderSize], data...))
		require.NoError(t, err)
		assert.Empty(t, got.Data)
	}
}

func TestDecodeMessageErrors(t *testing.T) {
	t.Parallel()
	ok := Message{Destination: DestinationClient, Type: MessagePipelineOutput}.Append(nil)
	_, err := DecodeMessage(ok[:MessageHeaderSize-1])
	assert.ErrorIs(t, err, ErrShortMessage)
	_, err = DecodeMessage(nil)
	assert.ErrorIs(t, err, ErrShortMessage)
	bad := Message{Destination: 3, Type: MessagePipelineOutput}.Append(nil)
	_, err = DecodeMessage(bad)
	assert.ErrorIs(t, err, ErrBadDestination)
	assert.Contains(t, err.Error(), "psrp: ")
	// Unknown types are not an error at this layer.
	unk := Message{Destination: DestinationClient, Type: 0x12345678}.Append(nil)
	m, err := DecodeMessage(unk)
	require.NoError(t, err)
	assert.Equal(t, MessageType(0x12345678), m.Type)
}

func TestGUIDByteOrder(t *testing.T) {
	t.Parallel()
	// The CommandId of the no_profile capture, as PROTOCOL.md §1.2 shows it.
	b := appendGUID(nil, uuid.MustParse("FC8CF863-1D41-4202-AFD7-A82484D8F6D1"))
	assert.Equal(t, mustHex(t, "63f88cfc 411d 0242 afd7a82484d8f6d1"), b)
	assert.Equal(t, uuid.MustParse("FC8CF863-1D41-4202-AFD7-A82484D8F6D1"), readGUID(b))
}

func TestMessageTypeNames(t *testing.T) {
	t.Parallel()
	all := map[MessageType]string{
		MessageSessionCapability: "SESSION_CAPABILITY", MessageInitRunspacePool: "INIT_RUNSPACEPOOL",
		MessagePublicKey: "PUBLIC_KEY", MessageEncryptedSessionKey: "ENCRYPTED_SESSION_KEY",
		MessagePublicKeyRequest: "PUBLIC_KEY_REQUEST", MessageConnectRunspacePool: "CONNECT_RUNSPACEPOOL",
		MessageSetMaxRunspaces: "SET_MAX_RUNSPACES", MessageSetMinRunspaces: "SET_MIN_RUNSPACES",
		MessageRunspaceAvailability: "RUNSPACE_AVAILABILITY", MessageRunspacePoolState: "RUNSPACEPOOL_STATE",
		MessageCreatePipeline: "CREATE_PIPELINE", MessageGetAvailableRunspaces: "GET_AVAILABLE_RUNSPACES",
		MessageUserEvent: "USER_EVENT", MessageApplicationPrivateData: "APPLICATION_PRIVATE_DATA",
		MessageGetCommandMetadata: "GET_COMMAND_METADATA", MessageRunspacePoolInitData: "RUNSPACEPOOL_INIT_DATA",
		MessageResetRunspaceState: "RESET_RUNSPACE_STATE", MessageRunspacePoolHostCall: "RUNSPACEPOOL_HOST_CALL",
		MessageRunspacePoolHostResponse: "RUNSPACEPOOL_HOST_RESPONSE", MessagePipelineInput: "PIPELINE_INPUT",
		MessageEndOfPipelineInput: "END_OF_PIPELINE_INPUT", MessagePipelineOutput: "PIPELINE_OUTPUT",
		MessageErrorRecord: "ERROR_RECORD", MessagePipelineState: "PIPELINE_STATE",
		MessageDebugRecord: "DEBUG_RECORD", MessageVerboseRecord: "VERBOSE_RECORD",
		MessageWarningRecord: "WARNING_RECORD", MessageProgressRecord: "PROGRESS_RECORD",
		MessageInformationRecord: "INFORMATION_RECORD", MessagePipelineHostCall: "PIPELINE_HOST_CALL",
		MessagePipelineHostResponse: "PIPELINE_HOST_RESPONSE",
	}
	require.Len(t, all, 31)
	for typ, name := range all {
		assert.Equal(t, name, typ.String())
		assert.True(t, typ.Known())
	}
	assert.Equal(t, uint32(0x00041010), uint32(MessageProgressRecord))
	assert.Equal(t, "MessageType(0x0004100A)", MessageType(0x0004100A).String())
	assert.False(t, MessageType(0x0004100A).Known())
	assert.Equal(t, "server", DestinationServer.String())
	assert.Equal(t, "client", DestinationClient.String())
	assert.Equal(t, "Destination(7)", Destination(7).String())
}

func TestEnumStrings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		got, want string
	}{
		{RunspacePoolBeforeOpen.String(), "BeforeOpen"},
		{RunspacePoolOpened.String(), "Opened"},
		{RunspacePoolBroken.String(), "Broken"},
		{RunspacePoolDisconnecting.String(), "Disconnecting"},
		{RunspacePoolDisconnected.String(), "Disconnected"},
		{RunspacePoolConnecting.String(), "Connecting"},
		{RunspacePoolState(9).String(), "RunspacePoolState(9)"},
		{PipelineCompleted.String(), "Completed"},
		{PipelineDisconnected.String(), "Disconnected"},
		{PSInvocationState(-1).String(), "PSInvocationState(-1)"},
		{ThreadOptionsUseCurrentThread.String(), "UseCurrentThread"},
		{ApartmentUnknown.String(), "Unknown"},
		{ApartmentUnknown.wireString(), "UNKNOWN"},
		{ApartmentMTA.wireString(), "MTA"},
		{RemoteStreamNone.String(), "None"},
		{RemoteStreamAddInvocationInfo.String(), "AddInvocationInfo"},
		{(RemoteStreamAddInvocationInfoToErrorRecord | RemoteStreamAddInvocationInfoToDebugRecord).String(),
			"AddInvocationInfoToErrorRecord, AddInvocationInfoToDebugRecord"},
		{RemoteStreamOptions(16).String(), "16"},
		{PipelineResultInformation.String(), "Information"},
		{PipelineResultNull.String(), "Null"},
		{HostReadKey.String(), "ReadKey"},
		{HostGetInstanceID.String(), "GetInstanceId"},
		{HostPromptForChoiceMultipleSelection.String(), "PromptForChoiceMultipleSelection"},
		{HostMethodID(57).String(), "HostMethodID(57)"},
		{HostMethodID(0).String(), "HostMethodID(0)"},
		{(CommandTypeAlias | CommandTypeFunction | CommandTypeFilter | CommandTypeCmdlet).String(), "Alias, Function, Filter, Cmdlet"},
		{CommandTypeAll.String(), "All"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, tc.got)
	}
	// Every host method from 1 to 56 has a name.
	for m := HostMethodID(1); m <= 56; m++ {
		assert.True(t, m.Valid(), "method %d", m)
	}
	assert.False(t, HostMethodID(57).Valid())
	assert.True(t, PipelineFailed.Terminal())
	assert.False(t, PipelineRunning.Terminal())
}
