package sessiontest

import (
	"fmt"
	"strings"

	"github.com/gopsrp/gopsrp/wsman"
)

// WSManFault codes the endpoint answers with that wsman/names.go lacks.
const (
	// codeRequestTooLarge is ERROR_WSMAN_REQUEST_SIZE_EXCEEDED-like
	// (HRESULT 0x80338111, "the request size exceeded the configured
	// MaxEnvelopeSize quota", as PowerShell reports it). Not seen in a capture.
	codeRequestTooLarge uint32 = 2150859025
	// codeEnvelopeTooSmall is the code used when a response cannot fit the
	// client's MaxEnvelopeSize (ERROR_WSMAN_ENVELOPE_TOO_LARGE, 0x80338103).
	// Not seen in a capture.
	codeEnvelopeTooSmall uint32 = 2150859011
)

// soapFault is a WS-Management fault as Windows writes it: a SOAP 1.2 Fault
// with a subcode and an f:WSManFault detail, sent with HTTP 500.
type soapFault struct {
	Status      int    // HTTP status; 0 means 500
	Action      string // fault action; "" means the WS-Man fault action
	Code        string // s:Sender or s:Receiver
	Subcode     string // e.g. w:TimedOut
	Reason      string
	FaultDetail string // optional w:FaultDetail URI
	WSManCode   uint32
	Message     string
	// Provider, when set, wraps the message in an f:ProviderFault naming
	// the WinRM plug-in that failed, as Windows does for provider errors:
	// WsmSvc.dll's "Shell provider" nests an f:WSManFault of its own in it,
	// and the cmd shell's plug-in, ProviderText, the message alone.
	Provider, ProviderPath string
	ProviderText           bool
}

func (f *soapFault) Error() string {
	return fmt.Sprintf("sessiontest: fault %s (%d): %s", f.Subcode, f.WSManCode, f.Message)
}

// render builds the fault envelope. machine is the f:WSManFault Machine.
func (f *soapFault) render(relatesTo, machine string) []byte {
	action := f.Action
	if action == "" {
		action = wsman.ActionFault
	}
	var b strings.Builder
	b.WriteString(`<s:Fault><s:Code><s:Value>`)
	b.WriteString(esc(f.Code))
	b.WriteString(`</s:Value><s:Subcode><s:Value>`)
	b.WriteString(esc(f.Subcode))
	b.WriteString(`</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">`)
	b.WriteString(esc(f.Reason))
	b.WriteString(`</s:Text></s:Reason><s:Detail>`)
	if f.FaultDetail != "" {
		b.WriteString(`<w:FaultDetail>` + esc(f.FaultDetail) + `</w:FaultDetail>`)
	}
	msg := esc(f.Message)
	switch {
	case f.Provider != "" && f.ProviderText:
		msg = fmt.Sprintf(`<f:ProviderFault provider="%s" path="%s">%s</f:ProviderFault>`, esc(f.Provider), esc(f.ProviderPath), msg)
	case f.Provider != "":
		msg = fmt.Sprintf(`<f:ProviderFault provider="%s" path="%s"><f:WSManFault xmlns:f="%s" Code="%d" Machine="%s"><f:Message>%s</f:Message></f:WSManFault></f:ProviderFault>`,
			esc(f.Provider), esc(f.ProviderPath), wsman.NsWSManFault, f.WSManCode, esc(machine), msg)
	}
	fmt.Fprintf(&b, `<f:WSManFault xmlns:f="%s" Code="%d" Machine="%s"><f:Message>%s</f:Message></f:WSManFault>`,
		wsman.NsWSManFault, f.WSManCode, esc(machine), msg)
	b.WriteString(`</s:Detail></s:Fault>`)
	return responseEnvelope(action, relatesTo, b.String())
}

func (f *soapFault) status() int {
	if f.Status == 0 {
		return 500
	}
	return f.Status
}

// The faults below copy the subcodes and messages Windows sends (captures
// test_winrs_operation_timeout.yml, test_psrp_receive_failure.yml,
// test_psrp_is_alive_other_wsman_error.yml; MS-WSMV 3.1.4.5.2.1 for quota).

// cmdPluginFault marks f as the cmd shell plug-in's (winrscmd.dll), as
// Windows does for the faults of the processes it starts and of their
// Receives (captures test_winrs_no_cmd_shell, test_winrs_fail_poll_process).
func cmdPluginFault(f *soapFault) *soapFault {
	f.Provider, f.ProviderPath, f.ProviderText = "Shell cmd plugin", `%systemroot%\system32\winrscmd.dll`, true
	return f
}

func faultTimedOut() *soapFault {
	const msg = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "
	return &soapFault{Code: "s:Receiver", Subcode: "w:TimedOut", Reason: msg, WSManCode: wsman.CodeOperationTimeout, Message: msg}
}

func faultShellNotFound() *soapFault {
	return &soapFault{
		Code: "s:Sender", Subcode: "w:InvalidSelectors",
		Reason:      "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. ",
		FaultDetail: "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
		WSManCode:   wsman.CodeUnexpectedSelectors,
		Message:     "The request for the Windows Remote Shell with ShellId specified failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation. ",
	}
}

func faultCommandNotFound() *soapFault {
	f := faultShellNotFound()
	f.Message = "The Windows Remote Shell received a request to perform an operation on a command identifier that does not exist. Either the command has completed execution or the client specified an invalid command identifier. "
	return f
}

func faultInvalidHeader(detail string) *soapFault {
	return &soapFault{
		Action: wsman.ActionAddressingFault,
		Code:   "s:Sender", Subcode: "a:InvalidMessageInformationHeader",
		Reason:    "The WS-Management service cannot process the request. The request contains one or more invalid SOAP headers. ",
		WSManCode: wsman.CodeInvalidMessageHeader,
		Message:   "The WS-Management service cannot process the request. " + detail + " ",
	}
}

func faultInvalidParameter(msg string) *soapFault {
	return &soapFault{
		Code: "s:Sender", Subcode: "w:InvalidParameter",
		Reason:    "The parameter is incorrect. ",
		WSManCode: wsman.CodeInvalidParameter,
		Message:   msg,
	}
}

func faultRequestTooLarge(limit int) *soapFault {
	return &soapFault{
		Code: "s:Sender", Subcode: "w:EncodingLimit",
		Reason:      "The WS-Management service cannot process the request because the envelope size in the request is too large. ",
		FaultDetail: "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MaxEnvelopeSize",
		WSManCode:   codeRequestTooLarge,
		Message:     fmt.Sprintf("The WinRM client sent a request to the remote WS-Management service and was notified that the request size exceeded the configured MaxEnvelopeSize quota (%d bytes). ", limit),
	}
}

func faultEnvelopeTooSmall(need, have int) *soapFault {
	return &soapFault{
		Code: "s:Sender", Subcode: "w:EncodingLimit",
		Reason:      "The WS-Management service cannot process the request because the response would exceed the MaxEnvelopeSize of the request. ",
		FaultDetail: "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MaxEnvelopeSize",
		WSManCode:   codeEnvelopeTooSmall,
		Message:     fmt.Sprintf("The response needs at least %d bytes but the request's MaxEnvelopeSize is %d. Increase MaxEnvelopeSize and retry. ", need, have),
	}
}

func faultQuotaShells() *soapFault {
	const msg = "The Windows Remote Shell cannot process the request. The server is already executing the maximum number of concurrent shells a user can remotely open on the same system. Retry later."
	return &soapFault{
		Code: "s:Receiver", Subcode: "w:QuotaLimit",
		Reason:    "The WS-Management service cannot process the request. This user is allowed a maximum number of concurrent shells, which has been exceeded. ",
		WSManCode: wsman.CodeQuotaMaxShells,
		Message:   msg,
	}
}

func faultAccessDenied(msg string) *soapFault {
	return &soapFault{
		Code: "s:Sender", Subcode: "w:AccessDenied",
		Reason:    "Access is denied. ",
		WSManCode: wsman.CodeAccessDenied,
		Message:   msg,
	}
}

func faultResourceNotFound(uri string) *soapFault {
	return &soapFault{
		Code: "s:Sender", Subcode: "w:DestinationUnreachable",
		Reason:    "The WS-Management service cannot process the request because the resource URI is not valid or the resource was not found. ",
		WSManCode: wsman.CodeResourceNotFound,
		Message:   "The WS-Management service cannot process the request. The resource URI (" + uri + ") was not found in the WS-Management catalog. ",
	}
}

func faultActionNotSupported(action string) *soapFault {
	return &soapFault{
		Action: wsman.ActionAddressingFault,
		Code:   "s:Sender", Subcode: "a:ActionNotSupported",
		Reason:    "The action is not supported by the service. ",
		WSManCode: 2150858771, // ERROR_WSMAN_ACTION_NOT_SUPPORTED 0x80338013
		Message:   "The WS-Management service cannot process the request because the action " + action + " is not supported. ",
	}
}

func faultInternal(msg string) *soapFault {
	return &soapFault{
		Code: "s:Receiver", Subcode: "w:InternalError",
		Reason:    "The service cannot comply with the request due to internal processing errors. ",
		WSManCode: 2150858754, // ERROR_WSMAN_INTERNAL_ERROR-like
		Message:   msg,
	}
}

// WinRS codes of the disconnected-shell operations (wsmerror.h). No
// capture in the conformance set shows these faults: the codes are the ones
// clients (PowerShell, pypsrp, PSWSMan) check for; the SOAP subcode,
// w:InternalError, is what MS-WSMV 3.1.4.16/3.1.4.17 prescribe for a
// Connect or a foreign Reconnect of a connected shell.
const (
	codeShellDisconnected          uint32 = 2150859204 // 0x803381C4 ERROR_WINRS_SHELL_DISCONNECTED
	codeClientSessionMismatch      uint32 = 2150859206 // 0x803381C6 ERROR_WINRS_SHELL_CLIENTSESSIONID_MISMATCH
	codeConnectedToDifferentClient uint32 = 2150859213 // 0x803381CD ERROR_WINRS_SHELL_CONNECTED_TO_DIFFERENT_CLIENT
	codeDisconnectNotValid         uint32 = 2150859215 // 0x803381CF ERROR_WINRS_SHELL_DISCONNECT_OPERATION_NOT_VALID
	codeCommandReconnectNotValid   uint32 = 2150859219 // 0x803381D3 ERROR_WINRS_SHELLCOMMAND_RECONNECT_OPERATION_NOT_VALID
)

func faultWinRS(code uint32, msg string) *soapFault {
	return &soapFault{
		Code: "s:Receiver", Subcode: "w:InternalError",
		Reason:    "The service cannot comply with the request due to internal processing errors. ",
		WSManCode: code,
		Message:   msg,
	}
}

// faultShellDisconnected answers Command, Send, Receive and Signal on a
// disconnected shell or command.
func faultShellDisconnected() *soapFault {
	return faultWinRS(codeShellDisconnected, "The shell is disconnected. Reconnect to the shell (or connect to it from a new client) and retry the operation. ")
}

// faultConnectedElsewhere answers a Connect to a shell that is connected,
// and requests from a client whose shell was taken over by a Connect.
func faultConnectedElsewhere() *soapFault {
	return faultWinRS(codeConnectedToDifferentClient, "The shell is connected to a different client. Disconnect it from that client before connecting to it. ")
}

func faultSessionMismatch() *soapFault {
	return faultWinRS(codeClientSessionMismatch, "The Reconnect request did not come from the client session that disconnected the shell; a new client must use Connect. ")
}

func faultDisconnectNotValid() *soapFault {
	return faultWinRS(codeDisconnectNotValid, "The Disconnect operation is not valid: the shell is already disconnected. ")
}

func faultCommandReconnectNotValid() *soapFault {
	return faultWinRS(codeCommandReconnectNotValid, "The Reconnect operation is not valid for the command: the shell is still disconnected. ")
}
