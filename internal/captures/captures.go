// Package captures reads the recorded WS-Management conversations of real
// Windows hosts (the pypsrp captures, MIT-licensed, copied from the
// project's shared conformance data into testdata/conformance with their
// LICENSE; format in that folder's README.md) and the byte-exact vectors
// cut from them.
//
// It is the one loader every package's tests use, so it imports no gopsrp
// package: in-package tests of any package can use it without an import
// cycle. It knows the file format and where the files are; what a test
// makes of the SOAP inside is the test's business, except for the PSRP
// blobs (see [ParseEnvelope]), which several packages need.
//
// The package is test infrastructure: only tests and internal/replay use it.
package captures

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Environment variables that override where the data is.
const (
	// EnvDir overrides the directory of capture files.
	EnvDir = "GOPSRP_CAPTURES_DIR"
	// EnvVectorsDir overrides the directory of byte-exact vectors.
	EnvVectorsDir = "GOPSRP_VECTORS_DIR"
)

// Limits applied to capture files: they are trusted test data, but they are
// read from a directory a user can point anywhere.
const (
	// MaxFileBytes bounds the size of one capture or vector file.
	MaxFileBytes = 64 << 20
	// MaxEntries bounds the number of exchanges in one capture.
	MaxEntries = 100000
	// MaxTimeout bounds a recorded response delay.
	MaxTimeout = time.Minute
)

// ErrMalformed is wrapped by every error about a capture file that was read
// but does not follow the format.
var ErrMalformed = errors.New("captures: malformed capture")

// Conversation is one capture file: the exchanges of one recorded
// conversation, in the order they happened.
type Conversation struct {
	// Name is the scenario: the file's base name without extension for
	// [Load], the name given to [Parse] otherwise.
	Name string
	// Path is the file the conversation was loaded from ("" for [Parse]).
	Path string
	// Entries holds the exchanges in recorded order; there is at least one.
	Entries []Entry
}

// File returns the base name of the capture file ("test_psrp_no_profile.yml"),
// or Name when the conversation was not loaded from a file.
func (c *Conversation) File() string {
	if c.Path == "" {
		return c.Name
	}
	return filepath.Base(c.Path)
}

// Entry is one recorded request and the response it got. The optional
// error keys were added by hand in the original suite: they are fault
// injections, not captures.
type Entry struct {
	// Request and Response are the plaintext SOAP envelopes. Response may
	// be empty (a fault injection with no answer).
	Request, Response string
	// TransportError, when set, is an HTTP failure status to answer with.
	TransportError *TransportError
	// HTTPError asks for the connection to be dropped without an answer.
	HTTPError bool
	// AuthError asks for an authentication failure (401).
	AuthError bool
	// Overrides are hand-written changes the original suite applied to the
	// request before comparing it.
	Overrides []Override
	// Timeout is how long the recording waited before answering.
	Timeout time.Duration
}

// TransportError is a recorded HTTP failure (the transport_error key).
type TransportError struct {
	Protocol string `yaml:"protocol"`
	Code     int    `yaml:"code"`
}

// Override is one element rewrite of the overrides key.
type Override struct {
	Path       string            `yaml:"path"`
	Attributes map[string]string `yaml:"attributes"`
	Text       string            `yaml:"text"`
}

type yamlFile struct {
	Messages []yamlEntry `yaml:"messages"`
}

type yamlEntry struct {
	Request        string          `yaml:"request"`
	Response       string          `yaml:"response"`
	TransportError *TransportError `yaml:"transport_error"`
	// yaml.v3 accepts the YAML 1.1 yes/no spellings the files use when
	// the target is a bool.
	HTTPError bool       `yaml:"http_error"`
	AuthError bool       `yaml:"auth_error"`
	Overrides []Override `yaml:"overrides"`
	Timeout   float64    `yaml:"timeout"`
}

// Load reads and parses the capture file at path. Errors about the file
// name it; a file that does not follow the format gives an error wrapping
// [ErrMalformed], a missing one an error wrapping [os.ErrNotExist].
func Load(path string) (*Conversation, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, fmt.Errorf("captures: load capture: %w", missing(path, EnvDir, err))
	}
	base := filepath.Base(path)
	c, err := parse(strings.TrimSuffix(base, filepath.Ext(base)), base, data)
	if err != nil {
		return nil, err
	}
	c.Path = path
	return c, nil
}

// Parse parses the content of a capture file; name becomes the
// conversation's Name and appears in errors.
func Parse(name string, data []byte) (*Conversation, error) {
	return parse(name, name, data)
}

// parse does Parse; label names the data in errors.
func parse(name, label string, data []byte) (*Conversation, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes", ErrMalformed, label, MaxFileBytes)
	}
	var yf yamlFile
	if err := yaml.Unmarshal(data, &yf); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, label, err)
	}
	if len(yf.Messages) == 0 {
		return nil, fmt.Errorf("%w: %s: no messages", ErrMalformed, label)
	}
	if len(yf.Messages) > MaxEntries {
		return nil, fmt.Errorf("%w: %s: more than %d messages", ErrMalformed, label, MaxEntries)
	}
	c := &Conversation{Name: name, Entries: make([]Entry, len(yf.Messages))}
	for i, m := range yf.Messages {
		// The negated test also rejects NaN.
		if !(m.Timeout >= 0 && m.Timeout <= MaxTimeout.Seconds()) {
			return nil, fmt.Errorf("%w: %s: message %d: timeout %v out of range", ErrMalformed, label, i, m.Timeout)
		}
		if te := m.TransportError; te != nil && (te.Code < 100 || te.Code > 999) {
			return nil, fmt.Errorf("%w: %s: message %d: bad transport_error code %d", ErrMalformed, label, i, te.Code)
		}
		c.Entries[i] = Entry{
			Request:        m.Request,
			Response:       m.Response,
			TransportError: m.TransportError,
			HTTPError:      m.HTTPError,
			AuthError:      m.AuthError,
			Overrides:      m.Overrides,
			Timeout:        time.Duration(m.Timeout * float64(time.Second)),
		}
	}
	return c, nil
}

// LoadAll loads every scenario file (test_*.yml) of dir, sorted by file
// name. A directory without any is an error: the captures are required.
func LoadAll(dir string) ([]*Conversation, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "test_*.yml"))
	if err != nil {
		return nil, fmt.Errorf("captures: list %s: %w", dir, err)
	}
	if len(paths) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("captures: no capture files (set %s): %w", EnvDir, err)
		}
		return nil, fmt.Errorf("captures: no test_*.yml files in %s (set %s)", dir, EnvDir)
	}
	sort.Strings(paths)
	out := make([]*Conversation, 0, len(paths))
	for _, p := range paths {
		c, err := Load(p)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Dir returns the directory of capture files: $GOPSRP_CAPTURES_DIR if set,
// else the copy the repository carries,
// <module root>/internal/captures/testdata/conformance/pypsrp-windows-captures
// (the module root being the first directory holding go.mod above the
// working directory), so that the tests pass on any clone. It does not
// check that the directory exists; loading does.
func Dir() (string, error) {
	return dataDir(EnvDir, "pypsrp-windows-captures")
}

// VectorsDir returns the directory of byte-exact vectors:
// $GOPSRP_VECTORS_DIR if set, else the repository's copy in
// internal/captures/testdata/conformance/vectors.
func VectorsDir() (string, error) {
	return dataDir(EnvVectorsDir, "vectors")
}

// ReadVector returns the content of the named file of [VectorsDir],
// base64-decoded when the name ends in ".b64".
func ReadVector(name string) ([]byte, error) {
	dir, err := VectorsDir()
	if err != nil {
		return nil, err
	}
	raw, err := readBounded(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("captures: vector: %w", missing(filepath.Join(dir, name), EnvVectorsDir, err))
	}
	if !strings.HasSuffix(name, ".b64") {
		return raw, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("captures: vector %s: %w", name, err)
	}
	return b, nil
}

// dataDir returns $env, or <module root>/internal/captures/testdata/conformance/sub.
func dataDir(env, sub string) (string, error) {
	if d := os.Getenv(env); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("captures: find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "internal", "captures", "testdata", "conformance", sub), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("captures: no go.mod above the working directory (set %s)", env)
		}
		dir = parent
	}
}

// MissingFileError says that a directory of captures or vectors lacks a
// file a test names: when GOPSRP_CAPTURES_DIR or GOPSRP_VECTORS_DIR points
// at other recordings, the test fails saying which file it needs rather
// than passing without its evidence. It wraps [os.ErrNotExist].
type MissingFileError struct {
	// File is the base name the test asked for; Dir the directory searched.
	File, Dir string
	// Env is the variable that chooses Dir.
	Env string
	// Err is the error of the attempt to open it.
	Err error
}

// Error implements error.
func (e *MissingFileError) Error() string {
	return fmt.Sprintf("%s is missing from %s (the directory %s chooses): %v", e.File, e.Dir, e.Env, e.Err)
}

// Unwrap returns the error of the open.
func (e *MissingFileError) Unwrap() error { return e.Err }

// missing turns a not-exist error about path into a *MissingFileError.
func missing(path, env string, err error) error {
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return &MissingFileError{File: filepath.Base(path), Dir: filepath.Dir(path), Env: env, Err: err}
}

// readBounded reads a whole file of at most MaxFileBytes; its errors name
// the file.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	// One byte more than allowed detects an oversized file.
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxFileBytes+1)); err != nil {
		return nil, err
	}
	if buf.Len() > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxFileBytes)
	}
	return buf.Bytes(), nil
}
