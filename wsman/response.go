package wsman

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// envelopeXML is a decoded response envelope. Bodies of every operation are
// optional pointers: only the one present is filled. Element names are matched
// with their namespaces where a wrong namespace would mean a wrong element.
type envelopeXML struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  struct {
		Action    string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
		MessageID string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
		RelatesTo string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing RelatesTo"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body *bodyXML `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

type bodyXML struct {
	Fault           *soapFault `xml:"http://www.w3.org/2003/05/soap-envelope Fault"`
	ResourceCreated *struct {
		Selectors []selectorXML `xml:"ReferenceParameters>SelectorSet>Selector"`
	} `xml:"http://schemas.xmlsoap.org/ws/2004/09/transfer ResourceCreated"`
	Shell           *shellXML `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
	CommandResponse *struct {
		CommandID string `xml:"CommandId"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandResponse"`
	ReceiveResponse   *receiveResponseXML `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell ReceiveResponse"`
	ConnectResponse   *connectResponseXML `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell ConnectResponse"`
	EnumerateResponse *enumResponseXML    `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration EnumerateResponse"`
	PullResponse      *enumResponseXML    `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration PullResponse"`
	Config            *struct {
		MaxEnvelopeSizekb string `xml:"MaxEnvelopeSizekb"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/config Config"`
}

type selectorXML struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}

// shellXML is rsp:Shell as the server reports it (Create, Get, Enumerate).
type shellXML struct {
	ShellID         string `xml:"ShellId"`
	Name            string `xml:"Name"`
	ResourceURI     string `xml:"ResourceUri"`
	Owner           string `xml:"Owner"`
	ClientIP        string `xml:"ClientIP"`
	ProcessID       string `xml:"ProcessId"`
	IdleTimeout     string `xml:"IdleTimeOut"`
	InputStreams    string `xml:"InputStreams"`
	OutputStreams   string `xml:"OutputStreams"`
	MaxIdleTimeout  string `xml:"MaxIdleTimeOut"`
	Locale          string `xml:"Locale"`
	DataLocale      string `xml:"DataLocale"`
	CompressionMode string `xml:"CompressionMode"`
	ProfileLoaded   string `xml:"ProfileLoaded"`
	Encoding        string `xml:"Encoding"`
	BufferMode      string `xml:"BufferMode"`
	State           string `xml:"State"`
	ShellRunTime    string `xml:"ShellRunTime"`
	ShellInactivity string `xml:"ShellInactivity"`
	MemoryUsed      string `xml:"MemoryUsed"`
	ChildProcesses  string `xml:"ChildProcesses"`
}

type receiveResponseXML struct {
	Streams []struct {
		Name      string `xml:"Name,attr"`
		CommandID string `xml:"CommandId,attr"`
		End       string `xml:"End,attr"`
		Data      string `xml:",chardata"`
	} `xml:"Stream"`
	CommandState *struct {
		CommandID string `xml:"CommandId,attr"`
		State     string `xml:"State,attr"`
		ExitCode  string `xml:"ExitCode"`
	} `xml:"CommandState"`
}

type connectResponseXML struct {
	InputStreams  string `xml:"InputStreams"`
	OutputStreams string `xml:"OutputStreams"`
	Data          string `xml:"http://schemas.microsoft.com/powershell connectResponseXml"`
}

type enumResponseXML struct {
	Context       string    `xml:"EnumerationContext"`
	Items         *itemsXML `xml:"Items"`
	EndOfSequence *struct{} `xml:"EndOfSequence"`
}

type itemsXML struct {
	Shells   []shellXML `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
	Commands []struct {
		CommandID string `xml:"CommandId"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Command"`
}

// parseEnvelope decodes a response body. It never panics; bad input yields a
// *ProtocolError matching ErrMalformedResponse.
func parseEnvelope(op string, data []byte) (*envelopeXML, error) {
	var env envelopeXML
	dec := xml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&env); err != nil {
		return nil, &ProtocolError{Op: op, Kind: ErrMalformedResponse, Msg: "response is not a SOAP envelope", Err: err}
	}
	if env.Body == nil {
		return nil, &ProtocolError{Op: op, Kind: ErrMalformedResponse, Msg: "response has no s:Body"}
	}
	return &env, nil
}

// ParseReceiveResponse decodes the body of a ReceiveResponse envelope. A fault
// envelope yields a *Fault (HTTPStatus 0). It is exported for replay tools and
// fuzzing; Client.Receive uses it.
func ParseReceiveResponse(data []byte) (*ReceiveResult, error) {
	env, err := parseEnvelope("Receive", data)
	if err != nil {
		return nil, err
	}
	if env.Body.Fault != nil {
		return nil, env.Body.Fault.toFault(0, env.Header.Action)
	}
	return receiveResult(env)
}

// receiveResult converts a decoded ReceiveResponse.
func receiveResult(env *envelopeXML) (*ReceiveResult, error) {
	rr := env.Body.ReceiveResponse
	if rr == nil {
		return nil, &ProtocolError{Op: "Receive", Kind: ErrUnexpectedResponse, Msg: "no rsp:ReceiveResponse in body"}
	}
	res := &ReceiveResult{Streams: make([]StreamData, 0, len(rr.Streams))}
	for i, s := range rr.Streams {
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s.Data))
		if err != nil {
			return nil, &ProtocolError{Op: "Receive", Kind: ErrMalformedResponse, Msg: fmt.Sprintf("stream %d (%q) is not base64", i, s.Name), Err: err}
		}
		res.Streams = append(res.Streams, StreamData{Name: s.Name, CommandID: s.CommandID, Data: data, End: parseBool(s.End)})
	}
	if cs := rr.CommandState; cs != nil {
		st := &CommandState{CommandID: cs.CommandID, State: cs.State}
		if t := strings.TrimSpace(cs.ExitCode); t != "" {
			code, err := strconv.ParseInt(t, 10, 64)
			if err != nil {
				return nil, &ProtocolError{Op: "Receive", Kind: ErrMalformedResponse, Msg: "invalid rsp:ExitCode", Err: err}
			}
			st.ExitCode = &code
		}
		res.CommandState = st
	}
	return res, nil
}

func parseBool(s string) bool {
	s = strings.TrimSpace(s)
	return strings.EqualFold(s, "true") || s == "1"
}

// toInfo converts a reported rsp:Shell. Unparseable informational fields are
// left zero rather than failing the whole call.
func (s *shellXML) toInfo() ShellInfo {
	info := ShellInfo{
		ID:              strings.TrimSpace(s.ShellID),
		Name:            s.Name,
		ResourceURI:     strings.TrimSpace(s.ResourceURI),
		Owner:           s.Owner,
		ClientIP:        s.ClientIP,
		InputStreams:    s.InputStreams,
		OutputStreams:   s.OutputStreams,
		Locale:          s.Locale,
		DataLocale:      s.DataLocale,
		CompressionMode: s.CompressionMode,
		ProfileLoaded:   strings.EqualFold(strings.TrimSpace(s.ProfileLoaded), "Yes"),
		Encoding:        s.Encoding,
		BufferMode:      s.BufferMode,
		State:           strings.TrimSpace(s.State),
		MemoryUsed:      s.MemoryUsed,
	}
	info.ProcessID, _ = strconv.Atoi(strings.TrimSpace(s.ProcessID))
	info.ChildProcesses, _ = strconv.Atoi(strings.TrimSpace(s.ChildProcesses))
	info.IdleTimeout, _ = ParseDuration(strings.TrimSpace(s.IdleTimeout))
	info.MaxIdleTimeout, _ = ParseDuration(strings.TrimSpace(s.MaxIdleTimeout))
	info.ShellRunTime, _ = ParseDuration(strings.TrimSpace(s.ShellRunTime))
	info.ShellInactivity, _ = ParseDuration(strings.TrimSpace(s.ShellInactivity))
	return info
}
