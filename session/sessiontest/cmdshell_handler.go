package sessiontest

import (
	"context"
	"io"
	"strings"
)

// CmdHandler serves a native command of the WinRS cmd shell resource
// (http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd), as
// HandlerFunc serves a PowerShell command. It returns the process's exit
// code; a non-nil error is written to stderr as its text (with a CRLF)
// and, with exit code 0, makes the exit code 1. ctx ends when the client
// signals ctrl_c or terminate, deletes the shell, or the server closes:
// the handler must then return (its exit code is ignored for ctrl_c, which
// ends the process with STATUS_CONTROL_C_EXIT).
type CmdHandler func(ctx context.Context, c *CmdCall) (exitCode int, err error)

// CmdCall is one process started in a cmd shell.
type CmdCall struct {
	// Name is the program the handler was chosen by, as the command line
	// names it (e.g. "ipconfig", `C:\Windows\system32\ipconfig.exe`).
	Name string
	// Args are the arguments after the program, split as
	// CommandLineToArgvW splits a command line (quotes removed).
	Args []string
	// CommandLine is the rest of the command line after the program,
	// unsplit and as sent (what cmd.exe's own built-ins, such as echo,
	// read).
	CommandLine string
	// Env holds the environment, "NAME=value" each, sorted as cmd.exe's
	// set prints it: the host's variables, then the shell's rsp:Environment
	// (which wins over a host variable of the same name).
	Env []string
	// Dir is the working directory (rsp:WorkingDirectory, else the
	// user's profile directory).
	Dir string
	// CodePage is the shell's WINRS_CODEPAGE (0 when the client sent none:
	// the host's OEM code page, 437).
	CodePage uint32
	// NoProfile reports WINRS_NOPROFILE: the user's profile was not loaded.
	NoProfile bool
	// SkipCmdShell reports WINRS_SKIP_CMD_SHELL: the program runs without
	// cmd.exe.
	SkipCmdShell bool
	// User is the authenticated user the shell belongs to ("" when the
	// endpoint has no authentication).
	User string

	// Stdin is the process's standard input: Read returns io.EOF once
	// the client has sent its end of input, and the context's error if the
	// command is stopped first, so a handler tells the two apart.
	Stdin io.Reader
	// Stdout and Stderr deliver output to the client's Receives. A write
	// waits while much output is pending (the client reads it), and fails
	// with the context's error once the command is stopped.
	Stdout, Stderr io.Writer

	srv *Server
}

// Getenv returns the value of the environment variable name
// (case-insensitive, as on Windows), or "".
func (c *CmdCall) Getenv(name string) string {
	v, _ := c.lookupEnv(name)
	return v
}

// lookupEnv is Getenv that tells an empty variable from a missing one.
func (c *CmdCall) lookupEnv(name string) (string, bool) {
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// HandleCmd registers h for the native command name of the cmd shell
// resource, replacing any built-in of that name. Names compare
// case-insensitively and without a directory or an .exe, .com, .bat or
// .cmd extension: HandleCmd("ipconfig", h) serves "ipconfig",
// "IPCONFIG.EXE" and `C:\Windows\system32\ipconfig.exe`.
//
// Built-ins: echo, set, cd, exit, hostname, whoami, cmd (/c runs the rest
// of its line: && || & chains, >&2 and 1>&2 redirection), and powershell
// (powershell.exe [-NoProfile] [-NonInteractive] [-EncodedCommand <base64>
// | -Command <script> | -Command - | <script>...], which runs the script
// through the endpoint's PowerShell handlers as Invoke-Expression does,
// writes its output as text on stdout as Out-String would, Write-Host text
// with a line feed, and error, warning, verbose, debug and progress records
// as "#< CLIXML" on stderr as powershell.exe does; it exits 1 when the
// script wrote an error).
func (s *Server) HandleCmd(name string, h CmdHandler) {
	s.cmd.mu.Lock()
	defer s.cmd.mu.Unlock()
	if s.cmd.handlers == nil {
		s.cmd.handlers = map[string]CmdHandler{}
	}
	s.cmd.handlers[cmdKey(name)] = h
}

// cmdKey normalises a program name for lookup.
func cmdKey(name string) string {
	if i := strings.LastIndexAny(name, `\/`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToLower(name)
	for _, ext := range []string{".exe", ".com", ".bat", ".cmd"} {
		name = strings.TrimSuffix(name, ext)
	}
	return name
}

// cmdHandler looks a program up: a registered handler, else a built-in.
func (s *Server) cmdHandler(name string) CmdHandler {
	k := cmdKey(name)
	s.cmd.mu.Lock()
	h := s.cmd.handlers[k]
	s.cmd.mu.Unlock()
	if h != nil {
		return h
	}
	return cmdBuiltins[k]
}
