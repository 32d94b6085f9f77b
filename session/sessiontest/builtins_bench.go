package sessiontest

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// The benchmark generators: deterministic output of any size, the same for
// every client, so that figures compare across clients.

// maxGenerated bounds the objects one generator call writes, so that a
// mistyped count does not run for hours.
const maxGenerated = 100_000_000

// benchProcessTypeNames, benchPriorityTypeNames and benchRunspaceID are
// what ../shared/bench/gen_procs_clixml.py (beside the checkout) writes; every object shares
// them.
var (
	benchProcessTypeNames  = []string{"Deserialized.System.Diagnostics.Process", "Deserialized.System.ComponentModel.Component", "Deserialized.System.MarshalByRefObject", "Deserialized.System.Object"}
	benchPriorityTypeNames = []string{"System.Diagnostics.ProcessPriorityClass", "System.Enum", "System.ValueType", "System.Object"}
	benchRunspaceID        = uuid.MustParse("4a8013c9-7387-4239-842a-b290ac4da47b")
	benchZone              = time.FixedZone("", -7*3600)
)

// BenchProcess returns object i of Get-Process -Count N, the object that
// ../shared/bench/gen_procs_clixml.py writes as its line i: a
// Get-Process-like object of 13 properties (Name svchost<i>, Id i,
// Handles 100+i%900, WorkingSet64 1000000+17i, PagedMemorySize64
// 2000000+3i, CPU i/7, StartTime 2026-11-2<i%10>T10:42:32.2731993-07:00,
// TotalProcessorTime <i%60>.0269026 s, Path, Company, Responding,
// MainModule $null, PriorityClass Normal) and the remoting members
// PSComputerName, PSShowComputerName and RunspaceId.
func BenchProcess(i int) *clixml.Object {
	name := "svchost" + strconv.Itoa(i)
	return &clixml.Object{
		TypeNames:   benchProcessTypeNames,
		ToString:    "System.Diagnostics.Process (" + name + ")",
		HasToString: true,
		Props: []clixml.Property{
			{Name: "Name", Value: name},
			{Name: "Id", Value: int32(i)},
			{Name: "Handles", Value: int32(100 + i%900)},
			{Name: "WorkingSet64", Value: int64(1000000 + i*17)},
			{Name: "PagedMemorySize64", Value: int64(2000000 + i*3)},
			{Name: "CPU", Value: float64(i) / 7.0},
			{Name: "StartTime", Value: clixml.DateTime{Time: time.Date(2026, 11, 20+i%10, 10, 42, 32, 273199300, benchZone), Kind: clixml.Local}},
			{Name: "TotalProcessorTime", Value: clixml.TimeSpan(int64(i%60)*10_000_000 + 269026)},
			{Name: "Path", Value: `C:\Windows\System32\svchost.exe`},
			{Name: "Company", Value: "Microsoft Corporation"},
			{Name: "Responding", Value: true},
			{Name: "MainModule", Value: nil},
			{Name: "PriorityClass", Value: &clixml.Object{TypeNames: benchPriorityTypeNames, ToString: "Normal", HasToString: true, Value: int32(32)}},
		},
		Members: []clixml.Property{
			{Name: "PSComputerName", Value: "server2019"},
			{Name: "PSShowComputerName", Value: true},
			{Name: "RunspaceId", Value: benchRunspaceID},
		},
	}
}

// benchProcesses serves Get-Process -Count N: BenchProcess(0) to
// BenchProcess(N-1), in order.
func benchProcesses(ctx context.Context, c *Call, v any) error {
	n, ok := number(v)
	if !ok || n < 0 || n != math.Trunc(n) || n > maxGenerated {
		return &TerminatingError{Record: parameterBindingRecord("Get-Process", "Count",
			fmt.Sprintf("Cannot validate argument on parameter 'Count'. The argument %q is not an integer from 0 to %d.", text(v), maxGenerated))}
	}
	for i := range int(n) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.WriteOutput(BenchProcess(i)); err != nil {
			return err
		}
	}
	return nil
}

// rangePattern matches a range expression statement, "1..N".
var rangePattern = regexp.MustCompile(`^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$`)

// expressionHandler returns the handler of a statement that is a simple
// expression rather than a command: a range (rangeHandler), an integer
// literal (written as Int32, or Int64 when it does not fit), or a quoted
// string without subexpressions (in single quotes, a doubled quote is
// one; in double quotes, no $ or backtick), written as a string; an
// assignment of such a literal to a variable (literalAssignment), which
// writes nothing; nil for anything else.
func expressionHandler(text string) HandlerFunc {
	if literalAssignment(text) {
		return func(context.Context, *Call) error { return nil } // nothing visible
	}
	if h := rangeHandler(text); h != nil {
		return h
	}
	text = strings.TrimSpace(text)
	var v any
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		v = n
		if n == int64(int32(n)) {
			v = int32(n)
		}
	} else if len(text) >= 2 && text[0] == '\'' && text[len(text)-1] == '\'' && !strings.Contains(strings.ReplaceAll(text[1:len(text)-1], "''", ""), "'") {
		v = strings.ReplaceAll(text[1:len(text)-1], "''", "'")
	} else if len(text) >= 2 && text[0] == '"' && text[len(text)-1] == '"' && !strings.ContainsAny(text[1:len(text)-1], "\"`$") {
		v = text[1 : len(text)-1]
	} else {
		return nil
	}
	return func(ctx context.Context, c *Call) error { return c.WriteOutput(v) }
}

// rangeHandler returns the handler of a range statement such as 1..5,
// which writes the integers from the first to the last bound (counting
// down when the last is smaller) as Int32, as PowerShell's range operator
// does; nil when text is no range.
func rangeHandler(text string) HandlerFunc {
	m := rangePattern.FindStringSubmatch(text)
	if m == nil {
		return nil
	}
	from, err1 := strconv.ParseInt(m[1], 10, 32)
	to, err2 := strconv.ParseInt(m[2], 10, 32)
	return func(ctx context.Context, c *Call) error {
		if err1 != nil || err2 != nil || max(from, to)-min(from, to) >= maxGenerated {
			return &TerminatingError{Record: &clixml.ErrorRecord{
				Exception: clixml.ExceptionInfo{
					TypeNames: []string{"System.Management.Automation.RuntimeException", "System.SystemException", "System.Exception", "System.Object"},
					Message:   "The range operator's bounds must be Int32 values at most " + strconv.Itoa(maxGenerated) + " apart: " + text,
				},
				FullyQualifiedErrorID: "RangeOperatorBoundsTooLarge",
				CategoryInfo:          clixml.ErrorCategoryInfo{Category: CategoryInvalidArgument, Reason: "RuntimeException"},
			}}
		}
		step := int64(1)
		if to < from {
			step = -1
		}
		for i := from; ; i += step {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := c.WriteOutput(int32(i)); err != nil {
				return err
			}
			if i == to {
				return nil
			}
		}
	}
}
