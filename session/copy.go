package session

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/gopsrp/gopsrp/internal/filecopy"
)

// File transfer (Copy-Item -ToSession / -FromSession): CopyTo and CopyFrom
// copy a file or a directory tree, Upload and Download stream one file from
// an io.Reader or to an io.Writer. Each is one pipeline running a script
// that reads or writes the remote file a chunk at a time, so neither side's
// memory grows with the file; every file is checked with SHA-256 at the end.

// Errors of file transfers, matched with errors.Is. A missing path matches
// fs.ErrNotExist and a refused one fs.ErrPermission, on either side.
var (
	// ErrIsDirectory: a directory is where a file is expected.
	ErrIsDirectory = errors.New("session: is a directory")
	// ErrNotDirectory: a file is where a directory is expected.
	ErrNotDirectory = errors.New("session: not a directory")
	// ErrDiskFull: the destination has no space left.
	ErrDiskFull = errors.New("session: no space left on the disk")
	// ErrHashMismatch: what arrived does not have the sender's SHA-256.
	ErrHashMismatch = errors.New("session: SHA-256 mismatch")
	// ErrBadTransfer: the remote side sent something a transfer cannot
	// contain (a path outside the destination, more bytes than it
	// announced, a malformed line).
	ErrBadTransfer = errors.New("session: malformed transfer from the server")
)

// CopyError reports a failed file transfer. Err is what matches errors.Is:
// one of the sentinels above, fs.ErrNotExist or fs.ErrPermission (through
// a local *fs.PathError or for a remote path), a context's error, or the
// cause. For a failure on the remote host, Record is the ErrorRecord it
// sent, whose text (Windows' own) the message carries.
type CopyError struct {
	// Op is "copy to", "copy from", "upload" or "download".
	Op string
	// Path is the file or directory concerned; Remote says on which side.
	Path   string
	Remote bool
	Err    error
	Record *ErrorRecord
	// cause is the pipeline or I/O error behind Err, kept for errors.As.
	cause error
}

// Error names the operation and path, and gives the remote text when there
// is one.
func (e *CopyError) Error() string {
	side := "local"
	if e.Remote {
		side = "remote"
	}
	msg := ""
	switch {
	case e.Record != nil:
		msg = e.Record.Message()
	case e.Err != nil:
		msg = e.Err.Error()
	}
	return fmt.Sprintf("session: %s: %s %s: %s", e.Op, side, e.Path, msg)
}

// Unwrap returns Err and the error behind it (a *PipelineError for a remote
// failure), so that errors.Is and errors.As see both.
func (e *CopyError) Unwrap() []error {
	errs := []error{e.Err}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// CopyProgress is the progress of one file of a transfer.
type CopyProgress struct {
	// Path is the file's path on the side it is copied to.
	Path string
	// Done is how many bytes have been sent or received so far; Total is
	// the file's size, or -1 while unknown (Upload from a reader of
	// unknown length). The last report of a file has Done == Total.
	Done, Total int64
}

// CopyOption configures CopyTo, CopyFrom, Upload and Download.
type CopyOption func(*copyConfig)

type copyConfig struct {
	progress  func(CopyProgress)
	chunkSize int
}

// WithCopyProgress calls fn as each file of a transfer advances: at least
// once per file, after every chunk, with Done never decreasing, the last call
// of a file with Done == Total. fn runs on the transfer's goroutine; it
// should return quickly.
func WithCopyProgress(fn func(CopyProgress)) CopyOption {
	return func(c *copyConfig) { c.progress = fn }
}

// WithCopyChunkSize sets the bytes of file data per pipeline object. By
// default, and at most, a chunk fills one WS-Man envelope (about 280 KiB
// at the usual 500 KiB MaxEnvelopeSize): fewer chunks cost fewer round
// trips. Values below 1 KiB are raised to it.
func WithCopyChunkSize(n int) CopyOption {
	return func(c *copyConfig) { c.chunkSize = n }
}

// chunkOverhead is what one chunk object adds to its data in a payload:
// the fragment header (21 bytes), the message header (40), the CLIXML
// string tags, and a margin for the largest marker line.
const chunkOverhead = 21 + 40 + 64

// copySettings applies opts and sizes chunks for s's envelope: the
// base64 of a chunk, in its message, fills at most one payload.
func (s *Session) copySettings(opts []CopyOption) copyConfig {
	var c copyConfig
	for _, o := range opts {
		o(&c)
	}
	most := (s.maxPayload() - chunkOverhead) / 4 * 3
	most -= most % 3 // whole base64 quanta: no padding inside a file
	if c.chunkSize <= 0 || c.chunkSize > most {
		c.chunkSize = most
	}
	c.chunkSize = max(c.chunkSize, 1024)
	return c
}

func (c *copyConfig) report(p CopyProgress) {
	if c.progress != nil {
		c.progress(p)
	}
}

// remoteCopyError turns the error of a transfer pipeline into a *CopyError:
// the scripts' ErrorRecords name their kind (see package filecopy).
func remoteCopyError(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var pe *PipelineError
	if !errors.As(err, &pe) || pe.Record == nil {
		return &CopyError{Op: op, Path: path, Remote: true, Err: err}
	}
	rec := pe.Record
	ce := &CopyError{Op: op, Path: path, Remote: true, Record: rec, cause: err}
	if t, ok := rec.TargetObject.(string); ok && t != "" {
		ce.Path = t
	}
	switch filecopy.Kind(rec.FullyQualifiedErrorID) {
	case filecopy.KindNotFound:
		ce.Err = fs.ErrNotExist
	case filecopy.KindAccessDenied:
		ce.Err = fs.ErrPermission
	case filecopy.KindIsDirectory:
		ce.Err = ErrIsDirectory
	case filecopy.KindNotDirectory:
		ce.Err = ErrNotDirectory
	case filecopy.KindDiskFull:
		ce.Err = ErrDiskFull
	case filecopy.KindHashMismatch:
		ce.Err = ErrHashMismatch
	default:
		ce.Err = err
	}
	return ce
}
