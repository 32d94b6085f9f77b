package replay

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Namespaces the envelope scanner recognises.
const (
	nsSOAP       = "http://www.w3.org/2003/05/soap-envelope"
	nsAddressing = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsWSMan      = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsShell      = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	nsPowerShell = "http://schemas.microsoft.com/powershell"
	nsFault      = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
)

// maxDepth bounds element nesting in a scanned envelope.
const maxDepth = 64

// resourceCmd is the WinRS cmd shell resource, whose rsp:Arguments are
// plain text even when they happen to be valid base64 ("echo").
const resourceCmd = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"

// Envelope holds the facts of a SOAP envelope that replay routes and
// rewrites on. Fields a given envelope lacks are empty.
type Envelope struct {
	// ActionURI is the wsa:Action; Action is its last path segment
	// ("Create", "ReceiveResponse", "fault").
	ActionURI, Action string
	// MessageID and RelatesTo are the addressing headers, verbatim.
	MessageID, RelatesTo string
	// ResourceURI is the wsman:ResourceURI header.
	ResourceURI string
	// OperationTimeout is the wsman:OperationTimeout header (xs:duration).
	OperationTimeout string
	// ShellID is the ShellId selector of the header, else rsp:Shell/@ShellId,
	// else the first ShellId selector of the body (a CreateResponse's
	// SelectorSet), else the text of an rsp:ShellId element.
	ShellID string
	// CommandID is the CommandId of the body (CommandLine, DesiredStream,
	// Stream or Signal attribute, or an rsp:CommandId element).
	CommandID string
	// SignalCode is rsp:Signal/rsp:Code.
	SignalCode string
	// Body is the local name of the first child of s:Body ("" if empty).
	Body string
	// Blobs are the base64 payloads: rsp:Stream, rsp:Arguments,
	// creationXml, connectXml and connectResponseXml, decoded, in order.
	Blobs []Blob
	// CommandStates are the rsp:CommandState elements of a ReceiveResponse.
	CommandStates []CommandState
	// Fault is set when the body is a SOAP fault.
	Fault *Fault
}

// Blob is one base64 payload of an envelope.
type Blob struct {
	// Element is the local name of the element ("Stream", "Arguments",
	// "creationXml", "connectXml", "connectResponseXml").
	Element string
	// Name is the stream name of an rsp:Stream ("stdin", "pr", "stdout").
	Name string
	// CommandID is the rsp:Stream's CommandId, if any.
	CommandID string
	// End reports rsp:Stream End="true".
	End bool
	// Data is the decoded payload.
	Data []byte
	// Text holds a WinRS rsp:Arguments element, which is not base64.
	Text string
}

// CommandState is an rsp:CommandState of a ReceiveResponse.
type CommandState struct {
	CommandID string
	// State is the full state URI (…/CommandState/Done).
	State    string
	ExitCode string
}

// Fault is a SOAP fault body.
type Fault struct {
	// Code is the subcode value if present, else the code value ("w:TimedOut").
	Code string
	// WSManCode is the f:WSManFault Code attribute, if any.
	WSManCode string
	// Reason is the f:Message text, else s:Reason/s:Text.
	Reason string
}

// ParseEnvelope extracts the routing facts of a SOAP envelope. It fails on
// malformed XML, bad base64 or nesting deeper than 64 elements; the caller
// bounds the input size.
func ParseEnvelope(data []byte) (Envelope, error) {
	var env Envelope
	d := xml.NewDecoder(bytes.NewReader(data))
	var stack []xml.Name
	var text strings.Builder
	var cur *Blob
	var selName string
	var inSelector, inBody bool
	var fault Fault
	var hasFault bool
	var faultMessage, reasonText string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Envelope{}, fmt.Errorf("replay: parse envelope: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxDepth {
				return Envelope{}, errors.New("replay: parse envelope: nesting too deep")
			}
			parent := xml.Name{}
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			stack = append(stack, t.Name)
			text.Reset()
			if inBody && env.Body == "" && parent.Space == nsSOAP && parent.Local == "Body" {
				env.Body = t.Name.Local
			}
			switch {
			case t.Name.Space == nsSOAP && t.Name.Local == "Body":
				inBody = true
			case t.Name.Space == nsSOAP && t.Name.Local == "Fault":
				hasFault = true
			case t.Name.Space == nsWSMan && t.Name.Local == "Selector":
				inSelector = true
				selName = attr(t, "Name")
			case t.Name.Space == nsShell && t.Name.Local == "Shell":
				if id := attr(t, "ShellId"); id != "" && env.ShellID == "" {
					env.ShellID = id
				}
			case t.Name.Space == nsShell && (t.Name.Local == "CommandLine" || t.Name.Local == "DesiredStream" || t.Name.Local == "Signal"):
				if id := attr(t, "CommandId"); id != "" && env.CommandID == "" {
					env.CommandID = id
				}
			case t.Name.Space == nsShell && t.Name.Local == "Stream":
				cur = &Blob{Element: "Stream", Name: attr(t, "Name"), CommandID: attr(t, "CommandId"),
					End: strings.EqualFold(attr(t, "End"), "true")}
				if cur.CommandID != "" && env.CommandID == "" {
					env.CommandID = cur.CommandID
				}
			case t.Name.Space == nsShell && t.Name.Local == "Arguments",
				t.Name.Space == nsPowerShell && (t.Name.Local == "creationXml" || t.Name.Local == "connectXml" || t.Name.Local == "connectResponseXml"):
				cur = &Blob{Element: t.Name.Local}
			case t.Name.Space == nsShell && t.Name.Local == "CommandState":
				env.CommandStates = append(env.CommandStates, CommandState{CommandID: attr(t, "CommandId"), State: attr(t, "State")})
			case t.Name.Space == nsFault && t.Name.Local == "WSManFault":
				fault.WSManCode = attr(t, "Code")
			}
		case xml.CharData:
			// Bound the text kept per element by the input size, which the
			// caller bounds.
			text.Write(t)
		case xml.EndElement:
			if len(stack) == 0 {
				return Envelope{}, errors.New("replay: parse envelope: unbalanced element")
			}
			stack = stack[:len(stack)-1]
			parent := xml.Name{}
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			s := strings.TrimSpace(text.String())
			switch {
			case t.Name.Space == nsAddressing && t.Name.Local == "Action":
				env.ActionURI = s
				env.Action = s[strings.LastIndexByte(s, '/')+1:]
			case t.Name.Space == nsAddressing && t.Name.Local == "MessageID" && !inBody:
				env.MessageID = s
			case t.Name.Space == nsAddressing && t.Name.Local == "RelatesTo":
				env.RelatesTo = s
			case t.Name.Space == nsWSMan && t.Name.Local == "ResourceURI" && !inBody:
				env.ResourceURI = s
			case t.Name.Space == nsWSMan && t.Name.Local == "OperationTimeout":
				env.OperationTimeout = s
			case t.Name.Space == nsWSMan && t.Name.Local == "Selector":
				if inSelector && selName == "ShellId" {
					// A header selector names the target. In the body,
					// the SelectorSet of a CreateResponse is the id the
					// server gave the shell: older WinRM sends only that.
					if !inBody || env.ShellID == "" {
						env.ShellID = s
					}
				}
				inSelector = false
			case t.Name.Space == nsShell && t.Name.Local == "ShellId":
				if env.ShellID == "" {
					env.ShellID = s
				}
			case t.Name.Space == nsShell && t.Name.Local == "CommandId":
				if env.CommandID == "" {
					env.CommandID = s
				}
			case t.Name.Space == nsShell && t.Name.Local == "Code" && parent.Local == "Signal":
				env.SignalCode = s
			case t.Name.Space == nsShell && t.Name.Local == "ExitCode":
				if n := len(env.CommandStates); n > 0 {
					env.CommandStates[n-1].ExitCode = s
				}
			case t.Name.Space == nsSOAP && t.Name.Local == "Value" && hasFault:
				// The subcode's value comes last and wins.
				fault.Code = s
			case t.Name.Space == nsSOAP && t.Name.Local == "Text" && hasFault:
				reasonText = s
			case t.Name.Space == nsFault && t.Name.Local == "Message":
				faultMessage = s
			}
			if cur != nil && t.Name.Local == cur.Element {
				b, err := base64.StdEncoding.DecodeString(s)
				if cur.Element == "Arguments" && (err != nil || strings.EqualFold(env.ResourceURI, resourceCmd)) {
					// WinRS arguments are plain text, not a PSRP payload.
					cur.Text, b, err = s, nil, nil
				}
				if err != nil {
					return Envelope{}, fmt.Errorf("replay: parse envelope: %s: bad base64: %w", cur.Element, err)
				}
				cur.Data = b
				env.Blobs = append(env.Blobs, *cur)
				cur = nil
			}
			text.Reset()
		}
	}
	if len(stack) != 0 {
		return Envelope{}, errors.New("replay: parse envelope: unexpected end of input")
	}
	if hasFault {
		fault.Reason = faultMessage
		if fault.Reason == "" {
			fault.Reason = reasonText
		}
		env.Fault = &fault
	}
	return env, nil
}

func attr(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}
