package sessiontest

import (
	"cmp"
	"errors"
	"slices"
	"strings"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// CommandDescription is the metadata the endpoint gives for a command in
// its answer to GET_COMMAND_METADATA (Get-Command over the wire, MS-PSRP
// 3.1.4.10).
type CommandDescription struct {
	// Type is the command type; zero means psrp.CommandTypeCmdlet.
	Type psrp.CommandTypes
	// Module is the module (namespace) the command comes from.
	Module  string
	HelpURI string
	// OutputType is the .NET types the command declares it writes.
	OutputType []string
	// Parameters are the command's own parameters. A cmdlet also gets
	// PowerShell's common parameters (Verbose, ErrorAction...), as
	// Windows reports them.
	Parameters []Parameter
}

// Parameter describes one parameter of a command.
type Parameter struct {
	Name string
	// Type is the .NET type; empty means System.Object, or
	// System.Management.Automation.SwitchParameter when Switch is set.
	Type    string
	Aliases []string
	Switch  bool
}

// commandMetadata is what Describe and Handle record: the metadata of
// described commands, and the spelling of every registered name. Guarded
// by Server.hmu.
type commandMetadata struct {
	described map[string]CommandDescription // lower-case name → description
	names     map[string]string             // lower-case name → name as registered
}

// metaLocked returns the server's command metadata, creating it. Called
// with hmu held for writing.
func (s *Server) metaLocked() *commandMetadata {
	if s.cmdMeta == nil {
		s.cmdMeta = &commandMetadata{described: map[string]CommandDescription{}, names: map[string]string{}}
	}
	return s.cmdMeta
}

// nameCommandLocked remembers how a handler's name is spelled, for its
// metadata. Called with hmu held for writing.
func (s *Server) nameCommandLocked(name string) {
	s.metaLocked().names[strings.ToLower(name)] = name
}

// Describe sets the metadata GET_COMMAND_METADATA answers for the command
// name, replacing any earlier description (built-in ones included). A
// described command without a handler is listed but cannot run.
func (s *Server) Describe(name string, d CommandDescription) {
	d.Parameters = slices.Clone(d.Parameters)
	d.OutputType = slices.Clone(d.OutputType)
	s.hmu.Lock()
	m := s.metaLocked()
	m.described[strings.ToLower(name)] = d
	m.names[strings.ToLower(name)] = name
	s.hmu.Unlock()
}

// HandleCommand registers h for the command name, like Handle, and
// describes it with d, like Describe.
func (s *Server) HandleCommand(name string, d CommandDescription, h HandlerFunc) {
	s.Handle(name, h)
	s.Describe(name, d)
}

// builtinDescriptions are the metadata of the built-in handlers, as
// Windows PowerShell 5.1 reports them (own parameters only).
var builtinDescriptions = map[string]CommandDescription{
	"get-date": {Module: "Microsoft.PowerShell.Utility", OutputType: []string{"System.String", "System.DateTime"}, Parameters: []Parameter{
		{Name: "Date", Type: "System.DateTime", Aliases: []string{"LastWriteTime"}}, {Name: "Format", Type: "System.String"},
		{Name: "UFormat", Type: "System.String"}, {Name: "Year", Type: "System.Int32"}, {Name: "DisplayHint", Type: "Microsoft.PowerShell.Commands.DisplayHintType"}}},
	"write-output": {Module: "Microsoft.PowerShell.Utility", Parameters: []Parameter{
		{Name: "InputObject", Type: "System.Management.Automation.PSObject[]"}, {Name: "NoEnumerate", Switch: true}}},
	"write-error": {Module: "Microsoft.PowerShell.Utility", Parameters: []Parameter{
		{Name: "Message", Type: "System.String", Aliases: []string{"Msg"}}, {Name: "ErrorId", Type: "System.String"},
		{Name: "Category", Type: "System.Management.Automation.ErrorCategory"}, {Name: "TargetObject", Type: "System.Object"}}},
	"write-warning":     {Module: "Microsoft.PowerShell.Utility", Parameters: []Parameter{{Name: "Message", Type: "System.String", Aliases: []string{"Msg"}}}},
	"write-verbose":     {Module: "Microsoft.PowerShell.Utility", Parameters: []Parameter{{Name: "Message", Type: "System.String", Aliases: []string{"Msg"}}}},
	"write-debug":       {Module: "Microsoft.PowerShell.Utility", Parameters: []Parameter{{Name: "Message", Type: "System.String", Aliases: []string{"Msg"}}}},
	"write-information": {Module: "Microsoft.PowerShell.Utility", Parameters: []Parameter{{Name: "MessageData", Type: "System.Object", Aliases: []string{"Msg", "Message"}}, {Name: "Tags", Type: "System.String[]"}}},
	"write-host": {Module: "Microsoft.PowerShell.Utility", Parameters: []Parameter{
		{Name: "Object", Type: "System.Object", Aliases: []string{"Msg", "Message"}}, {Name: "NoNewline", Switch: true},
		{Name: "ForegroundColor", Type: "System.ConsoleColor"}, {Name: "BackgroundColor", Type: "System.ConsoleColor"}}},
	"write-progress": {Module: "Microsoft.PowerShell.Utility", Parameters: []Parameter{
		{Name: "Activity", Type: "System.String"}, {Name: "Status", Type: "System.String"}, {Name: "Id", Type: "System.Int32"},
		{Name: "PercentComplete", Type: "System.Int32"}, {Name: "Completed", Switch: true}}},
	"start-sleep": {Module: "Microsoft.PowerShell.Utility", Parameters: []Parameter{
		{Name: "Seconds", Type: "System.Int32"}, {Name: "Milliseconds", Type: "System.Int32"}}},
	"read-host": {Module: "Microsoft.PowerShell.Utility", Parameters: []Parameter{
		{Name: "Prompt", Type: "System.Object"}, {Name: "AsSecureString", Switch: true}}},
	"get-host":          {Module: "Microsoft.PowerShell.Utility", OutputType: []string{"System.Management.Automation.Host.PSHost"}},
	"get-process":       {Module: "Microsoft.PowerShell.Management", OutputType: []string{"System.Diagnostics.Process"}, Parameters: []Parameter{{Name: "Name", Type: "System.String[]", Aliases: []string{"ProcessName"}}, {Name: "Id", Type: "System.Int32[]", Aliases: []string{"PID"}}}},
	"out-null":          {Module: "Microsoft.PowerShell.Core", Parameters: []Parameter{{Name: "InputObject", Type: "System.Management.Automation.PSObject"}}},
	"out-string":        {Module: "Microsoft.PowerShell.Utility", OutputType: []string{"System.String"}, Parameters: []Parameter{{Name: "InputObject", Type: "System.Management.Automation.PSObject"}, {Name: "Stream", Switch: true}, {Name: "Width", Type: "System.Int32"}}},
	"select-object":     {Module: "Microsoft.PowerShell.Utility", Parameters: []Parameter{{Name: "InputObject", Type: "System.Management.Automation.PSObject"}, {Name: "Property", Type: "System.Object[]"}, {Name: "First", Type: "System.Int32"}, {Name: "ExpandProperty", Type: "System.String"}}},
	"invoke-expression": {Module: "Microsoft.PowerShell.Utility", Parameters: []Parameter{{Name: "Command", Type: "System.String"}}},
}

// builtinNames spell the built-in commands; builtinAliases are the
// built-in aliases and the commands they resolve to.
var (
	builtinNames = map[string]string{
		"get-date": "Get-Date", "write-output": "Write-Output", "write-error": "Write-Error",
		"write-warning": "Write-Warning", "write-verbose": "Write-Verbose", "write-debug": "Write-Debug",
		"write-information": "Write-Information", "write-host": "Write-Host", "write-progress": "Write-Progress",
		"start-sleep": "Start-Sleep", "read-host": "Read-Host", "get-host": "Get-Host", "get-process": "Get-Process",
		"out-null": "Out-Null", "out-string": "Out-String", "select-object": "Select-Object",
		"invoke-expression": "Invoke-Expression",
	}
	builtinAliases = map[string]string{"echo": "write-output", "iex": "invoke-expression"}
)

// commonParameters are PowerShell's common parameters, which every cmdlet
// reports among its parameters.
var commonParameters = []Parameter{
	{Name: "Verbose", Switch: true, Aliases: []string{"vb"}},
	{Name: "Debug", Switch: true, Aliases: []string{"db"}},
	{Name: "ErrorAction", Type: "System.Management.Automation.ActionPreference", Aliases: []string{"ea"}},
	{Name: "WarningAction", Type: "System.Management.Automation.ActionPreference", Aliases: []string{"wa"}},
	{Name: "InformationAction", Type: "System.Management.Automation.ActionPreference", Aliases: []string{"infa"}},
	{Name: "ErrorVariable", Type: "System.String", Aliases: []string{"ev"}},
	{Name: "WarningVariable", Type: "System.String", Aliases: []string{"wv"}},
	{Name: "InformationVariable", Type: "System.String", Aliases: []string{"iv"}},
	{Name: "OutVariable", Type: "System.String", Aliases: []string{"ov"}},
	{Name: "OutBuffer", Type: "System.Int32", Aliases: []string{"ob"}},
	{Name: "PipelineVariable", Type: "System.String", Aliases: []string{"pv"}},
}

// errBadWildcard is a name pattern PowerShell refuses (an unclosed [).
var errBadWildcard = errors.New("the specified wildcard character pattern is not valid")

// answerCommandMetadata answers a GET_COMMAND_METADATA request as Windows
// does: a CommandMetadataCount (MS-PSRP 2.2.3.21), one CommandMetadata
// (2.2.3.22) per matching command, then Completed. A name pattern
// PowerShell refuses fails the request. Called with the backend's mu held.
func (s *Server) answerCommandMetadata(pl *psrp.ServerPipeline, req *psrp.GetCommandMetadata) {
	cmds, err := s.matchCommands(req)
	if err != nil {
		rec := NewErrorRecord("Cannot bind parameter 'Name': "+err.Error()+".", "ParameterArgumentTransformationError,Microsoft.PowerShell.Commands.GetCommandCommand", CategoryInvalidArgument)
		_ = pl.Fail(rec)
		return
	}
	count := &clixml.Object{
		TypeNames: []string{"Selected.Microsoft.PowerShell.Commands.GenericMeasureInfo", "System.Management.Automation.PSCustomObject", "System.Object"},
		Members:   []clixml.Property{{Name: "Count", Value: int32(len(cmds))}},
	}
	if pl.WriteOutput(count) != nil {
		return
	}
	for i := range cmds {
		if pl.WriteOutput(&cmds[i]) != nil {
			return
		}
	}
	_ = pl.Complete()
}

// matchCommands returns the metadata of the commands req selects, sorted
// by name.
func (s *Server) matchCommands(req *psrp.GetCommandMetadata) ([]clixml.CommandMetadata, error) {
	types := req.CommandType
	if types == 0 {
		types = psrp.CommandTypeAll
	}
	for _, p := range append(slices.Clone(req.Names), req.Namespace...) {
		if _, err := wildcardMatch(p, ""); err != nil {
			return nil, err
		}
	}
	var out []clixml.CommandMetadata
	for _, c := range s.commandCatalog() {
		if types&psrp.CommandTypes(c.CommandType) == 0 || !matchesAny(req.Namespace, c.Namespace, true) {
			continue
		}
		if len(req.Names) > 0 && !slices.ContainsFunc(req.Names, func(n string) bool { return nameMatches(n, c) }) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// nameMatches reports whether pattern (optionally module-qualified)
// selects c.
func nameMatches(pattern string, c clixml.CommandMetadata) bool {
	if i := strings.LastIndexByte(pattern, '\\'); i >= 0 {
		if ok, _ := wildcardMatch(pattern[:i], c.Namespace); !ok {
			return false
		}
		pattern = pattern[i+1:]
	}
	ok, _ := wildcardMatch(pattern, c.Name)
	return ok
}

// matchesAny reports whether one of patterns matches s; no patterns match
// everything when emptyAll is set.
func matchesAny(patterns []string, s string, emptyAll bool) bool {
	if len(patterns) == 0 {
		return emptyAll
	}
	return slices.ContainsFunc(patterns, func(p string) bool { ok, _ := wildcardMatch(p, s); return ok })
}

// commandCatalog lists every command the endpoint knows: registered
// handlers (not exact-text script handlers) and described commands.
func (s *Server) commandCatalog() []clixml.CommandMetadata {
	s.hmu.RLock()
	defer s.hmu.RUnlock()
	seen := map[string]bool{}
	var out []clixml.CommandMetadata
	add := func(key string) {
		if seen[key] || strings.HasPrefix(key, "$") {
			return // a variable the endpoint answers, not a command
		}
		seen[key] = true
		out = append(out, s.describeLocked(key))
	}
	for key := range s.handlers {
		add(key)
	}
	if s.cmdMeta != nil {
		for key := range s.cmdMeta.described {
			add(key)
		}
	}
	slices.SortFunc(out, func(a, b clixml.CommandMetadata) int {
		return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return out
}

// describeLocked returns the metadata of the command key (lower case).
// Called with hmu held.
func (s *Server) describeLocked(key string) clixml.CommandMetadata {
	name, d, ok := "", CommandDescription{}, false
	if s.cmdMeta != nil {
		name = s.cmdMeta.names[key]
		d, ok = s.cmdMeta.described[key]
	}
	if !ok {
		if target, alias := builtinAliases[key]; alias {
			d = builtinDescriptions[target]
			d.Type = psrp.CommandTypeAlias
		} else {
			d = builtinDescriptions[key] // zero for an undescribed handler: a cmdlet
		}
	}
	if name == "" {
		name = cmp.Or(builtinNames[key], key)
	}
	if d.Type == 0 {
		d.Type = psrp.CommandTypeCmdlet
	}
	return metadataOf(name, d)
}

// metadataOf builds the wire form of a description.
func metadataOf(name string, d CommandDescription) clixml.CommandMetadata {
	m := clixml.CommandMetadata{Name: name, CommandType: int32(d.Type), Namespace: d.Module, HelpURI: d.HelpURI,
		OutputType: slices.Clone(d.OutputType), Parameters: map[string]clixml.ParameterMetadata{}}
	params := d.Parameters
	if d.Type == psrp.CommandTypeCmdlet || d.Type == psrp.CommandTypeAlias {
		params = append(slices.Clone(params), commonParameters...)
	}
	for _, p := range params {
		typ := p.Type
		switch {
		case p.Switch:
			typ = "System.Management.Automation.SwitchParameter"
		case typ == "":
			typ = "System.Object"
		}
		if _, dup := m.Parameters[p.Name]; dup {
			continue // a declared parameter wins over a common one
		}
		m.Parameters[p.Name] = clixml.ParameterMetadata{Name: p.Name, ParameterType: typ,
			Aliases: slices.Clone(p.Aliases), SwitchParameter: p.Switch}
	}
	return m
}

// wildcardMatch matches s against a PowerShell wildcard pattern
// (WildcardPattern, case-insensitive): * any run, ? one character,
// [abc] and [a-z] one of a set, ` escapes the next character. An unclosed
// [ is an error, as in PowerShell.
func wildcardMatch(pattern, s string) (bool, error) {
	p, str := []rune(strings.ToLower(pattern)), []rune(strings.ToLower(s))
	// Iterative matching with one backtrack point for the last *.
	pi, si, starP, starS := 0, 0, -1, 0
	for si < len(str) || pi < len(p) {
		if pi < len(p) {
			switch p[pi] {
			case '*':
				starP, starS = pi, si
				pi++
				continue
			case '?':
				if si < len(str) {
					pi++
					si++
					continue
				}
			case '[':
				end, ok, err := matchSet(p, pi, str, si)
				if err != nil {
					return false, err
				}
				if ok {
					pi, si = end, si+1
					continue
				}
			default:
				lit, next := p[pi], pi+1
				if lit == '`' && pi+1 < len(p) {
					lit, next = p[pi+1], pi+2
				}
				if si < len(str) && str[si] == lit {
					pi, si = next, si+1
					continue
				}
			}
		}
		if starP >= 0 && starS < len(str) {
			starS++
			pi, si = starP+1, starS
			continue
		}
		// Check the rest of the pattern is well formed before failing.
		for ; pi < len(p); pi++ {
			if p[pi] == '`' {
				pi++
			} else if p[pi] == '[' && !slices.Contains(p[pi:], ']') {
				return false, errBadWildcard
			}
		}
		return false, nil
	}
	return true, nil
}

// matchSet matches the set starting at p[pi] ('[') against str[si]; it
// returns the index after the set.
func matchSet(p []rune, pi int, str []rune, si int) (end int, ok bool, err error) {
	i := pi + 1
	var set []rune
	for ; i < len(p) && p[i] != ']'; i++ {
		if p[i] == '`' && i+1 < len(p) {
			i++
		}
		set = append(set, p[i])
	}
	if i >= len(p) {
		return 0, false, errBadWildcard
	}
	if si >= len(str) {
		return i + 1, false, nil
	}
	c := str[si]
	for j := 0; j < len(set); j++ {
		if j+2 < len(set) && set[j+1] == '-' {
			if set[j] <= c && c <= set[j+2] {
				return i + 1, true, nil
			}
			j += 2
			continue
		}
		if set[j] == c {
			return i + 1, true, nil
		}
	}
	return i + 1, false, nil
}
