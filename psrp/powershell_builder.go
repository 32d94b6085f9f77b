package psrp

// Building a PowerShell step by step, as System.Management.Automation's
// PowerShell class does:
//
//	psrp.Cmd("Get-Service").Param("Name", "WinRM").AddCommand("Select-Object").Arg("Status")
//
// Param, Arg, Switch and the merge methods apply to the last command added;
// AddCommand and AddScript pipe into the current statement; AddStatement
// starts a new one. Each method changes p and returns it.

// Script returns a pipeline whose first command is script text.
func Script(script string) *PowerShell {
	return &PowerShell{Statements: [][]Command{{{Cmd: script, IsScript: true}}}}
}

// Cmd returns a pipeline whose first command is a cmdlet or function name.
func Cmd(name string) *PowerShell {
	return &PowerShell{Statements: [][]Command{{{Cmd: name}}}}
}

// last returns the last command added, or a scratch command when there is
// none (so that misuse never panics).
func (p *PowerShell) last() *Command {
	if len(p.Statements) == 0 || len(p.Statements[len(p.Statements)-1]) == 0 {
		return new(Command)
	}
	st := p.Statements[len(p.Statements)-1]
	return &st[len(st)-1]
}

func (p *PowerShell) appendCommand(c Command) *PowerShell {
	if len(p.Statements) == 0 {
		p.Statements = append(p.Statements, nil)
	}
	i := len(p.Statements) - 1
	p.Statements[i] = append(p.Statements[i], c)
	return p
}

// AddCommand pipes the current statement into the command name.
func (p *PowerShell) AddCommand(name string) *PowerShell {
	return p.appendCommand(Command{Cmd: name})
}

// AddScript pipes the current statement into script text.
func (p *PowerShell) AddScript(script string) *PowerShell {
	return p.appendCommand(Command{Cmd: script, IsScript: true})
}

// AddStatement ends the current statement (as ";" does); the next
// AddCommand or AddScript starts the new one.
func (p *PowerShell) AddStatement() *PowerShell {
	if len(p.Statements) > 0 && len(p.Statements[len(p.Statements)-1]) > 0 {
		p.Statements = append(p.Statements, nil)
	}
	return p
}

// Param adds a named parameter to the last command.
func (p *PowerShell) Param(name string, value any) *PowerShell {
	c := p.last()
	c.Args = append(c.Args, Argument{Name: name, Value: value})
	return p
}

// Switch adds a switch parameter (-name) to the last command.
func (p *PowerShell) Switch(name string) *PowerShell { return p.Param(name, true) }

// Arg adds a positional argument to the last command.
func (p *PowerShell) Arg(value any) *PowerShell {
	c := p.last()
	c.Args = append(c.Args, Argument{Value: value})
	return p
}

// UseLocalScope sets whether the last command runs in a local scope.
func (p *PowerShell) UseLocalScope(local bool) *PowerShell {
	p.last().UseLocalScope = &local
	return p
}

// MergeErrorToOutput merges the last command's errors into its output
// (2>&1).
func (p *PowerShell) MergeErrorToOutput() *PowerShell {
	c := p.last()
	c.MergeMyResult, c.MergeToResult = PipelineResultError, PipelineResultOutput
	c.MergeError = PipelineResultOutput
	return p
}

// MergeAll merges every stream of the last command into its output
// (*>&1). Streams the server's protocol lacks are left out when sent.
func (p *PowerShell) MergeAll() *PowerShell {
	c := p.MergeErrorToOutput().last()
	c.MergeWarning, c.MergeVerbose, c.MergeDebug, c.MergeInformation = PipelineResultOutput, PipelineResultOutput, PipelineResultOutput, PipelineResultOutput
	return p
}
