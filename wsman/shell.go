package wsman

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/internal/xsduration"
)

// ShellRef names an existing shell: its ShellId and the resource URI it was
// created on (empty means ResourcePowerShell).
type ShellRef struct {
	ID          string
	ResourceURI string
}

func (r ShellRef) resource() string { return orDefault(r.ResourceURI, ResourcePowerShell) }

func (r ShellRef) selectors() []selector { return []selector{{"ShellId", r.ID}} }

func (r ShellRef) check(op string) error {
	if r.ID == "" {
		return fmt.Errorf("wsman: %s: empty ShellId", op)
	}
	return nil
}

// ShellInfo is a shell as the server reports it (Create, Get, Enumerate).
type ShellInfo struct {
	ID              string
	Name            string
	ResourceURI     string
	Owner           string
	ClientIP        string
	ProcessID       int
	IdleTimeout     time.Duration
	MaxIdleTimeout  time.Duration
	InputStreams    string
	OutputStreams   string
	Locale          string
	DataLocale      string
	CompressionMode string
	ProfileLoaded   bool
	Encoding        string
	BufferMode      string
	// State is "Connected" or "Disconnected".
	State           string
	ShellRunTime    time.Duration
	ShellInactivity time.Duration
	MemoryUsed      string
	ChildProcesses  int
}

// Ref returns the reference used by the other operations.
func (s *ShellInfo) Ref() ShellRef { return ShellRef{ID: s.ID, ResourceURI: s.ResourceURI} }

// Shell is a created shell; use its ID (the server's ShellId) afterwards.
type Shell struct {
	ShellInfo
}

// EnvVar is one rsp:Environment variable of a cmd shell.
type EnvVar struct{ Name, Value string }

// ShellOptions configure Create. The zero value opens a PowerShell runspace
// pool shell on Microsoft.PowerShell (CreationXML must then be set).
type ShellOptions struct {
	// ResourceURI defaults to ResourcePowerShell.
	ResourceURI string
	// ShellID is the client-chosen ShellId attribute; for PSRP it is the
	// RunspacePool ID as an uppercase GUID. Empty omits it.
	ShellID string
	// Name is the shell's name, which Enumerate shows. It is sent as the
	// Name attribute of rsp:Shell on PowerShell resources (as PowerShell's
	// own client does) and as the rsp:Name element on the others, as
	// MS-WSMV 2.2.4.37 defines it and Windows accepts it for cmd shells.
	Name string
	// InputStreams defaults to "stdin pr"; OutputStreams to "stdout".
	InputStreams, OutputStreams string
	// CreationXML is sent base64-encoded in <creationXml> (PSRP fragments,
	// SESSION_CAPABILITY first). Nil omits the element (cmd shells).
	CreationXML []byte
	// IdleTimeout is sent as rsp:IdleTimeOut; zero omits it.
	IdleTimeout time.Duration
	// Lifetime is sent as rsp:Lifetime (MS-WSMV 2.2.4.37), the time the
	// shell may exist in all; zero omits it.
	Lifetime time.Duration
	// WorkingDirectory and Environment are for cmd shells.
	WorkingDirectory string
	Environment      []EnvVar
	// NoProfile sends WINRS_NOPROFILE=TRUE.
	NoProfile bool
	// Codepage, if non-zero, sends WINRS_CODEPAGE.
	Codepage uint32
	// ProtocolVersion is sent as the MustComply "protocolversion" option on
	// PowerShell resources; empty means "2.3".
	ProtocolVersion string
	// Options are extra OptionSet entries, appended after the above.
	Options []Option
}

func isPowerShellResource(uri string) bool { return strings.HasPrefix(uri, ResourcePowerShellPrefix) }

// Create creates a shell (wst:Create). For PowerShell this opens the
// runspace pool: follow with Receive until the pool reports Opened.
func (c *Client) Create(ctx context.Context, o ShellOptions) (*Shell, error) {
	res := orDefault(o.ResourceURI, ResourcePowerShell)
	var opts []Option
	if isPowerShellResource(res) {
		opts = append(opts, Option{Name: "protocolversion", Value: orDefault(o.ProtocolVersion, "2.3"), MustComply: true})
	}
	if o.NoProfile {
		opts = append(opts, Option{Name: "WINRS_NOPROFILE", Value: "TRUE", MustComply: true})
	}
	if o.Codepage != 0 {
		opts = append(opts, Option{Name: "WINRS_CODEPAGE", Value: strconv.FormatUint(uint64(o.Codepage), 10)})
	}
	opts = append(opts, o.Options...)
	in := orDefault(o.InputStreams, "stdin pr")
	out := orDefault(o.OutputStreams, "stdout")
	r := &request{op: "Create", action: ActionCreate, resourceURI: res, options: opts,
		sizeHint: base64.StdEncoding.EncodedLen(len(o.CreationXML)) + 512, body: func(b *bytes.Buffer) {
			b.WriteString(`<rsp:Shell`)
			if o.ShellID != "" {
				b.WriteString(` ShellId="`)
				esc(b, o.ShellID)
				b.WriteString(`"`)
			}
			nameAttr := isPowerShellResource(res)
			if o.Name != "" && nameAttr {
				b.WriteString(` Name="`)
				esc(b, o.Name)
				b.WriteString(`"`)
			}
			b.WriteString(`>`)
			if o.Name != "" && !nameAttr {
				b.WriteString(`<rsp:Name>`)
				esc(b, o.Name)
				b.WriteString(`</rsp:Name>`)
			}
			b.WriteString(`<rsp:InputStreams>`)
			esc(b, in)
			b.WriteString(`</rsp:InputStreams><rsp:OutputStreams>`)
			esc(b, out)
			b.WriteString(`</rsp:OutputStreams>`)
			if o.Lifetime > 0 {
				b.WriteString(`<rsp:Lifetime>` + xsduration.Format(o.Lifetime) + `</rsp:Lifetime>`)
			}
			if o.IdleTimeout > 0 {
				b.WriteString(`<rsp:IdleTimeOut>` + xsduration.Format(o.IdleTimeout) + `</rsp:IdleTimeOut>`)
			}
			if o.WorkingDirectory != "" {
				b.WriteString(`<rsp:WorkingDirectory>`)
				esc(b, o.WorkingDirectory)
				b.WriteString(`</rsp:WorkingDirectory>`)
			}
			if len(o.Environment) > 0 {
				b.WriteString(`<rsp:Environment>`)
				for _, v := range o.Environment {
					b.WriteString(`<rsp:Variable Name="`)
					esc(b, v.Name)
					b.WriteString(`">`)
					esc(b, v.Value)
					b.WriteString(`</rsp:Variable>`)
				}
				b.WriteString(`</rsp:Environment>`)
			}
			if o.CreationXML != nil {
				b.WriteString(`<creationXml xmlns="` + NsPowerShell + `">`)
				writeB64(b, o.CreationXML)
				b.WriteString(`</creationXml>`)
			}
			b.WriteString(`</rsp:Shell>`)
		}}
	env, err := c.call(ctx, r)
	if err != nil {
		return nil, err
	}
	sh := &Shell{}
	if env.Body.Shell != nil {
		sh.ShellInfo = env.Body.Shell.toInfo()
	}
	if sh.ID == "" && env.Body.ResourceCreated != nil {
		sh.ID = env.Body.ResourceCreated.ShellID
	}
	if sh.ID == "" {
		return nil, &ProtocolError{Op: "Create", Kind: ErrUnexpectedResponse, Msg: "response carries no ShellId"}
	}
	if sh.ResourceURI == "" {
		sh.ResourceURI = res
	}
	return sh, nil
}

// Delete deletes the shell (wst:Delete). For PowerShell this closes the
// runspace pool.
func (c *Client) Delete(ctx context.Context, shell ShellRef) error {
	if err := shell.check("Delete"); err != nil {
		return err
	}
	_, err := c.call(ctx, &request{op: "Delete", action: ActionDelete, resourceURI: shell.resource(), selectors: shell.selectors()})
	return err
}

// Command starts a command (rsp:CommandLine). For PSRP, commandID is the
// pipeline ID (uppercase GUID; empty generates one) and args the first
// fragment(s) of CREATE_PIPELINE, sent base64 in rsp:Arguments with an empty
// rsp:Command as MS-PSRP 3.1.5.3.3 requires. It returns the server's
// CommandId.
func (c *Client) Command(ctx context.Context, shell ShellRef, commandID string, args []byte) (string, error) {
	if err := shell.check("Command"); err != nil {
		return "", err
	}
	if commandID == "" {
		commandID = newGUID()
	}
	r := &request{op: "Command", action: ActionCommand, resourceURI: shell.resource(), selectors: shell.selectors(),
		sizeHint: base64.StdEncoding.EncodedLen(len(args)) + 256,
		options:  []Option{{Name: "WINRS_SKIP_CMD_SHELL", Value: "False"}},
		body: func(b *bytes.Buffer) {
			b.WriteString(`<rsp:CommandLine CommandId="`)
			esc(b, commandID)
			b.WriteString(`"><rsp:Command /><rsp:Arguments>`)
			writeB64(b, args)
			b.WriteString(`</rsp:Arguments></rsp:CommandLine>`)
		}}
	env, err := c.call(ctx, r)
	if err != nil {
		return "", err
	}
	if cr := env.Body.CommandResponse; cr != nil && strings.TrimSpace(cr.CommandID) != "" {
		return strings.TrimSpace(cr.CommandID), nil
	}
	return "", &ProtocolError{Op: "Command", Kind: ErrUnexpectedResponse, Msg: "no rsp:CommandResponse/rsp:CommandId in body"}
}

// SendOptions are the optional settings of Send: its robust connection
// headers (MS-WSMV 3.1.4.1.39), as for a Receive.
type SendOptions struct {
	// OperationID, when not uuid.Nil, goes as the wsmv:OperationID header
	// ("uuid:" + the GUID), with wsmv:SequenceId 1, as
	// ReceiveOptions.OperationID does. A server with robust connection
	// support keeps its answer to the Send under that id, so that a Send
	// whose answer was lost can be sent again (Retransmit) and answered
	// from what the server kept, without taking the input a second time.
	// A server without that support ignores the header. Give every new
	// Send a fresh id (uuid.New).
	OperationID uuid.UUID
	// Retransmit sends this Send as a repeat of the earlier one with the
	// same OperationID whose answer never arrived: the header carries
	// s:mustUnderstand="true". Set it only once the server has shown
	// robust connection support (it echoed a Receive's OperationID): a
	// server that does not know the header must refuse a request that
	// requires it to be understood.
	Retransmit bool
}

// Send sends data on an input stream ("stdin", or "pr" for host responses)
// of the shell (commandID empty) or of a command. end marks the stream's end.
// opts, if given, are the robust connection headers (the last one counts).
func (c *Client) Send(ctx context.Context, shell ShellRef, commandID, stream string, data []byte, end bool, opts ...SendOptions) error {
	if err := shell.check("Send"); err != nil {
		return err
	}
	var o SendOptions
	if len(opts) > 0 {
		o = opts[len(opts)-1]
	}
	stream = orDefault(stream, "stdin")
	r := &request{op: "Send", action: ActionSend, resourceURI: shell.resource(), selectors: shell.selectors(),
		sizeHint:    base64.StdEncoding.EncodedLen(len(data)) + 256,
		operationID: o.OperationID, retransmit: o.Retransmit && o.OperationID != uuid.Nil,
		body: func(b *bytes.Buffer) {
			b.WriteString(`<rsp:Send><rsp:Stream Name="`)
			esc(b, stream)
			b.WriteString(`"`)
			if commandID != "" {
				b.WriteString(` CommandId="`)
				esc(b, commandID)
				b.WriteString(`"`)
			}
			if end {
				b.WriteString(` End="true"`)
			}
			b.WriteString(`>`)
			writeB64(b, data)
			b.WriteString(`</rsp:Stream></rsp:Send>`)
		}}
	_, err := c.call(ctx, r)
	return err
}

// ReceiveOptions configure Receive.
type ReceiveOptions struct {
	// KeepAlive sends WSMAN_CMDSHELL_OPTION_KEEPALIVE=True, as PowerShell
	// clients do, so the server keeps the shell alive while polling.
	KeepAlive bool
	// Streams is the DesiredStream list; empty means "stdout" (the only
	// output stream of PowerShell; cmd shells use "stdout stderr").
	Streams string
	// OperationTimeout overrides the client's for this call.
	OperationTimeout time.Duration
	// OperationID, when not uuid.Nil, asks for robust connection support
	// (MS-WSMV 3.1.4.1.39) for this Receive: it goes as the
	// wsmv:OperationID header ("uuid:" + the GUID), with wsmv:SequenceId 1.
	// A server that supports it echoes the id in its answer
	// (ReceiveResult.OperationID) and keeps that answer, so that a
	// Receive whose answer was lost can be sent again (Retransmit) and
	// answered with the same data; the next Receive of the same shell or
	// command, with a fresh id, acknowledges it. A server that does not
	// support it ignores the header. Give every new Receive a fresh id
	// (uuid.New).
	OperationID uuid.UUID
	// Retransmit sends this Receive as a repeat of the earlier one with
	// the same OperationID whose answer never arrived: the header carries
	// s:mustUnderstand="true". Set it only once the server has echoed an
	// OperationID: a server that does not know the header must refuse a
	// request that requires it to be understood.
	Retransmit bool
}

// StreamData is one rsp:Stream element of a ReceiveResponse. Several elements
// for the same stream appear separately, in order.
type StreamData struct {
	Name      string
	CommandID string
	Data      []byte // decoded base64; valid until ReceiveResult.Release
	End       bool
}

// CommandState is the rsp:CommandState of a ReceiveResponse.
type CommandState struct {
	CommandID string
	// State is one of the CommandState* constants.
	State    string
	ExitCode *int64
}

// Done reports whether the command has finished.
func (s *CommandState) Done() bool { return s != nil && s.State == CommandStateDone }

// ReceiveResult is the decoded ReceiveResponse.
//
// The Data of all Streams share one buffer, taken from a pool. The caller
// owns it until it calls Release, which hands it back for reuse: after
// Release no Data may be read or kept (copy what must outlive it). A caller
// that never calls Release keeps the Data for good.
type ReceiveResult struct {
	Streams      []StreamData
	CommandState *CommandState
	// OperationID is the wsmv:OperationID the server echoed, uuid.Nil when
	// it sent none. It equals ReceiveOptions.OperationID when the server
	// supports robust connections for the shell (and kept this answer for
	// a retransmission); uuid.Nil means it does not.
	OperationID uuid.UUID

	data *[]byte // the buffer holding every Data, for Release
}

// Receive polls output of the shell (commandID empty) or of a command. When
// no output arrives within the operation timeout the server answers with a
// fault for which errors.Is(err, ErrOperationTimeout) is true:
// that is not a failure, re-issue the Receive. Cancelling ctx aborts the
// in-flight HTTP request.
func (c *Client) Receive(ctx context.Context, shell ShellRef, commandID string, o ReceiveOptions) (*ReceiveResult, error) {
	if err := shell.check("Receive"); err != nil {
		return nil, err
	}
	var opts []Option
	if o.KeepAlive {
		opts = []Option{{Name: "WSMAN_CMDSHELL_OPTION_KEEPALIVE", Value: "True"}}
	}
	streams := orDefault(o.Streams, "stdout")
	r := &request{op: "Receive", action: ActionReceive, resourceURI: shell.resource(), selectors: shell.selectors(),
		options: opts, timeout: o.OperationTimeout, recycleBody: true,
		operationID: o.OperationID, retransmit: o.Retransmit && o.OperationID != uuid.Nil,
		body: func(b *bytes.Buffer) {
			b.WriteString(`<rsp:Receive><rsp:DesiredStream`)
			if commandID != "" {
				b.WriteString(` CommandId="`)
				esc(b, commandID)
				b.WriteString(`"`)
			}
			b.WriteString(`>`)
			esc(b, streams)
			b.WriteString(`</rsp:DesiredStream></rsp:Receive>`)
		}}
	env, err := c.call(ctx, r)
	if err != nil {
		return nil, err
	}
	res, err := receiveResult(env)
	if err != nil {
		return nil, err
	}
	res.OperationID = parseOperationID(env.Header.OperationID)
	return res, nil
}

// parseOperationID reads a wsmv:OperationID value: a GUID, "uuid:"-prefixed
// or not (MS-WSMV 2.2.4.45). What does not parse counts as no echo.
func parseOperationID(s string) uuid.UUID {
	if len(s) >= 5 && strings.EqualFold(s[:5], "uuid:") {
		s = s[5:]
	}
	if len(s) != 36 { // uuid.Parse also takes other forms; the header has one
		return uuid.Nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil
	}
	return id
}

// Signal sends a signal code to a command (or to the shell when commandID is
// empty). Use SignalPSCtrlC to stop a running pipeline and SignalTerminate to
// close a finished one.
func (c *Client) Signal(ctx context.Context, shell ShellRef, commandID, code string) error {
	if err := shell.check("Signal"); err != nil {
		return err
	}
	if code == "" {
		return fmt.Errorf("wsman: Signal: empty signal code")
	}
	r := &request{op: "Signal", action: ActionSignal, resourceURI: shell.resource(), selectors: shell.selectors(),
		body: func(b *bytes.Buffer) {
			b.WriteString(`<rsp:Signal`)
			if commandID != "" {
				b.WriteString(` CommandId="`)
				esc(b, commandID)
				b.WriteString(`"`)
			}
			b.WriteString(`><rsp:Code>`)
			esc(b, code)
			b.WriteString(`</rsp:Code></rsp:Signal>`)
		}}
	_, err := c.call(ctx, r)
	return err
}

// CommandLineOptions configure CommandLine.
type CommandLineOptions struct {
	// SkipCmdShell sends WINRS_SKIP_CMD_SHELL=True: run the executable
	// directly instead of through cmd.exe.
	SkipCmdShell bool
	// CommandID is an optional client-chosen CommandId.
	CommandID string
}

// CommandLine starts a process in a cmd shell (ResourceCmd): cmd is the
// executable and each of args one rsp:Arguments element. It returns the
// server's CommandId; read output with Receive and Streams "stdout stderr".
func (c *Client) CommandLine(ctx context.Context, shell ShellRef, cmd string, args []string, o CommandLineOptions) (string, error) {
	if err := shell.check("CommandLine"); err != nil {
		return "", err
	}
	if cmd == "" {
		return "", fmt.Errorf("wsman: CommandLine: empty command")
	}
	skip := "False"
	if o.SkipCmdShell {
		skip = "True"
	}
	r := &request{op: "CommandLine", action: ActionCommand, resourceURI: orDefault(shell.ResourceURI, ResourceCmd), selectors: shell.selectors(),
		options: []Option{{Name: "WINRS_SKIP_CMD_SHELL", Value: skip}},
		body: func(b *bytes.Buffer) {
			b.WriteString(`<rsp:CommandLine`)
			if o.CommandID != "" {
				b.WriteString(` CommandId="`)
				esc(b, o.CommandID)
				b.WriteString(`"`)
			}
			b.WriteString(`><rsp:Command>`)
			esc(b, cmd)
			b.WriteString(`</rsp:Command>`)
			for _, a := range args {
				b.WriteString(`<rsp:Arguments>`)
				esc(b, a)
				b.WriteString(`</rsp:Arguments>`)
			}
			b.WriteString(`</rsp:CommandLine>`)
		}}
	env, err := c.call(ctx, r)
	if err != nil {
		return "", err
	}
	if cr := env.Body.CommandResponse; cr != nil && strings.TrimSpace(cr.CommandID) != "" {
		return strings.TrimSpace(cr.CommandID), nil
	}
	return "", &ProtocolError{Op: "CommandLine", Kind: ErrUnexpectedResponse, Msg: "no rsp:CommandResponse/rsp:CommandId in body"}
}
