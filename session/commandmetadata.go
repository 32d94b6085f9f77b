package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// maxCommandQueryNames bounds the names of one command query (the server's
// decoder refuses more than 16384).
const maxCommandQueryNames = 1024

// ErrCommandNotFound is matched (errors.Is) by a *CommandNotFoundError.
var ErrCommandNotFound = errors.New("session: command not found")

// ErrBadCommandQuery is wrapped by the errors of a command query that
// cannot be sent (an empty name, an undefined command type, too many
// names).
var ErrBadCommandQuery = errors.New("session: bad command query")

// ErrBadCommandMetadata is wrapped by the errors of a server answer to a
// command query that is not command metadata (MS-PSRP 2.2.3.21 and
// 2.2.3.22), or whose count does not match what it sent.
var ErrBadCommandMetadata = errors.New("session: bad command metadata from the server")

// CommandNotFoundError reports the names of a command query, without
// wildcards, that matched no command. Get-Command fails the same way for
// such a name; a wildcard pattern that matches nothing is no error.
type CommandNotFoundError struct {
	Names []string
}

func (e *CommandNotFoundError) Error() string {
	return fmt.Sprintf("session: get command: no command named %s", strings.Join(quoteAll(e.Names), ", "))
}

// Is makes a *CommandNotFoundError match ErrCommandNotFound.
func (e *CommandNotFoundError) Is(target error) bool { return target == ErrCommandNotFound }

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

// CommandQuery selects commands as Get-Command does.
type CommandQuery struct {
	// Names are command names or wildcard patterns (*, ?, [a-z]; a
	// backtick escapes), matched case-insensitively, optionally
	// module-qualified ("Microsoft.PowerShell.Utility\Get-Date"). Empty
	// means every command ("*").
	Names []string
	// Types is the command types to look for; zero means all.
	Types psrp.CommandTypes
	// Modules restricts the search to these modules (Get-Command -Module).
	Modules []string
	// ArgumentList is passed to the commands to resolve their dynamic
	// parameters (Get-Command -ArgumentList).
	ArgumentList []any
}

// CommandInfo describes one remote command (MS-PSRP 2.2.3.22).
type CommandInfo struct {
	// Name is the command's name (an alias's own name for an alias).
	Name string
	// Type is the command type: cmdlet, function, alias, application...
	Type psrp.CommandTypes
	// Module is the module (namespace) the command comes from; empty for
	// applications and commands defined outside a module.
	Module string
	// HelpURI is the command's online help, if any.
	HelpURI string
	// OutputType is the .NET types of the objects the command declares it
	// writes.
	OutputType []string
	// Parameters are the command's parameters, sorted by name.
	Parameters []ParameterInfo
}

// ParameterInfo describes one parameter of a command.
type ParameterInfo struct {
	Name string
	// Type is the parameter's .NET type, e.g. "System.String" or
	// "System.Management.Automation.SwitchParameter".
	Type    string
	Aliases []string
	// IsSwitch reports a switch parameter (-Force), given without a value.
	IsSwitch bool
	// IsDynamic reports a dynamic parameter (one a provider or the
	// ArgumentList added).
	IsDynamic bool
}

// Parameter returns the parameter named name or having it as an alias,
// compared case-insensitively as PowerShell binds them.
func (c CommandInfo) Parameter(name string) (ParameterInfo, bool) {
	for _, p := range c.Parameters {
		if strings.EqualFold(p.Name, name) || slices.ContainsFunc(p.Aliases, func(a string) bool { return strings.EqualFold(a, name) }) {
			return p, true
		}
	}
	return ParameterInfo{}, false
}

// GetCommand returns the commands matching names (wildcards allowed; none
// means every command) and their parameters, as Get-Command does, through
// a GET_COMMAND_METADATA request (MS-PSRP 3.1.4.10). A name without
// wildcards that matches no command makes the error a
// *CommandNotFoundError (errors.Is ErrCommandNotFound), returned with the
// commands that were found.
func (s *Session) GetCommand(ctx context.Context, names ...string) ([]CommandInfo, error) {
	return s.FindCommands(ctx, CommandQuery{Names: names})
}

// FindCommands returns the commands q selects; see GetCommand. The request
// runs like a pipeline: it takes a runspace while it runs, and cancelling
// ctx stops it.
func (s *Session) FindCommands(ctx context.Context, q CommandQuery) ([]CommandInfo, error) {
	req, err := q.request()
	if err != nil {
		return nil, err
	}
	p, err := s.Start(ctx, &psrp.PowerShell{}, func(c *startConfig) { c.metadata = req })
	if err != nil {
		return nil, fmt.Errorf("session: get command: %w", err)
	}
	out, err := p.Wait()
	if err != nil {
		return nil, fmt.Errorf("session: get command: %w", err)
	}
	cmds, err := decodeCommandMetadata(out.Output)
	if err != nil {
		return nil, err
	}
	if missing := missingNames(req.Names, cmds); len(missing) > 0 {
		return cmds, &CommandNotFoundError{Names: missing}
	}
	return cmds, nil
}

// request checks q and builds its GET_COMMAND_METADATA.
func (q CommandQuery) request() (*psrp.GetCommandMetadata, error) {
	if len(q.Names) > maxCommandQueryNames {
		return nil, fmt.Errorf("%w: %d names (at most %d)", ErrBadCommandQuery, len(q.Names), maxCommandQueryNames)
	}
	if len(q.Modules) > maxCommandQueryNames {
		return nil, fmt.Errorf("%w: %d modules (at most %d)", ErrBadCommandQuery, len(q.Modules), maxCommandQueryNames)
	}
	for _, n := range q.Names {
		if strings.TrimSpace(n) == "" {
			return nil, fmt.Errorf("%w: an empty command name", ErrBadCommandQuery)
		}
	}
	for _, m := range q.Modules {
		if strings.TrimSpace(m) == "" {
			return nil, fmt.Errorf("%w: an empty module name", ErrBadCommandQuery)
		}
	}
	types := q.Types
	if types == 0 {
		types = psrp.CommandTypeAll
	}
	if types < 0 || types > psrp.CommandTypeAll {
		return nil, fmt.Errorf("%w: command types %d (defined: 1 to %d)", ErrBadCommandQuery, int32(q.Types), int32(psrp.CommandTypeAll))
	}
	names := q.Names
	if len(names) == 0 {
		names = []string{"*"}
	}
	return &psrp.GetCommandMetadata{Names: slices.Clone(names), CommandType: types,
		Namespace: slices.Clone(q.Modules), ArgumentList: slices.Clone(q.ArgumentList)}, nil
}

// decodeCommandMetadata reads a GET_COMMAND_METADATA answer: the count
// (MS-PSRP 2.2.3.21), then one CommandMetadata per command. Servers that
// answer the count as a plain integer are accepted too.
func decodeCommandMetadata(output []any) ([]CommandInfo, error) {
	if len(output) == 0 {
		return nil, fmt.Errorf("%w: no answer (not even a count)", ErrBadCommandMetadata)
	}
	n, ok := metadataCount(output[0])
	if !ok {
		return nil, fmt.Errorf("%w: the first object is not a count but %s", ErrBadCommandMetadata, describeValue(output[0]))
	}
	if n != int64(len(output)-1) {
		return nil, fmt.Errorf("%w: the count says %d commands, %d followed", ErrBadCommandMetadata, n, len(output)-1)
	}
	cmds := make([]CommandInfo, 0, len(output)-1)
	for i, v := range output[1:] {
		var m clixml.CommandMetadata
		if err := m.UnmarshalCLIXML(v); err != nil {
			return nil, fmt.Errorf("%w: command %d: %w", ErrBadCommandMetadata, i, err)
		}
		if m.Name == "" {
			return nil, fmt.Errorf("%w: command %d has no name", ErrBadCommandMetadata, i)
		}
		cmds = append(cmds, commandInfo(m))
	}
	return cmds, nil
}

// metadataCount reads the count of a GET_COMMAND_METADATA answer.
func metadataCount(v any) (int64, bool) {
	switch x := v.(type) {
	case int32:
		return int64(x), x >= 0
	case int64:
		return x, x >= 0
	case *clixml.Object:
		if x == nil {
			return 0, false
		}
		c, ok := x.Member("Count")
		if !ok {
			return 0, false
		}
		return metadataCount(c)
	}
	return 0, false
}

// describeValue names v's type for an error, without its content.
func describeValue(v any) string {
	if o, ok := v.(*clixml.Object); ok && o != nil && len(o.TypeNames) > 0 {
		return o.TypeNames[0]
	}
	return fmt.Sprintf("%T", v)
}

func commandInfo(m clixml.CommandMetadata) CommandInfo {
	c := CommandInfo{Name: m.Name, Type: psrp.CommandTypes(m.CommandType), Module: m.Namespace,
		HelpURI: m.HelpURI, OutputType: nilIfEmpty(m.OutputType)}
	for key, p := range m.Parameters {
		name := p.Name
		if name == "" {
			name = key
		}
		c.Parameters = append(c.Parameters, ParameterInfo{Name: name, Type: p.ParameterType,
			Aliases: nilIfEmpty(p.Aliases), IsSwitch: p.SwitchParameter, IsDynamic: p.IsDynamic})
	}
	slices.SortFunc(c.Parameters, func(a, b ParameterInfo) int { return strings.Compare(a.Name, b.Name) })
	return c
}

// nilIfEmpty gives nil for an empty list, so that "none" has one form.
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// missingNames returns the names without wildcards that no command of
// cmds has (a module-qualified name is compared by its command part).
func missingNames(names []string, cmds []CommandInfo) []string {
	var missing []string
	for _, n := range names {
		if hasWildcard(n) {
			continue
		}
		short := n[strings.LastIndexByte(n, '\\')+1:]
		if !slices.ContainsFunc(cmds, func(c CommandInfo) bool { return strings.EqualFold(c.Name, short) }) {
			missing = append(missing, n)
		}
	}
	return missing
}

// hasWildcard reports whether PowerShell takes s as a wildcard pattern: it
// holds *, ? or [ not escaped by a backtick
// (WildcardPattern.ContainsWildcardCharacters).
func hasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '`':
			i++ // the next character is literal
		case '*', '?', '[':
			return true
		}
	}
	return false
}
