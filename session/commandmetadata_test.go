package session_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

func commandNames(cmds []session.CommandInfo) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = c.Name
	}
	return out
}

func TestGetCommandDescribedHandler(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.HandleCommand("Get-Widget", sessiontest.CommandDescription{
		Module:     "Widgets",
		OutputType: []string{"Widgets.Widget"},
		Parameters: []sessiontest.Parameter{
			{Name: "Name", Type: "System.String[]", Aliases: []string{"WidgetName"}},
			{Name: "Count", Type: "System.Int32"},
			{Name: "Force", Switch: true},
		},
	}, func(ctx context.Context, c *sessiontest.Call) error { return c.WriteOutput("w") })
	s := open(t, srv)

	cmds, err := s.GetCommand(testContext(t), "Get-Widget")
	require.NoError(t, err)
	require.Len(t, cmds, 1)
	c := cmds[0]
	assert.Equal(t, "Get-Widget", c.Name)
	assert.Equal(t, psrp.CommandTypeCmdlet, c.Type)
	assert.Equal(t, "Widgets", c.Module)
	assert.Equal(t, []string{"Widgets.Widget"}, c.OutputType)

	p, ok := c.Parameter("widgetname") // by alias, case-insensitively
	require.True(t, ok)
	assert.Equal(t, session.ParameterInfo{Name: "Name", Type: "System.String[]", Aliases: []string{"WidgetName"}}, p)
	p, ok = c.Parameter("Force")
	require.True(t, ok)
	assert.True(t, p.IsSwitch)
	assert.Equal(t, "System.Management.Automation.SwitchParameter", p.Type)
	p, ok = c.Parameter("Count")
	require.True(t, ok)
	assert.Equal(t, "System.Int32", p.Type)
	// A cmdlet reports the common parameters too, as Windows does.
	p, ok = c.Parameter("ea")
	require.True(t, ok)
	assert.Equal(t, "ErrorAction", p.Name)
	_, ok = c.Parameter("NoSuchParameter")
	assert.False(t, ok)
	// Parameters come sorted by name.
	for i := 1; i < len(c.Parameters); i++ {
		assert.Less(t, c.Parameters[i-1].Name, c.Parameters[i].Name)
	}

	// The command the metadata describes still runs.
	res, err := s.InvokeScript(testContext(t), "Get-Widget")
	require.NoError(t, err)
	assert.Equal(t, []any{"w"}, res.Output)

	// A command that is only described is listed, as a function here, but
	// does not run.
	srv.Describe("Get-Ghost", sessiontest.CommandDescription{Type: psrp.CommandTypeFunction})
	cmds, err = s.GetCommand(testContext(t), "Get-Ghost")
	require.NoError(t, err)
	require.Len(t, cmds, 1)
	assert.Equal(t, psrp.CommandTypeFunction, cmds[0].Type)
	assert.Empty(t, cmds[0].Parameters, "a function has no common parameters unless it declares them")
	_, err = s.InvokeScript(testContext(t), "Get-Ghost")
	var pe *session.PipelineError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "CommandNotFoundException", pe.Record.FullyQualifiedErrorID)
}

func TestGetCommandBuiltinsAndWildcards(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Get-Thing", func(ctx context.Context, c *sessiontest.Call) error { return nil })
	s := open(t, srv)
	ctx := testContext(t)

	cmds, err := s.GetCommand(ctx, "Write-[ew]*")
	require.NoError(t, err)
	assert.Equal(t, []string{"Write-Error", "Write-Warning"}, commandNames(cmds))
	assert.Equal(t, "Microsoft.PowerShell.Utility", cmds[0].Module)
	p, ok := cmds[0].Parameter("Msg")
	require.True(t, ok)
	assert.Equal(t, "Message", p.Name)

	// Case-insensitive, ?, a module-qualified name, and several names.
	cmds, err = s.GetCommand(ctx, "get-dat?", `Microsoft.PowerShell.Management\Get-Process`, "get-thing")
	require.NoError(t, err)
	assert.Equal(t, []string{"Get-Date", "Get-Process", "Get-Thing"}, commandNames(cmds))
	dt, _ := cmds[0].Parameter("Date")
	assert.Equal(t, "System.DateTime", dt.Type)
	assert.Empty(t, cmds[2].Module, "an undescribed handler has no module")

	// A wildcard that matches nothing is no error.
	cmds, err = s.GetCommand(ctx, "NoSuch-*")
	require.NoError(t, err)
	assert.Empty(t, cmds)

	// Aliases, selected by command type.
	cmds, err = s.FindCommands(ctx, session.CommandQuery{Names: []string{"*"}, Types: psrp.CommandTypeAlias})
	require.NoError(t, err)
	assert.Equal(t, []string{"echo", "iex"}, commandNames(cmds))
	assert.Equal(t, psrp.CommandTypeAlias, cmds[0].Type)
	_, ok = cmds[0].Parameter("NoEnumerate")
	assert.True(t, ok, "an alias has the parameters of its command")

	// A module filter; no names means every command.
	cmds, err = s.FindCommands(ctx, session.CommandQuery{Modules: []string{"Microsoft.PowerShell.Man*"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"Get-Process"}, commandNames(cmds))
	all, err := s.GetCommand(ctx)
	require.NoError(t, err)
	assert.Contains(t, commandNames(all), "Get-Thing")
	assert.NotContains(t, commandNames(all), "$PSVersionTable", "a variable is not a command")
}

func TestGetCommandBadInputs(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	s := open(t, srv)
	ctx := testContext(t)

	// A literal name that matches nothing: the found commands and a typed
	// error naming the missing ones.
	cmds, err := s.GetCommand(ctx, "Get-Date", "Get-Nothing", "Nope-*", "Set-Nothing")
	require.Error(t, err)
	assert.ErrorIs(t, err, session.ErrCommandNotFound)
	var nf *session.CommandNotFoundError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, []string{"Get-Nothing", "Set-Nothing"}, nf.Names)
	assert.Equal(t, []string{"Get-Date"}, commandNames(cmds))

	// An escaped wildcard character is literal.
	_, err = s.GetCommand(ctx, "Get-Date`*")
	assert.ErrorIs(t, err, session.ErrCommandNotFound)

	// A pattern PowerShell refuses fails on the server.
	_, err = s.GetCommand(ctx, "Get-[Date")
	var pe *session.PipelineError
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, pe.Error(), "wildcard")

	// Queries that cannot be sent.
	for name, q := range map[string]session.CommandQuery{
		"empty name":     {Names: []string{"Get-Date", " "}},
		"empty module":   {Modules: []string{""}},
		"negative type":  {Types: -1},
		"undefined type": {Types: 512},
		"too many names": {Names: make([]string, 1025)},
	} {
		_, err := s.FindCommands(ctx, q)
		assert.ErrorIs(t, err, session.ErrBadCommandQuery, name)
	}

	// The session still works.
	cmds, err = s.GetCommand(ctx, "Get-Date")
	require.NoError(t, err)
	assert.Len(t, cmds, 1)
}

func TestGetCommandCancelled(t *testing.T) {
	t.Parallel()
	s := open(t, newServer(t))
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	_, err := s.GetCommand(ctx, "Get-Date")
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
}

// TestGetCommandGarbageFromServer: a server whose answer to
// GET_COMMAND_METADATA is not command metadata gets a typed error, and the
// session goes on.
func TestGetCommandGarbageFromServer(t *testing.T) {
	t.Parallel()
	h := newHostile(t, newServer(t))
	s := openVia(t, h)
	ctx := testContext(t)
	meta := &clixml.Object{Members: []clixml.Property{{Name: "Name", Value: "Get-Date"}, {Name: "CommandType", Value: int32(8)}}}
	for i, tc := range []struct {
		name   string
		output []any
	}{
		{"no count", []any{meta}},
		{"a string", []any{"hello"}},
		{"count too high", []any{int32(2), meta}},
		{"metadata not an object", []any{int32(1), "Get-Date"}},
		{"parameters not a dictionary", []any{int32(1), &clixml.Object{Members: []clixml.Property{
			{Name: "Name", Value: "Get-Date"}, {Name: "Parameters", Value: int32(7)}}}}},
	} {
		h.add(&rule{match: isPipelineReceive, times: 1, answer: func(r seenRequest) (int, []byte) {
			id, err := uuid.Parse(r.CommandID)
			if err != nil {
				return 500, nil
			}
			var bodies []psrp.Body
			for _, v := range tc.output {
				bodies = append(bodies, &psrp.PipelineOutput{Value: v})
			}
			bodies = append(bodies, &psrp.PipelineState{State: psrp.PipelineCompleted})
			return 200, receiveResponse(r, r.CommandID, fragments(t, 1<<40+uint64(i)*16, s.ID(), id, bodies...))
		}})
		_, err := s.GetCommand(ctx, "Get-Date")
		assert.ErrorIs(t, err, session.ErrBadCommandMetadata, tc.name)
	}
	assert.Equal(t, session.StateOpened, s.State())
	cmds, err := s.GetCommand(ctx, "Get-Date")
	require.NoError(t, err)
	assert.Equal(t, []string{"Get-Date"}, commandNames(cmds))
}
