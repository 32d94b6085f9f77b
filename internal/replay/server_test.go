package replay

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testClient posts hand-built envelopes, standing in for the real client.
type testClient struct {
	t     *testing.T
	srv   *Server
	shell string
}

const (
	actTransfer = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
	actShell    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
)

type result struct {
	status int
	body   string
	env    Envelope
	msgID  string
}

func (c *testClient) post(action, resource, selectorShell, body string) result {
	c.t.Helper()
	msgID := "uuid:" + strings.ToUpper(uuid.NewString())
	sel := ""
	if selectorShell != "" {
		sel = `<w:SelectorSet><w:Selector Name="ShellId">` + selectorShell + `</w:Selector></w:SelectorSet>`
	}
	if resource == "" {
		resource = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
	}
	env := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">` +
		`<s:Header><a:Action>` + action + `</a:Action><a:MessageID>` + msgID + `</a:MessageID><w:ResourceURI>` + resource + `</w:ResourceURI>` + sel +
		`</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
	resp, err := c.srv.Client().Post(c.srv.URL, "application/soap+xml;charset=UTF-8", strings.NewReader(env))
	if err != nil {
		c.t.Fatalf("%s: %v", action, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := result{status: resp.StatusCode, body: string(b), msgID: msgID}
	if len(b) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/soap+xml") {
		if r.env, err = ParseEnvelope(b); err != nil {
			c.t.Fatalf("%s: response does not parse: %v", action, err)
		}
		if r.env.RelatesTo != msgID {
			c.t.Errorf("%s: RelatesTo = %s, want %s", action, r.env.RelatesTo, msgID)
		}
	}
	return r
}

func (c *testClient) create() result {
	c.shell = strings.ToUpper(uuid.NewString())
	return c.post(actTransfer+"Create", "", "", `<rsp:Shell ShellId="`+c.shell+`"><rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams></rsp:Shell>`)
}

func (c *testClient) receive(cmd string) result {
	attr := ""
	if cmd != "" {
		attr = ` CommandId="` + cmd + `"`
	}
	return c.post(actShell+"Receive", "", c.shell, `<rsp:Receive><rsp:DesiredStream`+attr+`>stdout</rsp:DesiredStream></rsp:Receive>`)
}

func (c *testClient) command() (string, result) {
	id := strings.ToUpper(uuid.NewString())
	return id, c.post(actShell+"Command", "", c.shell, `<rsp:CommandLine CommandId="`+id+`"><rsp:Command/><rsp:Arguments>AA==</rsp:Arguments></rsp:CommandLine>`)
}

func (c *testClient) send(cmd string, data []byte) result {
	attr := ""
	if cmd != "" {
		attr = ` CommandId="` + cmd + `"`
	}
	return c.post(actShell+"Send", "", c.shell, `<rsp:Send><rsp:Stream Name="stdin"`+attr+`>`+base64.StdEncoding.EncodeToString(data)+`</rsp:Stream></rsp:Send>`)
}

// messages decodes the PSRP messages of a response.
func messages(t *testing.T, env Envelope) []Message {
	t.Helper()
	var a Assembler
	var out []Message
	for _, b := range env.Blobs {
		m, err := a.Add(b.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	return out
}

func newTestServer(t *testing.T, file string, opts ...Option) (*Server, *testClient) {
	t.Helper()
	srv := NewServer(t, mustLoad(t, file), opts...)
	return srv, &testClient{t: t, srv: srv}
}

// TestReplayRewritesIDs drives a whole recorded conversation with fresh
// IDs, for a capture with .NET-order GUIDs and one with old big-endian ones.
func TestReplayRewritesIDs(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"test_psrp_no_profile.yml", "test_psrp_with_history.yml"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			srv, c := newTestServer(t, file)
			conv := srv.conv
			recShell := conv.recordedShellID(0)
			r := c.create()
			if r.status != 200 || r.env.Action != "CreateResponse" || r.env.ShellID != c.shell {
				t.Fatalf("Create: %d %s shell %s", r.status, r.env.Action, r.env.ShellID)
			}
			if strings.Contains(strings.ToUpper(r.body), recShell) {
				t.Errorf("Create response still holds the recorded ShellId")
			}
			rpid := GUIDBytesLE(uuid.MustParse(c.shell))
			var poolMsgs []Message
			for range 2 {
				poolMsgs = append(poolMsgs, messages(t, c.receive("").env)...)
			}
			if len(poolMsgs) != 3 || poolMsgs[0].Type != MsgSessionCapability || poolMsgs[2].Type != MsgRunspacePoolState {
				t.Fatalf("pool messages = %+v", poolMsgs)
			}
			if poolMsgs[0].RPID != ([16]byte{}) {
				t.Errorf("SESSION_CAPABILITY RPID = %x, want zero as recorded", poolMsgs[0].RPID)
			}
			for _, m := range poolMsgs[1:] {
				if m.RPID != rpid {
					t.Errorf("type %#x RPID = %x, want %x", m.Type, m.RPID, rpid)
				}
			}
			nCommands := 0
			for _, e := range conv.Entries {
				if e.Action() == "Command" {
					nCommands++
				}
			}
			for range nCommands {
				cmd, r := c.command()
				if r.env.CommandID != cmd {
					t.Errorf("CommandResponse CommandId = %s, want %s", r.env.CommandID, cmd)
				}
				r = c.receive(cmd)
				if len(r.env.CommandStates) != 1 || r.env.CommandStates[0].CommandID != cmd {
					t.Errorf("CommandState = %+v", r.env.CommandStates)
				}
				pid := GUIDBytesLE(uuid.MustParse(cmd))
				msgs := messages(t, r.env)
				if len(msgs) == 0 || msgs[len(msgs)-1].Type != MsgPipelineState {
					t.Fatalf("pipeline messages end with %+v", msgs)
				}
				for _, m := range msgs {
					if m.RPID != rpid || m.PID != pid {
						t.Errorf("type %#x ids = %x %x, want %x %x", m.Type, m.RPID, m.PID, rpid, pid)
					}
				}
			}
			if r := c.post(actTransfer+"Delete", "", c.shell, ""); r.status != 200 || r.env.Action != "DeleteResponse" {
				t.Errorf("Delete: %d %s", r.status, r.env.Action)
			}
			if u := srv.Unserved(); len(u) != 0 {
				t.Errorf("unserved: %d entries, first #%d %s", len(u), u[0].Index, u[0].Action())
			}
			if u := srv.Unmatched(); len(u) != 0 {
				t.Errorf("unmatched: %v", u)
			}
		})
	}
}

// TestReplayReusedCommandID: the recording reused one CommandId for two
// invocations; a client with two IDs gets each invocation's answer under
// its own ID, and the Terminate signals it does not send are reported.
func TestReplayReusedCommandID(t *testing.T) {
	t.Parallel()
	srv, c := newTestServer(t, "test_psrp_multiple_invocations.yml")
	c.create()
	c.receive("")
	c.receive("")
	for i := range 2 {
		cmd, _ := c.command()
		r := c.receive(cmd)
		if len(r.env.CommandStates) != 1 || r.env.CommandStates[0].CommandID != cmd {
			t.Errorf("invocation %d: CommandState = %+v", i, r.env.CommandStates)
		}
		for _, m := range messages(t, r.env) {
			if m.PID != GUIDBytesLE(uuid.MustParse(cmd)) {
				t.Errorf("invocation %d: PID %x", i, m.PID)
			}
		}
	}
	// A signal the recording does not have at this point gets a generic
	// answer of the right action.
	if r := c.post(actShell+"Signal", "", c.shell, `<rsp:Signal CommandId="`+strings.ToUpper(uuid.NewString())+`"><rsp:Code>powershell/signal/crtl_c</rsp:Code></rsp:Signal>`); r.env.Action != "SignalResponse" {
		t.Errorf("generic Signal answer: %s", r.env.Action)
	}
	c.post(actTransfer+"Delete", "", c.shell, "")
	var unserved []string
	for _, e := range srv.Unserved() {
		unserved = append(unserved, e.Action())
	}
	if strings.Join(unserved, ",") != "Signal,Signal" {
		t.Errorf("unserved = %v, want the two recorded Terminate signals", unserved)
	}
	if u := srv.Unmatched(); len(u) != 1 || u[0].Action != "Signal" || u[0].Command != -2 {
		t.Errorf("unmatched = %v", u)
	}
}

// TestReplayGatesReceive: a recorded answer to a pool message is held back
// until the client has sent that message.
func TestReplayGatesReceive(t *testing.T) {
	t.Parallel()
	srv, c := newTestServer(t, "test_psrp_reset_runspace_state_fail.yml", WithIdleReceive(20*time.Millisecond))
	c.create()
	c.receive("")
	c.receive("")
	r := c.receive("")
	if r.status != 500 || r.env.Fault == nil || r.env.Fault.Code != "w:TimedOut" {
		t.Fatalf("early Receive: %d %+v, want the TimedOut fault", r.status, r.env.Fault)
	}
	if r := c.send("", []byte{}); r.env.Action != "SendResponse" {
		t.Fatalf("Send: %s", r.env.Action)
	}
	msgs := messages(t, c.receive("").env)
	if len(msgs) != 1 || msgs[0].Type != MsgRunspaceAvailability {
		t.Fatalf("after Send: %+v", msgs)
	}
	// Nothing more is recorded: Receive times out as on Windows.
	if r := c.receive(""); r.env.Fault == nil || r.env.Fault.WSManCode != "2150858793" {
		t.Errorf("exhausted Receive: %+v", r.env.Fault)
	}
	if n := len(srv.Unmatched()); n != 2 {
		t.Errorf("unmatched = %d, want the gated and the exhausted Receive", n)
	}
}

// TestReplayGatesOnEndOfInput: the recorded client sent all its input in
// one Send; a client that sends one value per Send gets the output only
// after its END_OF_PIPELINE_INPUT.
func TestReplayGatesOnEndOfInput(t *testing.T) {
	t.Parallel()
	_, c := newTestServer(t, "test_psrp_with_input.yml", WithIdleReceive(20*time.Millisecond))
	c.create()
	c.receive("")
	c.receive("")
	cmd, _ := c.command()
	msg := func(typ uint32, body string) []byte {
		b := make([]byte, 40, 40+len(body))
		b[0] = 2
		b[4], b[5], b[6], b[7] = byte(typ), byte(typ>>8), byte(typ>>16), byte(typ>>24)
		return append(b, body...)
	}
	c.send(cmd, frag(10, 0, 3, msg(MsgPipelineInput, "<S>1</S>")))
	if r := c.receive(cmd); r.env.Fault == nil || r.env.Fault.Code != "w:TimedOut" {
		t.Fatalf("Receive before the end of input: %d %+v", r.status, r.env.Fault)
	}
	c.send(cmd, frag(11, 0, 3, msg(MsgPipelineInput, "<I32>2</I32>")))
	c.send(cmd, frag(12, 0, 3, msg(MsgEndOfPipelineInput, "")))
	msgs := messages(t, c.receive(cmd).env)
	if len(msgs) == 0 || msgs[len(msgs)-1].Type != MsgPipelineState {
		t.Fatalf("after the end of input: %+v", msgs)
	}
}

// TestReplayConnect follows test_psrp_disconnect_runspaces: a client that
// enumerates the shells sees its own ShellIds, and the PSRP messages of a
// ConnectResponse (connectResponseXml) carry its RPID.
func TestReplayConnect(t *testing.T) {
	t.Parallel()
	srv, c := newTestServer(t, "test_psrp_disconnect_runspaces.yml")
	c.create()
	first := c.shell
	for range 3 {
		c.receive("")
	}
	for _, a := range []string{"Disconnect", "Reconnect", "Disconnect"} {
		if r := c.post(actShell+a, "", first, ""); r.env.Action != a+"Response" {
			t.Fatalf("%s: %s", a, r.env.Action)
		}
	}
	c.create()
	second := c.shell
	c.receive("")
	c.receive("")
	c.post(actShell+"Disconnect", "", second, "")
	r := c.post("http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate", "http://schemas.microsoft.com/wbem/wsman/1/windows/shell", "",
		`<n:Enumerate xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"/>`)
	for _, id := range []string{first, second} {
		if !strings.Contains(r.body, id) {
			t.Errorf("Enumerate answer lacks the client's ShellId %s", id)
		}
	}
	for _, rec := range []string{srv.conv.recordedShellID(0), srv.conv.recordedShellID(1)} {
		if strings.Contains(strings.ToUpper(r.body), rec) {
			t.Errorf("Enumerate answer still holds the recorded ShellId %s", rec)
		}
	}
	c.shell = first
	r = c.post(actShell+"Connect", "", first, `<rsp:Connect><connectXml xmlns="http://schemas.microsoft.com/powershell">AA==</connectXml></rsp:Connect>`)
	if r.env.Action != "ConnectResponse" {
		t.Fatalf("Connect: %s", r.env.Action)
	}
	msgs := messages(t, r.env)
	if len(msgs) != 2 || msgs[0].Type != MsgSessionCapability || msgs[1].Type != MsgRunspacePoolInitData {
		t.Fatalf("connectResponseXml = %+v", msgs)
	}
	want := GUIDBytesLE(uuid.MustParse(first))
	for _, m := range msgs {
		if m.RPID != want {
			t.Errorf("type %#x RPID = %x, want %x", m.Type, m.RPID, want)
		}
	}
}

func TestReplayErrorEntries(t *testing.T) {
	t.Parallel()
	const head = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:Action>`
	const get = head + `http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:MessageID>uuid:1</a:MessageID></s:Header><s:Body/></s:Envelope>`
	const getResp = head + `http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</a:Action><a:MessageID>uuid:2</a:MessageID><a:RelatesTo>uuid:1</a:RelatesTo></s:Header><s:Body/></s:Envelope>`
	const fault = head + `http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action><a:MessageID>uuid:2</a:MessageID><a:RelatesTo>uuid:1</a:RelatesTo></s:Header><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:InvalidSelectors</s:Value></s:Subcode></s:Code><s:Reason><s:Text>bad</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>`
	tests := []struct {
		name, extra, response string
		status                int
		netErr                bool
		minDelay              time.Duration
	}{
		{"transport_error", "  transport_error: {protocol: http, code: 503}\n", fault, 503, false, 0},
		{"auth_error", "  auth_error: yes\n", "", 401, false, 0},
		{"http_error", "  http_error: yes\n", "", 0, true, 0},
		{"timeout", "  timeout: 0.05\n", getResp, 200, false, 50 * time.Millisecond},
		{"recorded fault", "", fault, 500, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			y := "messages:\n- request: '" + get + "'\n  response: '" + tt.response + "'\n" + tt.extra
			conv, err := Parse(tt.name, []byte(y))
			if err != nil {
				t.Fatal(err)
			}
			srv := NewServer(t, conv)
			c := &testClient{t: t, srv: srv}
			start := time.Now()
			if tt.netErr {
				_, err := srv.Client().Post(srv.URL, "application/soap+xml", strings.NewReader(get))
				if err == nil || !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") {
					t.Fatalf("err = %v, want the connection dropped", err)
				}
				return
			}
			r := c.post("http://schemas.xmlsoap.org/ws/2004/09/transfer/Get", "", "", "")
			if r.status != tt.status {
				t.Errorf("status = %d, want %d", r.status, tt.status)
			}
			if el := time.Since(start); el < tt.minDelay {
				t.Errorf("answered after %v, want at least %v", el, tt.minDelay)
			}
			if tt.response == fault && (r.env.Fault == nil || r.env.Fault.Code != "w:InvalidSelectors") {
				t.Errorf("fault = %+v", r.env.Fault)
			}
			if len(srv.Unserved()) != 0 {
				t.Errorf("entry not consumed")
			}
		})
	}
}

func TestReplayBadRequests(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, "test_psrp_open_runspace.yml")
	for _, tt := range []struct {
		method, body string
		status       int
	}{
		{http.MethodGet, "", http.StatusMethodNotAllowed},
		{http.MethodPost, "<not xml", http.StatusBadRequest},
		{http.MethodPost, "<x/>", http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(tt.method, srv.URL, strings.NewReader(tt.body))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %q: status %d, want %d", tt.method, tt.body, resp.StatusCode, tt.status)
		}
	}
	if len(srv.Unserved()) != len(srv.conv.Entries) {
		t.Errorf("bad requests consumed recorded entries")
	}
}

// TestReplayCloseUnblocks: Close ends a Receive that waits for an answer.
func TestReplayCloseUnblocks(t *testing.T) {
	t.Parallel()
	srv, c := newTestServer(t, "test_psrp_open_runspace.yml", WithIdleReceive(time.Hour))
	c.create()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 { // the third has no recorded answer and waits
			resp, err := srv.Client().Post(srv.URL, "application/soap+xml", strings.NewReader(
				`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>`+actShell+`Receive</a:Action><a:MessageID>uuid:x</a:MessageID><w:SelectorSet><w:Selector Name="ShellId">`+c.shell+`</w:Selector></w:SelectorSet></s:Header><s:Body/></s:Envelope>`))
			if err != nil {
				return
			}
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.Transcript()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the server saw %d requests, want 3", len(srv.Transcript()))
		}
		time.Sleep(time.Millisecond)
	}
	closed := time.Now()
	srv.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the Receive waiting for an answer")
	}
	if took := time.Since(closed); took > 2*time.Second {
		t.Errorf("the waiting Receive ended %v after Close", took)
	}
}

func FuzzParseEnvelope(f *testing.F) {
	c := mustLoad(f, "test_psrp_no_profile.yml")
	for _, e := range c.Entries {
		f.Add([]byte(e.Request))
		f.Add([]byte(e.Response))
	}
	f.Add([]byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault/></s:Body></s:Envelope>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseEnvelope(b)
		if err != nil {
			return
		}
		for _, bl := range env.Blobs {
			if len(bl.Data) > len(b) {
				t.Fatalf("blob of %d bytes from %d bytes of input", len(bl.Data), len(b))
			}
		}
	})
}
