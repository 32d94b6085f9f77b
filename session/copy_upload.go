package session

import (
	"context"
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
	"syscall"

	"github.com/gopsrp/gopsrp/internal/filecopy"
	"github.com/gopsrp/gopsrp/psrp"
)

// CopyTo copies the local file or directory tree at localPath to remotePath
// on the host, like Copy-Item -ToSession -Recurse. A file becomes the file
// remotePath (replaced if it exists; its directory must exist). A directory
// becomes the directory remotePath: created if missing, merged into if
// present, every subdirectory recreated, empty ones included. Symbolic links
// to files are copied as files; other special files and links to
// directories are skipped.
//
// The data goes through the pipeline's input a chunk at a time (see
// WithCopyChunkSize), several chunks per WS-Man Send while they are ready,
// reading ahead while a Send is on the wire; the remote script writes each
// chunk as it arrives, and checks each file's SHA-256 before moving it into
// place, so a failed copy leaves an existing remote file as it was.
//
// Errors are *CopyError: a missing localPath, or a missing remote parent,
// matches fs.ErrNotExist; a refused path fs.ErrPermission; a remote
// directory where the file should go ErrIsDirectory (a file where a
// directory should go, ErrNotDirectory); a full remote disk ErrDiskFull;
// a damaged transfer ErrHashMismatch. Cancelling ctx stops the remote
// pipeline.
func (s *Session) CopyTo(ctx context.Context, localPath, remotePath string, opts ...CopyOption) error {
	const op = "copy to"
	cfg := s.copySettings(opts)
	fi, err := os.Stat(localPath)
	if err != nil {
		return localCopyError(op, localPath, err)
	}
	var src uploadSource
	switch {
	case fi.IsDir():
		src = treeSource(localPath, remotePath, cfg.chunkSize)
	case fi.Mode().IsRegular():
		src = func(ctx context.Context, emit emitFunc) error {
			f, err := os.Open(localPath)
			if err != nil {
				return localCopyError(op, localPath, err)
			}
			defer f.Close()
			return sendFile(ctx, emit, f, "", remotePath, fi.Size(), localPath, cfg.chunkSize)
		}
	default:
		return &CopyError{Op: op, Path: localPath, Err: fmt.Errorf("session: %s is not a regular file or a directory", localPath)}
	}
	return s.upload(ctx, op, remotePath, cfg, src)
}

// Upload writes what r yields to the file remotePath on the host (replaced
// if it exists; its directory must exist), streaming as CopyTo does, until r
// returns io.EOF. The progress Total is r's remaining length when r tells
// it (Len, or Stat for an *os.File), else -1. Errors are as for CopyTo;
// an error from r is returned in a *CopyError whose Remote is false.
func (s *Session) Upload(ctx context.Context, r io.Reader, remotePath string, opts ...CopyOption) error {
	const op = "upload"
	cfg := s.copySettings(opts)
	total := int64(-1)
	switch v := r.(type) {
	case interface{ Len() int }:
		total = int64(v.Len())
	case *os.File:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			if pos, err := v.Seek(0, io.SeekCurrent); err == nil {
				total = fi.Size() - pos
			}
		}
	}
	src := func(ctx context.Context, emit emitFunc) error {
		return sendFile(ctx, emit, r, "", remotePath, total, "reader", cfg.chunkSize)
	}
	return s.upload(ctx, op, remotePath, cfg, src)
}

// copyItem is one line of the upload stream and the progress to report
// once it has been sent.
type copyItem struct {
	line     string
	progress *CopyProgress
}

type emitFunc func(copyItem) error

// uploadSource produces the stream of an upload (see package filecopy).
// It returns a *CopyError for local failures.
type uploadSource func(ctx context.Context, emit emitFunc) error

// uploadAhead is how many encoded chunks the reader prepares while the
// previous ones are on the wire: enough to fill the next Send at once,
// few enough that memory stays a few envelopes.
const uploadAhead = 4

// upload runs ToScript for remotePath and feeds it src's stream: a reader
// goroutine reads, hashes and encodes ahead while this one queues the
// lines and sends them, as many per WS-Man Send as fit.
func (s *Session) upload(ctx context.Context, op, remotePath string, cfg copyConfig, src uploadSource) error {
	ps := psrp.Script(filecopy.ToScript).Param("Path", remotePath)
	p, err := s.Start(ctx, ps, WithOpenInput())
	if err != nil {
		return &CopyError{Op: op, Path: remotePath, Remote: true, Err: err}
	}
	defer p.Close(context.WithoutCancel(ctx)) // stops it if we leave early

	items := make(chan copyItem, uploadAhead)
	rctx, cancel := context.WithCancel(ctx)
	var srcErr error
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(items)
		srcErr = src(rctx, func(it copyItem) error {
			select {
			case items <- it:
				return nil
			case <-rctx.Done():
				return rctx.Err()
			}
		})
	}()
	stopReader := func() {
		cancel()
		for range items { //nolint:revive // drain so that the reader can end
		}
		<-readerDone
	}
	defer stopReader()

	budget := s.maxPayload()
	queued := 0
	var sent []CopyProgress // reports waiting for their Send
	send := func() error {
		if queued == 0 {
			return nil
		}
		if err := s.flush(ctx); err != nil {
			return err
		}
		if err := p.failedSend(); err != nil {
			return err
		}
		queued = 0
		for _, pr := range sent {
			cfg.report(pr)
		}
		sent = sent[:0]
		return nil
	}

	var feedErr error
	readerEnded := false
feed:
	for {
		var it copyItem
		var ok bool
		select {
		case it, ok = <-items:
		default:
			// Nothing ready: send what is queued before waiting.
			if feedErr = send(); feedErr != nil {
				break feed
			}
			select {
			case it, ok = <-items:
			case <-p.Done():
				break feed // the script ended early: Wait says why
			case <-ctx.Done():
				feedErr = ctx.Err()
				break feed
			}
		}
		if !ok {
			readerEnded = true
			break
		}
		if feedErr = p.queueInput(ctx, it.line); feedErr != nil {
			break
		}
		queued += len(it.line) + chunkOverhead
		if it.progress != nil {
			sent = append(sent, *it.progress)
		}
		if queued >= budget {
			if feedErr = send(); feedErr != nil {
				break
			}
		}
	}
	stopReader()
	if readerEnded && srcErr != nil && ctx.Err() == nil {
		return srcErr // a local failure: the deferred Close stops the script
	}
	if readerEnded && srcErr == nil && feedErr == nil {
		if feedErr = send(); feedErr == nil {
			feedErr = p.CloseInput(ctx)
		}
	}
	if feedErr != nil || !readerEnded {
		// The script still waits for input, or ended already: stop it
		// (nothing happens if it ended) so that Wait returns.
		_ = p.Close(context.WithoutCancel(ctx))
	}
	res, err := p.Wait()
	var pe *PipelineError
	switch {
	case errors.As(err, &pe) && pe.State == psrp.PipelineFailed:
		return remoteCopyError(op, remotePath, err)
	case feedErr != nil:
		return &CopyError{Op: op, Path: remotePath, Remote: true, Err: feedErr, cause: err}
	case err != nil:
		return remoteCopyError(op, remotePath, err)
	case res != nil && len(res.Errors) > 0:
		return remoteCopyError(op, remotePath, &PipelineError{Record: res.Errors[0], State: res.State})
	}
	return nil
}

// sendFile emits the lines of one file read from r: its start, its chunks,
// its end with the SHA-256. rel is its path under the upload's root ("" for
// the root itself), remote its full remote path for progress, total its
// size or -1, name what errors call it.
func sendFile(ctx context.Context, emit emitFunc, r io.Reader, rel, remote string, total int64, name string, chunk int) error {
	if err := emit(copyItem{line: filecopy.MarkFile + rel, progress: &CopyProgress{Path: remote, Total: total}}); err != nil {
		return err
	}
	h := sha256.New()
	buf := make([]byte, chunk)
	var done int64
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			h.Write(buf[:n])
			done += int64(n)
			pr := &CopyProgress{Path: remote, Done: done, Total: total}
			if total >= 0 && done > total {
				pr.Total = done // the file grew while being read
			}
			if err := emit(copyItem{line: base64.StdEncoding.EncodeToString(buf[:n]), progress: pr}); err != nil {
				return err
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return localCopyError("read", name, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	end := copyItem{line: filecopy.MarkEnd + hex.EncodeToString(h.Sum(nil))}
	if total != done {
		end.progress = &CopyProgress{Path: remote, Done: done, Total: done}
	}
	return emit(end)
}

// treeSource emits the tree at root: every directory (parents first, empty
// ones included), then, within each, its files.
func treeSource(root, remoteRoot string, chunk int) uploadSource {
	return func(ctx context.Context, emit emitFunc) error {
		return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return localCopyError("copy to", path, err)
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return localCopyError("copy to", path, err)
			}
			if rel == "." {
				rel = ""
			}
			rel = strings.ReplaceAll(filepath.ToSlash(rel), "/", `\`)
			remote := remoteRoot
			if rel != "" {
				remote = strings.TrimRight(remoteRoot, `\/`) + `\` + rel
			}
			if d.IsDir() {
				return emit(copyItem{line: filecopy.MarkDir + rel})
			}
			fi, err := os.Stat(path) // follows a link to a file
			if err != nil {
				return localCopyError("copy to", path, err)
			}
			if !fi.Mode().IsRegular() {
				return nil
			}
			f, err := os.Open(path)
			if err != nil {
				return localCopyError("copy to", path, err)
			}
			defer f.Close()
			return sendFile(ctx, emit, f, rel, remote, fi.Size(), path, chunk)
		})
	}
}

// localCopyError wraps a failure on this side. A *CopyError passes through.
func localCopyError(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var ce *CopyError
	if errors.As(err, &ce) {
		return err
	}
	e := &CopyError{Op: op, Path: path, Err: err}
	if errors.Is(err, syscall.ENOSPC) {
		e.Err, e.cause = ErrDiskFull, err
	}
	return e
}
