package psrp_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"go.yaml.in/yaml/v3"
)

// smCaptureDir is where the recorded Windows conversations live.
const smCaptureDir = "/work/shared/conformance/pypsrp-windows-captures"

type smCaptureFile struct {
	Messages []struct {
		Request  string `yaml:"request"`
		Response string `yaml:"response"`
	} `yaml:"messages"`
}

// smBlobRE finds the base64 PSRP blobs in a SOAP envelope: rsp:Stream,
// creationXml, connectXml/connectResponseXml and rsp:Arguments.
var smBlobRE = regexp.MustCompile(`<(?:rsp:Stream|creationXml|connectXml|connectResponseXml|rsp:Arguments|pwsh:creationXml|pwsh:connectXml|pwsh:connectResponseXml)\b[^>]*>([A-Za-z0-9+/=]+)<`)

// smLoadCapture reads a capture file, skipping the test when the shared
// conformance data is absent.
func smLoadCapture(tb testing.TB, name string) smCaptureFile {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(smCaptureDir, name))
	if err != nil {
		tb.Skipf("capture not available: %v", err)
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
