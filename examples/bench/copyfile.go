package main

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// writeCopySource writes size bytes of seeded pseudo-random data (the same
// every run, and not compressible) to path, a block at a time, and returns
// their SHA-256.
func writeCopySource(path string, size int64) (sum [sha256.Size]byte, err error) {
	f, err := os.Create(path)
	if err != nil {
		return sum, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if _, err := io.CopyN(w, rand.NewChaCha8([32]byte{'g', 'o', 'p', 's', 'r', 'p'}), size); err != nil {
		return sum, fmt.Errorf("copy source: %w", err)
	}
	if err := w.Flush(); err != nil {
		return sum, fmt.Errorf("copy source: %w", err)
	}
	h.Sum(sum[:0])
	return sum, nil
}

// prepareCopyDest makes the directory of the copy's destination on the
// in-process endpoint's disk, as a real host has it.
func (r *runner) prepareCopyDest(dest string) error {
	local, err := r.files.LocalPath(dest)
	if err != nil {
		return fmt.Errorf("-copy-dest %q: %w", dest, err)
	}
	return os.MkdirAll(filepath.Dir(local), 0o777)
}

// checkCopy compares the file a copy left on the in-process endpoint's
// disk with the source, so that a row is never the figure of a copy that
// went wrong. Another endpoint's disk is out of reach: the clients' own
// checks (both hash the file) stand for it there.
func (r *runner) checkCopy(dest string) error {
	if r.files == nil {
		return nil
	}
	local, err := r.files.LocalPath(dest)
	if err != nil {
		return err
	}
	f, err := os.Open(local)
	if err != nil {
		return fmt.Errorf("copied file: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("copied file: %w", err)
	}
	if [sha256.Size]byte(h.Sum(nil)) != r.copySum {
		return fmt.Errorf("copied file %s differs from the source", dest)
	}
	// The next client's copy must not find this one's file.
	return os.Remove(local)
}
