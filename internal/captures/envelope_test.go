package captures

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseEnvelope(t *testing.T) {
	t.Parallel()
	const head = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header><w:ResourceURI>http://schemas.microsoft.com/powershell/Microsoft.PowerShell</w:ResourceURI>`
	tests := []struct {
		name, soap string
		want       Envelope
		wantErr    bool
	}{
		{name: "blank", soap: " \n", want: Envelope{}},
		{name: "not xml", soap: "<a><b></a>", wantErr: true},
		{name: "truncated", soap: head, wantErr: true},
		{
			name: "receive response",
			soap: head + `</s:Header><s:Body><rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="abc-1">AAEC</rsp:Stream><rsp:Stream Name="stdout" CommandId="abc-1" End="true"></rsp:Stream><rsp:CommandState CommandId="abc-1"/></rsp:ReceiveResponse></s:Body></s:Envelope>`,
			want: Envelope{ResourceURI: PSRPResourcePrefix + "/Microsoft.PowerShell", Blobs: []Blob{{Element: "Stream", Stream: "stdout", CommandID: "ABC-1", Base64: "AAEC"}}},
		},
		{
			name: "selector and command",
			soap: head + `<w:SelectorSet><w:Selector Name="ShellId">sh-1</w:Selector></w:SelectorSet></s:Header><s:Body><rsp:CommandLine CommandId="cm-2"><rsp:Command/><rsp:Arguments>
 AA
 EC </rsp:Arguments></rsp:CommandLine></s:Body></s:Envelope>`,
			want: Envelope{ResourceURI: PSRPResourcePrefix + "/Microsoft.PowerShell", ShellID: "SH-1", CommandID: "CM-2", Blobs: []Blob{{Element: "Arguments", Base64: "AA\n EC"}}},
		},
		{
			name: "create",
			soap: head + `</s:Header><s:Body><rsp:Shell ShellId="sh-3"><creationXml xmlns="http://schemas.microsoft.com/powershell">AQID</creationXml></rsp:Shell></s:Body></s:Envelope>`,
			want: Envelope{ResourceURI: PSRPResourcePrefix + "/Microsoft.PowerShell", ShellID: "SH-3", Blobs: []Blob{{Element: "creationXml", Base64: "AQID"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseEnvelope(tt.soap)
			if tt.wantErr {
				if err == nil || !strings.HasPrefix(err.Error(), "captures: ") {
					t.Fatalf("err = %v, want a captures error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ResourceURI != tt.want.ResourceURI || got.ShellID != tt.want.ShellID || got.CommandID != tt.want.CommandID || len(got.Blobs) != len(tt.want.Blobs) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
			for i := range got.Blobs {
				if got.Blobs[i] != tt.want.Blobs[i] {
					t.Errorf("blob %d = %+v, want %+v", i, got.Blobs[i], tt.want.Blobs[i])
				}
			}
		})
	}
}

func TestBlobDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []byte
		ok   bool
	}{
		{"AAEC", []byte{0, 1, 2}, true},
		{"AA\n EC", []byte{0, 1, 2}, true},
		{"/c", nil, false},
		{"!!!!", nil, false},
	}
	for _, tt := range tests {
		got, err := Blob{Element: "Stream", Base64: tt.in}.Decode()
		if tt.ok != (err == nil) || !bytes.Equal(got, tt.want) {
			t.Errorf("Decode(%q) = %v, %v", tt.in, got, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "captures: Stream blob") {
			t.Errorf("error lacks context: %v", err)
		}
	}
}

func TestParseEnvelopeDepthLimit(t *testing.T) {
	t.Parallel()
	soap := strings.Repeat("<a>", maxEnvelopeDepth+1) + strings.Repeat("</a>", maxEnvelopeDepth+1)
	if _, err := ParseEnvelope(soap); err == nil {
		t.Fatal("no error for an envelope nested too deep")
	}
	ok := strings.Repeat("<a>", maxEnvelopeDepth) + strings.Repeat("</a>", maxEnvelopeDepth)
	if _, err := ParseEnvelope(ok); err != nil {
		t.Fatal(err)
	}
}

// TestParseEnvelopeAllCaptures checks that every recorded envelope parses
// and that every blob of a PowerShell envelope is valid base64.
func TestParseEnvelopeAllCaptures(t *testing.T) {
	t.Parallel()
	all, err := LoadAll(mustDir(t))
	if err != nil {
		t.Fatal(err)
	}
	blobs := 0
	for _, c := range all {
		for i, e := range c.Entries {
			// Responses carry no ResourceURI: the request tells whether
			// the exchange is PowerShell's.
			req, err := ParseEnvelope(e.Request)
			if err != nil {
				t.Errorf("%s message %d: request: %v", c.File(), i, err)
				continue
			}
			for _, soap := range []string{e.Request, e.Response} {
				env, err := ParseEnvelope(soap)
				if err != nil {
					t.Errorf("%s message %d: %v", c.File(), i, err)
					continue
				}
				if !req.IsPSRP() {
					continue
				}
				for _, b := range env.Blobs {
					if _, err := b.Decode(); err != nil {
						t.Errorf("%s message %d: %v", c.File(), i, err)
					}
					blobs++
				}
			}
		}
	}
	if blobs < 400 {
		t.Errorf("only %d PSRP blobs in the captures", blobs)
	}
}

// FuzzParse feeds arbitrary capture files to Parse: it must not panic, and
// what it accepts must respect the documented limits.
func FuzzParse(f *testing.F) {
	// Small files: large seeds make the fuzzer spend its time minimizing.
	for _, name := range []string{"test_wsman_update_envelope_size_150.yml", "test_psrp_key_exchange_timeout.yml", "test_psrp_is_alive_http_error.yml"} {
		c, err := Load(filepath.Join(mustDir(f), name))
		if err != nil {
			f.Fatal(err)
		}
		data, err := readBounded(c.Path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("messages:\n- request: a\n  transport_error: {protocol: http, code: 500}\n  timeout: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		if len(c.Entries) == 0 || len(c.Entries) > MaxEntries {
			t.Fatalf("%d entries accepted", len(c.Entries))
		}
		for _, e := range c.Entries {
			if e.Timeout < 0 || e.Timeout > MaxTimeout {
				t.Fatalf("timeout %v accepted", e.Timeout)
			}
		}
	})
}

// FuzzParseEnvelope feeds arbitrary text to ParseEnvelope: it must not
// panic, and every blob must be a non-empty, trimmed element text.
func FuzzParseEnvelope(f *testing.F) {
	c, err := Load(filepath.Join(mustDir(f), "test_psrp_no_profile.yml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range c.Entries {
		f.Add(e.Request)
		f.Add(e.Response)
	}
	f.Fuzz(func(t *testing.T, soap string) {
		env, err := ParseEnvelope(soap)
		if err != nil {
			return
		}
		for _, b := range env.Blobs {
			if b.Base64 == "" || b.Base64 != strings.TrimSpace(b.Base64) || !isBlobElement(b.Element) {
				t.Fatalf("bad blob %+v", b)
			}
			_, _ = b.Decode()
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data, err := readBounded(filepath.Join(mustDir(b), "test_psrp_no_profile.yml"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("bench", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEnvelope(b *testing.B) {
	c, err := Load(filepath.Join(mustDir(b), "test_psrp_no_profile.yml"))
	if err != nil {
		b.Fatal(err)
	}
	soap := c.Entries[0].Request
	b.SetBytes(int64(len(soap)))
	for b.Loop() {
		if _, err := ParseEnvelope(soap); err != nil {
			b.Fatal(err)
		}
	}
}

// TestShellOf: the shell of an exchange is what the server answered to a
// Create (older WinRM ignores the client's ShellId and answers with its own
// in the SelectorSet, without an rsp:Shell body), else the request's.
func TestShellOf(t *testing.T) {
	t.Parallel()
	const (
		head   = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header>`
		create = head + `<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</a:Action></s:Header><s:Body><rsp:Shell ShellId="client-id"/></s:Body></s:Envelope>`
		// A protocol 2.1 host's answer: SelectorSet only.
		created = head + `<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse</a:Action></s:Header><s:Body><x:ResourceCreated><a:ReferenceParameters><w:SelectorSet><w:Selector Name="ShellId">server-id</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated></s:Body></s:Envelope>`
		receive = head + `<a:Action>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive</a:Action><w:SelectorSet><w:Selector Name="ShellId">server-id</w:Selector></w:SelectorSet></s:Header><s:Body/></s:Envelope>`
	)
	parse := func(s string) Envelope {
		e, err := ParseEnvelope(s)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	req, resp := parse(create), parse(created)
	if req.Action != "Create" || resp.Action != "CreateResponse" {
		t.Fatalf("actions %q, %q", req.Action, resp.Action)
	}
	if req.ShellID != "CLIENT-ID" {
		t.Fatalf("request ShellID = %q", req.ShellID)
	}
	if got := ShellOf(req, resp); got != "SERVER-ID" {
		t.Errorf("ShellOf(Create) = %q, want the server's SERVER-ID", got)
	}
	if got := ShellOf(req, Envelope{}); got != "CLIENT-ID" {
		t.Errorf("ShellOf(Create, no answer) = %q, want CLIENT-ID", got)
	}
	if got := ShellOf(parse(receive), Envelope{ShellID: "OTHER"}); got != "SERVER-ID" {
		t.Errorf("ShellOf(Receive) = %q, want the selector's SERVER-ID", got)
	}
}
