package wsman

// XML namespaces of WS-Management and the WinRM shell (MS-WSMV 2.2.1).
const (
	NsSOAP        = "http://www.w3.org/2003/05/soap-envelope"
	NsAddressing  = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	NsWSMan       = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	NsWSMV        = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
	NsShell       = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	NsEnumeration = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
	NsTransfer    = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
	NsWSManFault  = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
	NsConfig      = "http://schemas.microsoft.com/wbem/wsman/1/config"
	NsPowerShell  = "http://schemas.microsoft.com/powershell"
	NsXML         = "http://www.w3.org/XML/1998/namespace"
)

// Action URIs (wsa:Action). A response's action is the request's with
// "Response" appended.
const (
	ActionCreate     = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
	ActionDelete     = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
	ActionGet        = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
	ActionPut        = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put"
	ActionEnumerate  = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
	ActionPull       = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"
	ActionCommand    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
	ActionSend       = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
	ActionReceive    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
	ActionSignal     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"
	ActionConnect    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Connect"
	ActionDisconnect = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Disconnect"
	ActionReconnect  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Reconnect"
	ActionFault      = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
	// ActionAddressingFault is the fault action some Windows faults use instead.
	ActionAddressingFault = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"
)

// Resource URIs.
const (
	// ResourcePowerShellPrefix prefixes a bare configuration name.
	ResourcePowerShellPrefix = "http://schemas.microsoft.com/powershell/"
	// ResourcePowerShell is the default configuration, Microsoft.PowerShell.
	ResourcePowerShell = ResourcePowerShellPrefix + "Microsoft.PowerShell"
	// ResourceShell enumerates shells.
	ResourceShell = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	// ResourceCommand enumerates the commands of a shell.
	ResourceCommand = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
	// ResourceConfig is the WinRM service configuration (MaxEnvelopeSizekb).
	ResourceConfig = "http://schemas.microsoft.com/wbem/wsman/1/config"
	// ResourceCmd is the cmd.exe shell of WinRS.
	ResourceCmd = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
)

// Signal codes.
const (
	// SignalPSCtrlC stops a running pipeline. The misspelling is PowerShell's
	// own and required: any other code closes the command instead (MS-PSRP 3.1.5.3.9).
	SignalPSCtrlC = "powershell/signal/crtl_c"
	// SignalTerminate closes a command.
	SignalTerminate = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
	// SignalCtrlC and SignalCtrlBreak are the WinRS console signals.
	SignalCtrlC     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c"
	SignalCtrlBreak = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_break"
)

// Command states reported in a ReceiveResponse.
const (
	CommandStateDone    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
	CommandStatePending = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Pending"
	CommandStateRunning = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
)

// Other URIs used in envelopes.
const (
	AddressAnonymous      = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
	FilterSelectorDialect = "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter"
)

// WSManFault codes (the Code attribute of f:WSManFault).
const (
	CodeAccessDenied         uint32 = 5
	CodeInvalidParameter     uint32 = 87
	CodeOperationTimeout     uint32 = 2150858793 // 0x80338029, w:TimedOut
	CodeUnexpectedSelectors  uint32 = 2150858843 // 0x8033805B, shell or command not found
	CodeInvalidMessageHeader uint32 = 2150858767 // 0x8033800F
	CodeResourceNotFound     uint32 = 2150858752
	CodeQuotaMaxShells       uint32 = 2150859173
	CodeQuotaMaxOperations   uint32 = 2150859174 // 0x803381A6
	CodeFileNotFound         uint32 = 2147942402 // 0x80070002
)

// WinRS codes of disconnected-shell operations (wsmerror.h), with the
// w:InternalError subcode; clients (PowerShell, pypsrp) test these codes.
const (
	// CodeShellDisconnected answers Command, Send, Receive and Signal on a
	// disconnected shell or detached command; a Receive waiting when the
	// shell is disconnected ends with it (0x803381C4).
	CodeShellDisconnected uint32 = 2150859204
	// CodeClientSessionMismatch refuses a Reconnect from a client other
	// than the one that disconnected the shell (0x803381C6).
	CodeClientSessionMismatch uint32 = 2150859206
	// CodeConnectedToDifferentClient refuses a request on a shell that
	// another client connected to (0x803381CD).
	CodeConnectedToDifferentClient uint32 = 2150859213
	// CodeDisconnectNotValid refuses a Disconnect the shell's state does
	// not allow, e.g. of a disconnected shell (0x803381CF).
	CodeDisconnectNotValid uint32 = 2150859215
	// CodeCommandReconnectNotValid refuses a Reconnect of a command while
	// its shell is disconnected (0x803381D3).
	CodeCommandReconnectNotValid uint32 = 2150859219
)
