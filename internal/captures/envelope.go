package captures

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// PSRPResourcePrefix starts the resource URI of every PowerShell endpoint.
// WinRS (cmd) shells carry plain text in the same elements as PSRP blobs,
// so only envelopes addressed to such a resource hold PSRP fragments.
const PSRPResourcePrefix = "http://schemas.microsoft.com/powershell"

// Envelope is what tests need from one recorded SOAP envelope: where it is
// addressed and the base64 texts that may carry PSRP fragments.
type Envelope struct {
	// Action is the last path segment of the wsa:Action header ("Create",
	// "CreateResponse", "Receive", ...).
	Action string
	// ResourceURI is the wsman:ResourceURI header.
	ResourceURI string
	// ShellID comes from the ShellId selector, rsp:Shell/@ShellId or
	// rsp:ShellId, upper-cased.
	ShellID string
	// CommandID comes from rsp:CommandLine/@CommandId or rsp:CommandId,
	// upper-cased.
	CommandID string
	// Blobs are the non-empty blob-carrying elements, in document order.
	Blobs []Blob
}

// IsPSRP reports whether the envelope is addressed to a PowerShell
// endpoint, so that its blobs are PSRP fragments. Only requests carry a
// ResourceURI: ask the request of an exchange, then read both envelopes.
func (e Envelope) IsPSRP() bool {
	return strings.HasPrefix(e.ResourceURI, PSRPResourcePrefix)
}

// Blob is the text of one element that carries base64 PSRP fragments:
// creationXml, connectXml, connectResponseXml, rsp:Arguments or rsp:Stream.
type Blob struct {
	// Element is the carrying element's local name ("creationXml",
	// "connectXml", "connectResponseXml", "Arguments" or "Stream").
	Element string
	// Stream is the element's Name attribute (rsp:Stream: "stdin", "pr",
	// "stdout").
	Stream string
	// CommandID is the element's CommandId attribute, upper-cased: the
	// pipeline a stream belongs to.
	CommandID string
	// Base64 is the element's trimmed text, not decoded: a WinRS envelope
	// uses the same elements for plain text.
	Base64 string
}

// Decode returns the blob's bytes, ignoring white space inside the text.
func (b Blob) Decode() ([]byte, error) {
	s := b.Base64
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Join(strings.Fields(s), "")
	}
	d, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("captures: %s blob: %w", b.Element, err)
	}
	return d, nil
}

// isBlobElement reports whether an element of that local name carries
// base64 PSRP fragments.
func isBlobElement(local string) bool {
	switch local {
	case "creationXml", "connectXml", "connectResponseXml", "Arguments", "Stream":
		return true
	}
	return false
}

// maxEnvelopeDepth bounds element nesting; recorded envelopes are a few
// levels deep.
const maxEnvelopeDepth = 256

// ParseEnvelope extracts the resource, IDs and blob texts of a SOAP
// envelope. An empty or blank string (an exchange without a response)
// gives an empty Envelope; text that is not well-formed XML gives an error.
func ParseEnvelope(soap string) (Envelope, error) {
	var env Envelope
	if strings.TrimSpace(soap) == "" {
		return env, nil
	}
	dec := xml.NewDecoder(strings.NewReader(soap))
	var text strings.Builder
	var cur *Blob
	selector := ""
	depth := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Envelope{}, fmt.Errorf("captures: envelope: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxEnvelopeDepth {
				return Envelope{}, fmt.Errorf("captures: envelope: nested deeper than %d elements", maxEnvelopeDepth)
			}
			text.Reset()
			switch t.Name.Local {
			case "Selector":
				selector = attr(t, "Name")
			case "Shell":
				if id := attr(t, "ShellId"); id != "" {
					env.ShellID = strings.ToUpper(id)
				}
			case "CommandLine":
				if id := attr(t, "CommandId"); id != "" {
					env.CommandID = strings.ToUpper(id)
				}
			}
			if isBlobElement(t.Name.Local) {
				cur = &Blob{Element: t.Name.Local, Stream: attr(t, "Name"), CommandID: strings.ToUpper(attr(t, "CommandId"))}
			}
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			depth--
			local := t.Name.Local
			val := strings.TrimSpace(text.String())
			switch {
			case local == "ResourceURI":
				env.ResourceURI = val
			case local == "Action" && t.Name.Space == nsAddressing:
				env.Action = val[strings.LastIndexByte(val, '/')+1:]
			case local == "Selector" && selector == "ShellId":
				env.ShellID = strings.ToUpper(val)
			case local == "ShellId" && env.ShellID == "":
				env.ShellID = strings.ToUpper(val)
			case local == "CommandId" && env.CommandID == "":
				env.CommandID = strings.ToUpper(val)
			case cur != nil && local == cur.Element:
				if val != "" {
					cur.Base64 = val
					env.Blobs = append(env.Blobs, *cur)
				}
				cur = nil
			}
			text.Reset()
		}
	}
	return env, nil
}

// ShellOf returns the ShellId an exchange is about, as the server knows
// it. A shell's identity comes from the server: older WinRM (protocol 2.1)
// ignores the ShellId a client proposes in Create and answers with its own
// in the CreateResponse's SelectorSet, which every later request then
// names. So for a Create the server's answer wins over the request's
// attribute; for any other request the request's selector is the shell.
func ShellOf(req, resp Envelope) string {
	if req.Action == "Create" && resp.ShellID != "" {
		return resp.ShellID
	}
	if req.ShellID != "" {
		return req.ShellID
	}
	return resp.ShellID
}

// nsAddressing is the WS-Addressing namespace of wsa:Action.
const nsAddressing = "http://schemas.xmlsoap.org/ws/2004/08/addressing"

// attr returns the value of the attribute of that local name, or "".
func attr(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}
