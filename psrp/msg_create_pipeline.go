package psrp

import (
	"fmt"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// Bounds on a decoded pipeline, over the whole body: far above anything
// real, low enough that a hostile body cannot make the decoder build huge
// slices of structs (a <Ref> to a command or argument costs a few bytes on
// the wire but a whole struct when decoded).
const (
	maxStatements = 1 << 12
	maxCommands   = 1 << 12
	maxArguments  = 1 << 14
)

// pipelineBudget counts what a CREATE_PIPELINE decode has built so far.
type pipelineBudget struct {
	commands, arguments int
}

// CreatePipeline is CREATE_PIPELINE (MS-PSRP 2.2.2.10): the client creates
// and starts a pipeline in the pool. It travels in the pool's data (the
// WS-Man Command's Arguments) with the new pipeline's id in the header.
type CreatePipeline struct {
	// NoInput says the client will send no PIPELINE_INPUT.
	NoInput             bool
	ApartmentState      ApartmentState
	RemoteStreamOptions RemoteStreamOptions
	AddToHistory        bool
	HostInfo            clixml.HostInfo
	PowerShell          PowerShell
	IsNested            bool

	// ProtocolVersion is the peer's protocol version, which decides the
	// Merge* properties written for each command: MergeError, MergeWarning,
	// MergeVerbose and MergeDebug from 2.2, MergeInformation from 2.3. The
	// zero value writes all of them (2.3). It is not on the wire; decoding
	// leaves it zero.
	ProtocolVersion clixml.Version
}

// PowerShell is the pipeline description of CREATE_PIPELINE (MS-PSRP
// 2.2.3.11).
type PowerShell struct {
	// Statements are the statements to run in order, each a pipeline of
	// commands. On the wire the first statement is "Cmds"; when there is
	// more than one, "ExtraCmds" holds all of them (the first included),
	// as PowerShell and pypsrp send.
	Statements [][]Command
	IsNested   bool
	// History is the history string; "" is written as Nil.
	History                      string
	RedirectShellErrorOutputPipe bool
}

// Command is one command of a statement (MS-PSRP 2.2.3.12).
type Command struct {
	// Cmd is the command name, or the script text when IsScript.
	Cmd      string
	IsScript bool
	// UseLocalScope is nil to leave the choice to the server (<Nil />).
	UseLocalScope *bool

	MergeMyResult        PipelineResultTypes
	MergeToResult        PipelineResultTypes
	MergePreviousResults PipelineResultTypes
	MergeError           PipelineResultTypes
	MergeWarning         PipelineResultTypes
	MergeVerbose         PipelineResultTypes
	MergeDebug           PipelineResultTypes
	MergeInformation     PipelineResultTypes

	Args []Argument
}

// Argument is a parameter or positional argument of a Command.
type Argument struct {
	// Name is the parameter name; "" makes a positional argument (written
	// as <Nil N="N" />).
	Name string
	// Value is any value clixml can encode (a SecureString is encrypted
	// with the MarshalOptions' cipher).
	Value any
}

// MessageType implements Body.
func (CreatePipeline) MessageType() MessageType { return MessageCreatePipeline }

// ClientMessage marks a client-to-server body.
func (CreatePipeline) ClientMessage() {}

// versionAtLeast reports whether v >= major.minor; the zero Version counts
// as the newest protocol.
func versionAtLeast(v clixml.Version, major, minor int32) bool {
	if v == (clixml.Version{}) {
		return true
	}
	if v.Major != major {
		return v.Major > major
	}
	return v.Minor >= minor
}

func psObjectList(items []any) *clixml.Object {
	return &clixml.Object{TypeNames: []string{typePSObjectList, typeObject}, Kind: clixml.List, Items: items}
}

func resultTypeObject(r PipelineResultTypes) *clixml.Object {
	return enumObject(typePipelineResultTypes, r.String(), int32(r))
}

func (b CreatePipeline) commandModel(c Command) *clixml.Object {
	args := make([]any, 0, len(c.Args))
	for _, a := range c.Args {
		var name any
		if a.Name != "" {
			name = a.Name
		}
		args = append(args, msObject(prop("N", name), prop("V", a.Value)))
	}
	var scope any
	if c.UseLocalScope != nil {
		scope = *c.UseLocalScope
	}
	o := msObject(
		prop("Cmd", c.Cmd),
		prop("IsScript", c.IsScript),
		prop("UseLocalScope", scope),
		prop("MergeMyResult", resultTypeObject(c.MergeMyResult)),
		prop("MergeToResult", resultTypeObject(c.MergeToResult)),
		prop("MergePreviousResults", resultTypeObject(c.MergePreviousResults)),
		prop("Args", psObjectList(args)),
	)
	if versionAtLeast(b.ProtocolVersion, 2, 2) {
		o.Members = append(o.Members,
			prop("MergeError", resultTypeObject(c.MergeError)),
			prop("MergeWarning", resultTypeObject(c.MergeWarning)),
			prop("MergeVerbose", resultTypeObject(c.MergeVerbose)),
			prop("MergeDebug", resultTypeObject(c.MergeDebug)),
		)
	}
	if versionAtLeast(b.ProtocolVersion, 2, 3) {
		o.Members = append(o.Members, prop("MergeInformation", resultTypeObject(c.MergeInformation)))
	}
	return o
}

func (b CreatePipeline) statementModel(cmds []Command) *clixml.Object {
	items := make([]any, 0, len(cmds))
	for _, c := range cmds {
		items = append(items, b.commandModel(c))
	}
	return psObjectList(items)
}

func (b CreatePipeline) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	ps := b.PowerShell
	if len(ps.Statements) == 0 || len(ps.Statements[0]) == 0 {
		return nil, &BodyError{Type: b.MessageType(), Property: "Cmds",
			Err: fmt.Errorf("%w: a pipeline needs at least one command", ErrPropertyType)}
	}
	var extra any
	if len(ps.Statements) > 1 {
		items := make([]any, 0, len(ps.Statements))
		for i, st := range ps.Statements {
			if len(st) == 0 {
				return nil, &BodyError{Type: b.MessageType(), Property: "ExtraCmds",
					Err: fmt.Errorf("%w: statement %d has no command", ErrPropertyType, i)}
			}
			items = append(items, msObject(prop("Cmds", b.statementModel(st))))
		}
		extra = psObjectList(items)
	}
	var history any
	if ps.History != "" {
		history = ps.History
	}
	hi, err := hostInfoModel(b.HostInfo)
	if err != nil {
		return nil, &BodyError{Type: b.MessageType(), Property: "HostInfo", Err: err}
	}
	o := msObject(
		prop("NoInput", b.NoInput),
		prop("ApartmentState", enumObject(typeApartmentState, b.ApartmentState.wireString(), int32(b.ApartmentState))),
		prop("RemoteStreamOptions", enumObject(typeRemoteStreamOptions, b.RemoteStreamOptions.String(), int32(b.RemoteStreamOptions))),
		prop("AddToHistory", b.AddToHistory),
		prop("HostInfo", hi),
		prop("PowerShell", msObject(
			prop("IsNested", ps.IsNested),
			prop("ExtraCmds", extra),
			prop("Cmds", b.statementModel(ps.Statements[0])),
			prop("History", history),
			prop("RedirectShellErrorOutputPipe", ps.RedirectShellErrorOutputPipe),
		)),
		prop("IsNested", b.IsNested),
	)
	return marshalModel(b.MessageType(), opts, o)
}

func (b *CreatePipeline) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	r, err := newObjReader(MessageCreatePipeline, data, opts)
	if err != nil {
		return err
	}
	b.NoInput = r.bool("NoInput")
	b.ApartmentState = ApartmentState(r.int32("ApartmentState"))
	b.RemoteStreamOptions = RemoteStreamOptions(r.int32("RemoteStreamOptions"))
	b.AddToHistory = r.bool("AddToHistory")
	b.HostInfo = r.hostInfo("HostInfo")
	b.IsNested = r.optBool("IsNested", false)
	psObj := r.object("PowerShell", false)
	if r.err != nil {
		return r.err
	}
	ps := &objReader{t: MessageCreatePipeline, obj: psObj}
	b.PowerShell.IsNested = ps.optBool("IsNested", false)
	b.PowerShell.History = ps.optStr("History")
	b.PowerShell.RedirectShellErrorOutputPipe = ps.optBool("RedirectShellErrorOutputPipe", false)
	var budget pipelineBudget
	first := readStatement(ps, &budget)
	if ps.err != nil {
		return ps.err
	}
	extra := ps.listItems("ExtraCmds")
	if ps.err != nil {
		return ps.err
	}
	if len(extra) > maxStatements {
		return &BodyError{Type: MessageCreatePipeline, Property: "ExtraCmds",
			Err: fmt.Errorf("%w: %d statements", ErrPropertyType, len(extra))}
	}
	var statements [][]Command
	for _, it := range extra {
		so, ok := it.(*clixml.Object)
		if !ok || so == nil {
			return &BodyError{Type: MessageCreatePipeline, Property: "ExtraCmds",
				Err: fmt.Errorf("%w: statement is %T", ErrPropertyType, it)}
		}
		sr := &objReader{t: MessageCreatePipeline, obj: so}
		st := readStatement(sr, &budget)
		if sr.err != nil {
			return sr.err
		}
		statements = append(statements, st)
	}
	// PowerShell puts every statement in ExtraCmds and repeats the first
	// in Cmds; accept a peer that lists only the later ones there too.
	if len(statements) == 0 || !sameCommands(statements[0], first) {
		statements = append([][]Command{first}, statements...)
	}
	b.PowerShell.Statements = statements
	return nil
}

// sameCommands compares the parts of two statements that identify them.
func sameCommands(a, b []Command) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Cmd != b[i].Cmd || a[i].IsScript != b[i].IsScript || len(a[i].Args) != len(b[i].Args) {
			return false
		}
		for j := range a[i].Args {
			if a[i].Args[j].Name != b[i].Args[j].Name {
				return false
			}
		}
	}
	return true
}

// readStatement reads the "Cmds" list of r's object.
func readStatement(r *objReader, budget *pipelineBudget) []Command {
	items := r.listItems("Cmds")
	if r.err != nil {
		return nil
	}
	if !r.has("Cmds") || items == nil {
		r.fail("Cmds", ErrMissingProperty)
		return nil
	}
	budget.commands += len(items)
	if budget.commands > maxCommands {
		r.fail("Cmds", fmt.Errorf("%w: more than %d commands", ErrPropertyType, maxCommands))
		return nil
	}
	cmds := make([]Command, 0, len(items))
	for _, it := range items {
		co, ok := it.(*clixml.Object)
		if !ok || co == nil {
			r.fail("Cmds", fmt.Errorf("%w: command is %T", ErrPropertyType, it))
			return nil
		}
		c, err := readCommand(co, budget)
		if err != nil {
			r.fail("Cmds", err)
			return nil
		}
		cmds = append(cmds, c)
	}
	return cmds
}

func readCommand(o *clixml.Object, budget *pipelineBudget) (Command, error) {
	r := &objReader{t: MessageCreatePipeline, obj: o}
	var c Command
	c.Cmd = r.str("Cmd")
	c.IsScript = r.bool("IsScript")
	if v := r.opt("UseLocalScope"); v != nil {
		if s, ok := v.(bool); ok {
			c.UseLocalScope = &s
		} else {
			r.fail("UseLocalScope", fmt.Errorf("%w: %T, want a bool", ErrPropertyType, v))
		}
	}
	merge := func(name string) PipelineResultTypes {
		if !r.has(name) {
			return PipelineResultNone
		}
		return PipelineResultTypes(r.int32(name))
	}
	c.MergeMyResult = merge("MergeMyResult")
	c.MergeToResult = merge("MergeToResult")
	c.MergePreviousResults = merge("MergePreviousResults")
	c.MergeError = merge("MergeError")
	c.MergeWarning = merge("MergeWarning")
	c.MergeVerbose = merge("MergeVerbose")
	c.MergeDebug = merge("MergeDebug")
	c.MergeInformation = merge("MergeInformation")
	args := r.listItems("Args")
	if r.err != nil {
		return c, r.err
	}
	budget.arguments += len(args)
	if budget.arguments > maxArguments {
		return c, fmt.Errorf("%w: more than %d arguments", ErrPropertyType, maxArguments)
	}
	for _, it := range args {
		ao, ok := it.(*clixml.Object)
		if !ok || ao == nil {
			return c, fmt.Errorf("%w: argument is %T", ErrPropertyType, it)
		}
		ar := &objReader{t: MessageCreatePipeline, obj: ao}
		a := Argument{Name: ar.optStr("N"), Value: ar.opt("V")}
		if ar.err != nil {
			return c, ar.err
		}
		c.Args = append(c.Args, a)
	}
	return c, r.err
}
