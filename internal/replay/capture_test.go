package replay

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// testCaptures returns the capture files of the captures directory; a
// missing directory fails the test, since CI has it beside the checkout.
func testCaptures(t testing.TB) (string, []string) {
	t.Helper()
	dir, err := CapturesDir()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if !strings.HasPrefix(filepath.Base(f), "_") {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no capture files in %s (set %s)", dir, EnvCapturesDir)
	}
	sort.Strings(out)
	return dir, out
}

func mustLoad(t testing.TB, name string) *Conversation {
	t.Helper()
	dir, _ := testCaptures(t)
	c, err := Load(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoadEveryCapture(t *testing.T) {
	t.Parallel()
	_, files := testCaptures(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			c, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != strings.TrimSuffix(filepath.Base(f), ".yml") {
				t.Errorf("Name = %q", c.Name)
			}
			for _, e := range c.Entries {
				if e.Req.MessageID == "" {
					t.Errorf("entry %d: request without MessageID", e.Index)
				}
				switch e.Action() {
				case "Create", "Command", "Send", "Receive", "Signal", "Delete", "Connect", "Disconnect", "Reconnect":
					if e.Shell < 0 {
						t.Errorf("entry %d (%s): no shell", e.Index, e.Action())
					}
				}
				if e.Action() == "Command" && e.Command < 0 {
					t.Errorf("entry %d: Command without a command position", e.Index)
				}
				// A recorded answer relates to its request (the error
				// entries were written by hand and have none; one WinRS
				// capture was edited by hand too).
				if !strings.HasPrefix(c.Name, "test_winrs_") && !e.HTTPError && !e.AuthError && e.Resp.RelatesTo != "" && !strings.EqualFold(e.Resp.RelatesTo, e.Req.MessageID) {
					t.Errorf("entry %d: RelatesTo %s, request %s", e.Index, e.Resp.RelatesTo, e.Req.MessageID)
				}
			}
		})
	}
}

func TestTargets(t *testing.T) {
	t.Parallel()
	type want struct {
		index, shell, command int
		action                string
	}
	tests := []struct {
		file string
		want []want
	}{
		// pypsrp invoked one PowerShell object twice with one CommandId:
		// two command positions, each Receive bound to the latest.
		{"test_psrp_multiple_invocations.yml", []want{
			{0, 0, -1, "Create"}, {2, 0, -1, "Receive"}, {3, 0, 0, "Command"}, {4, 0, 0, "Receive"},
			{5, 0, 0, "Signal"}, {6, 0, 1, "Command"}, {7, 0, 1, "Receive"}, {8, 0, 1, "Signal"}, {9, 0, -1, "Delete"},
		}},
		// Two pipelines in one pool; the outer one is stopped at the end.
		{"test_psrp_nested_command.yml", []want{
			{3, 0, 0, "Command"}, {4, 0, 1, "Command"}, {5, 0, 1, "Receive"}, {6, 0, 0, "Signal"},
		}},
		// WinRS: the server chooses ShellId and CommandId.
		{"test_client_execute_cmd.yml", []want{
			{0, 0, -1, "Create"}, {1, 0, 0, "Command"}, {2, 0, 0, "Receive"}, {4, 0, -1, "Delete"},
			{5, 1, -1, "Create"}, {6, 1, 1, "Command"}, {7, 1, 1, "Receive"},
		}},
		// A Receive for a command that never existed gets its own position.
		{"test_psrp_receive_failure.yml", []want{{3, 0, 0, "Receive"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, tt.file)
			for _, w := range tt.want {
				e := c.Entries[w.index]
				if e.Action() != w.action || e.Shell != w.shell || e.Command != w.command {
					t.Errorf("entry %d = %s shell %d command %d, want %s shell %d command %d",
						w.index, e.Action(), e.Shell, e.Command, w.action, w.shell, w.command)
				}
			}
		})
	}
}

func TestErrorEntries(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, "test_psrp_is_alive_http_error.yml")
	if e := c.Entries[4]; !e.HTTPError {
		t.Errorf("entry 4: HTTPError not set")
	}
	c = mustLoad(t, "test_psrp_is_alive_invalid_selectors.yml")
	if e := c.Entries[4]; e.TransportError == nil || e.TransportError.Code != 500 || e.TransportError.Protocol != "http" {
		t.Errorf("entry 4: TransportError = %+v", e.TransportError)
	} else if e.Resp.Fault == nil || e.Resp.Fault.Code != "w:InvalidSelectors" || e.Resp.Fault.WSManCode != "2150858843" {
		t.Errorf("entry 4: fault = %+v", e.Resp.Fault)
	}
	c = mustLoad(t, "test_psrp_key_exchange_timeout.yml")
	if e := c.Entries[4]; e.Timeout != time.Second {
		t.Errorf("entry 4: Timeout = %v", e.Timeout)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const okReq = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><wsa:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete</wsa:Action><wsa:MessageID>uuid:1</wsa:MessageID></s:Header><s:Body/></s:Envelope>`
	tests := []struct {
		name, data string
	}{
		{"empty", ""},
		{"no messages", "messages: []\n"},
		{"not YAML", "messages: [\n"},
		{"request not xml", "messages:\n- request: <a><b></a>\n  response: ''\n"},
		{"request without action", "messages:\n- request: <x/>\n  response: ''\n"},
		{"negative timeout", "messages:\n- request: '" + okReq + "'\n  timeout: -1\n"},
		{"bad status", "messages:\n- request: '" + okReq + "'\n  transport_error: {protocol: http, code: 7}\n"},
		{"bad bool", "messages:\n- request: '" + okReq + "'\n  http_error: maybe\n"},
		{"bad base64", "messages:\n- request: '" + strings.Replace(okReq, "<s:Body/>", `<s:Body><rsp:Send xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><rsp:Stream Name="stdin">!!!</rsp:Stream></rsp:Send></s:Body>`, 1) + "'\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.name, []byte(tt.data))
			if !errors.Is(err, ErrCapture) {
				t.Fatalf("err = %v, want ErrCapture", err)
			}
			if !strings.HasPrefix(err.Error(), "replay: ") {
				t.Errorf("error lacks the package prefix: %v", err)
			}
		})
	}
	if _, err := Parse("ok", []byte("messages:\n- request: '"+okReq+"'\n  response: ''\n  http_error: yes\n")); err != nil {
		t.Errorf("valid capture: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.yml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

func TestCapturesDirEnv(t *testing.T) {
	t.Setenv(EnvCapturesDir, "/some/where")
	d, err := CapturesDir()
	if err != nil || d != "/some/where" {
		t.Fatalf("CapturesDir = %q, %v", d, err)
	}
}

func TestSplice(t *testing.T) {
	t.Parallel()
	base := mustLoad(t, "test_psrp_no_profile.yml")
	donor := mustLoad(t, "test_psrp_receive_failure.yml").Entries[3]
	sp, err := base.Splice(4, donor)
	if err != nil {
		t.Fatal(err)
	}
	if got := sp.Entries[4]; got.Resp.Fault == nil || got.TransportError == nil || got.Req.Action != "Receive" || got.Command != 0 {
		t.Errorf("spliced entry = %+v", got)
	}
	if base.Entries[4].Resp.Fault != nil {
		t.Errorf("Splice modified the base conversation")
	}
	if _, err := base.Splice(len(base.Entries), donor); err == nil {
		t.Errorf("Splice out of range: no error")
	}
}
