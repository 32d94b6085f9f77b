package wsman

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Sentinel errors. Use errors.Is: a *Fault or *HTTPError matches the sentinel
// of its meaning.
var (
	// ErrOperationTimeout is the w:TimedOut fault (2150858793): no output
	// arrived within OperationTimeout. On Receive it is normal and the caller
	// simply re-issues the Receive.
	ErrOperationTimeout = errors.New("wsman: operation timed out")
	// ErrShellNotFound means the shell or command named in the request does
	// not exist (any more): 2150858843, w:InvalidSelectors.
	ErrShellNotFound = errors.New("wsman: shell or command not found")
	// ErrInvalidSelectors is the w:InvalidSelectors fault; Windows uses it for
	// an unknown ShellId or CommandId, so ErrShellNotFound matches as well.
	ErrInvalidSelectors = errors.New("wsman: invalid selectors")
	// ErrAccessDenied means the server refused the caller: HTTP 401, a
	// w:AccessDenied fault or WSManFault code 5.
	ErrAccessDenied = errors.New("wsman: access denied")
	// ErrQuotaExceeded is a user quota fault (too many shells or operations).
	ErrQuotaExceeded = errors.New("wsman: quota exceeded")
	// ErrShellDisconnected means the shell (or the command) is disconnected
	// from this client: WSManFault CodeShellDisconnected. A Receive that
	// was waiting when the shell was disconnected ends with it; the shell
	// keeps running until reconnected, connected to or deleted.
	ErrShellDisconnected = errors.New("wsman: shell disconnected")
	// ErrShellConnectedElsewhere means another client owns the shell: it
	// connected to it (CodeConnectedToDifferentClient), or it is not the
	// client that disconnected it (CodeClientSessionMismatch).
	ErrShellConnectedElsewhere = errors.New("wsman: shell belongs to another client")

	// ErrUnexpectedResponse means a response was well-formed XML but not what
	// the operation expects (wrong RelatesTo, missing element).
	ErrUnexpectedResponse = errors.New("wsman: unexpected response")
	// ErrMalformedResponse means the response body is not a SOAP envelope.
	ErrMalformedResponse = errors.New("wsman: malformed response")
	// ErrResponseTooLarge means the response body exceeded Client.MaxResponseSize.
	ErrResponseTooLarge = errors.New("wsman: response too large")
)

// Fault is a SOAP fault returned by the server. Fields come from the SOAP
// fault and its f:WSManFault detail (MS-WSMV 2.2.4.43).
type Fault struct {
	// HTTPStatus is the status of the HTTP response that carried the fault.
	HTTPStatus int
	// Code is the SOAP code value, e.g. "s:Receiver".
	Code string
	// Subcode is the SOAP subcode value, e.g. "w:TimedOut".
	Subcode string
	// WSManCode is the Code attribute of f:WSManFault (0 when absent).
	WSManCode uint32
	// Machine is the Machine attribute of f:WSManFault.
	Machine string
	// Message is the f:Message text (the innermost provider message when
	// nested), or else the s:Reason text.
	Message string
	// Provider and ProviderPath come from f:ProviderFault when present.
	Provider     string
	ProviderPath string
	// Action is the wsa:Action of the request that failed.
	Action string
}

// Error formats the fault as "wsman: fault <code> (<subcode>) on <machine>: <message>".
func (f *Fault) Error() string {
	var b strings.Builder
	b.WriteString("wsman: fault")
	if f.WSManCode != 0 {
		b.WriteString(" ")
		b.WriteString(strconv.FormatUint(uint64(f.WSManCode), 10))
	}
	if c := f.Subcode; c != "" || f.Code != "" {
		if c == "" {
			c = f.Code
		}
		b.WriteString(" (" + c + ")")
	}
	if f.Machine != "" {
		b.WriteString(" on " + f.Machine)
	}
	if m := strings.TrimSpace(f.Message); m != "" {
		b.WriteString(": " + m)
	}
	return b.String()
}

// localName strips a QName prefix: "w:TimedOut" -> "TimedOut".
func localName(q string) string {
	if i := strings.LastIndexByte(q, ':'); i >= 0 {
		return q[i+1:]
	}
	return q
}

// Is maps the fault to the package's sentinel errors.
func (f *Fault) Is(target error) bool {
	sub := localName(f.Subcode)
	switch target {
	case ErrOperationTimeout:
		return f.WSManCode == CodeOperationTimeout || sub == "TimedOut"
	case ErrShellNotFound, ErrInvalidSelectors:
		return f.WSManCode == CodeUnexpectedSelectors || sub == "InvalidSelectors"
	case ErrAccessDenied:
		return f.WSManCode == CodeAccessDenied || sub == "AccessDenied" || f.HTTPStatus == http.StatusUnauthorized
	case ErrQuotaExceeded:
		return f.WSManCode == CodeQuotaMaxShells || f.WSManCode == CodeQuotaMaxOperations || sub == "QuotaLimit"
	case ErrShellDisconnected:
		return f.WSManCode == CodeShellDisconnected
	case ErrShellConnectedElsewhere:
		return f.WSManCode == CodeConnectedToDifferentClient || f.WSManCode == CodeClientSessionMismatch
	}
	return false
}

// Timeout reports whether the fault is an operation timeout, so that
// net.Error-style checks (interface{ Timeout() bool }) work too.
func (f *Fault) Timeout() bool { return f.Is(ErrOperationTimeout) }

// IsTimeout reports whether err is (or wraps) the WS-Management operation
// timeout fault. On Receive this is the normal "no data yet" answer.
func IsTimeout(err error) bool { return errors.Is(err, ErrOperationTimeout) }

// maxExcerpt bounds the body text kept in an HTTPError.
const maxExcerpt = 512

// accessDeniedText says what Windows means by a bare 401.
const accessDeniedText = "access denied: the credentials were rejected, or remoting is disabled on the endpoint or for this configuration"

// HTTPError is a non-2xx HTTP response without a SOAP fault in its body.
type HTTPError struct {
	StatusCode int
	Status     string
	// Body is an excerpt of the response body: at most 512 bytes, with
	// control characters replaced.
	Body string
}

// Error describes the HTTP failure; a 401 says plainly what Windows means.
func (e *HTTPError) Error() string {
	s := "wsman: HTTP " + e.Status
	if e.Status == "" {
		s = "wsman: HTTP " + strconv.Itoa(e.StatusCode)
	}
	if e.StatusCode == http.StatusUnauthorized {
		s += ": " + accessDeniedText
	}
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// Is reports ErrAccessDenied for 401 and 403.
func (e *HTTPError) Is(target error) bool {
	return target == ErrAccessDenied && (e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden)
}

// excerpt returns at most maxExcerpt bytes of body with control characters
// (other than space) replaced, so that server text cannot forge log lines.
func excerpt(body []byte) string {
	if len(body) > maxExcerpt {
		body = body[:maxExcerpt]
	}
	s := strings.ToValidUTF8(string(body), "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// RedirectError is returned when the server answers with an HTTP redirect that
// the client does not follow: Client.AllowRedirects is false, or more than
// Client.MaxRedirects redirects happened.
type RedirectError struct {
	StatusCode int
	Location   string
	// TooMany is true when the redirect limit was reached.
	TooMany bool
}

// Error explains the refusal and how to opt in.
func (e *RedirectError) Error() string {
	if e.TooMany {
		return fmt.Sprintf("wsman: too many redirects (last HTTP %d to %q)", e.StatusCode, e.Location)
	}
	return fmt.Sprintf("wsman: server redirected (HTTP %d) to %q; redirects are refused unless Client.AllowRedirects is set", e.StatusCode, e.Location)
}

// ProtocolError is a response that could not be used: not XML, not a SOAP
// envelope, a RelatesTo that does not match the request, a missing element.
// It matches ErrMalformedResponse, ErrUnexpectedResponse or ErrResponseTooLarge.
type ProtocolError struct {
	Op   string // operation, e.g. "Receive"
	Kind error  // one of the sentinels above
	Msg  string
	Err  error // underlying error, may be nil
}

// Error formats "wsman: <op>: <msg>: <err>".
func (e *ProtocolError) Error() string {
	s := "wsman: " + e.Op + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the kind sentinel and the underlying error.
func (e *ProtocolError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// soapFault is the decoded s:Fault element.
type soapFault struct {
	Code struct {
		Value   string `xml:"Value"`
		Subcode struct {
			Value string `xml:"Value"`
		} `xml:"Subcode"`
	} `xml:"Code"`
	Reason struct {
		Text []string `xml:"Text"`
	} `xml:"Reason"`
	Detail struct {
		WSManFault *wsmanFaultXML `xml:"http://schemas.microsoft.com/wbem/wsman/1/wsmanfault WSManFault"`
	} `xml:"Detail"`
}

type wsmanFaultXML struct {
	Code    string `xml:"Code,attr"`
	Machine string `xml:"Machine,attr"`
	Message struct {
		Text          string `xml:",chardata"`
		ProviderFault *struct {
			Provider   string         `xml:"provider,attr"`
			Path       string         `xml:"path,attr"`
			Text       string         `xml:",chardata"`
			WSManFault *wsmanFaultXML `xml:"WSManFault"`
		} `xml:"ProviderFault"`
	} `xml:"Message"`
}

// toFault converts a decoded SOAP fault, following the parse order of
// PROTOCOL.md §3.6.
func (sf *soapFault) toFault(status int, action string) *Fault {
	f := &Fault{
		HTTPStatus: status,
		Code:       strings.TrimSpace(sf.Code.Value),
		Subcode:    strings.TrimSpace(sf.Code.Subcode.Value),
		Action:     action,
	}
	if len(sf.Reason.Text) > 0 {
		f.Message = strings.TrimSpace(sf.Reason.Text[0])
	}
	wf := sf.Detail.WSManFault
	if wf == nil {
		return f
	}
	if c, err := strconv.ParseUint(strings.TrimSpace(wf.Code), 10, 32); err == nil {
		f.WSManCode = uint32(c)
	}
	f.Machine = wf.Machine
	if m := strings.TrimSpace(wf.Message.Text); m != "" {
		f.Message = m
	}
	// Provider faults nest another WSManFault; take the innermost message.
	// The depth is bounded by encoding/xml and by the response size limit.
	for pf := wf.Message.ProviderFault; pf != nil; {
		if f.Provider == "" {
			f.Provider, f.ProviderPath = pf.Provider, pf.Path
		}
		if m := strings.TrimSpace(pf.Text); m != "" {
			f.Message = m
		}
		if pf.WSManFault == nil {
			break
		}
		if m := strings.TrimSpace(pf.WSManFault.Message.Text); m != "" {
			f.Message = m
		}
		pf = pf.WSManFault.Message.ProviderFault
	}
	return f
}
