package psrp_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopsrp/gopsrp/internal/captures"
	"github.com/gopsrp/gopsrp/psrp"
)

// smCaptureDir is where the recorded Windows conversations live
// (psrp.CapturesDir: $GOPSRP_CAPTURES_DIR or the shared captures).
func smCaptureDir(tb testing.TB) string {
	tb.Helper()
	dir, err := psrp.CapturesDir()
	if err != nil {
		tb.Fatalf("captures: %v", err)
	}
	return dir
}

// smLoadCapture reads one of the shared capture files. It fails when the
// file is missing, unless GOPSRP_CAPTURES_DIR points at another set of
// captures that may not hold it; then the test is skipped by name.
func smLoadCapture(tb testing.TB, name string) psrp.Capture {
	tb.Helper()
	c, err := psrp.ReadCapture(filepath.Join(smCaptureDir(tb), name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && os.Getenv(captures.EnvDir) != "" {
			tb.Skipf("capture %s not in $%s: %v", name, captures.EnvDir, err)
		}
		tb.Fatal(err)
	}
	return c
}

// smBlobs returns the decoded PSRP blobs of one SOAP envelope, in order:
// rsp:Stream, creationXml, connectXml/connectResponseXml and rsp:Arguments.
func smBlobs(tb testing.TB, envelope string) [][]byte {
	tb.Helper()
	env, err := captures.ParseEnvelope(envelope)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([][]byte, 0, len(env.Blobs))
	for _, b := range env.Blobs {
		d, err := b.Decode()
		if err != nil {
			tb.Fatalf("bad base64 in capture: %v", err)
		}
		out = append(out, d)
	}
	return out
}
