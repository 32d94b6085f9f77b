package psrp

// Test helpers shared by the tests of this package (and, being exported,
// by package psrp_test) over internal/captures: the recorded Windows
// conversations of ../shared/conformance, the byte-exact vectors, and the
// PSRP blobs of the conversations.

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gopsrp/gopsrp/internal/captures"
)

// Capture is one recorded conversation: a YAML file of request/response
// pairs (see ../shared/conformance/README.md).
type Capture struct {
	// Name is the file name without directory, e.g. "test_psrp_no_profile.yml".
	Name string
	Path string
	// Messages are the exchanges in order.
	Messages []CaptureExchange
}

// CaptureExchange is one request and the response it got. The optional
// error keys were added by hand as fault injections.
type CaptureExchange = captures.Entry

// CaptureBlob is one base64 PSRP blob of an envelope: a run of whole
// fragments.
type CaptureBlob struct {
	// Exchange is the index of the request/response pair in the file.
	Exchange int
	// FromClient is true for blobs of the request, false for the response.
	FromClient bool
	// Element is the local name of the carrying element: creationXml,
	// connectXml, connectResponseXml, Arguments or Stream.
	Element string
	// ShellID is the shell (runspace pool) the envelope is about,
	// upper-case; CommandID the command (pipeline), if the envelope names one.
	ShellID, CommandID string
	// Stream is the Name of an rsp:Stream (stdin, pr, stdout).
	Stream string
	// Base64 is the element's text; Data is it decoded.
	Base64 string
	Data   []byte
}

// CapturesDir returns the directory of capture YAML files: $GOPSRP_CAPTURES_DIR,
// or ../shared/conformance/pypsrp-windows-captures beside the module root.
func CapturesDir() (string, error) { return captures.Dir() }

// VectorsDir returns the directory of byte-exact vectors: $GOPSRP_VECTORS_DIR,
// or ../shared/conformance/vectors beside the module root.
func VectorsDir() (string, error) { return captures.VectorsDir() }

// fromConversation converts a loaded conversation.
func fromConversation(c *captures.Conversation) Capture {
	return Capture{Name: c.File(), Path: c.Path, Messages: c.Entries}
}

// LoadCaptures reads every test_*.yml file of CapturesDir, sorted by name.
// A missing directory or an unreadable file fails the test: the captures
// are required, never skipped.
func LoadCaptures(tb testing.TB) []Capture {
	tb.Helper()
	dir, err := CapturesDir()
	if err != nil {
		tb.Fatalf("captures: %v", err)
	}
	all, err := captures.LoadAll(dir)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]Capture, len(all))
	for i, c := range all {
		out[i] = fromConversation(c)
	}
	return out
}

// LoadCapture reads one capture file of CapturesDir by name.
func LoadCapture(tb testing.TB, name string) Capture {
	tb.Helper()
	dir, err := CapturesDir()
	if err != nil {
		tb.Fatalf("captures: %v", err)
	}
	c, err := ReadCapture(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// ReadCapture reads and parses one capture file.
func ReadCapture(path string) (Capture, error) {
	c, err := captures.Load(path)
	if err != nil {
		return Capture{}, err
	}
	return fromConversation(c), nil
}

// LoadVector returns the bytes of a file of VectorsDir, base64-decoded when
// its name ends in .b64.
func LoadVector(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := captures.ReadVector(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// PSRPBlobs returns the PSRP blobs of the whole conversation in order,
// request before response. Exchanges addressed to a non-PowerShell
// resource (WinRS, configuration) are skipped.
func (c Capture) PSRPBlobs() ([]CaptureBlob, error) {
	var out []CaptureBlob
	for i, ex := range c.Messages {
		req, err := captures.ParseEnvelope(ex.Request)
		if err != nil {
			return nil, fmt.Errorf("%s: exchange %d: request: %w", c.Name, i, err)
		}
		if !req.IsPSRP() {
			continue
		}
		resp, err := captures.ParseEnvelope(ex.Response)
		if err != nil {
			return nil, fmt.Errorf("%s: exchange %d: response: %w", c.Name, i, err)
		}
		// The shell is what the server answered to a Create (older
		// WinRM assigns its own), so later requests find it.
		shell := captures.ShellOf(req, resp)
		for _, env := range []struct {
			e          captures.Envelope
			fromClient bool
		}{{req, true}, {resp, false}} {
			for _, b := range env.e.Blobs {
				data, err := b.Decode()
				if err != nil {
					return nil, fmt.Errorf("%s: exchange %d: %w", c.Name, i, err)
				}
				cb := CaptureBlob{
					Exchange: i, FromClient: env.fromClient, Element: b.Element,
					ShellID: shell, CommandID: b.CommandID, Stream: b.Stream,
					Base64: b.Base64, Data: data,
				}
				if cb.CommandID == "" {
					cb.CommandID = env.e.CommandID
				}
				out = append(out, cb)
			}
		}
	}
	return out, nil
}
