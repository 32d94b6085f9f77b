package wsman

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/gopsrp/gopsrp/internal/xsduration"
)

// Memory budget of a response. The body (at most
// Client.maxResponseSize bytes) is read once; parsing a body of n
// bytes then allocates at most 2n + 64 KiB more, whatever the body holds:
//
//   - the scanner (xmlScanner) allocates nothing per token: names, attribute
//     values and text are slices of the body, and its stacks are bounded
//     (nesting depth 64, 64 attributes per element, 2^20 tokens), so deep
//     nesting, many attributes and unknown elements cost nothing;
//   - only the fields the client uses are kept, each copied once; stream data
//     is base64-decoded from the body (3/4 of its text);
//   - fault text (reason, message, provider fault) is kept to maxFaultText
//     bytes, so an error never grows with the body;
//   - rsp:Stream elements that carry neither data nor End are dropped, and
//     repeated stream names and CommandIds share one string, so that tiny
//     elements cannot multiply into large records.
//
// TestResponseMemoryBudget measures this on hostile bodies.

// envelopeXML is a decoded response envelope: only the parts the client
// reads. Bodies of every operation are optional pointers: only those present
// are filled. Elements are matched by namespace and local name where a wrong
// namespace would mean a wrong element, otherwise by local name.
type envelopeXML struct {
	Header struct {
		Action    string
		MessageID string
		RelatesTo string
		// OperationID is wsmv:OperationID, echoed by a server with robust
		// connection support (MS-WSMV 3.1.4.1.39).
		OperationID string
	}
	Body *bodyXML
	// bodyStart and bodyEnd delimit the inner XML of s:Body in the input.
	bodyStart, bodyEnd int
}

type bodyXML struct {
	Fault           *soapFault
	ResourceCreated *struct {
		ShellID string // the last ShellId selector
	}
	Shell           *shellXML
	CommandResponse *struct {
		CommandID string
	}
	ReceiveResponse   *receiveResponseXML
	ConnectResponse   *connectResponseXML
	EnumerateResponse *enumResponseXML
	PullResponse      *enumResponseXML
	Config            *struct {
		MaxEnvelopeSizekb string
	}
}

// shellXML is rsp:Shell as the server reports it (Create, Get, Enumerate).
type shellXML struct {
	ShellID         string
	Name            string
	ResourceURI     string
	Owner           string
	ClientIP        string
	ProcessID       string
	IdleTimeout     string
	InputStreams    string
	OutputStreams   string
	MaxIdleTimeout  string
	Locale          string
	DataLocale      string
	CompressionMode string
	ProfileLoaded   string
	Encoding        string
	BufferMode      string
	State           string
	ShellRunTime    string
	ShellInactivity string
	MemoryUsed      string
	ChildProcesses  string
}

type receiveResponseXML struct {
	// Streams are decoded while parsing, into data; the first stream that
	// is not base64 is reported in badStream (and later ones are not kept).
	Streams      records[StreamData]
	data         *[]byte // the decoded bytes of every stream, from streamBuffers
	badStream    error
	CommandState *struct {
		CommandID string
		State     string
		ExitCode  string
	}
}

type connectResponseXML struct {
	InputStreams  string
	OutputStreams string
	Data          []byte // base64 text, may alias the body
}

type enumResponseXML struct {
	Context       string
	Items         *itemsXML
	EndOfSequence bool
}

type itemsXML struct {
	Shells   records[shellXML]
	Commands records[string] // CommandIds
}

// records collects the records of repeated elements in chunks, so that
// growing it never copies (append's growth would allocate several times the
// final size in total); all returns them in one exact slice.
type records[T any] struct {
	chunks [][]T
	n      int
}

// maxChunk bounds a chunk's length; chunks double from 4 up to it.
const maxChunk = 256

func (r *records[T]) add(v T) *T {
	if len(r.chunks) == 0 || len(r.chunks[len(r.chunks)-1]) == cap(r.chunks[len(r.chunks)-1]) {
		size := 4
		if k := len(r.chunks); k > 0 {
			size = min(2*cap(r.chunks[k-1]), maxChunk)
		}
		r.chunks = append(r.chunks, make([]T, 0, size))
	}
	last := &r.chunks[len(r.chunks)-1]
	*last = append(*last, v)
	r.n++
	return &(*last)[len(*last)-1]
}

func (r *records[T]) len() int { return r.n }

// all returns the records in order (nil when there are none).
func (r *records[T]) all() []T {
	if r.n == 0 {
		return nil
	}
	if len(r.chunks) == 1 {
		return r.chunks[0]
	}
	out := make([]T, 0, r.n)
	for _, c := range r.chunks {
		out = append(out, c...)
	}
	return out
}

// parseEnvelope parses a response body within the scanner's bounds. It never
// panics; bad input yields a *ProtocolError matching ErrMalformedResponse,
// and a body beyond the bounds one matching ErrResponseTooLarge.
func parseEnvelope(op string, data []byte) (*envelopeXML, error) {
	env, err := walkEnvelope(data)
	if err != nil {
		var se *scanError
		if errors.As(err, &se) && se.limit {
			return nil, &ProtocolError{Op: op, Kind: ErrResponseTooLarge, Msg: "response exceeds the parser's bounds", Err: err}
		}
		return nil, &ProtocolError{Op: op, Kind: ErrMalformedResponse, Msg: "response is not a SOAP envelope", Err: err}
	}
	if env.Body == nil {
		return nil, &ProtocolError{Op: op, Kind: ErrMalformedResponse, Msg: "response has no s:Body"}
	}
	return env, nil
}

// Bounds of kept values.
const (
	// maxFieldText bounds a header, shell or selector field.
	maxFieldText = 4 << 10
	// A record the parser keeps for an element (StreamData: 80 bytes,
	// shellXML: 336) must not cost more than the bytes of the body it comes
	// from, or tiny elements would multiply into large records. Windows'
	// smallest rsp:Stream is about 90 bytes (an End marker) and a shell item
	// about 900, so one record per 128 (stream) or 512 (shell) bytes of body
	// is never reached by a real response.
	streamRecordBytes = 128
	shellRecordBytes  = 512
)

// maxRecords is the number of records of recordBytes each that a body of n
// bytes may yield.
func maxRecords(n, recordBytes int) int { return n/recordBytes + 16 }

func walkEnvelope(data []byte) (*envelopeXML, error) {
	s := newXMLScanner(data)
	k, err := s.next()
	if err != nil {
		return nil, err
	}
	if k != tokStart || !s.is(NsSOAP, "Envelope") {
		return nil, fmt.Errorf("root element is <%s>, not a SOAP Envelope", truncateBytes(s.local, 64))
	}
	env := &envelopeXML{}
	err = s.children(func() error {
		switch {
		case s.is(NsSOAP, "Header"):
			return s.children(func() error {
				var dst *string
				switch {
				case s.is(NsAddressing, "Action"):
					dst = &env.Header.Action
				case s.is(NsAddressing, "MessageID"):
					dst = &env.Header.MessageID
				case s.is(NsAddressing, "RelatesTo"):
					dst = &env.Header.RelatesTo
				case s.is(NsWSMV, "OperationID"):
					dst = &env.Header.OperationID
				default:
					return s.skip()
				}
				return s.readText(dst, maxFieldText)
			})
		case s.is(NsSOAP, "Body"):
			if env.Body == nil {
				env.Body = &bodyXML{}
			}
			env.bodyStart = s.pos
			if err := s.children(func() error { return walkBody(s, env.Body) }); err != nil {
				return err
			}
			env.bodyEnd = s.tokStart
			if env.bodyEnd < env.bodyStart { // self-closing <s:Body/>
				env.bodyEnd = env.bodyStart
			}
			return nil
		}
		return s.skip()
	})
	if err != nil {
		return nil, err
	}
	return env, nil
}

// readText stores the element's text, trimmed and capped at max bytes, in dst.
func (s *xmlScanner) readText(dst *string, max int) error {
	t, _, err := s.textString(max)
	if err == nil {
		*dst = t
	}
	return err
}

func walkBody(s *xmlScanner, b *bodyXML) error {
	switch {
	case s.is(NsSOAP, "Fault"):
		if b.Fault == nil {
			b.Fault = &soapFault{}
		}
		return walkFault(s, b.Fault)
	case s.is(NsTransfer, "ResourceCreated"):
		if b.ResourceCreated == nil {
			b.ResourceCreated = &struct{ ShellID string }{}
		}
		rc := b.ResourceCreated
		return s.children(func() error {
			if string(s.local) != "ReferenceParameters" {
				return s.skip()
			}
			return s.children(func() error {
				if string(s.local) != "SelectorSet" {
					return s.skip()
				}
				return s.children(func() error {
					if string(s.local) != "Selector" || s.attrString("Name", maxFieldText) != "ShellId" {
						return s.skip()
					}
					return s.readText(&rc.ShellID, maxFieldText)
				})
			})
		})
	case s.is(NsShell, "Shell"):
		if b.Shell == nil {
			b.Shell = &shellXML{}
		}
		return walkShell(s, b.Shell)
	case s.is(NsShell, "CommandResponse"):
		if b.CommandResponse == nil {
			b.CommandResponse = &struct{ CommandID string }{}
		}
		cr := b.CommandResponse
		return s.children(func() error {
			if string(s.local) != "CommandId" {
				return s.skip()
			}
			return s.readText(&cr.CommandID, maxFieldText)
		})
	case s.is(NsShell, "ReceiveResponse"):
		if b.ReceiveResponse == nil {
			b.ReceiveResponse = &receiveResponseXML{}
		}
		return walkReceive(s, b.ReceiveResponse)
	case s.is(NsShell, "ConnectResponse"):
		if b.ConnectResponse == nil {
			b.ConnectResponse = &connectResponseXML{}
		}
		cr := b.ConnectResponse
		return s.children(func() error {
			switch {
			case string(s.local) == "InputStreams":
				return s.readText(&cr.InputStreams, maxFieldText)
			case string(s.local) == "OutputStreams":
				return s.readText(&cr.OutputStreams, maxFieldText)
			case s.is(NsPowerShell, "connectResponseXml"):
				d, _, err := s.textBytes(-1)
				cr.Data = d
				return err
			}
			return s.skip()
		})
	case s.is(NsEnumeration, "EnumerateResponse"):
		if b.EnumerateResponse == nil {
			b.EnumerateResponse = &enumResponseXML{}
		}
		return walkEnum(s, b.EnumerateResponse)
	case s.is(NsEnumeration, "PullResponse"):
		if b.PullResponse == nil {
			b.PullResponse = &enumResponseXML{}
		}
		return walkEnum(s, b.PullResponse)
	case s.is(NsConfig, "Config"):
		if b.Config == nil {
			b.Config = &struct{ MaxEnvelopeSizekb string }{}
		}
		cfg := b.Config
		return s.children(func() error {
			if string(s.local) != "MaxEnvelopeSizekb" {
				return s.skip()
			}
			return s.readText(&cfg.MaxEnvelopeSizekb, maxFieldText)
		})
	}
	return s.skip()
}

func walkShell(s *xmlScanner, sh *shellXML) error {
	return s.children(func() error {
		var dst *string
		switch string(s.local) {
		case "ShellId":
			dst = &sh.ShellID
		case "Name":
			dst = &sh.Name
		case "ResourceUri":
			dst = &sh.ResourceURI
		case "Owner":
			dst = &sh.Owner
		case "ClientIP":
			dst = &sh.ClientIP
		case "ProcessId":
			dst = &sh.ProcessID
		case "IdleTimeOut":
			dst = &sh.IdleTimeout
		case "InputStreams":
			dst = &sh.InputStreams
		case "OutputStreams":
			dst = &sh.OutputStreams
		case "MaxIdleTimeOut":
			dst = &sh.MaxIdleTimeout
		case "Locale":
			dst = &sh.Locale
		case "DataLocale":
			dst = &sh.DataLocale
		case "CompressionMode":
			dst = &sh.CompressionMode
		case "ProfileLoaded":
			dst = &sh.ProfileLoaded
		case "Encoding":
			dst = &sh.Encoding
		case "BufferMode":
			dst = &sh.BufferMode
		case "State":
			dst = &sh.State
		case "ShellRunTime":
			dst = &sh.ShellRunTime
		case "ShellInactivity":
			dst = &sh.ShellInactivity
		case "MemoryUsed":
			dst = &sh.MemoryUsed
		case "ChildProcesses":
			dst = &sh.ChildProcesses
		default:
			return s.skip()
		}
		return s.readText(dst, maxFieldText)
	})
}

// intern returns prev when b spells it, else a new string: the streams of
// one response repeat the same few names and CommandIds.
func intern(prev string, b []byte) string {
	if string(b) == prev {
		return prev
	}
	return string(b)
}

func walkReceive(s *xmlScanner, rr *receiveResponseXML) error {
	var name, cmdID string
	return s.children(func() error {
		switch string(s.local) {
		case "Stream":
			n, _ := s.attr("Name")
			c, _ := s.attr("CommandId")
			e, _ := s.attr("End")
			end := parseBool(string(truncateBytes(e, 8)))
			name, cmdID = intern(name, truncateBytes(n, maxFieldText)), intern(cmdID, truncateBytes(c, maxFieldText))
			// Base64 needs no entity decoding nor character checks (the
			// decoder refuses what is not base64): read it as it is.
			raw, ok, err := s.rawText()
			if err == nil && !ok {
				raw, _, err = s.textBytes(-1)
			}
			if err != nil {
				return err
			}
			raw = bytes.TrimSpace(raw)
			if len(raw) == 0 && !end {
				return nil // carries nothing
			}
			if rr.badStream != nil {
				return nil
			}
			if rr.Streams.len() >= maxRecords(len(s.data), streamRecordBytes) {
				return s.failLimit("more rsp:Stream elements than a %d-byte response can hold", len(s.data))
			}
			data, err := rr.decode(raw, len(s.data)-s.pos)
			if err != nil {
				rr.badStream = &ProtocolError{Op: "Receive", Kind: ErrMalformedResponse, Msg: fmt.Sprintf("stream %d (%q) is not base64", rr.Streams.len(), boundText([]byte(name), len(name), maxFaultField)), Err: err}
				return nil
			}
			rr.Streams.add(StreamData{Name: name, CommandID: cmdID, Data: data, End: end})
			return nil
		case "CommandState":
			if rr.CommandState == nil {
				rr.CommandState = &struct{ CommandID, State, ExitCode string }{}
			}
			cs := rr.CommandState
			if v, ok := s.attr("CommandId"); ok {
				cs.CommandID = string(truncateBytes(v, maxFieldText))
			}
			if v, ok := s.attr("State"); ok {
				cs.State = string(truncateBytes(v, maxFieldText))
			}
			return s.children(func() error {
				if string(s.local) != "ExitCode" {
					return s.skip()
				}
				return s.readText(&cs.ExitCode, maxFieldText)
			})
		}
		return s.skip()
	})
}

// decode base64-decodes the text of a stream into rr.data, taken from
// streamBuffers at the first stream with room for every stream of the
// response: rest is the length of the body after this stream's text, which
// holds the text of all later streams. The result's capacity is cut, so that
// no append can write into the next stream's bytes.
func (rr *receiveResponseXML) decode(raw []byte, rest int) ([]byte, error) {
	need := base64.StdEncoding.DecodedLen(len(raw))
	if rr.data == nil {
		rr.data = getStreamBuffer(need + base64.StdEncoding.DecodedLen(rest))
	}
	buf := *rr.data
	if cap(buf)-len(buf) < need { // cannot happen: sized for the whole body
		return nil, errors.New("stream buffer exhausted")
	}
	out := buf[len(buf) : len(buf)+need]
	m, err := base64.StdEncoding.Decode(out, raw)
	if err != nil {
		return nil, err
	}
	*rr.data = buf[:len(buf)+m]
	return out[:m:m], nil
}

func walkEnum(s *xmlScanner, r *enumResponseXML) error {
	return s.children(func() error {
		switch string(s.local) {
		case "EnumerationContext":
			return s.readText(&r.Context, maxFieldText)
		case "EndOfSequence":
			r.EndOfSequence = true
			return s.skip()
		case "Items":
			if r.Items == nil {
				r.Items = &itemsXML{}
			}
			items := r.Items
			return s.children(func() error {
				switch {
				case s.is(NsShell, "Shell"):
					if items.Shells.len() >= maxRecords(len(s.data), shellRecordBytes) {
						return s.failLimit("more rsp:Shell items than a %d-byte response can hold", len(s.data))
					}
					return walkShell(s, items.Shells.add(shellXML{}))
				case s.is(NsShell, "Command"):
					var id string
					err := s.children(func() error {
						if string(s.local) != "CommandId" {
							return s.skip()
						}
						return s.readText(&id, maxFieldText)
					})
					if id != "" {
						items.Commands.add(id)
					}
					return err
				}
				return s.skip()
			})
		}
		return s.skip()
	})
}

// ParseFault decodes a SOAP fault envelope, such as the body of an HTTP 500
// answer, for transports that post WS-Man messages themselves (package
// winrmtransport): the *Fault it carries (HTTPStatus 0, for the caller to
// set), or nil when data is not a fault envelope.
func ParseFault(data []byte) *Fault {
	env, err := parseEnvelope("", data)
	if err != nil || env.Body.Fault == nil {
		return nil
	}
	return env.Body.Fault.toFault(0, env.Header.Action)
}

// parseReceiveResponse decodes the body of a ReceiveResponse envelope. A
// fault envelope yields a *Fault (HTTPStatus 0).
func parseReceiveResponse(data []byte) (*ReceiveResult, error) {
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
	if rr.badStream != nil {
		putStreamBuffer(rr.data)
		return nil, rr.badStream
	}
	var st *CommandState
	if cs := rr.CommandState; cs != nil {
		st = &CommandState{CommandID: cs.CommandID, State: cs.State}
		if t := strings.TrimSpace(cs.ExitCode); t != "" {
			code, err := strconv.ParseInt(t, 10, 64)
			if err != nil {
				putStreamBuffer(rr.data)
				return nil, &ProtocolError{Op: "Receive", Kind: ErrMalformedResponse, Msg: "invalid rsp:ExitCode", Err: err}
			}
			st.ExitCode = &code
		}
	}
	res := &ReceiveResult{Streams: rr.Streams.all(), CommandState: st, data: rr.data}
	if res.Streams == nil {
		res.Streams = []StreamData{}
	}
	return res, nil
}

// Release hands the buffer holding the Data of r.Streams back for reuse by
// later Receives, and empties r.Streams. After Release the caller must not
// read or keep any Data of r (nor a slice of one): a later Receive
// overwrites it. Release is optional (without it the buffer is collected
// as usual) and safe to call more than once.
func (r *ReceiveResult) Release() {
	if r == nil {
		return
	}
	putStreamBuffer(r.data)
	r.data = nil
	r.Streams = nil
}

// streamBuffers recycles the buffers Receive decodes stream data into (see
// ReceiveResult.Release): a stream of output is one response after
// another, each decoding to about 3/4 of its body.
var streamBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxRecycledStreamBuffer bounds the buffers kept in streamBuffers, as
// maxRecycledBody does the bodies.
const maxRecycledStreamBuffer = 4 << 20

// poisonReleased makes Release overwrite a buffer before recycling it, so
// that a consumer still reading its Data after Release reads garbage and
// fails its test rather than by chance reading the right bytes. Set in race
// builds (poison_race.go) and by tests.
var poisonReleased = false

// poisonByte fills released buffers: not a base64 or fragment-header
// pattern any test expects.
const poisonByte = 0xDB

// getStreamBuffer returns an empty buffer with room for n bytes.
func getStreamBuffer(n int) *[]byte {
	b := streamBuffers.Get().(*[]byte)
	if cap(*b) < n {
		*b = make([]byte, 0, n)
	}
	*b = (*b)[:0]
	return b
}

func putStreamBuffer(b *[]byte) {
	if b == nil || cap(*b) > maxRecycledStreamBuffer {
		return
	}
	if poisonReleased {
		full := (*b)[:cap(*b)]
		for i := range full {
			full[i] = poisonByte
		}
	}
	*b = (*b)[:0]
	streamBuffers.Put(b)
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
	info.IdleTimeout, _ = xsduration.Parse(strings.TrimSpace(s.IdleTimeout))
	info.MaxIdleTimeout, _ = xsduration.Parse(strings.TrimSpace(s.MaxIdleTimeout))
	info.ShellRunTime, _ = xsduration.Parse(strings.TrimSpace(s.ShellRunTime))
	info.ShellInactivity, _ = xsduration.Parse(strings.TrimSpace(s.ShellInactivity))
	return info
}
