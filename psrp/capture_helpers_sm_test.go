package psrp_test

import (
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

// smLoadCapture reads one of the capture files. A directory that lacks it
// (GOPSRP_CAPTURES_DIR pointing at other recordings) fails the test with
// the file's name: a test never passes by skipping its evidence.
func smLoadCapture(tb testing.TB, name string) psrp.Capture {
	tb.Helper()
	c, err := psrp.ReadCapture(filepath.Join(smCaptureDir(tb), name))
	if err != nil {
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
