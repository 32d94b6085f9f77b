package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/internal/replay"
)

// enumerateRT answers every request with a WS-Man EnumerateResponse holding
// shells, shaped as the Windows answer of capture
// test_psrp_disconnect_runspaces.
type enumerateRT struct{ shells string }

var messageIDRE = regexp.MustCompile(`<wsa:MessageID>([^<]+)</wsa:MessageID>`)

func (rt enumerateRT) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	m := messageIDRE.FindSubmatch(body)
	if m == nil {
		return nil, errors.New("no MessageID")
	}
	items := rt.shells
	if bytes.Contains(body, []byte("SelectorFilter")) {
		items = "" // the shell's commands: none
	}
	resp := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ` +
		`xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>` +
		`<a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse</a:Action><a:MessageID>uuid:6528D6DD-E945-4CB9-BD87-BEF0CDAB8D3D</a:MessageID>` +
		`<a:RelatesTo>` + string(m[1]) + `</a:RelatesTo></s:Header><s:Body><n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext>` +
		`<w:Items>` + items + `</w:Items><w:EndOfSequence/></n:EnumerateResponse></s:Body></s:Envelope>`
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/soap+xml;charset=UTF-8"}},
		Body: io.NopCloser(bytes.NewReader([]byte(resp))), Request: req}, nil
}

func shellXML(id, name, uri, state string) string {
	n := ""
	if name != "" {
		n = `<rsp:Name>` + name + `</rsp:Name>`
	}
	return `<rsp:Shell xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><rsp:ShellId>` + id + `</rsp:ShellId>` + n +
		`<rsp:ResourceUri>` + uri + `</rsp:ResourceUri><rsp:Owner>WIN-NNMU24VVKJ0\vagrant</rsp:Owner><rsp:ClientIP>10.0.2.2</rsp:ClientIP>` +
		`<rsp:ProcessId>2792</rsp:ProcessId><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin pr</rsp:InputStreams>` +
		`<rsp:OutputStreams>stdout</rsp:OutputStreams><rsp:BufferMode>Block</rsp:BufferMode><rsp:State>` + state + `</rsp:State>` +
		`<rsp:ShellRunTime>P0DT0H0M9S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`
}

const (
	psURI  = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
	jeaURI = "http://schemas.microsoft.com/powershell/JEA.Maintenance"
	cmdURI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
	shellA = "B6631D8E-65A0-49F2-9053-A1B156C95777"
	shellB = "01AA3E43-9E21-424B-A7FC-BC16AA34F4CE"
	shellC = "5A0A8D43-8F51-4A0B-9C1E-2F8B3C4D5E6F"
	shellD = "6B1B9E54-9062-4B1C-AD2F-3A9C4D5E6F70"
)

func TestFindShell(t *testing.T) {
	t.Parallel()
	shells := shellXML(shellA, "job", psURI, "Disconnected") +
		shellXML(shellB, "", jeaURI, "Connected") +
		shellXML(shellC, "twin", psURI, "Disconnected") +
		shellXML(shellD, "twin", psURI, "Disconnected") +
		shellXML("7C2CAF65-A173-4C2D-BE30-4BAD5E6F7081", "winrs", cmdURI, "Connected")
	tests := []struct {
		idOrName string
		want     string
		notFound bool
		err      bool
	}{
		{idOrName: "job", want: shellA},
		{idOrName: "JOB", want: shellA},
		{idOrName: "twin", err: true},       // ambiguous
		{idOrName: "winrs", notFound: true}, // a cmd shell is no session
		{idOrName: shellA, notFound: true},  // names only: Connect takes IDs
		{idOrName: "nope", notFound: true},
		{idOrName: uuid.NewString(), notFound: true},
	}
	for _, tc := range tests {
		t.Run(tc.idOrName, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient("https://win01", WithHTTPClient(&http.Client{Transport: enumerateRT{shells}}))
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.findShell(context.Background(), tc.idOrName)
			switch {
			case tc.notFound:
				if !errors.Is(err, ErrSessionNotFound) {
					t.Errorf("err = %v, want ErrSessionNotFound", err)
				}
			case tc.err:
				if err == nil || errors.Is(err, ErrSessionNotFound) {
					t.Errorf("err = %v, want an ambiguity error", err)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			case info.ID != tc.want:
				t.Errorf("found %s, want %s", info.ID, tc.want)
			}
		})
	}
}

func TestListMapsShells(t *testing.T) {
	t.Parallel()
	shells := shellXML(shellA, "job", psURI, "Disconnected") + shellXML(shellB, "", jeaURI, "Connected") +
		shellXML("7C2CAF65-A173-4C2D-BE30-4BAD5E6F7081", "", cmdURI, "Connected")
	infos, err := listAt(context.Background(), "https://win01",
		WithHTTPClient(&http.Client{Transport: enumerateRT{shells}}))
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 {
		t.Fatalf("got %d sessions, want 2 (the cmd shell left out): %+v", len(infos), infos)
	}
	a, b := infos[0], infos[1]
	if a.ID != uuid.MustParse(shellA) || a.Name != "job" || a.State != StateDisconnected || a.ConfigurationName != "Microsoft.PowerShell" ||
		a.Owner != `WIN-NNMU24VVKJ0\vagrant` || a.ClientIP != "10.0.2.2" || a.IdleTimeout != 7200*time.Second ||
		a.ShellRunTime != 9*time.Second || a.BufferMode != "Block" || a.ProcessID != 2792 || len(a.Commands) != 0 {
		t.Errorf("first = %+v", a)
	}
	if b.ID != uuid.MustParse(shellB) || b.State != StateOpened || b.ConfigurationName != "JEA.Maintenance" || b.ResourceURI != jeaURI {
		t.Errorf("second = %+v", b)
	}
	// A malformed ShellId is an error, not a zero ID.
	_, err = listAt(context.Background(), "https://win01",
		WithHTTPClient(&http.Client{Transport: enumerateRT{shellXML("not-a-guid", "", psURI, "Connected")}}))
	if err == nil {
		t.Error("List with a malformed ShellId = nil error")
	}
	// NewClient checks what New checks.
	if _, err := listAt(context.Background(), "http://win01"); !errors.Is(err, ErrUnencrypted) {
		t.Errorf("List over plain http = %v, want ErrUnencrypted", err)
	}
	if _, err := listAt(context.Background(), "ftp://win01"); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("List with a bad target = %v, want ErrInvalidTarget", err)
	}
}

// rawRT answers every request with body, its RelatesTo set to the
// request's MessageID so that the WS-Man client reads it.
type rawRT struct{ body []byte }

var relatesToRE = regexp.MustCompile(`<a:RelatesTo>[^<]*</a:RelatesTo>`)

func (rt rawRT) RoundTrip(req *http.Request) (*http.Response, error) {
	reqBody, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	m := messageIDRE.FindSubmatch(reqBody)
	if m == nil {
		return nil, errors.New("no MessageID")
	}
	body := relatesToRE.ReplaceAllLiteral(rt.body, []byte(`<a:RelatesTo>`+string(m[1])+`</a:RelatesTo>`))
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/soap+xml;charset=UTF-8"}},
		Body: io.NopCloser(bytes.NewReader(body)), Request: req}, nil
}

// FuzzList feeds arbitrary Enumerate answers to List and Connect's shell
// lookup: they must return sessions or an error, never panic, and every
// session returned must be a PowerShell one with a real ID. The seeds are
// the Enumerate answers Windows sent in the recorded captures.
func FuzzList(f *testing.F) {
	dir, err := replay.CapturesDir()
	if err != nil {
		f.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "test_psrp_*.yml"))
	if err != nil {
		f.Fatal(err)
	}
	seeds := 0
	for _, file := range files {
		conv, err := replay.Load(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range conv.Entries {
			if e.Action() == "Enumerate" && e.Response != "" {
				f.Add([]byte(e.Response))
				seeds++
			}
		}
	}
	if seeds == 0 {
		f.Fatal("no recorded Enumerate answer in the captures")
	}
	var synthetic enumerateRT
	synthetic.shells = shellXML(shellA, "job", psURI, "Disconnected") + shellXML(shellB, "", cmdURI, "Connected")
	f.Add([]byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"` +
		` xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>` +
		`<a:RelatesTo>x</a:RelatesTo></s:Header><s:Body><n:EnumerateResponse><w:Items>` + synthetic.shells +
		`</w:Items><w:EndOfSequence/></n:EnumerateResponse></s:Body></s:Envelope>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		client := &http.Client{Transport: rawRT{body}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		infos, err := listAt(ctx, "https://win01", WithHTTPClient(client))
		if err == nil {
			for _, in := range infos {
				if in.ID == uuid.Nil && !strings.Contains(string(body), uuid.Nil.String()) {
					t.Errorf("session with a nil ID: %+v", in)
				}
				if !strings.EqualFold(psPrefix+in.ConfigurationName, in.ResourceURI) {
					t.Errorf("ConfigurationName %q does not match ResourceURI %q", in.ConfigurationName, in.ResourceURI)
				}
			}
		}
		c, err := NewClient("https://win01", WithHTTPClient(client))
		if err != nil {
			t.Fatal(err)
		}
		if info, err := c.findShell(ctx, "job"); err == nil && !strings.EqualFold(info.Name, "job") {
			t.Errorf("findShell(job) found %q", info.Name)
		}
	})
}

const psPrefix = "http://schemas.microsoft.com/powershell/"

// listAt is NewClient(target, opts...).List(ctx).
func listAt(ctx context.Context, target string, opts ...ClientOption) ([]Info, error) {
	c, err := NewClient(target, opts...)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.List(ctx)
}
