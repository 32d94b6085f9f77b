package sessiontest

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/internal/xsduration"
	"github.com/gopsrp/gopsrp/wsman"
)

// request is one parsed WS-Management request envelope. Only the parts the
// emulated endpoint acts on are kept; everything else is ignored, as Windows
// ignores headers marked mustUnderstand="false".
type request struct {
	XMLName xml.Name      `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  requestHeader `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body    requestBody   `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

type requestHeader struct {
	Action           string       `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
	MessageID        string       `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
	ResourceURI      string       `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
	MaxEnvelopeSize  string       `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd MaxEnvelopeSize"`
	OperationTimeout string       `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
	SessionID        string       `xml:"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd SessionId"`
	SelectorSet      selectorSet  `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet"`
	OptionSet        optionSetXML `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OptionSet"`
	// OperationID and SequenceID are the robust-connection headers
	// (replay.go). Windows sends the second as SequenceId; the spec's
	// schema spells it SequenceID: both are taken.
	OperationID      operationIDXML `xml:"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd OperationID"`
	SequenceID       *string        `xml:"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd SequenceId"`
	SequenceIDSchema *string        `xml:"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd SequenceID"`
}

// operationIDXML is wsmv:OperationID; s:mustUnderstand="true" marks a
// retransmission.
type operationIDXML struct {
	MustUnderstand string `xml:"http://www.w3.org/2003/05/soap-envelope mustUnderstand,attr"`
	Value          string `xml:",chardata"`
}

type selectorSet struct {
	Selectors []nameValue `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Selector"`
}

type optionSetXML struct {
	Options []nameValue `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Option"`
}

type nameValue struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}

type requestBody struct {
	Shell       *shellXML      `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
	CommandLine *commandXML    `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
	Send        *sendXML       `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Send"`
	Receive     *receiveXML    `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
	Signal      *signalXML     `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Signal"`
	Connect     *connectXML    `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Connect"`
	Disconnect  *disconnectXML `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Disconnect"`
	Reconnect   *reconnectXML  `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Reconnect"`
	Enumerate   *enumerateXML  `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration Enumerate"`
	Pull        *pullXML       `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration Pull"`
}

type shellXML struct {
	ShellID string `xml:"ShellId,attr"`
	// The shell's name: PowerShell sends it as an attribute
	// (New-PSSession -Name), WinRS clients as an element.
	NameAttr      string `xml:"Name,attr"`
	NameElem      string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Name"`
	IdleTimeOut   string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell IdleTimeOut"`
	InputStreams  string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell InputStreams"`
	OutputStreams string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell OutputStreams"`
	CreationXML   string `xml:"http://schemas.microsoft.com/powershell creationXml"`
}

type commandXML struct {
	CommandID string `xml:"CommandId,attr"`
	Command   string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Command"`
	Arguments string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Arguments"`
}

type sendXML struct {
	Streams []streamXML `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Stream"`
}

type streamXML struct {
	Name      string `xml:"Name,attr"`
	CommandID string `xml:"CommandId,attr"`
	End       string `xml:"End,attr"`
	Data      string `xml:",chardata"`
}

type receiveXML struct {
	DesiredStream struct {
		CommandID string `xml:"CommandId,attr"`
		Names     string `xml:",chardata"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell DesiredStream"`
}

type signalXML struct {
	CommandID string `xml:"CommandId,attr"`
	Code      string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Code"`
}

// disconnectXML is the body of a Disconnect (MS-PSRP 3.1.5.3.16): both
// children are optional.
type disconnectXML struct {
	IdleTimeOut string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell IdleTimeOut"`
	BufferMode  string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell BufferMode"`
}

// reconnectXML is the body of a Reconnect: empty for the shell, or naming a
// command (MS-PSRP 3.1.5.3.18) by an rsp:CommandId child or a CommandId
// attribute.
type reconnectXML struct {
	CommandIDAttr string `xml:"CommandId,attr"`
	CommandID     string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandId"`
	BufferMode    string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell BufferMode"`
}

type connectXML struct {
	// CommandID is set when a client connects to one command of a shell
	// it has connected to.
	CommandID  string `xml:"CommandId,attr"`
	ConnectXML string `xml:"http://schemas.microsoft.com/powershell connectXml"`
}

type enumerateXML struct {
	Filter *struct {
		Dialect     string      `xml:"Dialect,attr"`
		SelectorSet selectorSet `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet"`
	} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Filter"`
}

type pullXML struct {
	EnumerationContext string `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration EnumerationContext"`
}

// Limits on what a request may hold, so that hostile input cannot make the
// endpoint allocate without bound beyond the HTTP body limit.
const (
	maxSelectors = 16
	maxOptions   = 64
	maxStreams   = 64
)

// parseRequest decodes one SOAP envelope. It rejects DTDs and anything that
// is not a SOAP 1.2 envelope with a clear error.
func parseRequest(body []byte) (*request, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("sessiontest: empty request body")
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	var r request
	if err := d.Decode(&r); err != nil {
		return nil, fmt.Errorf("sessiontest: parse envelope: %w", err)
	}
	h := &r.Header
	if len(h.SelectorSet.Selectors) > maxSelectors || len(h.OptionSet.Options) > maxOptions {
		return nil, fmt.Errorf("sessiontest: too many selectors or options")
	}
	if r.Body.Send != nil && len(r.Body.Send.Streams) > maxStreams {
		return nil, fmt.Errorf("sessiontest: too many streams in Send")
	}
	h.Action = strings.TrimSpace(h.Action)
	h.MessageID = strings.TrimSpace(h.MessageID)
	h.ResourceURI = strings.TrimSpace(h.ResourceURI)
	return &r, nil
}

// selector returns the value of the named selector (case-insensitive name).
func (h *requestHeader) selector(name string) string {
	for _, s := range h.SelectorSet.Selectors {
		if strings.EqualFold(s.Name, name) {
			return strings.TrimSpace(s.Value)
		}
	}
	return ""
}

// option returns the value of the named option and whether it was present.
func (h *requestHeader) option(name string) (string, bool) {
	for _, o := range h.OptionSet.Options {
		if strings.EqualFold(o.Name, name) {
			return strings.TrimSpace(o.Value), true
		}
	}
	return "", false
}

// actionName is the last segment of the action URI ("Receive", "Create").
func actionName(action string) string {
	if i := strings.LastIndexByte(action, '/'); i >= 0 {
		return action[i+1:]
	}
	return action
}

// parseDuration reads an xs:duration a client sent (PT20S, PT0.5S,
// PT1M30S, P1DT2H). Negative values are errors, as Windows rejects them.
func parseDuration(s string) (time.Duration, error) {
	d, err := xsduration.Parse(strings.TrimSpace(s))
	if err == nil && d < 0 {
		err = fmt.Errorf("%w: negative %q", xsduration.ErrInvalid, s)
	}
	return d, err
}

// formatSeconds writes d the way Windows writes IdleTimeOut: PT7200.000S.
func formatSeconds(d time.Duration) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("PT%d.%03dS", ms/1000, ms%1000)
}

// formatRunTime writes d as Windows writes ShellRunTime: P0DT0H0M9S.
func formatRunTime(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("P%dDT%dH%dM%dS", s/86400, s/3600%24, s/60%60, s%60)
}

// esc escapes text for an XML element or attribute.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// responseEnvelope builds a response the way Windows lays it out: prefixes
// s, a, x, w, rsp, p (and n for enumeration), MessageID, To anonymous and
// RelatesTo in the header.
func responseEnvelope(action, relatesTo, body string) []byte {
	return responseEnvelopeWith(action, relatesTo, "", body)
}

// responseEnvelopeWith is responseEnvelope with extra header elements
// (already rendered, with the envelope's prefixes).
func responseEnvelopeWith(action, relatesTo, header, body string) []byte {
	var b bytes.Buffer
	b.Grow(len(body) + len(header) + 900)
	b.WriteString(`<s:Envelope xml:lang="en-US" xmlns:s="` + wsman.NsSOAP + `" xmlns:a="` + wsman.NsAddressing +
		`" xmlns:x="` + wsman.NsTransfer + `" xmlns:w="` + wsman.NsWSMan + `" xmlns:rsp="` + wsman.NsShell +
		`" xmlns:p="` + wsman.NsWSMV + `" xmlns:n="` + wsman.NsEnumeration + `"><s:Header><a:Action>`)
	b.WriteString(esc(action))
	b.WriteString(`</a:Action><a:MessageID>uuid:`)
	b.WriteString(strings.ToUpper(uuid.NewString()))
	b.WriteString(`</a:MessageID><a:To>` + wsman.AddressAnonymous + `</a:To>`)
	b.WriteString(header)
	if relatesTo != "" {
		b.WriteString(`<a:RelatesTo>`)
		b.WriteString(esc(relatesTo))
		b.WriteString(`</a:RelatesTo>`)
	}
	b.WriteString(`</s:Header><s:Body>`)
	b.WriteString(body)
	b.WriteString(`</s:Body></s:Envelope>`)
	return b.Bytes()
}

// streamElement renders one rsp:Stream of a ReceiveResponse.
func streamElement(commandID string, data []byte) string {
	attr := ""
	if commandID != "" {
		attr = ` CommandId="` + commandID + `"`
	}
	return `<rsp:Stream Name="stdout"` + attr + `>` + base64.StdEncoding.EncodeToString(data) + `</rsp:Stream>`
}

// decodeB64 decodes base64 stream data, tolerating whitespace.
func decodeB64(s string) ([]byte, error) {
	s = strings.Join(strings.Fields(s), "")
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("sessiontest: invalid base64 stream data: %w", err)
	}
	return b, nil
}
