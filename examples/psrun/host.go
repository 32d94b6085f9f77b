package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session"
)

// consoleHost answers the remote script's host calls (Read-Host, prompts,
// Write-Host) on this process's terminal.
type consoleHost struct {
	session.DefaultHost
	in      *os.File
	out     io.Writer
	printer *printer
}

func (h *consoleHost) ReadLine(ctx context.Context) (string, error) {
	return h.read(ctx)
}

func (h *consoleHost) ReadLineAsSecureString(ctx context.Context) (clixml.SecureString, error) {
	restore := func() {}
	if isTerminal(h.in) {
		restore = disableEcho(h.in)
	}
	line, err := h.read(ctx)
	restore()
	fmt.Fprintln(h.out)
	if err != nil {
		return clixml.SecureString{}, err
	}
	return clixml.NewSecureString(line), nil
}

func (h *consoleHost) Prompt(ctx context.Context, caption, message string, fields []session.FieldDescription) (map[string]any, error) {
	h.header(caption, message)
	answers := make(map[string]any, len(fields))
	for _, f := range fields {
		label := f.Label
		if label == "" {
			label = f.Name
		}
		fmt.Fprintf(h.out, "%s: ", label)
		line, err := h.read(ctx)
		if err != nil {
			return nil, err
		}
		if strings.Contains(strings.ToLower(f.ParameterTypeName), "securestring") {
			answers[f.Name] = clixml.NewSecureString(line)
		} else {
			answers[f.Name] = line
		}
	}
	return answers, nil
}

func (h *consoleHost) PromptForChoice(ctx context.Context, caption, message string, choices []session.ChoiceDescription, defaultChoice int) (int, error) {
	h.header(caption, message)
	for i, c := range choices {
		mark := ""
		if i == defaultChoice {
			mark = " (default)"
		}
		fmt.Fprintf(h.out, "[%d] %s%s\n", i, strings.ReplaceAll(c.Label, "&", ""), mark)
	}
	fmt.Fprint(h.out, "Choice: ")
	line, err := h.read(ctx)
	if err != nil {
		return 0, err
	}
	if strings.TrimSpace(line) == "" && defaultChoice >= 0 {
		return defaultChoice, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n < 0 || n >= len(choices) {
		return 0, fmt.Errorf("not a choice: %q", line)
	}
	return n, nil
}

func (h *consoleHost) PromptForCredential(ctx context.Context, caption, message, userName, targetName string) (clixml.PSCredential, error) {
	h.header(caption, message)
	if userName == "" {
		fmt.Fprint(h.out, "User: ")
		line, err := h.read(ctx)
		if err != nil {
			return clixml.PSCredential{}, err
		}
		userName = line
	}
	fmt.Fprintf(h.out, "Password for user %s: ", userName)
	pw, err := h.ReadLineAsSecureString(ctx)
	if err != nil {
		return clixml.PSCredential{}, err
	}
	return clixml.PSCredential{UserName: userName, Password: pw}, nil
}

func (h *consoleHost) Write(_ context.Context, w session.HostWrite) error {
	switch w.Kind {
	case session.HostWriteText:
		fmt.Fprint(h.printer.out, w.Text)
	case session.HostWriteLine:
		fmt.Fprintln(h.printer.out, w.Text)
	case session.HostWriteError:
		h.printer.colored(ansiRed, w.Text)
	case session.HostWriteWarning:
		h.printer.prefixed(ansiYellow, "WARNING: ", w.Text)
	case session.HostWriteVerbose:
		h.printer.prefixed(ansiYellow, "VERBOSE: ", w.Text)
	case session.HostWriteDebug:
		h.printer.prefixed(ansiYellow, "DEBUG: ", w.Text)
	}
	return nil
}

func (h *consoleHost) WriteProgress(_ context.Context, _ int64, rec clixml.ProgressRecord) error {
	h.printer.progress(rec)
	return nil
}

// ReadKey answers $Host.UI.RawUI.ReadKey with the next character of stdin.
// The terminal is left in its normal (line) mode, so the key arrives only
// after Enter is pressed; on a terminal the rest of that line, Enter
// included, is then discarded, since it was typed only to send the key (Enter
// alone reads as the Enter key). From a pipe exactly one character is read.
// With ReadKeyNoEcho the terminal's echo is turned off meanwhile. Only the
// character is known: the virtual-key code is that of the letter, digit,
// Enter, Space, Tab or Escape key when there is one, and no control key state
// is reported but Shift for capital letters.
func (h *consoleHost) ReadKey(ctx context.Context, options session.ReadKeyOptions) (session.KeyInfo, error) {
	terminal := isTerminal(h.in)
	restore := func() {}
	if options&session.ReadKeyNoEcho != 0 && terminal {
		restore = disableEcho(h.in)
	}
	defer restore()
	type result struct {
		r   rune
		err error
	}
	ch := make(chan result, 1)
	go func() {
		r, err := readRune(h.in)
		if err == nil && terminal && r != '\n' {
			_, _ = readLine(h.in) // the rest of the line, up to the Enter that sent it
		}
		ch <- result{r, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			return session.KeyInfo{}, res.err
		}
		return keyInfoFor(res.r, options), nil
	case <-ctx.Done():
		return session.KeyInfo{}, ctx.Err()
	}
}

// keyInfoFor describes the key press that typed r.
func keyInfoFor(r rune, options session.ReadKeyOptions) session.KeyInfo {
	k := session.KeyInfo{Character: r, KeyDown: options&session.ReadKeyIncludeKeyUp == 0 || options&session.ReadKeyIncludeKeyDown != 0}
	switch {
	case r >= 'a' && r <= 'z':
		k.VirtualKeyCode = r - 'a' + 'A' // VK_A..VK_Z
	case r >= 'A' && r <= 'Z':
		k.VirtualKeyCode = r
		k.ControlKeyState = session.ShiftPressed
	case r >= '0' && r <= '9':
		k.VirtualKeyCode = r // VK_0..VK_9
	case r == '\n' || r == '\r':
		k.Character, k.VirtualKeyCode = '\r', 0x0D // VK_RETURN
	case r == ' ':
		k.VirtualKeyCode = 0x20 // VK_SPACE
	case r == '\t':
		k.VirtualKeyCode = 0x09 // VK_TAB
	case r == 0x1b:
		k.VirtualKeyCode = 0x1B // VK_ESCAPE
	}
	if r > 0xFFFF {
		// A .NET Char holds one UTF-16 code unit: report the key without
		// its character rather than failing the remote ReadKey.
		k.Character = 0
	}
	return k
}

// readRune reads one UTF-8 encoded character from r a byte at a time, so
// that nothing after it is consumed. Invalid UTF-8 reads as U+FFFD.
func readRune(r io.Reader) (rune, error) {
	var buf [utf8.UTFMax]byte
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n : n+1])
		n += m
		if n > 0 && (utf8.FullRune(buf[:n]) || err != nil) {
			c, _ := utf8.DecodeRune(buf[:n])
			return c, nil
		}
		if err != nil {
			return 0, err
		}
	}
	c, _ := utf8.DecodeRune(buf[:n])
	return c, nil
}

func (h *consoleHost) header(caption, message string) {
	if caption != "" {
		fmt.Fprintln(h.out, caption)
	}
	if message != "" {
		fmt.Fprintln(h.out, message)
	}
}

// errNoInput is what the remote script sees when it reads (Read-Host, a
// prompt) and psrun's stdin has ended or is not connected.
var errNoInput = errors.New("psrun's standard input is closed: there is no line to read (pipe the input in, or run psrun on a terminal)")

// read reads one line of stdin, giving up when ctx ends (the pipeline was
// stopped); the blocked read itself finishes with the next line typed.
func (h *consoleHost) read(ctx context.Context) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := readLine(h.in)
		if errors.Is(err, io.EOF) {
			err = errNoInput
		}
		ch <- result{strings.TrimRight(line, "\r"), err}
	}()
	select {
	case r := <-ch:
		return r.line, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
