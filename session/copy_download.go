package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gopsrp/gopsrp/internal/filecopy"
	"github.com/gopsrp/gopsrp/psrp"
)

// CopyFrom copies the file or directory tree at remotePath on the host to
// localPath, like Copy-Item -FromSession -Recurse. A file becomes the file
// localPath (replaced if it exists; its directory must exist); a directory
// becomes the directory localPath (created if missing, merged into if
// present), every subdirectory recreated, empty ones included.
//
// The remote script reads each file a chunk at a time and writes the
// chunks as output, which is written to a temporary file beside its
// destination as it arrives; each file's SHA-256 is checked before it is
// moved into place, so a failed copy leaves an existing local file as it
// was. Errors are as for CopyTo; paths the server names outside localPath
// are refused with ErrBadTransfer.
func (s *Session) CopyFrom(ctx context.Context, remotePath, localPath string, opts ...CopyOption) error {
	sink := &dirSink{root: localPath}
	defer sink.abort()
	return s.download(ctx, "copy from", remotePath, false, s.copySettings(opts), sink)
}

// Download writes the remote file remotePath to w as it arrives, and checks
// its SHA-256 at the end: when Download returns an error matching
// ErrHashMismatch, what was written to w is damaged. A remote directory is
// refused with ErrIsDirectory. Progress reports name remotePath. An error
// writing to w stops the transfer and is returned in a *CopyError whose
// Remote is false.
func (s *Session) Download(ctx context.Context, remotePath string, w io.Writer, opts ...CopyOption) error {
	return s.download(ctx, "download", remotePath, true, s.copySettings(opts), &writerSink{w: w, path: remotePath})
}

// download runs FromScript for remotePath and hands its stream to sink.
func (s *Session) download(ctx context.Context, op, remotePath string, fileOnly bool, cfg copyConfig, sink fetchSink) error {
	b := psrp.Script(filecopy.FromScript).Param("Path", remotePath).Param("ChunkSize", int32(cfg.chunkSize))
	if fileOnly {
		b = b.Switch("File")
	}
	p, err := s.Start(ctx, b)
	if err != nil {
		return &CopyError{Op: op, Path: remotePath, Remote: true, Err: err}
	}
	defer p.Close(context.WithoutCancel(ctx))
	f := newFetcher(op, sink, cfg)
	var firstErr error // a non-terminating error record
	for rec, err := range p.Records() {
		if err != nil {
			return remoteCopyError(op, remotePath, err)
		}
		switch r := rec.(type) {
		case Output:
			line, ok := r.Value.(string)
			if !ok {
				return &CopyError{Op: op, Path: remotePath, Remote: true, Err: fmt.Errorf("%w: output of type %T", ErrBadTransfer, r.Value)}
			}
			if err := f.line(line); err != nil {
				return err // leaving the loop stops the script
			}
		case *ErrorRecord:
			if firstErr == nil {
				firstErr = &PipelineError{Record: r, State: psrp.PipelineFailed}
			}
		}
	}
	if firstErr != nil {
		return remoteCopyError(op, remotePath, firstErr)
	}
	return f.finish()
}

// fetchSink is where a download goes: a local tree, or a writer.
type fetchSink interface {
	// dir creates the directory rel ("" for the root).
	dir(rel string) error
	// begin starts the file rel ("" for the root) and returns where its
	// bytes go and the path progress reports name.
	begin(rel string) (io.Writer, string, error)
	// end finishes the current file: keep it if ok, else discard it.
	end(ok bool) error
}

// fetcher checks the stream FromScript writes (see package filecopy) and
// feeds its files to a sink. Every line comes from the server: it bounds
// what it decodes, and refuses anything out of order.
type fetcher struct {
	op   string
	sink fetchSink
	cfg  copyConfig

	seen   bool // a line arrived
	in     bool // inside a file
	path   string
	w      io.Writer
	h      hash.Hash
	n, len int64
	buf    []byte // a decoded chunk: chunkSize and room for padding
	src    []byte // the line's bytes, reused
}

func newFetcher(op string, sink fetchSink, cfg copyConfig) *fetcher {
	return &fetcher{op: op, sink: sink, cfg: cfg, h: sha256.New(), buf: make([]byte, cfg.chunkSize+3)}
}

func (f *fetcher) bad(format string, args ...any) error {
	return &CopyError{Op: f.op, Path: f.path, Remote: true, Err: fmt.Errorf("%w: "+format, append([]any{ErrBadTransfer}, args...)...)}
}

// line takes one line of the stream.
func (f *fetcher) line(s string) error {
	f.seen = true
	switch {
	case strings.HasPrefix(s, filecopy.MarkDir):
		if f.in {
			return f.bad("a directory inside a file")
		}
		rel, err := checkRel(s[len(filecopy.MarkDir):])
		if err != nil {
			return f.bad("%v", err)
		}
		return f.sink.dir(rel)
	case strings.HasPrefix(s, filecopy.MarkFile):
		if f.in {
			return f.bad("a file inside a file")
		}
		size, rel, ok := strings.Cut(s[len(filecopy.MarkFile):], ":")
		n, err := strconv.ParseInt(size, 10, 64)
		if !ok || err != nil || n < 0 {
			return f.bad("bad file line %.64q", s)
		}
		if rel, err = checkRel(rel); err != nil {
			return f.bad("%v", err)
		}
		w, path, err := f.sink.begin(rel)
		if err != nil {
			return err
		}
		f.in, f.w, f.path, f.n, f.len = true, w, path, 0, n
		f.h.Reset()
		f.cfg.report(CopyProgress{Path: path, Total: n})
		return nil
	case strings.HasPrefix(s, filecopy.MarkEnd):
		if !f.in {
			return f.bad("a file end outside a file")
		}
		f.in = false
		if f.n != f.len {
			_ = f.sink.end(false)
			return f.bad("%d bytes of %s arrived, %d announced", f.n, f.path, f.len)
		}
		want, err := hex.DecodeString(s[len(filecopy.MarkEnd):])
		if err != nil || len(want) != sha256.Size {
			_ = f.sink.end(false)
			return f.bad("bad hash line %.80q", s)
		}
		var got [sha256.Size]byte
		if !bytes.Equal(f.h.Sum(got[:0]), want) {
			_ = f.sink.end(false)
			return &CopyError{Op: f.op, Path: f.path, Err: ErrHashMismatch,
				cause: fmt.Errorf("session: SHA-256 of %s is %x, the server's is %x", f.path, got, want)}
		}
		if f.len == 0 {
			f.cfg.report(CopyProgress{Path: f.path, Total: 0})
		}
		return f.sink.end(true)
	}
	if !f.in {
		return f.bad("data outside a file")
	}
	if base64.StdEncoding.DecodedLen(len(s))-strings.Count(s[max(0, len(s)-2):], "=") > f.cfg.chunkSize {
		return f.bad("a chunk of %d characters, more than the %d bytes asked for", len(s), f.cfg.chunkSize)
	}
	f.src = append(f.src[:0], s...)
	k, err := base64.StdEncoding.Decode(f.buf, f.src)
	if err != nil {
		return f.bad("%v", err)
	}
	if f.n += int64(k); f.n > f.len {
		return f.bad("more bytes of %s than the %d announced", f.path, f.len)
	}
	f.h.Write(f.buf[:k])
	if _, err := f.w.Write(f.buf[:k]); err != nil {
		return localCopyError(f.op, f.path, err)
	}
	f.cfg.report(CopyProgress{Path: f.path, Done: f.n, Total: f.len})
	return nil
}

// finish checks that the stream ended between files and named something.
func (f *fetcher) finish() error {
	if f.in {
		_ = f.sink.end(false)
		return f.bad("the transfer ended inside %s", f.path)
	}
	if !f.seen {
		return f.bad("the server sent nothing")
	}
	return nil
}

// checkRel turns a relative path of the stream (\ separated) into a local
// one that stays inside the destination.
func checkRel(rel string) (string, error) {
	if rel == "" {
		return "", nil
	}
	local := filepath.FromSlash(strings.ReplaceAll(rel, `\`, "/"))
	if !filepath.IsLocal(local) || strings.ContainsRune(rel, 0) {
		return "", fmt.Errorf("path %.80q is outside the destination", rel)
	}
	return local, nil
}

// dirSink writes a download under root: a file root for a single file,
// a directory root for a tree.
type dirSink struct {
	root    string
	started bool // the first line decided what root is
	isDir   bool
	tmp     *os.File
	target  string
}

func (d *dirSink) dir(rel string) error {
	if !d.started {
		if rel != "" {
			return &CopyError{Op: "copy from", Path: rel, Remote: true, Err: fmt.Errorf("%w: the tree does not start at its root", ErrBadTransfer)}
		}
		d.started, d.isDir = true, true
		if fi, err := os.Stat(d.root); err == nil && !fi.IsDir() {
			return &CopyError{Op: "copy from", Path: d.root, Err: ErrNotDirectory}
		}
		return localCopyError("copy from", d.root, os.MkdirAll(d.root, 0o777))
	}
	if !d.isDir {
		return &CopyError{Op: "copy from", Path: d.root, Remote: true, Err: fmt.Errorf("%w: a directory after a file", ErrBadTransfer)}
	}
	path := filepath.Join(d.root, rel)
	if err := os.Mkdir(path, 0o777); err != nil && !errors.Is(err, os.ErrExist) {
		return localCopyError("copy from", path, err)
	}
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		return &CopyError{Op: "copy from", Path: path, Err: ErrNotDirectory}
	}
	return nil
}

func (d *dirSink) begin(rel string) (io.Writer, string, error) {
	if !d.started {
		if rel != "" {
			return nil, "", &CopyError{Op: "copy from", Path: rel, Remote: true, Err: fmt.Errorf("%w: a file outside the tree", ErrBadTransfer)}
		}
		d.started = true
	} else if !d.isDir || rel == "" {
		return nil, "", &CopyError{Op: "copy from", Path: d.root, Remote: true, Err: fmt.Errorf("%w: a second file", ErrBadTransfer)}
	}
	target := filepath.Join(d.root, rel)
	if fi, err := os.Stat(target); err == nil && fi.IsDir() {
		return nil, "", &CopyError{Op: "copy from", Path: target, Err: ErrIsDirectory}
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.gopsrp")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			pe.Path = filepath.Dir(target) // not the random name
		}
		return nil, "", localCopyError("copy from", target, err)
	}
	d.tmp, d.target = tmp, target
	return tmp, target, nil
}

func (d *dirSink) end(ok bool) error {
	tmp := d.tmp
	d.tmp = nil
	if tmp == nil {
		return nil
	}
	err := tmp.Close()
	if ok && err == nil {
		err = os.Rename(tmp.Name(), d.target)
	}
	if !ok || err != nil {
		_ = os.Remove(tmp.Name())
	}
	return localCopyError("copy from", d.target, err)
}

// abort discards a file left unfinished.
func (d *dirSink) abort() { _ = d.end(false) }

// writerSink streams a single remote file to a writer.
type writerSink struct {
	w     io.Writer
	path  string
	began bool
}

func (ws *writerSink) dir(string) error {
	return &CopyError{Op: "download", Path: ws.path, Remote: true, Err: ErrIsDirectory}
}

func (ws *writerSink) begin(rel string) (io.Writer, string, error) {
	if ws.began || rel != "" {
		return nil, "", &CopyError{Op: "download", Path: ws.path, Remote: true, Err: fmt.Errorf("%w: more than one file", ErrBadTransfer)}
	}
	ws.began = true
	return ws.w, ws.path, nil
}

func (ws *writerSink) end(bool) error { return nil }
