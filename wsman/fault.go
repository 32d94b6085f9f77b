package wsman

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sentinel errors. Use errors.Is: a *Fault or *HTTPError matches the sentinel
// of its meaning.
var (
	// ErrOperationTimeout is the w:TimedOut fault (2150858793): no output
	// arrived within OperationTimeout. On Receive it is normal and the caller
	// simply re-issues the Receive.
	ErrOperationTimeout = errors.New("wsman: operation timed out")
	// ErrShellNotFound means the shell or command named in the request does
	// not exist (any more): the w:InvalidSelectors fault (2150858843), which
	// Windows gives for an unknown ShellId or CommandId.
	ErrShellNotFound = errors.New("wsman: shell or command not found")
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
	// ErrResponseTooLarge means the response body exceeded the size limit
	// (Client.maxResponseSize) or one of the parser's bounds
	// (nesting depth, attributes per element, token count).
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
	// nested), or else the s:Reason text. Text from the server (Message,
	// Code, Subcode, Machine, Provider, ProviderPath) is sanitised (control
	// characters, line separators and bidirectional controls become spaces)
	// and bounded: Message to 1 KiB, the others to 256 bytes, with
	// "…(N bytes more)" when cut.
	Message string
	// Provider and ProviderPath come from f:ProviderFault when present.
	Provider     string
	ProviderPath string
	// Action is the wsa:Action of the request that failed.
	Action string
}

// Error formats the fault as "wsman: fault <code> (<subcode>) on <machine>:
// <message>". A fault without a message names the HTTP status that carried
// it, and one without code, subcode or message says so.
func (f *Fault) Error() string {
	var b strings.Builder
	if f.WSManCode == 0 && f.Code == "" && f.Subcode == "" && strings.TrimSpace(f.Message) == "" {
		b.WriteString("wsman: SOAP fault without code, subcode or reason")
		f.writeStatus(&b)
		return b.String()
	}
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
	} else {
		b.WriteString(" without a reason")
		f.writeStatus(&b)
	}
	return b.String()
}

func (f *Fault) writeStatus(b *strings.Builder) {
	if f.HTTPStatus != 0 {
		b.WriteString(" (HTTP " + statusText(f.HTTPStatus) + ")")
	}
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
	case ErrShellNotFound:
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

// excerpt returns at most maxExcerpt bytes of body with control characters,
// line separators and bidirectional controls replaced (see sanitize), so that
// server text cannot forge log lines or reorder what a terminal shows.
func excerpt(body []byte) string {
	if len(body) > maxExcerpt {
		body = body[:maxExcerpt]
	}
	return strings.TrimSpace(sanitize(body))
}

// RedirectError is returned when the server answers with an HTTP redirect that
// the client does not follow: Client.AllowRedirects is false, more than
// Client.MaxRedirects redirects happened, the target is another origin and
// Client.AllowCrossOriginRedirects is false, or the Location is unusable (none,
// invalid, not http or https, with user information).
type RedirectError struct {
	// Op is the operation, e.g. "Receive" (empty in errors built by callers).
	Op         string
	StatusCode int
	// Location is the Location header as received.
	Location string
	// TooMany is true when the redirect limit was reached.
	TooMany bool
	// CrossOrigin is true when the target's scheme, host or port differs from
	// Client.URL's.
	CrossOrigin bool
	// Reason says why a redirect that redirects are allowed for was refused
	// (empty when AllowRedirects is false or TooMany is set).
	Reason string
}

// maxLocationText bounds the Location shown by Error.
const maxLocationText = 256

// Error explains the refusal and how to opt in.
func (e *RedirectError) Error() string {
	prefix := "wsman: "
	if e.Op != "" {
		prefix += e.Op + ": "
	}
	loc := boundText([]byte(e.Location), len(e.Location), maxLocationText)
	switch {
	case e.TooMany:
		return fmt.Sprintf("%stoo many redirects (last HTTP %d to %q)", prefix, e.StatusCode, loc)
	case e.Reason != "":
		return fmt.Sprintf("%sredirect (HTTP %d) to %q refused: %s", prefix, e.StatusCode, loc, e.Reason)
	}
	return fmt.Sprintf("%sserver redirected (HTTP %d) to %q; redirects are refused unless Client.AllowRedirects is set", prefix, e.StatusCode, loc)
}

// ProtocolError is a response that could not be used: not XML, not a SOAP
// envelope, beyond the size or parser bounds, a RelatesTo that does not match
// the request, a missing element.
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

// Bounds of the text a fault contributes to an error: an error never grows
// with the response.
const (
	// maxFaultText bounds the fault message (s:Reason, f:Message or the
	// provider's text) in Fault.Message.
	maxFaultText = 1024
	// maxFaultField bounds Code, Subcode, Machine, Provider, ProviderPath.
	maxFaultField = 256
)

// boundedText is text kept up to a cap, with the full length it had.
type boundedText struct {
	text  []byte
	total int
}

// soapFault is the decoded s:Fault element.
type soapFault struct {
	Code, Subcode string
	Reason        *boundedText // the first s:Text
	WSManFault    *wsmanFaultXML
}

type wsmanFaultXML struct {
	Code, Machine string
	Message       boundedText
	ProviderFault *providerFaultXML
}

type providerFaultXML struct {
	Provider, Path string
	Text           boundedText
	WSManFault     *wsmanFaultXML
}

// faultKeep is how much raw fault text the parser keeps: the cap plus room
// for leading white space that is trimmed.
const faultKeep = maxFaultText + 64

func walkFault(s *xmlScanner, f *soapFault) error {
	return s.children(func() error {
		switch string(s.local) {
		case "Code":
			return s.children(func() error {
				switch string(s.local) {
				case "Value":
					return s.readText(&f.Code, maxFaultField)
				case "Subcode":
					return s.children(func() error {
						if string(s.local) != "Value" {
							return s.skip()
						}
						return s.readText(&f.Subcode, maxFaultField)
					})
				}
				return s.skip()
			})
		case "Reason":
			return s.children(func() error {
				if string(s.local) != "Text" || f.Reason != nil {
					return s.skip()
				}
				t, total, err := s.textBytes(faultKeep)
				f.Reason = &boundedText{text: t, total: total}
				return err
			})
		case "Detail":
			return s.children(func() error {
				if !s.is(NsWSManFault, "WSManFault") {
					return s.skip()
				}
				if f.WSManFault == nil {
					f.WSManFault = &wsmanFaultXML{}
				}
				return walkWSManFault(s, f.WSManFault)
			})
		}
		return s.skip()
	})
}

func walkWSManFault(s *xmlScanner, wf *wsmanFaultXML) error {
	if _, ok := s.attr("Code"); ok {
		wf.Code = s.attrString("Code", maxFaultField)
	}
	if _, ok := s.attr("Machine"); ok {
		wf.Machine = s.attrString("Machine", maxFaultField)
	}
	return s.children(func() error {
		if string(s.local) != "Message" {
			return s.skip()
		}
		t, total, err := s.mixed(faultKeep, func() error {
			if string(s.local) != "ProviderFault" {
				return s.skip()
			}
			if wf.ProviderFault == nil {
				wf.ProviderFault = &providerFaultXML{}
			}
			return walkProviderFault(s, wf.ProviderFault)
		})
		wf.Message = boundedText{text: t, total: total}
		return err
	})
}

func walkProviderFault(s *xmlScanner, pf *providerFaultXML) error {
	if _, ok := s.attr("provider"); ok {
		pf.Provider = s.attrString("provider", maxFaultField)
	}
	if _, ok := s.attr("path"); ok {
		pf.Path = s.attrString("path", maxFaultField)
	}
	t, total, err := s.mixed(faultKeep, func() error {
		if string(s.local) != "WSManFault" {
			return s.skip()
		}
		if pf.WSManFault == nil {
			pf.WSManFault = &wsmanFaultXML{}
		}
		return walkWSManFault(s, pf.WSManFault)
	})
	pf.Text = boundedText{text: t, total: total}
	return err
}

// String returns the text trimmed, sanitised and cut to maxFaultText bytes
// with "…(N bytes more)" when longer.
func (b *boundedText) String() string {
	if b == nil {
		return ""
	}
	return boundText(b.text, b.total, maxFaultText)
}

// boundText trims and sanitises t (the first bytes of a text of total bytes)
// and cuts it to max bytes, saying how much was left out.
func boundText(t []byte, total, max int) string {
	lead := len(t) - len(bytes.TrimLeft(t, " \t\r\n"))
	t = t[lead:]
	complete := lead+len(t) >= total
	if complete {
		t = bytes.TrimRight(t, " \t\r\n")
	}
	if complete && len(t) <= max {
		return sanitize(t)
	}
	cut := min(len(t), max)
	for cut > 0 && cut < len(t) && !utf8.RuneStart(t[cut]) {
		cut--
	}
	more := total - lead - cut
	return sanitize(t[:cut]) + fmt.Sprintf("…(%d bytes more)", more)
}

// sanitize makes server text safe to print on one line: invalid UTF-8
// becomes "?", and control characters (C0, DEL, C1), line and paragraph
// separators and bidirectional controls (such as U+202E, which reorders
// what a terminal shows) become spaces.
func sanitize(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	return strings.Map(func(r rune) rune {
		if isUnsafeRune(r) {
			return ' '
		}
		return r
	}, s)
}

func isUnsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true // bidirectional controls
	case r == 0x2028, r == 0x2029:
		return true // line and paragraph separators
	}
	return false
}

// sanitizeField bounds a short fault field (code, machine, provider).
func sanitizeField(s string) string {
	return boundText([]byte(s), len(s), maxFaultField)
}

// toFault converts a decoded SOAP fault, following the parse order of
// PROTOCOL.md §3.6. Every text is sanitised and bounded.
func (sf *soapFault) toFault(status int, action string) *Fault {
	f := &Fault{
		HTTPStatus: status,
		Code:       sanitizeField(sf.Code),
		Subcode:    sanitizeField(sf.Subcode),
		Action:     action,
	}
	f.Message = sf.Reason.String()
	wf := sf.WSManFault
	if wf == nil {
		return f
	}
	if c, err := strconv.ParseUint(strings.TrimSpace(wf.Code), 10, 32); err == nil {
		f.WSManCode = uint32(c)
	}
	f.Machine = sanitizeField(wf.Machine)
	if m := wf.Message.String(); m != "" {
		f.Message = m
	}
	// Provider faults nest another WSManFault; take the innermost message.
	// The depth is bounded by the scanner's nesting bound.
	for pf := wf.ProviderFault; pf != nil; {
		if f.Provider == "" {
			f.Provider, f.ProviderPath = sanitizeField(pf.Provider), sanitizeField(pf.Path)
		}
		if m := pf.Text.String(); m != "" {
			f.Message = m
		}
		if pf.WSManFault == nil {
			break
		}
		if m := pf.WSManFault.Message.String(); m != "" {
			f.Message = m
		}
		pf = pf.WSManFault.ProviderFault
	}
	return f
}
