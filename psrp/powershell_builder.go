package psrp

// PowerShellBuilder builds the PowerShell of a pipeline step by step:
//
//	psrp.Cmd("Get-Service").Param("Name", "WinRM").AddCommand("Select-Object").Arg("Status").Build()
//
// Param and Arg apply to the last command added. Start with Script or Cmd;
// on a zero builder the methods that change the last command do nothing
// and Build returns an empty PowerShell, which NewPipeline refuses.
type PowerShellBuilder struct {
	ps PowerShell
}

// Script starts a pipeline whose first command is script text.
func Script(script string) *PowerShellBuilder {
	return &PowerShellBuilder{ps: PowerShell{Statements: [][]Command{{{Cmd: script, IsScript: true}}}}}
}

// Cmd starts a pipeline whose first command is a cmdlet or function name.
func Cmd(name string) *PowerShellBuilder {
	return &PowerShellBuilder{ps: PowerShell{Statements: [][]Command{{{Cmd: name}}}}}
}

// last returns the last command added, or a scratch command when there is
// none (so that misuse never panics).
func (b *PowerShellBuilder) last() *Command {
	if len(b.ps.Statements) == 0 || len(b.ps.Statements[len(b.ps.Statements)-1]) == 0 {
		return new(Command)
	}
	st := b.ps.Statements[len(b.ps.Statements)-1]
	return &st[len(st)-1]
}

func (b *PowerShellBuilder) appendCommand(c Command) *PowerShellBuilder {
	if len(b.ps.Statements) == 0 {
		b.ps.Statements = append(b.ps.Statements, nil)
	}
	i := len(b.ps.Statements) - 1
	b.ps.Statements[i] = append(b.ps.Statements[i], c)
	return b
}

// AddCommand pipes the current statement into the command name.
func (b *PowerShellBuilder) AddCommand(name string) *PowerShellBuilder {
	return b.appendCommand(Command{Cmd: name})
}

// AddScript pipes the current statement into script text.
func (b *PowerShellBuilder) AddScript(script string) *PowerShellBuilder {
	return b.appendCommand(Command{Cmd: script, IsScript: true})
}

// AddStatement starts a new statement (as after ";") with the command name.
func (b *PowerShellBuilder) AddStatement(name string, isScript bool) *PowerShellBuilder {
	b.ps.Statements = append(b.ps.Statements, []Command{{Cmd: name, IsScript: isScript}})
	return b
}

// Param adds a named parameter to the last command.
func (b *PowerShellBuilder) Param(name string, value any) *PowerShellBuilder {
	c := b.last()
	c.Args = append(c.Args, Argument{Name: name, Value: value})
	return b
}

// Switch adds a switch parameter (-name) to the last command.
func (b *PowerShellBuilder) Switch(name string) *PowerShellBuilder { return b.Param(name, true) }

// Arg adds a positional argument to the last command.
func (b *PowerShellBuilder) Arg(value any) *PowerShellBuilder {
	c := b.last()
	c.Args = append(c.Args, Argument{Value: value})
	return b
}

// UseLocalScope sets whether the last command runs in a local scope.
func (b *PowerShellBuilder) UseLocalScope(local bool) *PowerShellBuilder {
	b.last().UseLocalScope = &local
	return b
}

// MergeErrorToOutput merges the last command's errors into its output
// (2>&1).
func (b *PowerShellBuilder) MergeErrorToOutput() *PowerShellBuilder {
	c := b.last()
	c.MergeMyResult, c.MergeToResult = PipelineResultError, PipelineResultOutput
	c.MergeError = PipelineResultOutput
	return b
}

// MergeAll merges every stream of the last command into its output
// (*>&1). Streams the server's protocol lacks are left out when sent.
func (b *PowerShellBuilder) MergeAll() *PowerShellBuilder {
	c := b.MergeErrorToOutput().last()
	c.MergeWarning, c.MergeVerbose, c.MergeDebug, c.MergeInformation = PipelineResultOutput, PipelineResultOutput, PipelineResultOutput, PipelineResultOutput
	return b
}

// Build returns the PowerShell; the builder must not be used afterwards.
func (b *PowerShellBuilder) Build() PowerShell { return b.ps }
