package sessiontest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/internal/captures"
	"github.com/gopsrp/gopsrp/wsman"
)

// loadCaptures reads every scenario file (test_*.yml) of captures.Dir
// ($GOPSRP_CAPTURES_DIR or the shared captures), keyed by file name.
// Missing captures fail the test.
func loadCaptures(tb testing.TB) map[string]*captures.Conversation {
	tb.Helper()
	dir, err := captures.Dir()
	if err != nil {
		tb.Fatal(err)
	}
	all, err := captures.LoadAll(dir)
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]*captures.Conversation, len(all))
	for _, c := range all {
		out[c.File()] = c
	}
	return out
}

// FuzzServeRequest sends arbitrary bodies through the whole HTTP handler:
// parsing, header checks and every operation. It must never panic, and
// every answer must be a SOAP envelope or an empty 200.
func FuzzServeRequest(f *testing.F) {
	for _, cf := range loadCaptures(f) {
		for _, m := range cf.Entries {
			if m.Request != "" && len(m.Request) < 64*1024 {
				f.Add([]byte(m.Request))
			}
		}
	}
	f.Add([]byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body/></s:Envelope>`))
	f.Add([]byte("<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>"))
	// The disconnect family with every optional part.
	shell, cmd := "B6631D8E-65A0-49F2-9053-A1B156C95777", "FC8CF863-1D41-4202-AFD7-A82484D8F6D1"
	for _, e := range []env{
		{action: wsman.ActionDisconnect, shellID: shell, sessionID: "uuid:1", body: `<rsp:Disconnect><rsp:BufferMode>Drop</rsp:BufferMode><rsp:IdleTimeOut>PT60S</rsp:IdleTimeOut></rsp:Disconnect>`},
		{action: wsman.ActionReconnect, shellID: shell, body: `<rsp:Reconnect><rsp:CommandId>` + cmd + `</rsp:CommandId><rsp:BufferMode>Block</rsp:BufferMode></rsp:Reconnect>`},
		{action: wsman.ActionReconnect, shellID: shell, body: `<rsp:Reconnect CommandId="` + cmd + `"/>`},
		{action: wsman.ActionConnect, shellID: shell, sessionID: "uuid:2", body: `<rsp:Connect CommandId="` + cmd + `"/>`},
	} {
		f.Add(e.bytes())
	}

	s := NewUnstartedServer()
	s.newBackend = newFakeFactory(nil, nil)
	s.MaxTimeout = time.Millisecond
	s.MaxEnvelopeSizeKB = 256
	f.Cleanup(s.Close)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/wsman", bytes.NewReader(body))
		w := httptest.NewRecorder()
		s.serveHTTP(w, req)
		if w.Code == http.StatusOK && w.Body.Len() == 0 {
			return
		}
		if _, err := parseTree(w.Body.Bytes()); err != nil {
			t.Fatalf("status %d, answer is not XML: %v", w.Code, err)
		}
	})
}

// FuzzParseDuration checks that xs:duration parsing never panics and never
// yields a negative duration.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT20S", "PT0.5S", "P1DT2H3M4.5S", "PT-1S", "PT7200.000S", "P", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("%q parsed to negative %v", s, d)
		}
	})
}

// FuzzScriptArgs checks that splitting a client's script text never panics
// and never invents more arguments than the script has words.
func FuzzScriptArgs(f *testing.F) {
	for _, s := range []string{"Get-Date -Format o", "Write-Output 'a b' \"c\" | x", "$PSVersionTable.PSVersion", "-", "'", "Get-X -", "é -ü 'ß"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := scriptArgs(s)
		if len(args) > len(s) {
			t.Fatalf("%d args from %d bytes", len(args), len(s))
		}
		_ = firstWord(s)
	})
}

// FuzzSplitScript checks that splitting any script text terminates without
// a panic and yields only non-empty commands.
func FuzzSplitScript(f *testing.F) {
	for _, s := range []string{"Get-Thing | Where-Thing -Like x", "Get-A; Get-B\nGet-C", "Get-X | % { $_ | y }", "'", "\"`", "`", "a |\n b", "# c", "(((", ")))|"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, st := range splitScript(s) {
			if len(st) == 0 {
				t.Fatalf("%q: empty statement", s)
			}
			for _, c := range st {
				if c == "" {
					t.Fatalf("%q: empty command", s)
				}
			}
		}
	})
}
