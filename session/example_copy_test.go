package session_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// Copy a file to the host and back (Copy-Item -ToSession / -FromSession),
// with progress.
func ExampleSession_CopyTo() {
	srv := sessiontest.NewServer() // an emulated host; its C:\ lives in a temporary directory
	defer srv.Close()
	ctx := context.Background()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close(ctx)

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	local := filepath.Join(dir, "report.txt")
	os.WriteFile(local, []byte("quarterly figures\n"), 0o644)
	tmp, _ := srv.Files().LocalPath(`C:\Temp`)
	os.MkdirAll(tmp, 0o777)

	err = s.CopyTo(ctx, local, `C:\Temp\report.txt`, session.WithCopyProgress(func(p session.CopyProgress) {
		fmt.Printf("%s: %d/%d bytes\n", p.Path, p.Done, p.Total)
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	back := filepath.Join(dir, "back.txt")
	if err := s.CopyFrom(ctx, `C:\Temp\report.txt`, back); err != nil {
		fmt.Println(err)
		return
	}
	b, _ := os.ReadFile(back)
	fmt.Print(string(b))

	err = s.CopyFrom(ctx, `C:\Temp\missing.txt`, back)
	fmt.Println(errors.Is(err, fs.ErrNotExist))
	// Output:
	// C:\Temp\report.txt: 0/18 bytes
	// C:\Temp\report.txt: 18/18 bytes
	// quarterly figures
	// true
}

// Stream to and from the host with io.Reader and io.Writer.
func ExampleSession_Upload() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close(ctx)
	root, _ := srv.Files().LocalPath(`C:\`)
	os.MkdirAll(root, 0o777)

	if err := s.Upload(ctx, strings.NewReader("streamed"), `C:\data.txt`); err != nil {
		fmt.Println(err)
		return
	}
	var buf bytes.Buffer
	if err := s.Download(ctx, `C:\data.txt`, &buf); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(buf.String())
	// Output: streamed
}
