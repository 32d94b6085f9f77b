package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// Host is the client side of PowerShell's host interface (PSHost,
// PSHostUserInterface, PSHostRawUserInterface): what a remote script
// reaches when it calls Write-Host, Read-Host, Get-Credential,
// $Host.UI.PromptForChoice, or asks the console for its window size.
//
// Every Host receives the UI writes. The other calls each have an
// interface of their own (LineReader, SecureLineReader, Prompter,
// CredentialPrompter, ChoicePrompter, ProgressWriter, RawUIReader,
// KeyReader), which a Host implements for the calls it answers, as an
// http.ResponseWriter may be an http.Flusher: a call whose interface the
// Host lacks is answered as DefaultHost answers it. So a Host written today
// keeps compiling, and keeps its behaviour, when this package learns to
// answer more host calls.
//
// Host calls are serviced by the receive loop of the pipeline (or of the
// runspace pool) that received them: while a Host method runs, no further
// output of that pipeline is read, exactly as the remote pipeline itself is
// blocked waiting for the answer. A method must therefore return when ctx
// is cancelled (the pipeline was stopped or the session closed);
// CallingPipeline(ctx) tells which pipeline asked. Methods may be called
// from several goroutines at once when several pipelines run.
//
// A method that returns an error makes the remote call throw: the server
// sees a HostException carrying the error's text.
type Host interface {
	// Write receives the host UI writes (Write-Host, $Host.UI.WriteLine,
	// WriteErrorLine, WriteWarningLine …). Its error is not reported to the
	// server (these are void methods).
	Write(ctx context.Context, w HostWrite) error
}

// LineReader is a Host that answers Read-Host.
type LineReader interface {
	ReadLine(ctx context.Context) (string, error)
}

// SecureLineReader is a Host that answers Read-Host -AsSecureString; the
// returned SecureString is encrypted with the session key on the way.
type SecureLineReader interface {
	ReadLineAsSecureString(ctx context.Context) (clixml.SecureString, error)
}

// Prompter is a Host that answers $Host.UI.Prompt: one value per field, by
// field name.
type Prompter interface {
	Prompt(ctx context.Context, caption, message string, fields []FieldDescription) (map[string]any, error)
}

// CredentialPrompter is a Host that answers Get-Credential.
type CredentialPrompter interface {
	PromptForCredential(ctx context.Context, caption, message, userName, targetName string) (clixml.PSCredential, error)
}

// ChoicePrompter is a Host that answers $Host.UI.PromptForChoice with the
// index of the chosen item.
type ChoicePrompter interface {
	PromptForChoice(ctx context.Context, caption, message string, choices []ChoiceDescription, defaultChoice int) (int, error)
}

// ProgressWriter is a Host that receives $Host.UI.WriteProgress calls.
type ProgressWriter interface {
	WriteProgress(ctx context.Context, sourceID int64, rec clixml.ProgressRecord) error
}

// RawUIReader is a Host that answers the console queries ($Host.UI.RawUI:
// window size, colours, cursor, title).
type RawUIReader interface {
	RawUI(ctx context.Context) (RawUIState, error)
}

// KeyReader is a Host that answers $Host.UI.RawUI.ReadKey: one key press,
// read as the options ask (a script that passes none asks for
// IncludeKeyDown).
type KeyReader interface {
	ReadKey(ctx context.Context, options ReadKeyOptions) (KeyInfo, error)
}

// hostCallKey is the context key of the pipeline a host call came from.
type hostCallKey struct{}

// CallingPipeline returns the pipeline whose script made the host call
// being serviced with ctx (the context a Host method receives). ok is false
// for a call of the runspace pool itself, and for any other context.
func CallingPipeline(ctx context.Context) (p *Pipeline, ok bool) {
	p, ok = ctx.Value(hostCallKey{}).(*Pipeline)
	return p, ok && p != nil
}

// ReadKeyOptions are the System.Management.Automation.Host.ReadKeyOptions
// flags a ReadKey call carries.
type ReadKeyOptions int32

// ReadKey option flags.
const (
	// ReadKeyAllowCtrlC passes Ctrl+C through as a key instead of
	// interrupting.
	ReadKeyAllowCtrlC ReadKeyOptions = 1
	// ReadKeyNoEcho asks that the key not be shown.
	ReadKeyNoEcho ReadKeyOptions = 2
	// ReadKeyIncludeKeyDown accepts key-down events.
	ReadKeyIncludeKeyDown ReadKeyOptions = 4
	// ReadKeyIncludeKeyUp accepts key-up events.
	ReadKeyIncludeKeyUp ReadKeyOptions = 8
)

// ControlKeyStates are the System.Management.Automation.Host.ControlKeyStates
// flags of a KeyInfo: which modifier keys were down and which lock keys on.
type ControlKeyStates int32

// Control key state flags.
const (
	RightAltPressed  ControlKeyStates = 0x0001
	LeftAltPressed   ControlKeyStates = 0x0002
	RightCtrlPressed ControlKeyStates = 0x0004
	LeftCtrlPressed  ControlKeyStates = 0x0008
	ShiftPressed     ControlKeyStates = 0x0010
	NumLockOn        ControlKeyStates = 0x0020
	ScrollLockOn     ControlKeyStates = 0x0040
	CapsLockOn       ControlKeyStates = 0x0080
	EnhancedKey      ControlKeyStates = 0x0100
)

// KeyInfo is one key event (System.Management.Automation.Host.KeyInfo), the
// answer to ReadKey.
type KeyInfo struct {
	// VirtualKeyCode is the Windows virtual-key code (65 is the A key).
	VirtualKeyCode int32
	// Character is the character the key typed, or 0. .NET carries it as a
	// single UTF-16 code unit, so it must be in the Basic Multilingual Plane
	// and not a surrogate.
	Character rune
	// ControlKeyState says which modifier keys were down.
	ControlKeyState ControlKeyStates
	// KeyDown is true for a key press, false for a release.
	KeyDown bool
}

// clixmlValue encodes k as PowerShell's remote host encoder writes a
// KeyInfo (a struct: an object whose members are the camel-case .NET field
// names, no type names), as in the recorded Windows exchange
// test_psrp_pshost_raw_ui_mocked_methods.
func (k KeyInfo) clixmlValue() (*clixml.Object, error) {
	if k.Character < 0 || k.Character > 0xFFFF || (k.Character >= 0xD800 && k.Character <= 0xDFFF) {
		return nil, fmt.Errorf("session: ReadKey: character %U does not fit a .NET Char (one UTF-16 code unit)", k.Character)
	}
	return &clixml.Object{Members: []clixml.Property{
		{Name: "virtualKeyCode", Value: k.VirtualKeyCode},
		{Name: "character", Value: clixml.Char(k.Character)},
		{Name: "controlKeyState", Value: int32(k.ControlKeyState)},
		{Name: "keyDown", Value: k.KeyDown},
	}}, nil
}

// FieldDescription is one field of a Prompt call.
type FieldDescription struct {
	Name, Label, HelpMessage string
	// ParameterTypeName is the .NET type the value should have, e.g.
	// "String", "SecureString", "PSCredential".
	ParameterTypeName string
	IsMandatory       bool
	DefaultValue      any
}

// ChoiceDescription is one choice of a PromptForChoice call. Label may carry
// a hot key marked with '&'.
type ChoiceDescription struct {
	Label, HelpMessage string
}

// HostWriteKind says which UI write method the server called.
type HostWriteKind int

// Host write kinds.
const (
	// HostWriteText is Write (no line break).
	HostWriteText HostWriteKind = iota
	// HostWriteLine is WriteLine.
	HostWriteLine
	// HostWriteError is WriteErrorLine.
	HostWriteError
	// HostWriteDebug is WriteDebugLine.
	HostWriteDebug
	// HostWriteVerbose is WriteVerboseLine.
	HostWriteVerbose
	// HostWriteWarning is WriteWarningLine.
	HostWriteWarning
)

// HostWrite is one UI write of the remote host.
type HostWrite struct {
	Kind HostWriteKind
	Text string
	// Foreground and Background are ConsoleColor values when HasColors.
	Foreground, Background int32
	HasColors              bool
}

// Size is a console size (System.Management.Automation.Host.Size).
type Size = clixml.HostSize

// Coordinates is a console position (System.Management.Automation.Host.Coordinates).
type Coordinates = clixml.HostCoordinates

// RawUIState is what the console queries of $Host.UI.RawUI return.
type RawUIState struct {
	ForegroundColor, BackgroundColor int32 // ConsoleColor values
	CursorPosition, WindowPosition   Coordinates
	CursorSize                       int32
	BufferSize, WindowSize           Size
	MaxWindowSize                    Size
	MaxPhysicalWindowSize            Size
	WindowTitle                      string
}

// ErrHostNotSupported is returned (wrapped) by DefaultHost for the
// interactive methods: the server sees the call fail with a HostException.
var ErrHostNotSupported = errors.New("session: not supported by this host")

// DefaultHost is the host used when no WithHost option is given, and the
// answer to every call a Host does not implement. It answers the console
// queries with the values of a 120x50 console, discards UI writes and
// progress, and fails every interactive call (ReadLine, ReadKey, prompts)
// with ErrHostNotSupported, which the remote script sees as an exception.
type DefaultHost struct{}

func notSupported(method string) error {
	return fmt.Errorf("%w: %s needs an interactive host (use session.WithHost)", ErrHostNotSupported, method)
}

// ReadLine fails with ErrHostNotSupported.
func (DefaultHost) ReadLine(context.Context) (string, error) { return "", notSupported("ReadLine") }

// ReadLineAsSecureString fails with ErrHostNotSupported.
func (DefaultHost) ReadLineAsSecureString(context.Context) (clixml.SecureString, error) {
	return clixml.SecureString{}, notSupported("ReadLineAsSecureString")
}

// Prompt fails with ErrHostNotSupported.
func (DefaultHost) Prompt(context.Context, string, string, []FieldDescription) (map[string]any, error) {
	return nil, notSupported("Prompt")
}

// PromptForCredential fails with ErrHostNotSupported.
func (DefaultHost) PromptForCredential(context.Context, string, string, string, string) (clixml.PSCredential, error) {
	return clixml.PSCredential{}, notSupported("PromptForCredential")
}

// PromptForChoice fails with ErrHostNotSupported.
func (DefaultHost) PromptForChoice(context.Context, string, string, []ChoiceDescription, int) (int, error) {
	return 0, notSupported("PromptForChoice")
}

// Write discards the text.
func (DefaultHost) Write(context.Context, HostWrite) error { return nil }

// WriteProgress discards the record.
func (DefaultHost) WriteProgress(context.Context, int64, clixml.ProgressRecord) error { return nil }

// RawUI reports a 120x50 console with grey text on black.
func (DefaultHost) RawUI(context.Context) (RawUIState, error) {
	return RawUIState{
		ForegroundColor:       7, // Gray
		BackgroundColor:       0, // Black
		CursorSize:            25,
		BufferSize:            Size{Width: 120, Height: 3000},
		WindowSize:            Size{Width: 120, Height: 50},
		MaxWindowSize:         Size{Width: 120, Height: 50},
		MaxPhysicalWindowSize: Size{Width: 120, Height: 50},
		WindowTitle:           "gopsrp",
	}, nil
}

// ReadKey fails with ErrHostNotSupported.
func (DefaultHost) ReadKey(context.Context, ReadKeyOptions) (KeyInfo, error) {
	return KeyInfo{}, notSupported("ReadKey")
}

// DefaultHost answers every host call.
var _ interface {
	Host
	LineReader
	SecureLineReader
	Prompter
	CredentialPrompter
	ChoicePrompter
	ProgressWriter
	RawUIReader
	KeyReader
} = DefaultHost{}

// hostAs returns h as the interface I of one host call, or DefaultHost
// when h does not implement it.
func hostAs[I any](h Host) I {
	if i, ok := h.(I); ok {
		return i
	}
	return any(DefaultHost{}).(I)
}

// hostName is what GetName answers.
const hostName = "gopsrp"

// callHost runs one host call against h and returns the value to send back
// (ignored for void methods) or the error to report.
func callHost(ctx context.Context, h Host, m psrp.HostMethodID, params []any) (any, error) {
	p := hostParams(params)
	switch m {
	case psrp.HostGetName:
		return hostName, nil
	case psrp.HostGetVersion:
		return clixml.Version{Major: 1, Minor: 0, Build: -1, Revision: -1}, nil
	case psrp.HostGetCurrentCulture, psrp.HostGetCurrentUICulture:
		return "en-US", nil
	case psrp.HostReadLine:
		return hostAs[LineReader](h).ReadLine(ctx)
	case psrp.HostReadLineAsSecureString:
		return hostAs[SecureLineReader](h).ReadLineAsSecureString(ctx)
	case psrp.HostPrompt:
		return hostAs[Prompter](h).Prompt(ctx, p.str(0), p.str(1), p.fields(2))
	case psrp.HostPromptForCredential1, psrp.HostPromptForCredential2:
		c, err := hostAs[CredentialPrompter](h).PromptForCredential(ctx, p.str(0), p.str(1), p.str(2), p.str(3))
		if err != nil {
			return nil, err
		}
		return &c, nil
	case psrp.HostPromptForChoice:
		n, err := hostAs[ChoicePrompter](h).PromptForChoice(ctx, p.str(0), p.str(1), p.choices(2), int(p.i32(3)))
		return int32(n), err
	case psrp.HostWrite1:
		return nil, h.Write(ctx, HostWrite{Kind: HostWriteText, Text: p.str(0)})
	case psrp.HostWrite2:
		return nil, h.Write(ctx, HostWrite{Kind: HostWriteText, Foreground: p.i32(0), Background: p.i32(1), Text: p.str(2), HasColors: true})
	case psrp.HostWriteLine1:
		return nil, h.Write(ctx, HostWrite{Kind: HostWriteLine})
	case psrp.HostWriteLine2:
		return nil, h.Write(ctx, HostWrite{Kind: HostWriteLine, Text: p.str(0)})
	case psrp.HostWriteLine3:
		return nil, h.Write(ctx, HostWrite{Kind: HostWriteLine, Foreground: p.i32(0), Background: p.i32(1), Text: p.str(2), HasColors: true})
	case psrp.HostWriteErrorLine:
		return nil, h.Write(ctx, HostWrite{Kind: HostWriteError, Text: p.str(0)})
	case psrp.HostWriteDebugLine:
		return nil, h.Write(ctx, HostWrite{Kind: HostWriteDebug, Text: p.str(0)})
	case psrp.HostWriteVerboseLine:
		return nil, h.Write(ctx, HostWrite{Kind: HostWriteVerbose, Text: p.str(0)})
	case psrp.HostWriteWarningLine:
		return nil, h.Write(ctx, HostWrite{Kind: HostWriteWarning, Text: p.str(0)})
	case psrp.HostWriteProgress:
		var rec clixml.ProgressRecord
		if len(params) > 1 {
			switch v := params[1].(type) {
			case clixml.ProgressRecord:
				rec = v
			case *clixml.ProgressRecord:
				rec = *v
			default:
				_ = rec.UnmarshalCLIXML(v) // best effort: a void call has no way to report
			}
		}
		return nil, hostAs[ProgressWriter](h).WriteProgress(ctx, p.i64(0), rec)
	case psrp.HostGetForegroundColor, psrp.HostGetBackgroundColor, psrp.HostGetCursorPosition,
		psrp.HostGetWindowPosition, psrp.HostGetCursorSize, psrp.HostGetBufferSize, psrp.HostGetWindowSize,
		psrp.HostGetWindowTitle, psrp.HostGetMaxWindowSize, psrp.HostGetMaxPhysicalWindowSize:
		ui, err := hostAs[RawUIReader](h).RawUI(ctx)
		if err != nil {
			return nil, err
		}
		return rawUIValue(m, ui), nil
	case psrp.HostReadKey:
		opts := ReadKeyOptions(p.i32(0))
		if len(params) == 0 {
			opts = ReadKeyIncludeKeyDown // ReadKey() without arguments
		}
		k, err := hostAs[KeyReader](h).ReadKey(ctx, opts)
		if err != nil {
			return nil, err
		}
		return k.clixmlValue()
	case psrp.HostGetKeyAvailable:
		// No key is ever waiting: keys are read only when ReadKey asks.
		return false, nil
	case psrp.HostGetBufferContents:
		// The host has no screen buffer to copy cells from.
		return nil, notSupported("GetBufferContents")
	case psrp.HostGetIsRunspacePushed:
		return false, nil
	}
	if m.IsVoid() {
		// Setters, notifications, FlushInputBuffer, SetBufferContents and
		// ScrollBufferContents: accepted and ignored. The server keeps its
		// own copy of the RawUI properties, which the setters update.
		return nil, nil
	}
	return nil, fmt.Errorf("%w: host method %v", ErrHostNotSupported, m)
}

// rawUIValue encodes one RawUI property as PowerShell's remote host encoder
// does: structs as objects whose members are the .NET field names.
func rawUIValue(m psrp.HostMethodID, ui RawUIState) any {
	size := func(s Size) any {
		return &clixml.Object{Members: []clixml.Property{{Name: "width", Value: s.Width}, {Name: "height", Value: s.Height}}}
	}
	coord := func(c Coordinates) any {
		return &clixml.Object{Members: []clixml.Property{{Name: "x", Value: c.X}, {Name: "y", Value: c.Y}}}
	}
	switch m {
	case psrp.HostGetForegroundColor:
		return ui.ForegroundColor
	case psrp.HostGetBackgroundColor:
		return ui.BackgroundColor
	case psrp.HostGetCursorPosition:
		return coord(ui.CursorPosition)
	case psrp.HostGetWindowPosition:
		return coord(ui.WindowPosition)
	case psrp.HostGetCursorSize:
		return ui.CursorSize
	case psrp.HostGetBufferSize:
		return size(ui.BufferSize)
	case psrp.HostGetWindowSize:
		return size(ui.WindowSize)
	case psrp.HostGetMaxWindowSize:
		return size(ui.MaxWindowSize)
	case psrp.HostGetMaxPhysicalWindowSize:
		return size(ui.MaxPhysicalWindowSize)
	}
	return ui.WindowTitle
}

// hostErrorRecord turns a Host error into the ErrorRecord sent back, so that
// the remote call throws a HostException with the error's text.
func hostErrorRecord(m psrp.HostMethodID, err error) *clixml.ErrorRecord {
	id := "HostMethodFailed"
	if errors.Is(err, ErrHostNotSupported) {
		id = "HostFunctionNotImplemented"
	}
	return &clixml.ErrorRecord{
		Exception: clixml.ExceptionInfo{
			TypeNames: []string{"System.Management.Automation.Host.HostException", "System.Exception", "System.Object"},
			Message:   err.Error(),
		},
		FullyQualifiedErrorID: id,
		CategoryInfo: clixml.ErrorCategoryInfo{
			Category: 11, // ErrorCategory.NotImplemented
			Reason:   "HostException",
		},
	}
}

// hostParams reads host call parameters leniently: a missing or mistyped
// parameter reads as its zero value, since a host call must never panic.
type hostParams []any

func (p hostParams) at(i int) any {
	if i < 0 || i >= len(p) {
		return nil
	}
	if o, ok := p[i].(*clixml.Object); ok && o != nil && o.Value != nil && o.Kind == clixml.NotContainer {
		return o.Value
	}
	return p[i]
}

func (p hostParams) str(i int) string {
	switch v := p.at(i).(type) {
	case string:
		return v
	case *clixml.Object:
		if v != nil && v.HasToString {
			return v.ToString
		}
	case nil:
		return ""
	}
	return fmt.Sprint(p.at(i))
}

func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int16:
		return int64(n), true
	case int8:
		return int64(n), true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	}
	return 0, false
}

func (p hostParams) i64(i int) int64 {
	n, _ := toInt64(p.at(i))
	return n
}

func (p hostParams) i32(i int) int32 { return int32(p.i64(i)) }

// items returns the elements of a collection parameter.
func (p hostParams) items(i int) []any {
	switch v := p.at(i).(type) {
	case *clixml.Object:
		if v != nil {
			return v.Items
		}
	case []any:
		return v
	}
	return nil
}

func memberString(o *clixml.Object, name string) string {
	v, ok := o.Member(name)
	if !ok || v == nil {
		return ""
	}
	return hostParams{v}.str(0)
}

func (p hostParams) fields(i int) []FieldDescription {
	var out []FieldDescription
	for _, it := range p.items(i) {
		o, ok := it.(*clixml.Object)
		if !ok || o == nil {
			continue
		}
		f := FieldDescription{
			Name:              memberString(o, "name"),
			Label:             memberString(o, "label"),
			HelpMessage:       memberString(o, "helpMessage"),
			ParameterTypeName: memberString(o, "parameterTypeName"),
		}
		if v, ok := o.Member("isMandatory"); ok {
			f.IsMandatory, _ = v.(bool)
		}
		if v, ok := o.Member("defaultValue"); ok {
			f.DefaultValue = v
		}
		out = append(out, f)
	}
	return out
}

func (p hostParams) choices(i int) []ChoiceDescription {
	var out []ChoiceDescription
	for _, it := range p.items(i) {
		switch o := it.(type) {
		case *clixml.Object:
			if o != nil {
				out = append(out, ChoiceDescription{Label: memberString(o, "label"), HelpMessage: memberString(o, "helpMessage")})
			}
		case string:
			out = append(out, ChoiceDescription{Label: o})
		}
	}
	return out
}

// hostCallContext tells the Host which pipeline (nil for the pool) asked.
func hostCallContext(ctx context.Context, p *Pipeline) context.Context {
	if p == nil {
		return ctx
	}
	return context.WithValue(ctx, hostCallKey{}, p)
}
