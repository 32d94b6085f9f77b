package captures

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustDir(tb testing.TB) string {
	tb.Helper()
	dir, err := Dir()
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

func TestLoadRealFile(t *testing.T) {
	t.Parallel()
	c, err := Load(filepath.Join(mustDir(t), "test_psrp_no_profile.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "test_psrp_no_profile" || c.File() != "test_psrp_no_profile.yml" {
		t.Errorf("Name = %q, File = %q", c.Name, c.File())
	}
	if len(c.Entries) < 6 {
		t.Fatalf("%d entries, want at least 6", len(c.Entries))
	}
	first := c.Entries[0]
	if !strings.Contains(first.Request, "creationXml") || !strings.Contains(first.Response, "ResourceCreated") {
		t.Errorf("entry 0 is not the recorded Create:\n%.200s\n%.200s", first.Request, first.Response)
	}
	env, err := ParseEnvelope(first.Request)
	if err != nil {
		t.Fatal(err)
	}
	if !env.IsPSRP() || len(env.Blobs) != 1 || env.Blobs[0].Element != "creationXml" {
		t.Fatalf("Create request envelope = %+v", env)
	}
	got, err := env.Blobs[0].Decode()
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadVector("creationXml_no_profile.b64")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("creationXml of the capture differs from vector creationXml_no_profile.b64")
	}
}

func TestLoadFaultKeys(t *testing.T) {
	t.Parallel()
	dir := mustDir(t)
	c, err := Load(filepath.Join(dir, "test_psrp_key_exchange_timeout.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var timeouts []time.Duration
	for _, e := range c.Entries {
		if e.Timeout != 0 {
			timeouts = append(timeouts, e.Timeout)
		}
	}
	if len(timeouts) != 1 || timeouts[0] != time.Second {
		t.Errorf("timeouts = %v, want one of 1s", timeouts)
	}
	c, err = Load(filepath.Join(dir, "test_psrp_is_alive_http_error.yml"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range c.Entries {
		if e.HTTPError {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d entries with http_error, want 1", n)
	}
}

func TestLoadAll(t *testing.T) {
	t.Parallel()
	all, err := LoadAll(mustDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 50 {
		t.Fatalf("%d captures, want at least 50", len(all))
	}
	transport := 0
	for i, c := range all {
		if !strings.HasPrefix(c.Name, "test_") {
			t.Errorf("%s loaded: not a scenario", c.File())
		}
		if i > 0 && all[i-1].File() >= c.File() {
			t.Errorf("not sorted: %s before %s", all[i-1].File(), c.File())
		}
		for _, e := range c.Entries {
			if e.TransportError != nil {
				transport++
				if e.TransportError.Protocol != "http" || e.TransportError.Code < 400 {
					t.Errorf("%s: transport_error %+v", c.Name, *e.TransportError)
				}
			}
		}
	}
	if transport == 0 {
		t.Error("no transport_error entry in any capture")
	}
}

func TestLoadAllMissingOrEmpty(t *testing.T) {
	t.Parallel()
	if _, err := LoadAll(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: err = %v, want ErrNotExist", err)
	}
	if _, err := LoadAll(t.TempDir()); err == nil || !strings.HasPrefix(err.Error(), "captures: ") {
		t.Errorf("empty dir: err = %v", err)
	}
}

func TestLoadMalformedNamesFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "test_broken.yml")
	if err := os.WriteFile(path, []byte("messages: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "test_broken.yml") {
		t.Fatalf("err = %v, want ErrMalformed naming test_broken.yml", err)
	}
	if _, err := LoadAll(dir); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "test_broken.yml") {
		t.Fatalf("LoadAll: err = %v, want ErrMalformed naming test_broken.yml", err)
	}
	_, err = Load(filepath.Join(dir, "test_absent.yml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "test_absent.yml") {
		t.Fatalf("missing file: err = %v", err)
	}
	// The error says which file and which directory, and how it was chosen.
	var me *MissingFileError
	if !errors.As(err, &me) || me.File != "test_absent.yml" || me.Dir != dir || me.Env != EnvDir || !strings.Contains(err.Error(), EnvDir) {
		t.Fatalf("missing file: err = %#v, want a *MissingFileError naming test_absent.yml in %s", err, dir)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		ok         bool
		check      func(t *testing.T, c *Conversation)
	}{
		{name: "empty", yaml: ""},
		{name: "no messages", yaml: "messages: []\n"},
		{name: "not yaml", yaml: "messages: [\n"},
		{name: "messages not a list", yaml: "messages: 3\n"},
		{name: "negative timeout", yaml: "messages:\n- request: a\n  timeout: -1\n"},
		{name: "huge timeout", yaml: "messages:\n- request: a\n  timeout: 1e30\n"},
		{name: "nan timeout", yaml: "messages:\n- request: a\n  timeout: .nan\n"},
		{name: "bad status", yaml: "messages:\n- request: a\n  transport_error: {protocol: http, code: 7}\n"},
		{name: "bad bool", yaml: "messages:\n- request: a\n  http_error: maybe\n"},
		{name: "all keys", ok: true, yaml: "messages:\n- request: a\n  response: b\n  auth_error: yes\n  http_error: no\n" +
			"  transport_error: {protocol: http, code: 500}\n  timeout: 0.5\n" +
			"  overrides:\n  - path: x/y\n    attributes: {k: v}\n    text: t\n",
			check: func(t *testing.T, c *Conversation) {
				e := c.Entries[0]
				if e.Request != "a" || e.Response != "b" || !e.AuthError || e.HTTPError || e.Timeout != 500*time.Millisecond {
					t.Errorf("entry = %+v", e)
				}
				if e.TransportError == nil || *e.TransportError != (TransportError{Protocol: "http", Code: 500}) {
					t.Errorf("transport_error = %v", e.TransportError)
				}
				if len(e.Overrides) != 1 || e.Overrides[0].Path != "x/y" || e.Overrides[0].Attributes["k"] != "v" || e.Overrides[0].Text != "t" {
					t.Errorf("overrides = %+v", e.Overrides)
				}
			}},
		{name: "minimal", ok: true, yaml: "messages:\n- request: a\n- request: b\n", check: func(t *testing.T, c *Conversation) {
			if len(c.Entries) != 2 || c.Entries[1].Request != "b" || c.Entries[1].TransportError != nil {
				t.Errorf("entries = %+v", c.Entries)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse(tt.name, []byte(tt.yaml))
			if !tt.ok {
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.name) {
					t.Fatalf("err = %v, want ErrMalformed naming %q", err, tt.name)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != tt.name || c.Path != "" || c.File() != tt.name {
				t.Errorf("Name %q Path %q", c.Name, c.Path)
			}
			tt.check(t, c)
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	t.Parallel()
	_, err := Parse("big", make([]byte, MaxFileBytes+1))
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
}

// The env overrides change process state, so these tests are not parallel.

func TestDirEnvOverride(t *testing.T) {
	t.Setenv(EnvDir, "/some/where")
	t.Setenv(EnvVectorsDir, "/else/where")
	if d, err := Dir(); err != nil || d != "/some/where" {
		t.Errorf("Dir = %q, %v", d, err)
	}
	if d, err := VectorsDir(); err != nil || d != "/else/where" {
		t.Errorf("VectorsDir = %q, %v", d, err)
	}
	_, err := ReadVector("creationXml_no_profile.b64")
	var me *MissingFileError
	if !errors.Is(err, os.ErrNotExist) || !errors.As(err, &me) || me.File != "creationXml_no_profile.b64" || me.Env != EnvVectorsDir {
		t.Errorf("ReadVector from a missing dir: err = %v, want a *MissingFileError naming the vector", err)
	}
}

func TestDirDefault(t *testing.T) {
	t.Setenv(EnvDir, "")
	t.Setenv(EnvVectorsDir, "")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// This package is internal/captures below the module root.
	root := filepath.Dir(filepath.Dir(wd))
	for _, tt := range []struct {
		fn   func() (string, error)
		want string
	}{
		{Dir, filepath.Join(root, "internal", "captures", "testdata", "conformance", "pypsrp-windows-captures")},
		{VectorsDir, filepath.Join(root, "internal", "captures", "testdata", "conformance", "vectors")},
	} {
		if d, err := tt.fn(); err != nil || d != tt.want {
			t.Errorf("got %q, %v; want %q", d, err, tt.want)
		}
	}
}

func TestReadVectorRaw(t *testing.T) {
	t.Parallel()
	msg, err := ReadVector("multifrag_create_pipeline_message.bin")
	if err != nil {
		t.Fatal(err)
	}
	p1, err := ReadVector("multifrag_create_pipeline_part1.b64")
	if err != nil {
		t.Fatal(err)
	}
	// A fragment is a 21-byte header and its part of the message.
	if len(p1) <= 21 || !strings.HasPrefix(string(msg), string(p1[21:])) {
		t.Errorf("part1 body is not a prefix of the message (%d, %d bytes)", len(p1), len(msg))
	}
}
