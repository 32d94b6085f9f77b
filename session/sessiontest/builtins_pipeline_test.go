package sessiontest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// pypsrp's Client.execute_ps sends Invoke-Expression -Command <script> |
// Out-String -Stream as two commands; the script runs through its
// handlers and its output comes back as lines.
func TestInvokeExpressionOutStringStream(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	ps := func(script string) *psrp.PowerShell {
		return psrp.Cmd("Invoke-Expression").Param("Command", script).AddCommand("Out-String").Param("Stream", nil)
	}
	res := c.run(invocation{ps: ps("Write-Output a; Write-Output 'b c' | Select-Object -First 1")})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%+v", res.stateErr)
	assert.Equal(t, []any{"a", "b c"}, res.output)

	res = c.run(invocation{ps: ps("Get-Date")})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%+v", res.stateErr)
	require.Len(t, res.output, 1)
	assert.Regexp(t, `^[A-Z][a-z]+day, [A-Z][a-z]+ \d+, \d{4} \d+:\d\d:\d\d [AP]M$`, res.output[0])

	// Streams other than output pass through; errors stay errors.
	res = c.run(invocation{ps: ps("Write-Error oops; Write-Warning careful; 1..3")})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%+v", res.stateErr)
	assert.Equal(t, []any{"1", "2", "3"}, res.output)
	require.Len(t, res.errors, 1)
	assert.Equal(t, "oops", res.errors[0].Exception.Message)

	// An unknown command inside the script fails as PowerShell does.
	res = c.run(invocation{ps: ps("Get-Nothing")})
	assert.Equal(t, psrp.PipelineFailed, res.state)
	require.NotNil(t, res.stateErr)
	assert.Equal(t, "CommandNotFoundException", res.stateErr.FullyQualifiedErrorID)

	res = c.run(invocation{ps: psrp.Cmd("Invoke-Expression")})
	assert.Equal(t, psrp.PipelineFailed, res.state)
}

// Invoke-Expression hands its input to the script.
func TestInvokeExpressionInput(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	res := c.run(invocation{ps: psrp.Cmd("Invoke-Expression").Arg("Select-Object -Skip 1"), input: []any{"x", "y", "z"}})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%+v", res.stateErr)
	assert.Equal(t, []any{"y", "z"}, res.output)
}

// Out-String without -Stream writes one string, every line ended by CRLF.
func TestOutString(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	res := c.run(invocation{ps: psrp.Script("1..2 | Out-String")})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%+v", res.stateErr)
	assert.Equal(t, []any{"1\r\n2\r\n"}, res.output)

	res = c.run(invocation{ps: psrp.Script("Out-String"), input: []any{"two\nlines", true, 1.5, nil,
		&clixml.Object{Props: []clixml.Property{{Name: "Name", Value: "n"}, {Name: "LongName", Value: int32(7)}}},
		&clixml.Object{Kind: clixml.Dictionary, Entries: []clixml.DictEntry{{Key: "k", Value: "v"}}},
	}})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%+v", res.stateErr)
	assert.Equal(t, []any{"two\r\nlines\r\nTrue\r\n1.5\r\nName     : n\r\nLongName : 7\r\nk : v\r\n"}, res.output)

	res = c.run(invocation{ps: psrp.Script("Out-String -Stream"), input: []any{"two\r\nlines", int32(3),
		clixml.TimeSpan(7*10_000_000 + 269026), clixml.TimeSpan(-(2*86400 + 3661) * 10_000_000)}})
	assert.Equal(t, []any{"two", "lines", "3", "00:00:07.0269026", "-2.01:01:01"}, res.output)

	res = c.run(invocation{ps: psrp.Script("Write-Output x | Out-Null")})
	require.Equal(t, psrp.PipelineCompleted, res.state)
	assert.Empty(t, res.output)
}

// Select-Object -First N returns after N objects and stops the generator
// before it, which would otherwise write a hundred million objects.
func TestSelectObjectFirstStopsUpstream(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	res := c.run(invocation{ps: psrp.Script("1..100000000 | Select-Object -First 3")})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%+v", res.stateErr)
	assert.Equal(t, []any{int32(1), int32(2), int32(3)}, res.output)

	res = c.run(invocation{ps: psrp.Script("Get-Process -Count 1000000 | Select-Object -Skip 2 -First 1")})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%+v", res.stateErr)
	require.Len(t, res.output, 1)
	assert.Equal(t, "System.Diagnostics.Process (svchost2)", res.output[0].(*clixml.Object).ToString)

	res = c.run(invocation{ps: psrp.Script("1..3 | Select-Object -Property Name")})
	assert.Equal(t, psrp.PipelineFailed, res.state)
}

// 1..N writes Int32s, counting down too; a bad range fails clearly.
func TestRange(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	res := c.run(invocation{ps: psrp.Script("3..-1")})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%+v", res.stateErr)
	assert.Equal(t, []any{int32(3), int32(2), int32(1), int32(0), int32(-1)}, res.output)
	res = c.run(invocation{ps: psrp.Script("1..99999999999")})
	assert.Equal(t, psrp.PipelineFailed, res.state)
	require.NotNil(t, res.stateErr)
	assert.Equal(t, "RangeOperatorBoundsTooLarge", res.stateErr.FullyQualifiedErrorID)
}

// Get-Process -Count N writes the objects the shared benchmark generator
// writes: encoded, object i is line i of gen_procs_clixml.py's output, but
// for Python's "1.0" where .NET writes "1".
func TestGetProcessCount(t *testing.T) {
	t.Parallel()
	for _, i := range []int{0, 7, 1234} {
		got, err := clixml.Marshal(BenchProcess(i))
		require.NoError(t, err)
		assert.Equal(t, genProcsLine(i), string(got), "object %d", i)
	}
	s := newPSServer(t)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	res := c.run(invocation{ps: psrp.Cmd("Get-Process").Param("Count", int32(25))})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%+v", res.stateErr)
	require.Len(t, res.output, 25)
	last := res.output[24].(*clixml.Object)
	assert.Equal(t, "System.Diagnostics.Process (svchost24)", last.ToString)
	assert.Equal(t, "Deserialized.System.Diagnostics.Process", last.TypeNames[0])
	res = c.run(invocation{ps: psrp.Script("Get-Process -Count -1")})
	assert.Equal(t, psrp.PipelineFailed, res.state)
}

// genProcsLine is line i of gen_procs_clixml.py's output, by its template.
func genProcsLine(i int) string {
	cpu := strconvFloat(float64(i) / 7.0)
	r := strings.NewReplacer("{i}", itoa(i), "{h}", itoa(100+i%900), "{ws}", itoa(1000000+i*17), "{pm}", itoa(2000000+i*3),
		"{cpu}", cpu, "{d}", itoa(i%10), "{s}", itoa(i%60))
	return r.Replace(`<Obj RefId="0"><TN RefId="0"><T>Deserialized.System.Diagnostics.Process</T><T>Deserialized.System.ComponentModel.Component</T>` +
		`<T>Deserialized.System.MarshalByRefObject</T><T>Deserialized.System.Object</T></TN><ToString>System.Diagnostics.Process (svchost{i})</ToString>` +
		`<Props><S N="Name">svchost{i}</S><I32 N="Id">{i}</I32><I32 N="Handles">{h}</I32><I64 N="WorkingSet64">{ws}</I64><I64 N="PagedMemorySize64">{pm}</I64>` +
		`<Db N="CPU">{cpu}</Db><DT N="StartTime">2026-11-2{d}T10:42:32.2731993-07:00</DT><TS N="TotalProcessorTime">PT{s}.0269026S</TS>` +
		`<S N="Path">C:\Windows\System32\svchost.exe</S><S N="Company">Microsoft Corporation</S><B N="Responding">true</B><Nil N="MainModule" />` +
		`<Obj N="PriorityClass" RefId="1"><TN RefId="1"><T>System.Diagnostics.ProcessPriorityClass</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN>` +
		`<ToString>Normal</ToString><I32>32</I32></Obj></Props><MS><S N="PSComputerName">server2019</S><B N="PSShowComputerName">true</B><G N="RunspaceId">4a8013c9-7387-4239-842a-b290ac4da47b</G></MS></Obj>`)
}

func itoa(i int) string { return strconv.Itoa(i) }

// strconvFloat writes f as the encoder does: the script's Python repr
// writes "1.0" where .NET (and the encoder) write "1", the one difference.
func strconvFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// A statement that is a literal writes its value.
func TestLiteralStatements(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	res := c.run(invocation{ps: psrp.Cmd("Invoke-Expression").Arg(`7; 'it''s'; "plain"; 9999999999`)})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%+v", res.stateErr)
	assert.Equal(t, []any{int32(7), "it's", "plain", int64(9999999999)}, res.output)
	res = c.run(invocation{ps: psrp.Script(`"a $b"`)})
	assert.Equal(t, psrp.PipelineFailed, res.state, "an interpolated string is not emulated")
}

// countingSink takes at most limit outputs; expression handlers write
// nothing else.
type countingSink struct {
	sink
	out   []any
	limit int
}

var errEnough = errors.New("enough output")

func (k *countingSink) output(v any) error {
	if len(k.out) == k.limit {
		return errEnough
	}
	k.out = append(k.out, v)
	return nil
}

// Statement text from the wire: a literal or range is recognised without
// panicking, writes what it says, and anything else is left to the
// command handlers.
func FuzzExpressionHandler(f *testing.F) {
	for _, seed := range []string{"1..5", "5..1", " -3 .. 2 ", "1..99999999999", "7", "-2147483649", "'it''s'", `"plain"`, `"a $b"`, "'", "Get-Date", "1..", "..", "''''"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		h := expressionHandler(text)
		if h == nil {
			return
		}
		k := &countingSink{limit: 3}
		err := h(context.Background(), &Call{Name: text, Script: text, IsScript: true, sink: k})
		if err != nil && !errors.Is(err, errEnough) {
			var te *TerminatingError
			if !errors.As(err, &te) {
				t.Fatalf("%q: %v", text, err)
			}
			return
		}
		if len(k.out) == 0 {
			t.Fatalf("%q wrote nothing", text)
		}
		if rangePattern.MatchString(text) {
			for _, v := range k.out {
				if _, ok := v.(int32); !ok {
					t.Fatalf("%q wrote %T", text, v)
				}
			}
		}
	})
}
