package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
)

// handleThings registers Get-Thing (three things) and Where-Thing (keeps
// the things whose name contains -Like), each recording the pipeline it
// saw.
func handleThings(s *Server, seen chan<- string) {
	s.Handle("Get-Thing", func(ctx context.Context, c *Call) error {
		seen <- fmt.Sprintf("%s %d/%d", c.Name, c.Position, len(c.Pipeline))
		return c.WriteOutput("apple", "banana", "cherry")
	})
	s.Handle("Where-Thing", func(ctx context.Context, c *Call) error {
		names := make([]string, len(c.Pipeline))
		for i, cmd := range c.Pipeline {
			names[i] = cmd.Name
		}
		seen <- fmt.Sprintf("%s %d/%d %s", c.Name, c.Position, len(c.Pipeline), strings.Join(names, "|"))
		like, _ := c.Arg("Like")
		for v, err := range c.Input(ctx) {
			if err != nil {
				return err
			}
			if strings.Contains(v.(string), text(like)) {
				if err := c.WriteOutput(v); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// A statement's commands form a pipeline: Get-Thing's output is
// Where-Thing's input, and only Where-Thing's output reaches the client.
func TestPipelineCommandsChain(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	seen := make(chan string, 10)
	handleThings(s, seen)
	c := openPool(t, s, psrp.ClientPoolConfig{})

	for name, ps := range map[string]*psrp.PowerShell{
		"commands": psrp.Cmd("Get-Thing").AddCommand("Where-Thing").Param("Like", "an"),
		"script":   psrp.Script("Get-Thing | Where-Thing -Like an"),
	} {
		t.Run(name, func(t *testing.T) {
			c.t = t
			res := c.run(invocation{ps: ps})
			assert.Equal(t, psrp.PipelineCompleted, res.state)
			assert.Equal(t, []any{"banana"}, res.output)
			got := []string{recv(t, seen, "a command's call"), recv(t, seen, "a command's call")}
			assert.ElementsMatch(t, []string{"Get-Thing 0/2", "Where-Thing 1/2 Get-Thing|Where-Thing"}, got)
		})
	}
}

// A later command with no handler fails the pipeline with
// CommandNotFound; it is never silently dropped.
func TestPipelineMissingLaterCommandFails(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	seen := make(chan string, 10)
	handleThings(s, seen)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	for name, ps := range map[string]*psrp.PowerShell{
		"commands": psrp.Cmd("Get-Thing").AddCommand("Sort-Thing"),
		"script":   psrp.Script("Get-Thing | Sort-Thing"),
	} {
		t.Run(name, func(t *testing.T) {
			c.t = t
			res := c.run(invocation{ps: ps})
			assert.Equal(t, psrp.PipelineFailed, res.state)
			assert.Empty(t, res.output)
			require.NotNil(t, res.stateErr)
			assert.Equal(t, "CommandNotFoundException", res.stateErr.FullyQualifiedErrorID)
			assert.Contains(t, res.stateErr.Exception.Message, "'Sort-Thing'")
			assert.Empty(t, seen, "no command of the statement ran")
		})
	}
}

// The client's input reaches the first command; the rest read the output
// of the one before.
func TestPipelineInputReachesFirstCommand(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	seen := make(chan string, 10)
	handleThings(s, seen)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	res := c.run(invocation{ps: psrp.Cmd("Write-Output").AddCommand("Where-Thing").Param("Like", "i"), input: []any{"kiwi", "fig", "plum"}})
	assert.Equal(t, psrp.PipelineCompleted, res.state)
	assert.Equal(t, []any{"kiwi", "fig"}, res.output)
	assert.Equal(t, "Where-Thing 1/2 Write-Output|Where-Thing", recv(t, seen, "the call"))
}

// A later command's error fails the pipeline and stops the commands
// before it, however much they still had to write.
func TestPipelineLaterCommandFails(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	stopped := make(chan error, 1)
	s.Handle("Get-Endless", func(ctx context.Context, c *Call) error {
		for i := 0; ; i++ {
			if err := c.WriteOutput(int32(i)); err != nil {
				stopped <- err
				return err
			}
		}
	})
	s.Handle("Test-Third", func(ctx context.Context, c *Call) error {
		n := 0
		for _, err := range c.Input(ctx) {
			if err != nil {
				return err
			}
			if n++; n == 3 {
				return errors.New("the third one is bad")
			}
		}
		return nil
	})
	c := openPool(t, s, psrp.ClientPoolConfig{})
	res := c.run(invocation{ps: psrp.Cmd("Get-Endless").AddCommand("Test-Third")})
	assert.Equal(t, psrp.PipelineFailed, res.state)
	require.NotNil(t, res.stateErr)
	assert.Equal(t, "the third one is bad", res.stateErr.Exception.Message)
	assert.ErrorIs(t, recv(t, stopped, "the producer's end"), context.Canceled)
}

// A command that returns before its input ended stops the commands
// before it, as Select-Object -First does: an endless producer ends, and
// the context error it returns is no failure.
func TestPipelineReaderReturnsEarly(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	stopped := make(chan error, 1)
	s.Handle("Get-Endless", func(ctx context.Context, c *Call) error {
		for i := 0; ; i++ {
			if err := c.WriteOutput(int32(i)); err != nil {
				stopped <- err
				return err
			}
		}
	})
	s.Handle("Select-First", func(ctx context.Context, c *Call) error {
		v, _, err := c.NextInput(ctx)
		if err != nil {
			return err
		}
		return c.WriteOutput(v)
	})
	c := openPool(t, s, psrp.ClientPoolConfig{})
	res := c.run(invocation{ps: psrp.Cmd("Get-Endless").AddCommand("Select-First")})
	assert.Equal(t, psrp.PipelineCompleted, res.state)
	assert.Equal(t, []any{int32(0)}, res.output)
	assert.ErrorIs(t, recv(t, stopped, "the producer's end"), context.Canceled)
}

// Statements run in turn; a later statement with a command that has no
// handler fails the pipeline after the earlier ones ran.
func TestPipelineStatementsRunInTurn(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	ps := psrp.Cmd("Write-Output").Arg("one").AddStatement().AddCommand("Write-Output").Arg("two")
	res := c.run(invocation{ps: ps})
	assert.Equal(t, psrp.PipelineCompleted, res.state)
	assert.Equal(t, []any{"one", "two"}, res.output)

	ps = psrp.Cmd("Write-Output").Arg("one").AddStatement().AddCommand("Write-Output").Arg("two").AddCommand("Format-Nothing")
	res = c.run(invocation{ps: ps})
	assert.Equal(t, psrp.PipelineFailed, res.state)
	assert.Equal(t, []any{"one"}, res.output)
	require.NotNil(t, res.stateErr)
	assert.Equal(t, "CommandNotFoundException", res.stateErr.FullyQualifiedErrorID)
}

// Call.Input tells an input that ended from a context that ended.
func TestCallInputEndVersusContext(t *testing.T) {
	t.Parallel()
	q := newInputQueue()
	q.push("a")
	c := &Call{input: q}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []any
	var last error
	for v, err := range c.Input(ctx) {
		if err != nil {
			last = err
			break
		}
		got = append(got, v)
		cancel() // the input is still open: the next wait sees ctx end
	}
	assert.Equal(t, []any{"a"}, got)
	assert.ErrorIs(t, last, context.Canceled)

	q = newInputQueue()
	q.push("b")
	q.end()
	c = &Call{input: q}
	got, last = nil, nil
	for v, err := range c.Input(context.Background()) {
		if err != nil {
			last = err
		}
		got = append(got, v)
	}
	assert.Equal(t, []any{"b"}, got)
	assert.NoError(t, last, "an ended input is no error")
}

func TestSplitScript(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want [][]string
	}{
		{"Get-Date", [][]string{{"Get-Date"}}},
		{"Get-Thing | Where-Thing -Like x", [][]string{{"Get-Thing", "Where-Thing -Like x"}}},
		{"Get-A |\n  Get-B", [][]string{{"Get-A", "Get-B"}}},
		{"Write-Output 'a | b' \"c;d\"", [][]string{{"Write-Output 'a | b' \"c;d\""}}},
		{"Get-X | ForEach-Object { $_ | Out-Null; 1 }", [][]string{{"Get-X", "ForEach-Object { $_ | Out-Null; 1 }"}}},
		{"Get-A; Get-B\nGet-C", [][]string{{"Get-A"}, {"Get-B"}, {"Get-C"}}},
		{"Get-A # not | a pipe\n", [][]string{{"Get-A"}}},
		{"Write-Output `| x", [][]string{{"Write-Output `| x"}}},
		{"Write-Output \"a`\"|b\"", [][]string{{"Write-Output \"a`\"|b\""}}},
		{"  \n # only a comment", nil},
		{"(Get-A | Get-B).Count", [][]string{{"(Get-A | Get-B).Count"}}},
	} {
		assert.Equal(t, tt.want, splitScript(tt.in), tt.in)
	}
}
