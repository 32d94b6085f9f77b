package peertest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// lifetime bounds a child's run: a peer that hangs is killed then, so
	// that the read waiting for it fails instead of hanging the test.
	lifetime = 60 * time.Second
	// stopGrace is how long a child has to exit once its stdin is closed.
	stopGrace = 10 * time.Second
)

// Child is a peer running as a child process that reads commands from its
// stdin and answers each with one line on its stdout. Its methods fail the
// test when the child cannot be written to or read from.
type Child struct {
	t      testing.TB
	name   string
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr lockedBuffer
}

// Start starts cmd, whose path, arguments and environment the caller has
// set, as the child named name (for messages). At the end of the test its
// stdin is closed and it is killed if it has not exited stopGrace later;
// its stderr is logged when the test failed or the child exited with an
// error.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Child {
	t.Helper()
	c := &Child{t: t, name: name}
	cmd.Stderr = &c.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: start: %v", name, err)
	}
	c.stdin, c.out = stdin, bufio.NewReader(stdout)
	hung := time.AfterFunc(lifetime, func() { _ = cmd.Process.Kill() })
	t.Cleanup(func() {
		stdin.Close()
		// Wait only now: it closes stdout, which the test reads until here.
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(stopGrace):
			_ = cmd.Process.Kill()
			err = <-done
		}
		hung.Stop()
		if t.Failed() || err != nil {
			t.Logf("%s: exit: %v; stderr:\n%s", name, err, c.Stderr())
		}
	})
	return c
}

// Send writes line and a newline to the child.
func (c *Child) Send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// ReadLine returns the child's next line without its newline.
func (c *Child) ReadLine() string {
	c.t.Helper()
	line, err := c.out.ReadString('\n')
	if err != nil {
		c.t.Fatalf("%s: read: %v (stderr: %s)", c.name, err, c.Stderr())
	}
	return strings.TrimSuffix(line, "\n")
}

// Call sends args as one line and reads the answer, which is "ok" and
// fields, returned, or anything else, returned as an error.
func (c *Child) Call(args ...string) ([]string, error) {
	c.t.Helper()
	c.Send(strings.Join(args, " "))
	line := c.ReadLine()
	fields := strings.Fields(line)
	if len(fields) == 0 {
		c.t.Fatalf("%s: empty answer (stderr: %s)", c.name, c.Stderr())
	}
	if fields[0] != "ok" {
		return nil, fmt.Errorf("%s: %s", c.name, strings.TrimSpace(line))
	}
	return fields[1:], nil
}

// Stderr returns what the child has written to its stderr so far.
func (c *Child) Stderr() string { return c.stderr.String() }

// Encode is a binary argument or answer field as the children's line
// protocol has it: base64, or "-" for none.
func Encode(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Decode reverses Encode, failing t on bad base64.
func Decode(t testing.TB, s string) []byte {
	t.Helper()
	if s == "-" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("bad base64 from a peer: %v", err)
	}
	return b
}

// lockedBuffer is the child's stderr: exec's goroutine writes it while the
// test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
