package main

import (
	"io"
	"os"
	"os/exec"
)

// isTerminal reports whether w is a terminal: a character device other
// than the null device (</dev/null is a character device too, and must not
// be prompted on).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(st, null) {
		return false
	}
	return true
}

// disableEcho turns off the terminal's echo on f with stty, so that a
// password typed there does not show; the returned function turns it back on.
// Where stty is missing the password echoes, which is still better than a flag.
func disableEcho(f *os.File) (restore func()) {
	off := exec.Command("stty", "-echo")
	off.Stdin = f
	if off.Run() != nil {
		return func() {}
	}
	return func() {
		on := exec.Command("stty", "echo")
		on.Stdin = f
		_ = on.Run()
	}
}

// readLine reads one line from r a byte at a time, so that nothing after the
// line is consumed (the rest of stdin may still be read by host prompts).
func readLine(r io.Reader) (string, error) {
	var line []byte
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				return string(line), nil
			}
			line = append(line, b[0])
			if len(line) > 64<<10 {
				return string(line), nil
			}
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				return string(line), nil
			}
			return string(line), err
		}
	}
}
