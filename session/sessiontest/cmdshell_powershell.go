package sessiontest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// cmdPowerShell is powershell.exe in a cmd shell: it runs the script of
// its command line through the PowerShell handlers, the way
// Invoke-Expression does on the PSRP side, and writes what powershell.exe
// writes when its output is not a console.
func cmdPowerShell(ctx context.Context, c *CmdCall) (int, error) {
	script, fromStdin, err := powerShellScript(c.Args)
	if err != nil {
		return 1, err // powershell.exe's own usage errors exit 1 too
	}
	if fromStdin {
		b, err := io.ReadAll(io.LimitReader(c.Stdin, maxPendingOutput))
		if err != nil {
			return 1, err
		}
		script = string(b)
	}
	out := &cmdPSSink{stdout: c.Stdout, stderr: c.Stderr}
	if strings.TrimSpace(script) != "" {
		call := &Call{Name: "Invoke-Expression", Args: []Arg{{Name: "Command", Value: script}}, NoInput: true, sink: out}
		if err := c.srv.builtinInvokeExpression(ctx, call); err != nil {
			var te *TerminatingError
			rec := recordFromError(err)
			if errors.As(err, &te) && te.Record != nil {
				rec = te.Record
			}
			_ = out.errorRecord(rec)
		}
	}
	if err := out.finish(); err != nil {
		return 1, err
	}
	if out.hadErrors {
		return 1, nil
	}
	return 0, nil
}

// powerShellScript reads powershell.exe's arguments: switches it
// accepts and ignores, -EncodedCommand, -Command, or the script as the
// remaining arguments. fromStdin is set for -Command - and a lone -.
func powerShellScript(args []string) (script string, fromStdin bool, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		low := strings.ToLower(a)
		switch {
		case low == "-":
			return "", true, nil
		case low == "-noprofile" || low == "-nop" || low == "-noninteractive" || low == "-noni" || low == "-nologo" || low == "-sta" || low == "-mta":
		case low == "-executionpolicy" || low == "-ep" || low == "-inputformat" || low == "-outputformat" || low == "-windowstyle" || low == "-version":
			i++
		case low == "-encodedcommand" || low == "-enc" || low == "-e" || low == "-ec":
			if i+1 >= len(args) {
				return "", false, psMessage("Cannot process the command because of a missing parameter. A command must follow -EncodedCommand.")
			}
			s, err := decodePowerShellCommand(args[i+1])
			return s, false, err
		case low == "-command" || low == "-c":
			if i+1 < len(args) && args[i+1] == "-" {
				return "", true, nil
			}
			return strings.Join(args[i+1:], " "), false, nil
		default:
			return strings.Join(args[i:], " "), false, nil
		}
	}
	return "", false, nil
}

// decodePowerShellCommand decodes -EncodedCommand: base64 of UTF-16LE.
func decodePowerShellCommand(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%2 != 0 {
		return "", psMessage("Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded.")
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(u)), nil
}

// cmdPSSink writes a script's streams as powershell.exe does with
// redirected output: output objects as Out-String text, Write-Host text
// with a line feed, and every other record into a "#< CLIXML"
// Export-Clixml document on stderr, each element tagged with its stream
// (S="Error", "warning", "verbose", "debug", "information", "progress").
type cmdPSSink struct {
	stdout, stderr io.Writer

	mu        sync.Mutex
	doc       *clixml.Encoder
	buf       bytes.Buffer
	started   bool
	hadErrors bool
}

func (k *cmdPSSink) output(v any) error {
	var b strings.Builder
	for _, l := range renderLines(v) {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	_, err := io.WriteString(k.stdout, b.String())
	return err
}

// errorLines formats rec as the console shows it.
func errorLines(rec *clixml.ErrorRecord) []string {
	msg := rec.Exception.Message
	if rec.ErrorDetails != nil && rec.ErrorDetails.Message != "" {
		msg = rec.ErrorDetails.Message
	}
	lines := []string{}
	if act := rec.CategoryInfo.Activity; act != "" {
		lines = append(lines, act+" : "+msg)
	} else {
		lines = append(lines, msg)
	}
	lines = append(lines,
		"    + CategoryInfo          : "+rec.CategoryInfo.String(),
		"    + FullyQualifiedErrorId : "+rec.FullyQualifiedErrorID,
		" ")
	return lines
}

func (k *cmdPSSink) errorRecord(rec *clixml.ErrorRecord) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.hadErrors = true
	for _, l := range errorLines(rec) {
		if err := k.writeLocked("Error", l+"\r\n"); err != nil {
			return err
		}
	}
	return nil
}

func (k *cmdPSSink) informational(kind recordKind, msg string) error {
	stream := map[recordKind]string{kindDebug: "debug", kindVerbose: "verbose", kindWarning: "warning"}[kind]
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.writeLocked(stream, msg)
}

func (k *cmdPSSink) progress(rec clixml.ProgressRecord) error {
	obj := &clixml.Object{
		TypeNames: []string{"System.Management.Automation.PSCustomObject", "System.Object"},
		Members:   []clixml.Property{{Name: "SourceId", Value: int64(1)}, {Name: "Record", Value: rec}},
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.writeLocked("progress", obj)
}

func (k *cmdPSSink) information(rec clixml.InformationRecord) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	text := informationText(rec.MessageData)
	for _, t := range rec.Tags {
		if t == "PSHOST" {
			// Write-Host goes to stdout, ended by a line feed (captures
			// test_winrs_send, test_winrs_unicode).
			_, err := io.WriteString(k.stdout, text+"\n")
			return err
		}
	}
	return k.writeLocked("information", text)
}

func informationText(v any) string {
	if o, ok := v.(*clixml.Object); ok {
		if m, ok := o.Member("Message"); ok {
			return text(m)
		}
	}
	return text(v)
}

func (k *cmdPSSink) hostCall(context.Context, psrp.HostMethodID, []any) (any, error) {
	return nil, psMessage("PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.")
}

// writeLocked appends v to the stderr document as an element of stream,
// starting the document first if needed.
func (k *cmdPSSink) writeLocked(stream string, v any) error {
	if !k.started {
		k.started = true
		k.doc = clixml.NewEncoder(&k.buf)
		k.buf.WriteString("#< CLIXML\r\n")
		if err := k.doc.StartDocument(); err != nil {
			return err
		}
	}
	mark := k.buf.Len()
	if err := k.doc.Encode(v); err != nil {
		return err
	}
	// Tag the element with its stream: <S S="Error">, <Obj S="progress" …>.
	el := k.buf.Bytes()[mark:]
	if i := bytes.IndexAny(el, " >/"); i > 0 {
		tagged := append(append(append([]byte{}, el[:i]...), ` S="`+stream+`"`...), el[i:]...)
		k.buf.Truncate(mark)
		k.buf.Write(tagged)
	}
	_, err := k.stderr.Write(k.buf.Bytes())
	k.buf.Reset()
	return err
}

// finish closes the stderr document, if one was started.
func (k *cmdPSSink) finish() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.started {
		return nil
	}
	if err := k.doc.EndDocument(); err != nil {
		return err
	}
	_, err := k.stderr.Write(k.buf.Bytes())
	k.buf.Reset()
	return err
}

// psMessage is an error worded as powershell.exe words it on stderr.
type psMessage string

func (m psMessage) Error() string { return string(m) }
