package sessiontest

import (
	"context"
	"io"
	"strconv"
	"strings"
)

// cmdBuiltins are the programs every endpoint knows (see HandleCmd).
var cmdBuiltins map[string]CmdHandler

func init() {
	cmdBuiltins = map[string]CmdHandler{
		"echo":       cmdEcho,
		"set":        cmdSet,
		"cd":         cmdCd,
		"exit":       cmdExit,
		"hostname":   cmdHostname,
		"whoami":     cmdWhoami,
		"cmd":        cmdCmd,
		"powershell": cmdPowerShell,
	}
}

// splitCommandLine splits a command line as CommandLineToArgvW does:
// arguments separated by spaces and tabs, "…" quoting, 2n backslashes
// before a quote give n and a quoting toggle, 2n+1 give n and a literal
// quote, and "" inside quotes a literal quote.
func splitCommandLine(line string) []string {
	var (
		args    []string
		cur     strings.Builder
		inQuote bool
		started bool
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case (c == ' ' || c == '\t') && !inQuote:
			if started {
				args = append(args, cur.String())
				cur.Reset()
				started = false
			}
		case c == '\\':
			n := 0
			for i < len(line) && line[i] == '\\' {
				n++
				i++
			}
			if i < len(line) && line[i] == '"' {
				cur.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					cur.WriteByte('"')
				} else {
					inQuote = !inQuote
				}
			} else {
				cur.WriteString(strings.Repeat(`\`, n))
				i--
			}
			started = true
		case c == '"':
			if inQuote && i+1 < len(line) && line[i+1] == '"' {
				cur.WriteByte('"')
				i++
			} else {
				inQuote = !inQuote
			}
			started = true
		default:
			cur.WriteByte(c)
			started = true
		}
	}
	if started {
		args = append(args, cur.String())
	}
	return args
}

// afterProgram returns the command line after its first argument, with
// the separating blank removed.
func afterProgram(line string) string {
	line = strings.TrimLeft(line, " \t")
	inQuote := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '"':
			inQuote = !inQuote
		case (c == ' ' || c == '\t') && !inQuote:
			return line[i+1:]
		}
	}
	return ""
}

func cmdEcho(_ context.Context, c *CmdCall) (int, error) {
	text := c.CommandLine
	if strings.TrimSpace(text) == "" {
		text = "ECHO is on."
	}
	_, err := io.WriteString(c.Stdout, text+"\r\n")
	return 0, err
}

// cmdSet prints the environment (all of it, or the variables whose name
// starts with its argument).
func cmdSet(_ context.Context, c *CmdCall) (int, error) {
	prefix := strings.TrimSpace(c.CommandLine)
	found := false
	for _, kv := range c.Env {
		if len(kv) >= len(prefix) && strings.EqualFold(kv[:len(prefix)], prefix) {
			found = true
			if _, err := io.WriteString(c.Stdout, kv+"\r\n"); err != nil {
				return 1, err
			}
		}
	}
	if !found {
		_, _ = io.WriteString(c.Stderr, "Environment variable "+prefix+" not defined\r\n")
		return 1, nil
	}
	return 0, nil
}

func cmdCd(_ context.Context, c *CmdCall) (int, error) {
	_, err := io.WriteString(c.Stdout, c.Dir+"\r\n")
	return 0, err
}

// cmdExit is exit [/b] [N].
func cmdExit(_ context.Context, c *CmdCall) (int, error) {
	args := c.Args
	if len(args) > 0 && strings.EqualFold(args[0], "/b") {
		args = args[1:]
	}
	if len(args) == 0 {
		return 0, nil
	}
	n, err := strconv.ParseInt(args[0], 10, 32)
	if err != nil {
		return 0, nil // cmd.exe treats a non-number as 0
	}
	return int(n), nil
}

func cmdHostname(_ context.Context, c *CmdCall) (int, error) {
	_, err := io.WriteString(c.Stdout, "SESSIONTEST\r\n")
	return 0, err
}

func cmdWhoami(_ context.Context, c *CmdCall) (int, error) {
	user := c.User
	if user == "" {
		user = "anonymous"
	}
	_, err := io.WriteString(c.Stdout, "sessiontest\\"+strings.ToLower(user)+"\r\n")
	return 0, err
}

// cmdCmd is cmd.exe /c <line>: the line's commands, chained with &&, ||
// and &, each optionally redirected with >&2 or 1>&2, run in turn; exit
// ends the line. Without /c (or /k) it does nothing: there is no console.
func cmdCmd(ctx context.Context, c *CmdCall) (int, error) {
	line := strings.TrimLeft(c.CommandLine, " \t")
	if len(line) < 2 || line[0] != '/' || (line[1] != 'c' && line[1] != 'C' && line[1] != 'k' && line[1] != 'K') {
		return 0, nil
	}
	line = strings.TrimLeft(line[2:], " \t")
	if len(line) >= 2 && line[0] == '"' && line[len(line)-1] == '"' {
		line = line[1 : len(line)-1] // cmd /c "…" strips the outer quotes
	}
	line = expandPercent(line, c.lookupEnv)
	code := 0
	op := ""
	for line != "" {
		seg, next, rest := cutChain(line)
		line = rest
		run := op == "" || op == "&" || (op == "&&" && code == 0) || (op == "||" && code != 0)
		op = next
		if !run {
			continue
		}
		// The blank before && stays part of the command, as cmd.exe
		// keeps it (echo out && … prints "out "); a redirection is
		// removed from it.
		seg = strings.TrimLeft(seg, " \t")
		toErr := false
		for _, r := range []string{"1>&2", ">&2"} {
			if i := strings.Index(seg, r); i >= 0 {
				seg, toErr = seg[:i]+seg[i+len(r):], true
				break
			}
		}
		argv := splitCommandLine(seg)
		if len(argv) == 0 {
			continue
		}
		sub := *c
		sub.Name, sub.Args, sub.CommandLine = argv[0], argv[1:], afterProgram(seg)
		if toErr {
			sub.Stdout = c.Stderr
		}
		code = runCmd(ctx, &sub, c.srv.cmdHandler(argv[0]))
		if ctx.Err() != nil {
			return code, nil
		}
		if strings.EqualFold(cmdKey(argv[0]), "exit") {
			return code, nil
		}
	}
	return code, nil
}

// expandPercent replaces each %NAME% of line with the variable's value, as
// cmd.exe does before it parses a line (quotes do not protect it); an
// undefined variable stays as written, and %% is a single %.
func expandPercent(line string, lookup func(string) (string, bool)) string {
	if !strings.Contains(line, "%") {
		return line
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(line, '%')
		if i < 0 {
			b.WriteString(line)
			return b.String()
		}
		b.WriteString(line[:i])
		line = line[i+1:]
		j := strings.IndexByte(line, '%')
		if j < 0 {
			b.WriteByte('%')
			b.WriteString(line)
			return b.String()
		}
		if j == 0 {
			b.WriteByte('%') // %%
			line = line[1:]
			continue
		}
		if v, ok := lookup(line[:j]); ok {
			b.WriteString(v)
			line = line[j+1:]
			continue
		}
		// Not a variable: the first % stays, and the second may open one.
		b.WriteByte('%')
		b.WriteString(line[:j])
		line = line[j:]
	}
}

// cutChain splits line at its first &&, || or & outside quotes.
func cutChain(line string) (seg, op, rest string) {
	inQuote := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '&' && i > 0 && line[i-1] == '>':
			// >&2 is a redirection, not a chain
		case c == '&' || (c == '|' && i+1 < len(line) && line[i+1] == '|'):
			if i+1 < len(line) && line[i+1] == c {
				return line[:i], line[i : i+2], line[i+2:]
			}
			return line[:i], "&", line[i+1:]
		}
	}
	return line, "", ""
}
