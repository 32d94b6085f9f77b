package sessiontest

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// The built-ins that third-party clients wrap scripts in: pypsrp's
// Client.execute_ps runs Invoke-Expression -Command <script> | Out-String
// -Stream, Ansible's psrp connection pipes to Out-Null and Select-Object.

// builtinInvokeExpression runs the script of -Command (or the first
// positional argument): its HandleScript handler if it has one, else each
// statement in turn, its commands a pipeline served by their handlers, the
// call's input going to the first statement and every stream to the call's.
func (s *Server) builtinInvokeExpression(ctx context.Context, c *Call) error {
	script, ok := message(c, "Command")
	if !ok || strings.TrimSpace(script) == "" {
		return &TerminatingError{Record: parameterBindingRecord("Invoke-Expression", "Command",
			"Cannot bind argument to parameter 'Command' because it is an empty string.")}
	}
	if _, exact := s.scriptHandler(script); exact {
		stmts := s.plan([][]psrp.Command{{{Cmd: script, IsScript: true}}})
		return runStatements(ctx, stmts, c.input, c.NoInput, c.sink, c.ApplicationArguments)
	}
	// Unlike a script sent as a command, whose several statements go to
	// one handler, the statements of an Invoke-Expression each run: the
	// wrapper is how clients send every script.
	parts := splitScript(script)
	stmts := make([]statement, len(parts))
	for i, cmds := range parts {
		for _, seg := range cmds {
			s.addStage(&stmts[i], s.scriptCommand(seg, nil))
		}
	}
	return runStatements(ctx, stmts, c.input, c.NoInput, c.sink, c.ApplicationArguments)
}

// parameterBindingRecord is the record of a parameter PowerShell could not
// bind.
func parameterBindingRecord(command, param, msg string) *clixml.ErrorRecord {
	return &clixml.ErrorRecord{
		Exception: clixml.ExceptionInfo{
			TypeNames: []string{"System.Management.Automation.ParameterBindingException", "System.Management.Automation.RuntimeException", "System.SystemException", "System.Exception", "System.Object"},
			Message:   msg,
		},
		FullyQualifiedErrorID: "ParameterArgumentValidationError," + strings.ReplaceAll("Microsoft.PowerShell.Commands."+command+"Command", "-", ""),
		CategoryInfo:          clixml.ErrorCategoryInfo{Category: CategoryInvalidArgument, Reason: "ParameterBindingException", TargetName: param},
	}
}

// builtinOutString renders its input as text (see renderLines): with
// -Stream one string per line, else a single string of every line, each
// ended by CRLF as Windows' Out-String ends them. An input of nothing (or
// only $null) writes nothing.
func builtinOutString(ctx context.Context, c *Call) error {
	v, stream := c.Arg("Stream")
	stream = stream && v != false // -Stream:$false
	var all strings.Builder
	wrote := false
	for v, err := range c.Input(ctx) {
		if err != nil {
			return err
		}
		lines := renderLines(v)
		if stream {
			for _, l := range lines {
				if err := c.WriteOutput(l); err != nil {
					return err
				}
			}
			continue
		}
		for _, l := range lines {
			all.WriteString(l)
			all.WriteString("\r\n")
			wrote = true
		}
	}
	if stream || !wrote {
		return nil
	}
	return c.WriteOutput(all.String())
}

// renderLines is the endpoint's stand-in for PowerShell's formatter, kept
// simple and deterministic: a string is its lines; a number, bool,
// DateTime or TimeSpan its invariant text; an object with a ToString and no properties
// its ToString; a list its items' lines; a dictionary and an object with
// properties one "Name : Value" line per entry, names padded to the
// longest (Format-List's layout); $null nothing.
func renderLines(v any) []string {
	switch t := v.(type) {
	case nil:
		return nil
	case string:
		return strings.Split(strings.ReplaceAll(t, "\r\n", "\n"), "\n")
	case *clixml.Object:
		switch {
		case t.Kind == clixml.Dictionary:
			pairs := make([][2]string, len(t.Entries))
			for i, e := range t.Entries {
				pairs[i] = [2]string{scalarText(e.Key), scalarText(e.Value)}
			}
			return listLines(pairs)
		case t.Kind != clixml.NotContainer:
			var out []string
			for _, it := range t.Items {
				out = append(out, renderLines(it)...)
			}
			return out
		case len(t.Props)+len(t.Members) == 0 || t.HasToString && t.Value != nil:
			return renderLines(scalarText(t))
		}
		pairs := make([][2]string, 0, len(t.Props)+len(t.Members))
		for _, p := range append(append([]clixml.Property(nil), t.Props...), t.Members...) {
			pairs = append(pairs, [2]string{p.Name, scalarText(p.Value)})
		}
		return listLines(pairs)
	}
	return renderLines(scalarText(v))
}

// listLines lays out name/value pairs as Format-List does.
func listLines(pairs [][2]string) []string {
	width := 0
	for _, p := range pairs {
		width = max(width, len(p[0]))
	}
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = strings.TrimRight(fmt.Sprintf("%-*s : %s", width, p[0], p[1]), " ")
	}
	return out
}

// scalarText is the one-line text of a value, as PowerShell's invariant
// ToString gives it.
func scalarText(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case bool:
		if t {
			return "True"
		}
		return "False"
	case float64:
		return formatFloat(t, 64)
	case float32:
		return formatFloat(float64(t), 32)
	case clixml.DateTime:
		return t.Time.Format("1/2/2006 3:04:05 PM")
	case clixml.TimeSpan:
		return timeSpanText(int64(t))
	case time.Duration:
		return timeSpanText(int64(clixml.TimeSpanOf(t)))
	case *clixml.Object:
		if t.HasToString {
			return t.ToString
		}
		if t.Value != nil {
			return scalarText(t.Value)
		}
		if t.Kind == clixml.List {
			parts := make([]string, len(t.Items))
			for i, it := range t.Items {
				parts[i] = scalarText(it)
			}
			return "{" + strings.Join(parts, ", ") + "}"
		}
		if len(t.TypeNames) > 0 {
			return t.TypeNames[0]
		}
		return ""
	}
	return text(v)
}

// formatFloat writes f as .NET's "R" format does for ordinary magnitudes.
func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'G', -1, bits)
}

// builtinSelectObject passes on its input; with -First N it passes on the
// first N objects and returns, which stops the commands before it as
// PowerShell's Select-Object -First does, and with -Skip N it drops the
// first N. -Property and the other parameters are not emulated: such a
// call fails, so that a test never gets silently wrong objects.
func builtinSelectObject(ctx context.Context, c *Call) error {
	first, skip := -1, 0
	for _, a := range c.Args {
		name := strings.TrimPrefix(a.Name, "-")
		switch {
		case strings.EqualFold(name, "First"), strings.EqualFold(name, "Skip"):
			n, ok := number(a.Value)
			if !ok || n < 0 || n != math.Trunc(n) || n > math.MaxInt32 {
				return &TerminatingError{Record: parameterBindingRecord("Select-Object", name,
					fmt.Sprintf("Cannot validate argument on parameter '%s'. The argument %q is not a non-negative integer.", name, text(a.Value)))}
			}
			if strings.EqualFold(name, "First") {
				first = int(n)
			} else {
				skip = int(n)
			}
		default:
			shown := name
			if shown == "" {
				shown = text(a.Value)
			}
			return &TerminatingError{Record: parameterBindingRecord("Select-Object", name,
				"sessiontest: Select-Object supports only -First and -Skip, not "+strconv.Quote(shown)+".")}
		}
	}
	if first == 0 {
		return nil
	}
	seen, written := 0, 0
	for v, err := range c.Input(ctx) {
		if err != nil {
			return err
		}
		if seen++; seen <= skip {
			continue
		}
		if err := c.WriteOutput(v); err != nil {
			return err
		}
		if written++; written == first {
			return nil
		}
	}
	return nil
}

// timeSpanText writes a TimeSpan of ticks (100 ns) as .NET's ToString
// does: [-][d.]hh:mm:ss[.fffffff].
func timeSpanText(ticks int64) string {
	sign := ""
	u := uint64(ticks)
	if ticks < 0 {
		sign, u = "-", uint64(-ticks)
	}
	const perSecond = 10_000_000
	secs, frac := u/perSecond, u%perSecond
	days := secs / 86400
	out := sign
	if days > 0 {
		out += strconv.FormatUint(days, 10) + "."
	}
	out += fmt.Sprintf("%02d:%02d:%02d", secs/3600%24, secs/60%60, secs%60)
	if frac != 0 {
		out += fmt.Sprintf(".%07d", frac)
	}
	return out
}
