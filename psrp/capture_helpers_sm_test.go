package psrp_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"go.yaml.in/yaml/v3"

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

type smCaptureFile struct {
	Messages []struct {
		Request  string `yaml:"request"`
		Response string `yaml:"response"`
	} `yaml:"messages"`
}

// smBlobRE finds the base64 PSRP blobs in a SOAP envelope: rsp:Stream,
// creationXml, connectXml/connectResponseXml and rsp:Arguments.
var smBlobRE = regexp.MustCompile(`<(?:rsp:Stream|creationXml|connectXml|connectResponseXml|rsp:Arguments|pwsh:creationXml|pwsh:connectXml|pwsh:connectResponseXml)\b[^>]*>([A-Za-z0-9+/=]+)<`)

// smLoadCapture reads one of the shared capture files. It fails when the
// file is missing, unless GOPSRP_CAPTURES_DIR points at another set of
// captures that may not hold it; then the test is skipped by name.
func smLoadCapture(tb testing.TB, name string) smCaptureFile {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(smCaptureDir(tb), name))
	if err != nil {
		if os.Getenv("GOPSRP_CAPTURES_DIR") != "" {
			tb.Skipf("capture %s not in $GOPSRP_CAPTURES_DIR: %v", name, err)
		}
		tb.Fatalf("capture: %v", err)
	}
	var c smCaptureFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		tb.Fatalf("parse %s: %v", name, err)
	}
	return c
}

// smBlobs returns the decoded PSRP blobs of one SOAP envelope, in order.
func smBlobs(tb testing.TB, envelope string) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, m := range smBlobRE.FindAllStringSubmatch(envelope, -1) {
		b, err := base64.StdEncoding.DecodeString(m[1])
		if err != nil {
			tb.Fatalf("bad base64 in capture: %v", err)
		}
		out = append(out, b)
	}
	return out
}
