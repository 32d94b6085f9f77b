package sessiontest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gopsrp/gopsrp/internal/filecopy"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// registerCopy registers the file-transfer scripts: package session's by
// their exact text, pypsrp's by the first word of theirs (see
// copy_pypsrp.go).
func registerCopy(s *Server) {
	s.scripts[strings.TrimSpace(filecopy.ToScript)] = s.serveCopyTo
	s.scripts[strings.TrimSpace(filecopy.FromScript)] = s.serveCopyFrom
	s.handlers["begin"] = s.servePypsrpScript
	s.handlers["$erroractionpreference"] = s.servePypsrpScript
}

// Error categories of the transfer errors, as New-CopyRecord picks them.
const (
	categoryInvalidResult    clixml.ErrorCategory = 8
	categoryInvalidType      clixml.ErrorCategory = 9
	categoryPermissionDenied clixml.ErrorCategory = 18
	categoryWriteError       clixml.ErrorCategory = 23
)

// copyRecord is the ErrorRecord New-CopyRecord builds around a .NET
// exception of type exType ("System.IO.IOException").
func copyRecord(kind, exType, message, target string) *TerminatingError {
	cat := categoryWriteError
	switch kind {
	case filecopy.KindNotFound:
		cat = CategoryObjectNotFound
	case filecopy.KindAccessDenied:
		cat = categoryPermissionDenied
	case filecopy.KindIsDirectory, filecopy.KindNotDirectory:
		cat = categoryInvalidType
	case filecopy.KindHashMismatch:
		cat = categoryInvalidResult
	}
	return &TerminatingError{Record: &clixml.ErrorRecord{
		Exception: clixml.ExceptionInfo{
			TypeNames: exceptionTypeNames(exType),
			Message:   message,
		},
		TargetObject:          target,
		FullyQualifiedErrorID: filecopy.ErrorIDPrefix + kind,
		CategoryInfo: clixml.ErrorCategoryInfo{
			Category: cat, Reason: exType[strings.LastIndexByte(exType, '.')+1:],
			TargetName: target, TargetType: "String",
		},
	}}
}

// exceptionTypeNames lists the .NET type hierarchy of the exceptions the
// transfers raise, most derived first.
func exceptionTypeNames(exType string) []string {
	chain := map[string]string{
		"System.IO.FileNotFoundException":                        "System.IO.IOException",
		"System.IO.DirectoryNotFoundException":                   "System.IO.IOException",
		"System.IO.InvalidDataException":                         "System.SystemException",
		"System.IO.EndOfStreamException":                         "System.IO.IOException",
		"System.IO.IOException":                                  "System.SystemException",
		"System.UnauthorizedAccessException":                     "System.SystemException",
		"System.ArgumentException":                               "System.SystemException",
		"System.Management.Automation.ItemNotFoundException":     "System.Management.Automation.SessionStateException",
		"System.Management.Automation.SessionStateException":     "System.Management.Automation.RuntimeException",
		"System.Management.Automation.RuntimeException":          "System.SystemException",
		"System.Management.Automation.MethodInvocationException": "System.Management.Automation.MethodException",
		"System.Management.Automation.MethodException":           "System.Management.Automation.RuntimeException",
		"System.SystemException":                                 "System.Exception",
		"System.Exception":                                       "System.Object",
	}
	names := []string{exType}
	for t := exType; chain[t] != ""; t = chain[t] {
		names = append(names, chain[t])
	}
	return names
}

// errDiskFull is the failure of a write beyond FileSystem.SetFreeSpace.
var errDiskFull = errors.New("sessiontest: disk full")

// fsFailure turns a failure on the emulated disk into the record
// ConvertTo-CopyRecord would make of the .NET exception Windows raises.
func fsFailure(err error, win string, reading bool) *TerminatingError {
	switch {
	case errors.Is(err, errEscapes), errors.Is(err, fs.ErrPermission):
		return copyRecord(filecopy.KindAccessDenied, "System.UnauthorizedAccessException", "Access to the path '"+win+"' is denied.", win)
	case errors.Is(err, errBadPath):
		return copyRecord(filecopy.KindFailed, "System.ArgumentException", "Illegal characters in path.", win)
	case errors.Is(err, errDiskFull), errors.Is(err, syscall.ENOSPC):
		return copyRecord(filecopy.KindDiskFull, "System.IO.IOException", "There is not enough space on the disk.\r\n", win)
	case errors.Is(err, syscall.ENOTDIR):
		return copyRecord(filecopy.KindNotFound, "System.IO.DirectoryNotFoundException", "Could not find a part of the path '"+win+"'.", win)
	case errors.Is(err, fs.ErrNotExist) && reading:
		return copyRecord(filecopy.KindNotFound, "System.IO.FileNotFoundException", "Could not find file '"+win+"'.", win)
	case errors.Is(err, fs.ErrNotExist):
		return copyRecord(filecopy.KindNotFound, "System.IO.DirectoryNotFoundException", "Could not find a part of the path '"+win+"'.", win)
	}
	return copyRecord(filecopy.KindFailed, "System.IO.IOException", "The operation on '"+win+"' failed.", win)
}

// resolve maps a Windows path to its canonical form and local path,
// refusing denied ones.
func (f *FileSystem) resolve(p string) (win, local string, err error) {
	win, parts, err := cleanWinPath(p)
	if err != nil {
		return p, "", err
	}
	if f.isDenied(win) {
		return win, "", fs.ErrPermission
	}
	return win, filepath.Join(append([]string{f.Root()}, parts...)...), nil
}

// joinWin appends a \-separated relative path to a Windows path.
func joinWin(root, rel string) string {
	if rel == "" {
		return root
	}
	return strings.TrimSuffix(root, `\`) + `\` + rel
}

// incoming is a file being written: a temporary file beside its target,
// moved into place when complete.
type incoming struct {
	f           *FileSystem
	tmp         *os.File
	target, win string
	written     int64
	h           hash.Hash
}

// create starts the file win (local path local) as ToScript and pypsrp's
// copy.ps1 do: a temporary file in dir.
func (f *FileSystem) create(win, local, dir string, h hash.Hash) (*incoming, *TerminatingError) {
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(local)+".*.gopsrp")
	if err != nil {
		return nil, fsFailure(err, win, false)
	}
	return &incoming{f: f, tmp: tmp, target: local, win: win, h: h}, nil
}

func (in *incoming) write(b []byte) *TerminatingError {
	if !in.f.take(int64(len(b))) {
		return fsFailure(errDiskFull, in.win, false)
	}
	in.written += int64(len(b))
	if _, err := in.tmp.Write(b); err != nil {
		return fsFailure(err, in.win, false)
	}
	in.h.Write(b)
	return nil
}

// discard removes the temporary file and gives its space back.
func (in *incoming) discard() {
	in.tmp.Close()
	os.Remove(in.tmp.Name())
	in.f.giveBack(in.written)
}

// commit moves the temporary file to the target, replacing an older file.
func (in *incoming) commit() *TerminatingError {
	if err := in.tmp.Close(); err != nil {
		in.discard()
		return fsFailure(err, in.win, false)
	}
	if fi, err := os.Stat(in.target); err == nil && fi.Mode().IsRegular() {
		in.f.giveBack(fi.Size())
	}
	if err := os.Rename(in.tmp.Name(), in.target); err != nil {
		in.discard()
		return fsFailure(err, in.win, false)
	}
	return nil
}

// argString returns a string parameter given by name or position.
func argString(c *Call, name string, pos int) string {
	v, ok := c.Arg(name)
	if !ok {
		if p := c.Positional(); pos < len(p) {
			v = p[pos]
		}
	}
	s, _ := v.(string)
	return s
}

// serveCopyTo carries out filecopy.ToScript: the stream of its input is
// written under -Path, each chunk as it arrives.
func (s *Server) serveCopyTo(ctx context.Context, c *Call) error {
	f := s.Files()
	root := argString(c, "Path", 0)
	rootWin, rootLocal, err := f.resolve(root)
	if err != nil {
		return fsFailure(err, rootWin, false)
	}
	var cur *incoming
	defer func() {
		if cur != nil {
			cur.discard()
		}
	}()
	target, targetLocal := rootWin, rootLocal
	var chunk []byte
	for v, err := range c.Input(ctx) {
		if err != nil {
			return err
		}
		line, ok := v.(string)
		if !ok {
			line = fmt.Sprint(v) // PowerShell binds the object's string form
		}
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, ":") {
			if cur == nil {
				return copyRecord(filecopy.KindFailed, "System.Management.Automation.RuntimeException", "You cannot call a method on a null-valued expression.", target)
			}
			n := base64.StdEncoding.DecodedLen(len(line))
			if cap(chunk) < n {
				chunk = make([]byte, n)
			}
			k, err := base64.StdEncoding.Decode(chunk[:n], []byte(line))
			if err != nil {
				return copyRecord(filecopy.KindFailed, "System.FormatException", "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. ", target)
			}
			if te := cur.write(chunk[:k]); te != nil {
				return te
			}
			continue
		}
		mark, value := line[:min(3, len(line))], line[min(3, len(line)):]
		if mark == filecopy.MarkDir || mark == filecopy.MarkFile {
			target, targetLocal, err = f.resolve(joinWin(rootWin, value))
			if err != nil {
				return fsFailure(err, target, false)
			}
		}
		switch mark {
		case filecopy.MarkDir:
			if fi, err := os.Stat(targetLocal); err == nil && !fi.IsDir() {
				return copyRecord(filecopy.KindNotDirectory, "System.IO.IOException", "The path '"+target+"' is a file; a directory was expected.", target)
			}
			if err := os.MkdirAll(targetLocal, 0o777); err != nil {
				return fsFailure(err, target, false)
			}
		case filecopy.MarkFile:
			if fi, err := os.Stat(targetLocal); err == nil && fi.IsDir() {
				return copyRecord(filecopy.KindIsDirectory, "System.IO.IOException", "The path '"+target+"' is a directory; a file was expected.", target)
			}
			var te *TerminatingError
			if cur, te = f.create(target, targetLocal, filepath.Dir(targetLocal), sha256.New()); te != nil {
				return te
			}
		case filecopy.MarkEnd:
			if cur == nil {
				return copyRecord(filecopy.KindFailed, "System.Management.Automation.RuntimeException", "You cannot call a method on a null-valued expression.", target)
			}
			actual := hex.EncodeToString(cur.h.Sum(nil))
			if actual != value {
				return copyRecord(filecopy.KindHashMismatch, "System.IO.InvalidDataException", "The SHA-256 of what arrived for '"+target+"' is "+actual+", the sender's is "+value+".", target)
			}
			in := cur
			cur = nil
			if te := in.commit(); te != nil {
				return te
			}
		}
	}
	if cur != nil {
		return copyRecord(filecopy.KindFailed, "System.IO.EndOfStreamException", "The input ended before the end of '"+target+"'.", target)
	}
	return nil
}

// maxChunk is the largest -ChunkSize FromScript accepts (its ValidateRange).
const maxChunk = 16 << 20

// serveCopyFrom carries out filecopy.FromScript: the file or tree at -Path
// is written as output, a chunk at a time, each chunk written only once
// the client has received the one before, so that the endpoint's memory
// stays a chunk or two however large the file.
func (s *Server) serveCopyFrom(ctx context.Context, c *Call) error {
	f := s.Files()
	chunk := 65536
	if v, ok := c.Arg("ChunkSize"); ok {
		n, err := strconv.Atoi(fmt.Sprint(v))
		if err != nil || n < 1 || n > maxChunk {
			return &TerminatingError{Record: NewErrorRecord(fmt.Sprintf("Cannot validate argument on parameter 'ChunkSize'. The %v argument is not in the range 1 to %d.", v, maxChunk), "ParameterArgumentValidationError", CategoryInvalidArgument)}
		}
		chunk = n
	}
	fileOnly := false
	if v, ok := c.Arg("File"); ok {
		b, isBool := v.(bool)
		fileOnly = !isBool || b
	}
	root := argString(c, "Path", 0)
	rootWin, rootLocal, err := f.resolve(root)
	if err != nil {
		return fsFailure(err, rootWin, true)
	}
	fi, err := os.Stat(rootLocal)
	switch {
	case err != nil && errors.Is(err, fs.ErrNotExist):
		return copyRecord(filecopy.KindNotFound, "System.Management.Automation.ItemNotFoundException", "Cannot find path '"+rootWin+"' because it does not exist.", rootWin)
	case err != nil:
		return fsFailure(err, rootWin, true)
	case !fi.IsDir():
		return newOutgoing(ctx, c, f, chunk).send(rootWin, rootLocal, "")
	case fileOnly:
		return copyRecord(filecopy.KindIsDirectory, "System.IO.IOException", "The path '"+rootWin+"' is a directory; a file was expected.", rootWin)
	}
	out := newOutgoing(ctx, c, f, chunk)
	if err := c.WriteOutput(filecopy.MarkDir); err != nil {
		return err
	}
	queue := []string{""}
	for len(queue) > 0 {
		rel := queue[0]
		queue = queue[1:]
		dirWin := joinWin(rootWin, rel)
		_, dirLocal, err := f.resolve(dirWin)
		if err != nil {
			return fsFailure(err, dirWin, true)
		}
		entries, err := os.ReadDir(dirLocal)
		if err != nil {
			return fsFailure(err, dirWin, true)
		}
		for _, e := range entries {
			if e.IsDir() {
				sub := joinWin(rel, e.Name())
				if rel == "" {
					sub = e.Name()
				}
				if err := c.WriteOutput(filecopy.MarkDir + sub); err != nil {
					return err
				}
				queue = append(queue, sub)
			}
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				sub := e.Name()
				if rel != "" {
					sub = rel + `\` + sub
				}
				if err := out.send(joinWin(rootWin, sub), filepath.Join(dirLocal, e.Name()), sub); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// outgoing writes files as FromScript's Send-CopyFile does.
type outgoing struct {
	ctx context.Context
	c   *Call
	f   *FileSystem
	buf []byte
}

func newOutgoing(ctx context.Context, c *Call, f *FileSystem, chunk int) *outgoing {
	return &outgoing{ctx: ctx, c: c, f: f, buf: make([]byte, chunk)}
}

// send writes the file win (local path local) as rel: its start line, its
// chunks, its end line with the SHA-256. The next chunk is read while
// the previous one is on its way.
func (o *outgoing) send(win, local, rel string) error {
	if o.f.isDenied(win) {
		return fsFailure(fs.ErrPermission, win, true)
	}
	file, err := os.Open(local)
	if err != nil {
		return fsFailure(err, win, true)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return fsFailure(err, win, true)
	}
	if err := o.c.WriteOutput(filecopy.MarkFile + strconv.FormatInt(fi.Size(), 10) + ":" + rel); err != nil {
		return err
	}
	h := sha256.New()
	for {
		n, err := io.ReadFull(file, o.buf)
		if n > 0 {
			h.Write(o.buf[:n])
			line := base64.StdEncoding.EncodeToString(o.buf[:n])
			if err := waitSent(o.ctx, o.c); err != nil {
				return err
			}
			if err := o.c.WriteOutput(line); err != nil {
				return err
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return fsFailure(err, win, true)
		}
	}
	return o.c.WriteOutput(filecopy.MarkEnd + hex.EncodeToString(h.Sum(nil)))
}

// waitSent waits until the client has received everything the call's
// pipeline has written, so that a transfer holds a chunk or two in the
// endpoint's memory rather than the whole file. It polls: the backend
// signals writes, not deliveries.
func waitSent(ctx context.Context, c *Call) error {
	k, ok := c.sink.(*pipeSink)
	if !ok {
		return nil
	}
	id := k.r.pl.ID()
	wait := 50 * time.Microsecond
	for {
		k.b.mu.Lock()
		busy := !k.r.closed && !k.r.detached && k.b.pool.HasDataToSend(id)
		k.b.mu.Unlock()
		if !busy {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Millisecond)
	}
}
