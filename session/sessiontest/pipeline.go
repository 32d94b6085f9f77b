package sessiontest

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/gopsrp/gopsrp/psrp"
)

// maxChainedObjects bounds the objects a command has written that the next
// command of its pipeline has not read yet; a writer waits for room.
const maxChainedObjects = 1024

// stage is one command of a statement with the handler that serves it.
type stage struct {
	h   HandlerFunc
	cmd Command
}

// statement is a pipeline of stages, run as PowerShell runs a statement:
// every command at once, each one's output the next one's input.
type statement struct {
	stages []stage
	// missing names a command of the statement that has no handler: the
	// statement fails with CommandNotFound before any of it runs.
	missing string
}

// plan resolves the statements of a pipeline. A script of one statement
// is split at its top-level pipes into commands of the statement it is
// part of; a script of several statements is one command, served by the
// handler of its first word.
func (s *Server) plan(stmts [][]psrp.Command) []statement {
	out := make([]statement, 0, len(stmts))
	for _, st := range stmts {
		var p statement
		for _, c := range st {
			s.addCommand(&p, c)
		}
		out = append(out, p)
	}
	return out
}

// addCommand appends the stages of one wire command to p.
func (s *Server) addCommand(p *statement, c psrp.Command) {
	var wireArgs []Arg
	for _, a := range c.Args {
		wireArgs = append(wireArgs, Arg{Name: a.Name, Value: a.Value})
	}
	if !c.IsScript {
		s.addStage(p, Command{Name: c.Cmd, Text: c.Cmd, Args: wireArgs})
		return
	}
	if h, ok := s.scriptHandler(c.Cmd); ok {
		p.stages = append(p.stages, stage{h: h, cmd: Command{Name: firstWord(c.Cmd), Text: c.Cmd, IsScript: true, Args: wireArgs}})
		return
	}
	if rest, cut := cutLiteralAssignments(c.Cmd); cut && s.handler(firstWord(c.Cmd)) == nil {
		// "$ProgressPreference = 'SilentlyContinue'; <script>": the
		// assignments do nothing visible; the rest is served as usual
		// (unless a handler was registered for the variable's name).
		c.Cmd = rest
		s.addCommand(p, c)
		return
	}
	parts := splitScript(c.Cmd)
	if len(parts) != 1 {
		// Several statements (or none): the handler of the first word
		// serves the whole script, which the endpoint does not interpret.
		s.addStage(p, s.scriptCommand(strings.TrimSpace(c.Cmd), wireArgs))
		return
	}
	for i, seg := range parts[0] {
		var args []Arg
		if i == 0 {
			args = wireArgs
		}
		s.addStage(p, s.scriptCommand(seg, args))
	}
}

// scriptCommand describes one command of a split script: wire arguments
// if the client sent any, else the simple arguments of its text.
func (s *Server) scriptCommand(text string, wireArgs []Arg) Command {
	cmd := Command{Name: firstWord(text), Text: text, IsScript: true, Args: wireArgs}
	if len(wireArgs) == 0 && !strings.EqualFold(text, cmd.Name) {
		if _, exact := s.scriptHandler(text); !exact {
			cmd.Args = scriptArgs(text)
		}
	}
	return cmd
}

// addStage resolves cmd's handler and appends it to p, or records it as
// missing.
func (s *Server) addStage(p *statement, cmd Command) {
	var h HandlerFunc
	if cmd.IsScript {
		h, _ = s.scriptHandler(cmd.Text)
	}
	if h == nil {
		h = s.handler(cmd.Name)
	}
	if h == nil && cmd.IsScript {
		h = expressionHandler(cmd.Text) // a statement such as 1..N that names no command
	}
	if h == nil && p.missing == "" {
		p.missing = cmd.Name
	}
	p.stages = append(p.stages, stage{h: h, cmd: cmd})
}

// runStatements runs stmts in turn: the first reads input (nil: none) and
// later ones get no input; the output of each goes to out. A statement
// with a command that has no handler fails with CommandNotFound when its
// turn comes.
func runStatements(ctx context.Context, stmts []statement, input *inputQueue, noInput bool, out sink, appArgs map[string]any) error {
	for i, st := range stmts {
		if st.missing != "" {
			return &TerminatingError{Record: CommandNotFoundRecord(st.missing)}
		}
		in := input
		if i > 0 {
			in, noInput = nil, true
		}
		if err := runStatement(ctx, st, in, noInput, out, appArgs); err != nil {
			return err
		}
	}
	return nil
}

// runStatement runs the stages of one statement at once, each in its own
// goroutine, the output of each queued as the input of the next. When a
// stage returns, the next one's input ends and the ones before it are
// stopped (their context is cancelled, and the context error they return
// is no failure); when one fails, the others are cancelled and the first
// error is the statement's.
func runStatement(ctx context.Context, st statement, input *inputQueue, noInput bool, out sink, appArgs map[string]any) error {
	pipeline := make([]Command, len(st.stages))
	for i, sg := range st.stages {
		pipeline[i] = sg.cmd
	}
	call := func(i int, in *inputQueue, k sink) *Call {
		cmd := st.stages[i].cmd
		return &Call{
			Name: cmd.Name, Script: cmd.Text, IsScript: cmd.IsScript, Args: cmd.Args,
			Pipeline: pipeline, Position: i, NoInput: noInput && i == 0,
			ApplicationArguments: appArgs, sink: k, input: in,
		}
	}
	if len(st.stages) == 1 {
		return runHandler(ctx, st.stages[0].h, call(0, input, out))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := len(st.stages)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		stops    = make([]context.CancelFunc, n)
		stopped  = make([]bool, n) // stopped because a later stage returned
	)
	ctxs := make([]context.Context, n)
	for i := range n {
		ctxs[i], stops[i] = context.WithCancel(ctx)
	}
	in := input
	for i, sg := range st.stages {
		k, next := out, (*inputQueue)(nil)
		if i < n-1 {
			next = newBoundedQueue(maxChainedObjects)
			k = &chainSink{sink: out, next: next, ctx: ctxs[i]}
		}
		c, own := call(i, in, k), in
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer stops[i]()
			err := runHandler(ctxs[i], sg.h, c)
			mu.Lock()
			defer mu.Unlock()
			// The commands before this one are stopped, as Select-Object
			// -First stops them: nothing would read what they write.
			for j := range i {
				if ctxs[j].Err() == nil {
					stopped[j] = true
					stops[j]()
				}
			}
			if own != nil && i > 0 {
				own.readerGone()
			}
			if next != nil {
				next.end()
			}
			if err != nil && stopped[i] && errors.Is(err, context.Canceled) && ctx.Err() == nil {
				err = nil // stopped by a later command, not a failure
			}
			if err != nil && firstErr == nil {
				firstErr = err
				cancel()
			}
		}()
		in = next
	}
	wg.Wait()
	return firstErr
}

// chainSink sends a command's output to the next command of its pipeline
// and every other stream to the pipeline's sink.
type chainSink struct {
	sink
	next *inputQueue
	ctx  context.Context
}

func (k *chainSink) output(v any) error {
	if err := k.ctx.Err(); err != nil {
		return err // the pipeline stopped, or the commands after this one returned
	}
	return k.next.send(k.ctx, v)
}
