package psrp

// Test helpers shared by the tests of this package (and, being exported,
// by package psrp_test): finding and reading the recorded Windows
// conversations of ../shared/conformance and the byte-exact vectors, and
// extracting the PSRP blobs from their SOAP envelopes.

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Capture is one recorded conversation: a YAML file of request/response
// pairs (see ../shared/conformance/README.md).
type Capture struct {
	// Name is the file name without directory, e.g. "test_psrp_no_profile.yml".
	Name string
	Path string
	// Messages are the exchanges in order.
	Messages []CaptureExchange `yaml:"messages"`
}

// CaptureExchange is one request and the response it got. The optional
// error keys were added by hand as fault injections.
type CaptureExchange struct {
	Request        string            `yaml:"request"`
	Response       string            `yaml:"response"`
	TransportError *CaptureTransport `yaml:"transport_error"`
	HTTPError      bool              `yaml:"http_error"`
	AuthError      bool              `yaml:"auth_error"`
	Overrides      []CaptureOverride `yaml:"overrides"`
	Timeout        float64           `yaml:"timeout"`
}

// CaptureTransport is an injected transport error.
type CaptureTransport struct {
	Protocol string `yaml:"protocol"`
	Code     int    `yaml:"code"`
}

// CaptureOverride rewrites one element of the response.
type CaptureOverride struct {
	Path       string            `yaml:"path"`
	Attributes map[string]string `yaml:"attributes"`
	Text       string            `yaml:"text"`
}

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
	// Base64 is the element's text; Data is it decoded (by PSRPBlobs).
	Base64 string
	Data   []byte
}

// moduleRoot walks up from the working directory to the directory that
// holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// sharedDir returns env if set, else <module root>/../shared/conformance/<sub>:
// the layout is <root>/main (this module) beside <root>/shared, locally and in CI.
func sharedDir(env, sub string) (string, error) {
	if d := os.Getenv(env); d != "" {
		return d, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "..", "shared", "conformance", sub), nil
}

// CapturesDir returns the directory of capture YAML files: $GOPSRP_CAPTURES_DIR,
// or ../shared/conformance/pypsrp-windows-captures beside the module root.
func CapturesDir() (string, error) {
	return sharedDir("GOPSRP_CAPTURES_DIR", "pypsrp-windows-captures")
}

// VectorsDir returns the directory of byte-exact vectors: $GOPSRP_VECTORS_DIR,
// or ../shared/conformance/vectors beside the module root.
func VectorsDir() (string, error) {
	return sharedDir("GOPSRP_VECTORS_DIR", "vectors")
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
	paths, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		tb.Fatalf("captures: %v", err)
	}
	var caps []Capture
	for _, p := range paths {
		if strings.HasPrefix(filepath.Base(p), "_") { // _template.yml documents the format
			continue
		}
		c, err := ReadCapture(p)
		if err != nil {
			tb.Fatalf("captures: %v", err)
		}
		caps = append(caps, c)
	}
	if len(caps) == 0 {
		tb.Fatalf("captures: no capture files in %s (set GOPSRP_CAPTURES_DIR to the pypsrp-windows-captures directory)", dir)
	}
	sort.Slice(caps, func(i, j int) bool { return caps[i].Name < caps[j].Name })
	return caps
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
		tb.Fatalf("captures: %v", err)
	}
	return c
}

// ReadCapture reads and parses one capture file.
func ReadCapture(path string) (Capture, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Capture{}, err
	}
	var c Capture
	if err := yaml.Unmarshal(raw, &c); err != nil {
		return Capture{}, fmt.Errorf("%s: %w", path, err)
	}
	c.Name = filepath.Base(path)
	c.Path = path
	return c, nil
}

// LoadVector returns the bytes of a file of VectorsDir, base64-decoded when
// its name ends in .b64.
func LoadVector(tb testing.TB, name string) []byte {
	tb.Helper()
	dir, err := VectorsDir()
	if err != nil {
		tb.Fatalf("vectors: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatalf("vectors: %v", err)
	}
	if strings.HasSuffix(name, ".b64") {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil {
			tb.Fatalf("vectors: %s: %v", name, err)
		}
		return b
	}
	return raw
}

// psrpResourcePrefix starts the resource URI of every PowerShell endpoint;
// WinRS (cmd) shells carry other data in the same elements.
const psrpResourcePrefix = "http://schemas.microsoft.com/powershell"

// PSRPBlobs returns the PSRP blobs of the whole conversation in order,
// request before response. Exchanges addressed to a non-PowerShell
// resource (WinRS, configuration) are skipped.
func (c Capture) PSRPBlobs() ([]CaptureBlob, error) {
	var out []CaptureBlob
	for i, ex := range c.Messages {
		req, err := ParseEnvelope(ex.Request)
		if err != nil {
			return nil, fmt.Errorf("%s: exchange %d: request: %w", c.Name, i, err)
		}
		if !strings.HasPrefix(req.ResourceURI, psrpResourcePrefix) {
			continue
		}
		resp, err := ParseEnvelope(ex.Response)
		if err != nil {
			return nil, fmt.Errorf("%s: exchange %d: response: %w", c.Name, i, err)
		}
		shell := req.ShellID
		if shell == "" {
			shell = resp.ShellID
		}
		for _, env := range []struct {
			e          Envelope
			fromClient bool
		}{{req, true}, {resp, false}} {
			for _, b := range env.e.Blobs {
				data, err := base64.StdEncoding.DecodeString(b.Base64)
				if err != nil {
					return nil, fmt.Errorf("%s: exchange %d: %s: %w", c.Name, i, b.Element, err)
				}
				b.Data = data
				b.Exchange = i
				b.FromClient = env.fromClient
				b.ShellID = shell
				if b.CommandID == "" {
					b.CommandID = env.e.CommandID
				}
				out = append(out, b)
			}
		}
	}
	return out, nil
}

// Envelope is what the capture tests need from one SOAP envelope.
type Envelope struct {
	ResourceURI string
	// ShellID comes from the ShellId selector, rsp:Shell/@ShellId or
	// rsp:ShellId, upper-cased.
	ShellID string
	// CommandID comes from rsp:CommandLine/@CommandId or rsp:CommandId.
	CommandID string
	Blobs     []CaptureBlob
}

// blobElements are the elements that carry base64 PSRP fragments.
func isBlobElement(local string) bool {
	switch local {
	case "creationXml", "connectXml", "connectResponseXml", "Arguments", "Stream":
		return true
	}
	return false
}

// ParseEnvelope extracts the resource, ids and base64 texts of the
// blob-carrying elements of a SOAP envelope (not decoded: WinRS uses the
// same elements for plain text). An empty string (an exchange without a response) gives an
// empty Envelope.
func ParseEnvelope(soap string) (Envelope, error) {
	var env Envelope
	if strings.TrimSpace(soap) == "" {
		return env, nil
	}
	dec := xml.NewDecoder(strings.NewReader(soap))
	var text strings.Builder
	var cur *CaptureBlob
	selector := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return env, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			text.Reset()
			attr := func(name string) string {
				for _, a := range t.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			switch t.Name.Local {
			case "Selector":
				selector = attr("Name")
			case "Shell":
				if id := attr("ShellId"); id != "" {
					env.ShellID = strings.ToUpper(id)
				}
			case "CommandLine":
				if id := attr("CommandId"); id != "" {
					env.CommandID = strings.ToUpper(id)
				}
			}
			if isBlobElement(t.Name.Local) {
				cur = &CaptureBlob{Element: t.Name.Local, Stream: attr("Name"),
					CommandID: strings.ToUpper(attr("CommandId"))}
			}
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			local := t.Name.Local
			val := strings.TrimSpace(text.String())
			switch {
			case local == "ResourceURI":
				env.ResourceURI = val
			case local == "Selector" && selector == "ShellId":
				env.ShellID = strings.ToUpper(val)
			case local == "ShellId" && env.ShellID == "":
				env.ShellID = strings.ToUpper(val)
			case local == "CommandId" && env.CommandID == "":
				env.CommandID = strings.ToUpper(val)
			case cur != nil && local == cur.Element:
				if val != "" {
					cur.Base64 = val
					env.Blobs = append(env.Blobs, *cur)
				}
				cur = nil
			}
			text.Reset()
		}
	}
	return env, nil
}
