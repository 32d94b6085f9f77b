package winrs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/gopsrp/gopsrp/wsman"
)

// ErrNotFound means the host could not find the program to run (the
// Command fault 0x80070002, ERROR_FILE_NOT_FOUND), as exec.ErrNotFound
// does locally. It is only reported with SkipCmdShell: through cmd.exe, an
// unknown program is cmd.exe's error, on stderr, with exit code 9009.
var ErrNotFound = errors.New("winrs: executable file not found")

// errCommandEnded closes StdinPipe's reader once the command has ended.
var errCommandEnded = errors.New("winrs: command ended")

// cleanupTimeout bounds the Signals sent after a command ended or was
// cancelled, which do not inherit a cancelled context.
const cleanupTimeout = 30 * time.Second

// Cmd is a command being prepared or run in a Shell, like exec.Cmd. A Cmd
// cannot be reused after Start.
type Cmd struct {
	// Path is the program to run (rsp:Command).
	Path string
	// Args holds the command name and its arguments, Args[0] being the
	// name (Path is what is run); each of Args[1:] is one rsp:Arguments
	// element, quoted with QuoteArg unless Raw is set.
	Args []string
	// Raw sends Path and Args[1:] as written, without quoting: for a
	// command line written for cmd.exe ("/c echo a && echo b>&2"), whose
	// metacharacters quoting would hide, or one that is already quoted.
	Raw bool
	// SkipCmdShell runs Path directly instead of through cmd.exe
	// (WINRS_SKIP_CMD_SHELL): Path must then name an executable file, by
	// full path unless it is on the host's search path, and cmd.exe's
	// built-ins (dir, set, echo) are not available.
	SkipCmdShell bool

	// Stdin is the process's standard input. Nil sends none (a program
	// that reads stdin then waits for input forever). It is read until
	// EOF in chunks that fit the client's envelope size; the last chunk
	// carries the end-of-input mark.
	Stdin io.Reader
	// Stdout and Stderr receive the process's output as it arrives; nil
	// discards it. They are written from one goroutine, in the order the
	// host sent the data; if both are the same writer it gets the
	// interleaving the host reported.
	Stdout, Stderr io.Writer

	sh       *Shell
	id       string
	started  bool
	done     chan struct{}
	err      error // set before done is closed
	exitCode int
	wg       sync.WaitGroup
	stdinErr error
	pipe     *io.PipeReader // StdinPipe's reader, closed when the command ends
}

// ExitError reports a command that ended with a non-zero exit code.
type ExitError struct {
	// Code is the process's exit code.
	Code int
	// Stderr holds the standard error output when Output collected it
	// (Cmd.Stderr nil), as in exec.ExitError.
	Stderr []byte
}

// Error returns "winrs: exit status N".
func (e *ExitError) Error() string { return "winrs: exit status " + strconv.Itoa(e.Code) }

// ExitCode returns the exit code.
func (e *ExitError) ExitCode() int { return e.Code }

// ID returns the CommandId the host gave the command, once started.
func (c *Cmd) ID() string { return c.id }

// ExitCode returns the exit code of a command that has ended, or -1 if it
// has not or was stopped.
func (c *Cmd) ExitCode() int {
	if c.done == nil {
		return -1
	}
	select {
	case <-c.done:
		return c.exitCode
	default:
		return -1
	}
}

// String describes the command line as sent (without quoting when Raw).
func (c *Cmd) String() string {
	cmd, args := c.commandLine()
	var b bytes.Buffer
	b.WriteString(cmd)
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(a)
	}
	return b.String()
}

func (c *Cmd) commandLine() (string, []string) {
	var args []string
	if len(c.Args) > 1 {
		args = c.Args[1:]
	}
	if c.Raw {
		return c.Path, args
	}
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = QuoteArg(a)
	}
	return QuoteArg(c.Path), q
}

// StdinPipe returns a pipe connected to the command's standard input, as
// exec.Cmd.StdinPipe does: closing it ends the input. Call it before Start.
func (c *Cmd) StdinPipe() (io.WriteCloser, error) {
	if c.Stdin != nil {
		return nil, errors.New("winrs: Stdin already set")
	}
	if c.started {
		return nil, errors.New("winrs: StdinPipe after Start")
	}
	r, w := io.Pipe()
	c.Stdin, c.pipe = r, r
	return w, nil
}

// Run starts the command and waits for it to end, as Start then Wait.
func (c *Cmd) Run(ctx context.Context) error {
	if err := c.Start(ctx); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the command and returns its standard output. When the
// command fails with an *ExitError and Stderr is nil, the error holds the
// standard error output.
func (c *Cmd) Output(ctx context.Context) ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("winrs: Stdout already set")
	}
	var out, errb bytes.Buffer
	c.Stdout = &out
	captureErr := c.Stderr == nil
	if captureErr {
		c.Stderr = &errb
	}
	err := c.Run(ctx)
	var ee *ExitError
	if captureErr && errors.As(err, &ee) {
		ee.Stderr = errb.Bytes()
	}
	return out.Bytes(), err
}

// CombinedOutput runs the command and returns its standard output and
// standard error together, in the order the host sent them.
func (c *Cmd) CombinedOutput(ctx context.Context) ([]byte, error) {
	if c.Stdout != nil || c.Stderr != nil {
		return nil, errors.New("winrs: Stdout or Stderr already set")
	}
	var b bytes.Buffer
	c.Stdout, c.Stderr = &b, &b
	err := c.Run(ctx)
	return b.Bytes(), err
}

// Start starts the command on the host and returns once the host has
// accepted it; Wait waits for it to end. ctx governs the whole command:
// when it ends before the command does, the command is sent ctrl_c, then
// terminate, and Wait returns ctx's error.
func (c *Cmd) Start(ctx context.Context) error {
	if c.started {
		return errors.New("winrs: already started")
	}
	if c.sh == nil {
		return errors.New("winrs: Cmd not made by Shell.Command")
	}
	if c.sh.isClosed() {
		return ErrClosed
	}
	if c.Path == "" {
		return errors.New("winrs: empty Path")
	}
	c.started = true
	cmd, args := c.commandLine()
	id, err := c.sh.c.CommandLine(ctx, c.sh.ref, cmd, args, wsman.CommandLineOptions{SkipCmdShell: c.SkipCmdShell})
	if err != nil {
		var f *wsman.Fault
		if errors.As(err, &f) && f.WSManCode == wsman.CodeFileNotFound {
			return fmt.Errorf("winrs: start %s: %w: %w", c.Path, ErrNotFound, err)
		}
		return fmt.Errorf("winrs: start %s: %w", c.Path, err)
	}
	c.id = id
	c.done = make(chan struct{})
	inCtx, stopInput := context.WithCancel(ctx)
	if c.Stdin != nil {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.stdinErr = c.sendInput(inCtx)
		}()
	}
	go func() {
		err := c.receive(ctx)
		stopInput()
		if c.pipe != nil {
			// Unblock a writer to StdinPipe, as exec.Cmd.Wait does.
			c.pipe.CloseWithError(errCommandEnded)
		}
		c.wg.Wait()
		if err == nil && c.stdinErr != nil && !errors.Is(c.stdinErr, context.Canceled) && !errors.Is(c.stdinErr, errCommandEnded) {
			err = c.stdinErr
		}
		c.err = err
		close(c.done)
	}()
	return nil
}

// Wait waits for the started command to end and for its output to be
// written. It returns nil for exit code 0, an *ExitError for another exit
// code, and otherwise the error that ended the command (the context's,
// a transport error, a fault as *wsman.Fault, a failed write to Stdout or
// Stderr, a failed read of Stdin).
func (c *Cmd) Wait() error {
	if c.done == nil {
		return errors.New("winrs: not started")
	}
	<-c.done
	return c.err
}

// receive polls the command's output until it is done, then releases it
// with a terminate signal.
func (c *Cmd) receive(ctx context.Context) error {
	stdout, stderr := c.Stdout, c.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	for {
		res, err := c.sh.c.Receive(ctx, c.sh.ref, c.id, wsman.ReceiveOptions{KeepAlive: true, Streams: "stdout stderr"})
		if err != nil {
			if errors.Is(err, wsman.ErrOperationTimeout) && ctx.Err() == nil {
				continue // no output yet
			}
			if ctx.Err() != nil {
				c.stop(ctx)
				return fmt.Errorf("winrs: %s: %w", c.Path, ctx.Err())
			}
			c.signal(ctx, wsman.SignalTerminate)
			return fmt.Errorf("winrs: receive: %w", err)
		}
		err = writeStreams(res, stdout, stderr)
		// The Writers are done with the bytes (io.Writer's contract: they
		// may not keep them), so the buffer goes back for the next Receive.
		res.Release()
		if err != nil {
			c.stop(ctx)
			return err
		}
		if st := res.CommandState; st != nil && st.Done() {
			c.exitCode = 0
			if st.ExitCode != nil {
				c.exitCode = int(*st.ExitCode)
			}
			c.signal(ctx, wsman.SignalTerminate)
			if c.exitCode != 0 {
				return &ExitError{Code: c.exitCode}
			}
			return nil
		}
		if ctx.Err() != nil {
			c.stop(ctx)
			return fmt.Errorf("winrs: %s: %w", c.Path, ctx.Err())
		}
	}
}

// writeStreams writes the output of one Receive to the command's Writers.
func writeStreams(res *wsman.ReceiveResult, stdout, stderr io.Writer) error {
	for _, s := range res.Streams {
		if len(s.Data) == 0 {
			continue
		}
		w := stdout
		if s.Name == "stderr" {
			w = stderr
		}
		if _, err := w.Write(s.Data); err != nil {
			return fmt.Errorf("winrs: write %s: %w", s.Name, err)
		}
	}
	return nil
}

// stop interrupts the process (ctrl_c) and releases the command
// (terminate), as winrs.exe does on Ctrl+C.
func (c *Cmd) stop(ctx context.Context) {
	c.exitCode = -1
	c.signal(ctx, wsman.SignalCtrlC)
	c.signal(ctx, wsman.SignalTerminate)
}

// signal sends code on a context that outlives ctx's cancellation, bounded
// by cleanupTimeout. A failure is not reported: the command has ended (or
// the shell is gone) either way.
func (c *Cmd) signal(ctx context.Context, code string) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = c.sh.c.Signal(sctx, c.sh.ref, c.id, code)
}

// inputChunk is the stdin chunk size for the client's envelope size: what
// is left of the envelope after the Send's headers, in base64.
func (c *Cmd) inputChunk() int {
	const overhead = 4096 // headers, selectors, element names
	n := (c.sh.c.EffectiveMaxEnvelopeSize() - overhead) / 4 * 3
	return max(n, 1024)
}

// sendInput copies Stdin to the command, one Send per chunk; it reads one
// chunk ahead so that the last one carries End.
func (c *Cmd) sendInput(ctx context.Context) error {
	size := c.inputChunk()
	cur := make([]byte, size)
	next := make([]byte, size)
	n, err := readChunk(c.Stdin, cur)
	for {
		if err != nil && err != io.EOF {
			c.sendEnd(ctx)
			return fmt.Errorf("winrs: read stdin: %w", err)
		}
		if err == io.EOF {
			return c.send(ctx, cur[:n], true)
		}
		m, err2 := readChunk(c.Stdin, next)
		if err2 == io.EOF && m == 0 {
			return c.send(ctx, cur[:n], true)
		}
		if serr := c.send(ctx, cur[:n], false); serr != nil {
			return serr
		}
		cur, next, n, err = next, cur, m, err2
	}
}

func (c *Cmd) send(ctx context.Context, data []byte, end bool) error {
	if err := c.sh.c.Send(ctx, c.sh.ref, c.id, "stdin", data, end); err != nil {
		return fmt.Errorf("winrs: send stdin: %w", err)
	}
	return nil
}

func (c *Cmd) sendEnd(ctx context.Context) { _ = c.send(ctx, nil, true) }

// readChunk reads what r has now into buf: at least one byte unless r is
// at EOF or fails. It returns io.EOF only with n == 0 or when r said so.
func readChunk(r io.Reader, buf []byte) (int, error) {
	for {
		n, err := r.Read(buf)
		if n > 0 || err != nil {
			if err == io.EOF && n > 0 {
				return n, io.EOF
			}
			return n, err
		}
	}
}
