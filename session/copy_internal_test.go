package session

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fetcher reads lines the server chose: whatever they are, it neither
// panics nor writes outside its destination, and decodes no more than
// the chunk size it asked for.
func FuzzCopyFetcher(f *testing.F) {
	for _, seed := range []string{
		":d:\n:d:sub\n:f:3:sub\\a\nYWJj\n:e:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		":f:0:\n:e:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		":f:3:\nYWJj\n:e:0000",
		":d:\n:d:..\\..\\etc",
		":d:\n:f:1:C:\\x\nYQ==\n:e:",
		":f:99999999999999999999:\n",
		"YWJj",
		":d:\n:f:2:a\nYWJj\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, stream string) {
		parent := t.TempDir()
		root := filepath.Join(parent, "dest")
		sink := &dirSink{root: root}
		fe := newFetcher("copy from", sink, copyConfig{chunkSize: 1024})
		for _, line := range strings.Split(stream, "\n") {
			if err := fe.line(line); err != nil {
				break
			}
		}
		_ = fe.finish()
		sink.abort()
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			if e.Name() != "dest" {
				t.Fatalf("wrote %s outside the destination", e.Name())
			}
		}
	})
}
