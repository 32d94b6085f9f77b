package auth

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadLimited(t *testing.T) {
	body := strings.Repeat("envelope", 100)
	for _, tc := range []struct {
		name        string
		size, limit int64
		want        error
	}{
		{"announced", int64(len(body)), 1 << 20, nil},
		{"unannounced", -1, 1 << 20, nil},
		{"announced too large", int64(len(body)), 10, ErrResponseTooLarge},
		{"unannounced too large", -1, 10, ErrResponseTooLarge},
		{"shorter than announced", int64(len(body)) + 1, 1 << 20, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf, err := readLimited(strings.NewReader(body), tc.size, tc.limit)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if err == nil && string(*buf) != body {
				t.Fatalf("read %d bytes, want the %d of the body", len(*buf), len(body))
			}
		})
	}
}

func TestResponseBodyReusesItsBuffer(t *testing.T) {
	buf := getResponseBuffer(1000)
	if len(*buf) != 1000 || cap(*buf) < 1000 {
		t.Fatalf("buffer of len %d cap %d, want len 1000", len(*buf), cap(*buf))
	}
	copy(*buf, "plaintext")
	b := newResponseBody((*buf)[:9], buf)
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "plaintext" {
		t.Fatalf("read %q, %v", got, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// A second Close must not hand the buffer out twice; reads after
	// Close see nothing of the recycled buffer.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("read after Close: %d, %v", n, err)
	}
	var w bytes.Buffer
	if n, err := newResponseBody([]byte("abc"), getResponseBuffer(3)).WriteTo(&w); n != 3 || err != nil || w.String() != "abc" {
		t.Fatalf("WriteTo: %d, %v, %q", n, err, w.String())
	}
}
