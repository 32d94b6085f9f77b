package psrp

import "fmt"

// MessageType identifies the kind of a PSRP message (MS-PSRP 2.2.1). The
// value is written little-endian at offset 4 of the message header.
type MessageType uint32

// Message types of MS-PSRP 2.2.1, with the direction each travels in.
const (
	MessageSessionCapability        MessageType = 0x00010002 // both directions, pool
	MessageInitRunspacePool         MessageType = 0x00010004 // client to server
	MessagePublicKey                MessageType = 0x00010005 // client to server
	MessageEncryptedSessionKey      MessageType = 0x00010006 // server to client
	MessagePublicKeyRequest         MessageType = 0x00010007 // server to client
	MessageConnectRunspacePool      MessageType = 0x00010008 // client to server, protocol >= 2.2
	MessageSetMaxRunspaces          MessageType = 0x00021002 // client to server
	MessageSetMinRunspaces          MessageType = 0x00021003 // client to server
	MessageRunspaceAvailability     MessageType = 0x00021004 // server to client
	MessageRunspacePoolState        MessageType = 0x00021005 // server to client
	MessageCreatePipeline           MessageType = 0x00021006 // client to server, carries the pipeline id
	MessageGetAvailableRunspaces    MessageType = 0x00021007 // client to server
	MessageUserEvent                MessageType = 0x00021008 // server to client
	MessageApplicationPrivateData   MessageType = 0x00021009 // server to client
	MessageGetCommandMetadata       MessageType = 0x0002100A // client to server
	MessageRunspacePoolInitData     MessageType = 0x0002100B // server to client, reply to a connect
	MessageResetRunspaceState       MessageType = 0x0002100C // client to server, protocol >= 2.3
	MessageRunspacePoolHostCall     MessageType = 0x00021100 // server to client
	MessageRunspacePoolHostResponse MessageType = 0x00021101 // client to server, on the prompt-response stream
	MessagePipelineInput            MessageType = 0x00041002 // client to server
	MessageEndOfPipelineInput       MessageType = 0x00041003 // client to server, empty body
	MessagePipelineOutput           MessageType = 0x00041004 // server to client
	MessageErrorRecord              MessageType = 0x00041005 // server to client
	MessagePipelineState            MessageType = 0x00041006 // server to client
	MessageDebugRecord              MessageType = 0x00041007 // server to client
	MessageVerboseRecord            MessageType = 0x00041008 // server to client
	MessageWarningRecord            MessageType = 0x00041009 // server to client
	MessageProgressRecord           MessageType = 0x00041010 // server to client (0x…10, not 0x…0A)
	MessageInformationRecord        MessageType = 0x00041011 // server to client, protocol >= 2.3
	MessagePipelineHostCall         MessageType = 0x00041100 // server to client
	MessagePipelineHostResponse     MessageType = 0x00041101 // client to server, on the prompt-response stream
)

// messageTypeNames holds the MS-PSRP names; a switch keeps it free of
// package-level mutable state.
func messageTypeName(t MessageType) string {
	switch t {
	case MessageSessionCapability:
		return "SESSION_CAPABILITY"
	case MessageInitRunspacePool:
		return "INIT_RUNSPACEPOOL"
	case MessagePublicKey:
		return "PUBLIC_KEY"
	case MessageEncryptedSessionKey:
		return "ENCRYPTED_SESSION_KEY"
	case MessagePublicKeyRequest:
		return "PUBLIC_KEY_REQUEST"
	case MessageConnectRunspacePool:
		return "CONNECT_RUNSPACEPOOL"
	case MessageSetMaxRunspaces:
		return "SET_MAX_RUNSPACES"
	case MessageSetMinRunspaces:
		return "SET_MIN_RUNSPACES"
	case MessageRunspaceAvailability:
		return "RUNSPACE_AVAILABILITY"
	case MessageRunspacePoolState:
		return "RUNSPACEPOOL_STATE"
	case MessageCreatePipeline:
		return "CREATE_PIPELINE"
	case MessageGetAvailableRunspaces:
		return "GET_AVAILABLE_RUNSPACES"
	case MessageUserEvent:
		return "USER_EVENT"
	case MessageApplicationPrivateData:
		return "APPLICATION_PRIVATE_DATA"
	case MessageGetCommandMetadata:
		return "GET_COMMAND_METADATA"
	case MessageRunspacePoolInitData:
		return "RUNSPACEPOOL_INIT_DATA"
	case MessageResetRunspaceState:
		return "RESET_RUNSPACE_STATE"
	case MessageRunspacePoolHostCall:
		return "RUNSPACEPOOL_HOST_CALL"
	case MessageRunspacePoolHostResponse:
		return "RUNSPACEPOOL_HOST_RESPONSE"
	case MessagePipelineInput:
		return "PIPELINE_INPUT"
	case MessageEndOfPipelineInput:
		return "END_OF_PIPELINE_INPUT"
	case MessagePipelineOutput:
		return "PIPELINE_OUTPUT"
	case MessageErrorRecord:
		return "ERROR_RECORD"
	case MessagePipelineState:
		return "PIPELINE_STATE"
	case MessageDebugRecord:
		return "DEBUG_RECORD"
	case MessageVerboseRecord:
		return "VERBOSE_RECORD"
	case MessageWarningRecord:
		return "WARNING_RECORD"
	case MessageProgressRecord:
		return "PROGRESS_RECORD"
	case MessageInformationRecord:
		return "INFORMATION_RECORD"
	case MessagePipelineHostCall:
		return "PIPELINE_HOST_CALL"
	case MessagePipelineHostResponse:
		return "PIPELINE_HOST_RESPONSE"
	}
	return ""
}

// String returns the MS-PSRP name of t (e.g. "SESSION_CAPABILITY"), or its
// hexadecimal value for a type this package does not know.
func (t MessageType) String() string {
	if n := messageTypeName(t); n != "" {
		return n
	}
	return fmt.Sprintf("MessageType(0x%08X)", uint32(t))
}

// Known reports whether t is one of the message types of MS-PSRP 2.2.1.
func (t MessageType) Known() bool { return messageTypeName(t) != "" }
