package sessiontest

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// pypsrp 0.9.1's Client.copy and Client.fetch send the scripts
// pwsh_scripts/copy.ps1 and fetch.ps1 with comments and blank lines
// stripped. The endpoint knows them by the SHA-256 of that text, which is
// all it keeps of them, and carries out what they do: copy.ps1 writes its
// input (base64 chunks, then the base64 of the file's SHA-1 in hex) to a
// temporary file, checks the hash, moves it to the destination given as
// the first argument and outputs the destination's full path; fetch.ps1
// outputs the whole file as one base64 string (it reads it in one piece),
// then its SHA-1 in hex.
const (
	pypsrpCopySHA256  = "3c882b445a28347be063d8d369b1792dc5a5403a8c0d6ca3c3ec2444167f71bf"
	pypsrpFetchSHA256 = "284a8f526a1860e2578ea4bfe098cf875fa8b71d313a2bdea74ef6da24a6d43e"
)

// maxFetchWhole bounds the file pypsrp's fetch.ps1 reads into one string:
// beyond it the endpoint fails as a host out of memory would.
const maxFetchWhole = 256 << 20

// tempDirectory is where [IO.Path]::GetTempFileName() puts its files.
const tempDirectory = `C:\Users\User\AppData\Local\Temp`

// servePypsrpScript serves the scripts that start with "begin" or
// "$ErrorActionPreference": pypsrp's copy and fetch. Any other such script
// fails as a command the endpoint does not know.
func (s *Server) servePypsrpScript(ctx context.Context, c *Call) error {
	sum := sha256.Sum256([]byte(strings.TrimSpace(c.Script)))
	switch hex.EncodeToString(sum[:]) {
	case pypsrpCopySHA256:
		return s.servePypsrpCopy(ctx, c)
	case pypsrpFetchSHA256:
		return s.servePypsrpFetch(ctx, c)
	}
	return &TerminatingError{Record: CommandNotFoundRecord(c.Name)}
}

// scriptError is the record of a PowerShell `throw "message"`.
func scriptError(msg string) *TerminatingError {
	rec := NewErrorRecord(msg, msg, CategoryOperationStopped)
	rec.Exception.TypeNames = exceptionTypeNames("System.Management.Automation.RuntimeException")
	rec.CategoryInfo.Reason = "RuntimeException"
	rec.TargetObject = msg
	return &TerminatingError{Record: rec}
}

// methodError is the record of a .NET method call that threw: PowerShell's
// MethodInvocationException around the exception of te.
func methodError(method string, args int, te *TerminatingError) *TerminatingError {
	inner := te.Record
	short := "Exception"
	if len(inner.Exception.TypeNames) > 0 {
		short = inner.Exception.TypeNames[0][strings.LastIndexByte(inner.Exception.TypeNames[0], '.')+1:]
	}
	msg := fmt.Sprintf("Exception calling %q with %q argument(s): %q", method, fmt.Sprint(args), inner.Exception.Message)
	rec := NewErrorRecord(msg, short, CategoryNotSpecified)
	rec.Exception.TypeNames = exceptionTypeNames("System.Management.Automation.MethodInvocationException")
	rec.CategoryInfo.Reason = "MethodInvocationException"
	return &TerminatingError{Record: rec}
}

// servePypsrpCopy carries out copy.ps1.
func (s *Server) servePypsrpCopy(ctx context.Context, c *Call) error {
	f := s.Files()
	tmpWin, tmpLocal, err := f.resolve(tempDirectory)
	if err != nil {
		return fsFailure(err, tmpWin, false)
	}
	if err := os.MkdirAll(tmpLocal, 0o777); err != nil {
		return fsFailure(err, tmpWin, false)
	}
	in, te := f.create(tmpWin+`\tmp.tmp`, filepath.Join(tmpLocal, "tmp.tmp"), tmpLocal, sha1.New())
	if te != nil {
		return methodError("Create", 1, te)
	}
	defer func() {
		if in != nil {
			in.discard()
		}
	}()
	// The last input is the hash, so each chunk is written when the next
	// one arrives, as the script's process block does.
	var prev []byte
	havePrev := false
	for v, err := range c.Input(ctx) {
		if err != nil {
			return err
		}
		if havePrev {
			if te := in.write(prev); te != nil {
				return methodError("Write", 3, te)
			}
		}
		line, _ := v.(string)
		b, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return methodError("FromBase64String", 1, copyRecord("Failed", "System.FormatException", "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. ", ""))
		}
		prev, havePrev = b, true
	}
	expected := string(prev)
	actual := hex.EncodeToString(in.h.Sum(nil))
	if actual != expected {
		return scriptError("Transport failure, hash mismatch\r\nActual: " + actual + "\r\nExpected: " + expected)
	}
	args := c.Positional()
	dest := ""
	if len(args) > 0 {
		dest, _ = args[0].(string)
	}
	destWin, destLocal, err := f.resolve(dest)
	if err != nil {
		return methodError("Delete", 1, fsFailure(err, destWin, false))
	}
	if fi, err := os.Stat(destLocal); err == nil && fi.IsDir() {
		// [IO.File]::Delete of a directory.
		return methodError("Delete", 1, fsFailure(fs.ErrPermission, destWin, false))
	}
	if _, err := os.Stat(filepath.Dir(destLocal)); err != nil {
		nf := copyRecord("Failed", "System.IO.DirectoryNotFoundException", "Could not find a part of the path.", destWin)
		return methodError("Move", 2, nf)
	}
	in.target = destLocal
	in.win = destWin
	done := in
	in = nil
	if te := done.commit(); te != nil {
		return methodError("Move", 2, te)
	}
	return c.WriteOutput(destWin)
}

// servePypsrpFetch carries out fetch.ps1.
func (s *Server) servePypsrpFetch(_ context.Context, c *Call) error {
	f := s.Files()
	args := c.Positional()
	src := ""
	if len(args) > 0 {
		src, _ = args[0].(string)
	}
	win, local, err := f.resolve(src)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, errEscapes) {
		return methodError("OpenRead", 0, fsFailure(err, win, true))
	}
	if err != nil {
		return scriptError("The path at '" + win + "' does not exist")
	}
	fi, err := os.Stat(local)
	switch {
	case err == nil && fi.IsDir():
		return scriptError("The path at '" + win + "' is a directory, src must be a file")
	case err != nil:
		return scriptError("The path at '" + win + "' does not exist")
	case fi.Size() == 0:
		// The read loop never runs: TransformFinalBlock gets $null.
		return methodError("TransformFinalBlock", 3, copyRecord("Failed", "System.ArgumentException", "Value cannot be null.\r\nParameter name: inputBuffer", ""))
	case fi.Size() > maxFetchWhole:
		return methodError("Read", 3, copyRecord("Failed", "System.SystemException", "Exception of type 'System.OutOfMemoryException' was thrown.", ""))
	}
	file, err := os.Open(local)
	if err != nil {
		return methodError("OpenRead", 0, fsFailure(err, win, true))
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxFetchWhole))
	if err != nil {
		return methodError("Read", 3, fsFailure(err, win, true))
	}
	sum := sha1.Sum(data)
	if err := c.WriteOutput(base64.StdEncoding.EncodeToString(data)); err != nil {
		return err
	}
	return c.WriteOutput(hex.EncodeToString(sum[:]))
}
