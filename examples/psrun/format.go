package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session"
)

// ANSI colours PowerShell's console uses for the streams.
const (
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiReset  = "\x1b[0m"
)

// printer writes records the way PowerShell's console shows them: output on
// stdout, everything else on stderr, colours and a progress bar only when
// stderr is a terminal.
type printer struct {
	out, err     io.Writer
	color        bool
	progressLine bool // a progress bar is drawn on the current stderr line
	// afterBlock is set when the last output was a list or table, which
	// ends with a blank line: the next one needs no blank line before it.
	afterBlock bool
}

func newPrinter(stdout, stderr io.Writer) *printer {
	return &printer{out: stdout, err: stderr, color: isTerminal(stderr)}
}

func (p *printer) record(r session.Record) {
	switch r := r.(type) {
	case session.Output:
		p.endProgress()
		p.output(formatValue(r.Value))
	case *session.ErrorRecord:
		p.errorRecord(r)
	case session.Warning:
		p.prefixed(ansiYellow, "WARNING: ", r.Message)
	case session.Verbose:
		p.prefixed(ansiYellow, "VERBOSE: ", r.Message)
	case session.Debug:
		p.prefixed(ansiYellow, "DEBUG: ", r.Message)
	case session.Information:
		// PowerShell shows only Write-Host's records (tagged PSHOST);
		// Write-Information's stay in the stream
		// ($InformationPreference is SilentlyContinue).
		if slices.Contains(r.Tags, "PSHOST") {
			p.endProgress()
			p.hostMessage(r.MessageData)
		}
	case session.Progress:
		p.progress(r.ProgressRecord)
	}
}

// output prints one formatted output object. A list or table (text that
// starts with a blank line) is separated from the one before it by one
// blank line, as PowerShell separates objects in list view.
func (p *printer) output(text string) {
	block := strings.HasPrefix(text, "\n")
	if block && p.afterBlock {
		text = text[1:]
	}
	fmt.Fprintln(p.out, text)
	p.afterBlock = block
}

// hostMessage prints the data of a Write-Host record: a string, or a
// HostInformationMessage whose NoNewLine says whether a line ends.
func (p *printer) hostMessage(data any) {
	p.afterBlock = false
	o, ok := data.(*clixml.Object)
	if !ok || !slices.Contains(o.TypeNames, "System.Management.Automation.HostInformationMessage") {
		fmt.Fprintln(p.out, formatValue(data))
		return
	}
	msg, _ := o.Member("Message")
	noNewLine, _ := o.Member("NoNewLine")
	if noNewLine == true {
		fmt.Fprint(p.out, formatValue(msg))
		return
	}
	fmt.Fprintln(p.out, formatValue(msg))
}

func (p *printer) errorRecord(r *clixml.ErrorRecord) {
	p.endProgress()
	p.colored(ansiRed, r.NormalView())
}

func (p *printer) prefixed(color, prefix, msg string) {
	p.endProgress()
	p.colored(color, prefix+msg)
}

func (p *printer) colored(color, text string) {
	text = strings.TrimRight(text, "\r\n")
	if p.color {
		fmt.Fprintln(p.err, color+text+ansiReset)
		return
	}
	fmt.Fprintln(p.err, text)
}

// progress draws one progress record as a bar on stderr, replacing the
// previous one; a Completed record clears it. Without a terminal progress is
// not shown, as in a non-interactive PowerShell.
func (p *printer) progress(r clixml.ProgressRecord) {
	if !p.color {
		return
	}
	if r.RecordType == clixml.ProgressCompleted {
		p.endProgress()
		return
	}
	const width = 30
	bar := ""
	if r.PercentComplete >= 0 {
		pct := min(int(r.PercentComplete), 100)
		filled := pct * width / 100
		bar = fmt.Sprintf(" [%s%s] %3d%%", strings.Repeat("o", filled), strings.Repeat(" ", width-filled), pct)
	}
	line := r.Activity + bar
	if r.StatusDescription != "" {
		line += " " + r.StatusDescription
	}
	if r.SecondsRemaining > 0 {
		line += fmt.Sprintf(" (%ds left)", r.SecondsRemaining)
	}
	fmt.Fprintf(p.err, "\r\x1b[2K%s%s%s", ansiCyan, line, ansiReset)
	p.progressLine = true
}

// endProgress clears the progress bar before other text is written.
func (p *printer) endProgress() {
	if p.progressLine {
		fmt.Fprint(p.err, "\r\x1b[2K")
		p.progressLine = false
	}
}

// formatValue renders one value of the lossless model roughly as PowerShell's
// default formatting does: primitives as text, objects with properties as a
// list of "Name : Value" lines, collections one item per line.
func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		if v {
			return "True"
		}
		return "False"
	case clixml.DateTime:
		return v.Time.Format("Monday, January 2, 2006 3:04:05 PM")
	case clixml.TimeSpan:
		return v.Duration().String()
	case clixml.Char:
		return string(rune(v))
	case clixml.Version:
		return formatVersion(v)
	case clixml.SecureString:
		return v.String()
	case uuid.UUID:
		return v.String()
	case []byte:
		return fmt.Sprint(v)
	case float64:
		return strconv.FormatFloat(v, 'G', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'G', -1, 32)
	case *clixml.Object:
		return formatObject(v)
	case time.Time:
		return v.Format("Monday, January 2, 2006 3:04:05 PM")
	}
	return fmt.Sprint(v)
}

func formatVersion(v clixml.Version) string {
	s := fmt.Sprintf("%d.%d", v.Major, v.Minor)
	if v.Build >= 0 {
		s += "." + strconv.Itoa(int(v.Build))
		if v.Revision >= 0 {
			s += "." + strconv.Itoa(int(v.Revision))
		}
	}
	return s
}

func formatObject(o *clixml.Object) string {
	switch o.Kind {
	case clixml.List, clixml.Enumerable, clixml.Stack, clixml.Queue:
		lines := make([]string, 0, len(o.Items))
		for _, it := range o.Items {
			lines = append(lines, formatValue(it))
		}
		return strings.Join(lines, "\n")
	case clixml.Dictionary:
		return formatDictionary(o.Entries)
	}
	props := visibleProperties(o)
	if len(props) == 0 || o.Value != nil {
		if o.HasToString {
			return o.ToString
		}
		return formatValue(o.Value)
	}
	width := 0
	for _, p := range props {
		width = max(width, utf8.RuneCountInString(p.Name))
	}
	var b strings.Builder
	b.WriteByte('\n')
	for _, p := range props {
		fmt.Fprintf(&b, "%-*s : %s\n", width, p.Name, oneLine(p.Value))
	}
	return b.String()
}

// visibleProperties leaves out the PS* members remoting adds to every object.
func visibleProperties(o *clixml.Object) []clixml.Property {
	var out []clixml.Property
	for _, set := range [][]clixml.Property{o.Props, o.Members} {
		for _, p := range set {
			switch p.Name {
			case "PSComputerName", "PSShowComputerName", "RunspaceId", "PSSourceJobInstanceId":
				continue
			}
			out = append(out, p)
		}
	}
	return out
}

func formatDictionary(entries []clixml.DictEntry) string {
	type row struct{ k, v string }
	rows := make([]row, 0, len(entries))
	width := len("Name")
	for _, e := range entries {
		r := row{oneLine(e.Key), oneLine(e.Value)}
		width = max(width, utf8.RuneCountInString(r.k))
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].k < rows[j].k })
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-*s Value\n%-*s -----\n", width, "Name", width, "----")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s %s\n", width, r.k, r.v)
	}
	return b.String()
}

// oneLine renders a property value on one line, as list and table views do.
func oneLine(v any) string {
	if o, ok := v.(*clixml.Object); ok {
		switch {
		case o.Kind != clixml.NotContainer && o.Kind != clixml.Dictionary:
			parts := make([]string, 0, len(o.Items))
			for _, it := range o.Items {
				parts = append(parts, oneLine(it))
			}
			return "{" + strings.Join(parts, ", ") + "}"
		case o.HasToString:
			return o.ToString
		}
	}
	return strings.ReplaceAll(formatValue(v), "\n", " ")
}
