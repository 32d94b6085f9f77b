package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

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

func (h *consoleHost) header(caption, message string) {
	if caption != "" {
		fmt.Fprintln(h.out, caption)
	}
	if message != "" {
		fmt.Fprintln(h.out, message)
	}
}

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
		ch <- result{strings.TrimRight(line, "\r"), err}
	}()
	select {
	case r := <-ch:
		return r.line, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
