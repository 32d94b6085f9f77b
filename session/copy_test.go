package session_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// copyEnv is an endpoint and a session on it, with a small envelope so
// that a few KiB make several chunks.
func copyEnv(t *testing.T, opts ...session.Option) (*sessiontest.Server, *session.Session, context.Context) {
	t.Helper()
	srv := sessiontest.NewServer()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	opts = append([]session.Option{session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted()}, opts...)
	s, err := session.New(ctx, srv.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return srv, s, ctx
}

// pattern returns n deterministic bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestCopyRoundTripSizes(t *testing.T) {
	t.Parallel()
	srv, s, ctx := copyEnv(t)
	chunk := 4096
	for _, n := range []int{0, 1, chunk, 5*chunk + 17} {
		data := pattern(n)
		local := filepath.Join(t.TempDir(), "in.bin")
		if err := os.WriteFile(local, data, 0o644); err != nil {
			t.Fatal(err)
		}
		remote := `C:\temp\f` + string(rune('a'+n%26)) + ".bin"
		if err := os.MkdirAll(mustLocal(t, srv, `C:\temp`), 0o777); err != nil {
			t.Fatal(err)
		}
		var last session.CopyProgress
		calls := 0
		err := s.CopyTo(ctx, local, remote, session.WithCopyChunkSize(chunk), session.WithCopyProgress(func(p session.CopyProgress) {
			if p.Done < last.Done {
				t.Errorf("%d B: progress went back from %d to %d", n, last.Done, p.Done)
			}
			last = p
			calls++
		}))
		if err != nil {
			t.Fatalf("%d B: CopyTo: %v", n, err)
		}
		if last.Done != int64(n) || last.Total != int64(n) || last.Path != remote {
			t.Errorf("%d B: last progress %+v", n, last)
		}
		if want := 1 + (n+chunk-1)/chunk; n > 0 && calls != want {
			t.Errorf("%d B: %d progress calls, want %d", n, calls, want)
		}
		got, err := os.ReadFile(mustLocal(t, srv, remote))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d B: remote file differs (%d bytes, %v)", n, len(got), err)
		}
		back := filepath.Join(t.TempDir(), "back.bin")
		if err := s.CopyFrom(ctx, remote, back, session.WithCopyChunkSize(chunk)); err != nil {
			t.Fatalf("%d B: CopyFrom: %v", n, err)
		}
		if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
			t.Fatalf("%d B: fetched file differs", n)
		}
		var buf bytes.Buffer
		if err := s.Download(ctx, remote, &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
			t.Fatalf("%d B: Download: %v (%d bytes)", n, err, buf.Len())
		}
	}
}

func mustLocal(t *testing.T, srv *sessiontest.Server, win string) string {
	t.Helper()
	p, err := srv.Files().LocalPath(win)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCopyTree(t *testing.T) {
	t.Parallel()
	srv, s, ctx := copyEnv(t)
	src := t.TempDir()
	files := map[string][]byte{
		"a.txt":                []byte("alpha"),
		"sub/b.bin":            pattern(10000),
		"sub/deeper/c":         nil,
		"ünïcödé/日本語 ファイル.txt": []byte("名前"),
	}
	for name, data := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o777)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"empty", "sub/empty too"} {
		os.MkdirAll(filepath.Join(src, filepath.FromSlash(d)), 0o777)
	}
	if err := s.CopyTo(ctx, src, `C:\dest\tree`, session.WithCopyChunkSize(3000)); err != nil {
		t.Fatal(err)
	}
	remoteRoot := mustLocal(t, srv, `C:\dest\tree`)
	assertSameTree(t, src, remoteRoot)
	back := filepath.Join(t.TempDir(), "back")
	if err := s.CopyFrom(ctx, `C:\dest\tree`, back, session.WithCopyChunkSize(3000)); err != nil {
		t.Fatal(err)
	}
	assertSameTree(t, src, back)
}

// assertSameTree compares two trees: the same directories (empty ones
// too) and files with the same bytes.
func assertSameTree(t *testing.T, want, got string) {
	t.Helper()
	list := func(root string) map[string]string {
		m := map[string]string{}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() {
				m[rel] = "dir"
				return nil
			}
			b, _ := os.ReadFile(p)
			sum := sha256.Sum256(b)
			m[rel] = string(sum[:])
			return nil
		})
		return m
	}
	w, g := list(want), list(got)
	for k, v := range w {
		if g[k] != v {
			t.Errorf("%s: differs or missing in %s", k, got)
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			t.Errorf("%s: unexpected in %s", k, got)
		}
	}
}

func TestCopyErrors(t *testing.T) {
	t.Parallel()
	srv, s, ctx := copyEnv(t)
	os.MkdirAll(mustLocal(t, srv, `C:\dir\sub`), 0o777)
	os.WriteFile(mustLocal(t, srv, `C:\dir\file.txt`), []byte("x"), 0o644)
	local := filepath.Join(t.TempDir(), "f")
	os.WriteFile(local, pattern(50000), 0o644)
	localDir := t.TempDir()

	check := func(name string, err error, target error, remoteText string) {
		t.Helper()
		var ce *session.CopyError
		if !errors.As(err, &ce) {
			t.Errorf("%s: %v is not a *CopyError", name, err)
			return
		}
		if !errors.Is(err, target) {
			t.Errorf("%s: %v does not match %v", name, err, target)
		}
		if remoteText != "" && !strings.Contains(err.Error(), remoteText) {
			t.Errorf("%s: %q lacks the remote text %q", name, err, remoteText)
		}
	}
	check("missing local", s.CopyTo(ctx, filepath.Join(localDir, "nope"), `C:\dir\x`), fs.ErrNotExist, "")
	check("missing remote parent", s.CopyTo(ctx, local, `C:\nowhere\x`), fs.ErrNotExist, `Could not find a part of the path`)
	check("remote directory", s.CopyTo(ctx, local, `C:\dir\sub`), session.ErrIsDirectory, `'C:\dir\sub' is a directory`)
	check("tree onto a file", s.CopyTo(ctx, localDir, `C:\dir\file.txt`), session.ErrNotDirectory, "is a file")
	check("missing remote", s.CopyFrom(ctx, `C:\dir\nope`, filepath.Join(localDir, "x")), fs.ErrNotExist, `Cannot find path 'C:\dir\nope'`)
	check("download directory", s.Download(ctx, `C:\dir`, io.Discard), session.ErrIsDirectory, "is a directory")
	check("fetch onto a local directory", s.CopyFrom(ctx, `C:\dir\file.txt`, localDir), session.ErrIsDirectory, "")
	check("escape", s.CopyTo(ctx, local, `C:\..\..\etc\x`), fs.ErrPermission, "is denied")

	srv.Files().DenyAccess(`C:\locked`)
	os.MkdirAll(mustLocal(t, srv, `C:\locked`), 0o777)
	os.WriteFile(mustLocal(t, srv, `C:\locked\secret`), []byte("s"), 0o644)
	check("denied write", s.CopyTo(ctx, local, `C:\locked\x`), fs.ErrPermission, `Access to the path 'C:\locked\x' is denied.`)
	check("denied read", s.Download(ctx, `C:\locked\secret`, io.Discard), fs.ErrPermission, "is denied")

	srv.Files().SetFreeSpace(20000)
	check("disk full", s.CopyTo(ctx, local, `C:\dir\big`, session.WithCopyChunkSize(4096)), session.ErrDiskFull, "There is not enough space on the disk.")
	if _, err := os.Stat(mustLocal(t, srv, `C:\dir\big`)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed copy left its file: %v", err)
	}
	entries, _ := os.ReadDir(mustLocal(t, srv, `C:\dir`))
	if len(entries) != 2 {
		t.Errorf("a failed copy left a temporary file: %v", entries)
	}
	srv.Files().SetFreeSpace(-1)

	// The session is still usable after every failure.
	if err := s.CopyTo(ctx, local, `C:\dir\ok`); err != nil {
		t.Fatal(err)
	}
}

// A cancelled copy stops the remote pipeline: the session runs the next
// command at once, and the remote side keeps neither the file nor its
// temporary.
func TestCopyCancel(t *testing.T) {
	t.Parallel()
	srv, s, ctx := copyEnv(t)
	os.MkdirAll(mustLocal(t, srv, `C:\c`), 0o777)
	cctx, cancel := context.WithCancel(ctx)
	err := s.Upload(cctx, io.LimitReader(zeroReader{}, 1<<30), `C:\c\big`, session.WithCopyChunkSize(8192),
		session.WithCopyProgress(func(p session.CopyProgress) {
			if p.Done >= 64<<10 {
				cancel()
			}
		}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Upload after cancel: %v", err)
	}
	if _, err := s.InvokeScript(ctx, "Write-Output 1"); err != nil {
		t.Fatalf("the session is stuck after a cancelled upload: %v", err)
	}
	waitEmpty(t, mustLocal(t, srv, `C:\c`))

	os.WriteFile(mustLocal(t, srv, `C:\c\src`), pattern(1<<20), 0o644)
	dctx, dcancel := context.WithCancel(ctx)
	err = s.Download(dctx, `C:\c\src`, io.Discard, session.WithCopyChunkSize(4096),
		session.WithCopyProgress(func(p session.CopyProgress) {
			if p.Done >= 16<<10 {
				dcancel()
			}
		}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Download after cancel: %v", err)
	}
	if _, err := s.InvokeScript(ctx, "Write-Output 1"); err != nil {
		t.Fatalf("the session is stuck after a cancelled download: %v", err)
	}
}

// waitEmpty waits (bounded) until dir holds nothing: the endpoint removes
// a stopped copy's temporary file as its handler returns.
func waitEmpty(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, err := os.ReadDir(dir)
		if err == nil && len(entries) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds %v (%v)", dir, entries, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// patternReader yields a deterministic stream without storing it.
type patternReader struct{ off int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.off*31 + r.off>>9)
		r.off++
	}
	return len(p), nil
}

// A large copy streams both ways with the heap far below the file's size
// (client and endpoint share this process, so both sides are measured).
func TestCopyLargeFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large copy")
	}
	size := int64(64 << 20)
	if raceEnabled {
		size = 4 << 20
	}
	srv, s, ctx := copyEnv(t)
	os.MkdirAll(mustLocal(t, srv, `C:\big`), 0o777)
	peak := sampleHeap(t)
	want := sha256.New()
	if err := s.Upload(ctx, io.TeeReader(io.LimitReader(&patternReader{}, size), want), `C:\big\file`); err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n := int64(0)
	if err := s.Download(ctx, `C:\big\file`, io.MultiWriter(got, countWriter{&n})); err != nil {
		t.Fatal(err)
	}
	if n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("downloaded %d bytes of %d, hashes equal: %v", n, size, bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
	p := peak()
	t.Logf("%d MiB each way, peak HeapInuse %.1f MiB", size>>20, float64(p)/(1<<20))
	if p > uint64(size)/2+16<<20 {
		t.Errorf("peak heap %d MiB for a %d MiB copy: memory grows with the file", p>>20, size>>20)
	}
}

type countWriter struct{ n *int64 }

func (w countWriter) Write(p []byte) (int, error) {
	*w.n += int64(len(p))
	return len(p), nil
}

// sampleHeap samples HeapInuse until the returned function is called, which
// returns the peak.
func sampleHeap(t *testing.T) func() uint64 {
	t.Helper()
	runtime.GC()
	stop := make(chan struct{})
	done := make(chan uint64)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	var once bool
	var result uint64
	get := func() uint64 {
		if !once {
			once = true
			close(stop)
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the heap sampler did not stop")
			}
		}
		return result
	}
	t.Cleanup(func() { get() })
	return get
}
