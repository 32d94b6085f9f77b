package sessiontest

import (
	"context"
	"crypto/tls"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gopsrp/gopsrp/wsman"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestShellLifecycle(t *testing.T) {
	t.Parallel()
	s, backends := newFakeServer(t, nil)
	c := s.Client()

	id := strings.ToUpper(uuid.NewString())
	msgID := "uuid:" + strings.ToUpper(uuid.NewString())
	r := post(t, c, s.URL, env{action: wsman.ActionCreate, body: createBody(id, "pool"), messageID: msgID,
		options: map[string]string{"protocolversion": "2.3", "WINRS_NOPROFILE": "TRUE"}}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, wsman.ActionCreate+"Response", r.action())
	assert.Equal(t, msgID, strings.TrimSpace(r.tree.find("Header", "RelatesTo").Text))
	assert.Equal(t, id, r.tree.find("Body", "ResourceCreated", "ReferenceParameters", "SelectorSet", "Selector").Text)
	assert.Equal(t, "Connected", r.tree.find("Body", "Shell", "State").Text)
	assert.Equal(t, "No", r.tree.find("Body", "Shell", "ProfileLoaded").Text)

	// The pool's Receive gets what the backend queued at creation.
	r = post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: id, body: receiveBody("")}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, wsman.ActionReceive+"Response", r.action())
	assert.Equal(t, [][]byte{[]byte("opened:pool")}, r.streams(t))
	assert.False(t, r.done())

	// A command: its output comes with CommandState Done.
	cmd := strings.ToUpper(uuid.NewString())
	r = post(t, c, s.URL, env{action: wsman.ActionCommand, shellID: id,
		body: `<rsp:CommandLine CommandId="` + cmd + `"><rsp:Command /><rsp:Arguments>` + b64("args") + `</rsp:Arguments></rsp:CommandLine>`}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, cmd, r.tree.find("Body", "CommandResponse", "CommandId").Text)

	r = post(t, c, s.URL, env{action: wsman.ActionSend, shellID: id,
		body: `<rsp:Send><rsp:Stream Name="stdin" CommandId="` + cmd + `">` + b64("more") + `</rsp:Stream></rsp:Send>`}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	assert.NotNil(t, r.tree.find("Body", "SendResponse"))

	r = post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: id, body: receiveBody(cmd)}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, [][]byte{[]byte("cmd:args"), []byte("stdin:more")}, r.streams(t))
	assert.True(t, r.done())
	for _, st := range r.tree.all("Stream") {
		assert.Equal(t, cmd, st.attr("CommandId"))
		assert.Equal(t, "stdout", st.attr("Name"))
	}

	// After Done the command is gone for Receive, as on Windows.
	r = post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: id, body: receiveBody(cmd)}.bytes())
	assert.Equal(t, 500, r.status)
	assert.Equal(t, strconv.FormatUint(uint64(wsman.CodeUnexpectedSelectors), 10), r.faultCode())
	assert.Contains(t, r.faultMessage(), "command identifier that does not exist")

	r = post(t, c, s.URL, env{action: wsman.ActionDelete, shellID: id}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, wsman.ActionDelete+"Response", r.action())
	require.Len(t, *backends, 1)
	assert.True(t, (*backends)[0].isClosed())

	r = post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: id, body: receiveBody("")}.bytes())
	assert.Equal(t, 500, r.status)
	assert.Equal(t, "w:InvalidSelectors", r.subcode())
	assert.Contains(t, r.faultMessage(), "shell was not found")
}

func TestFaults(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, nil)
	c := s.Client()
	shell := createShell(t, s, c)
	unknown := strings.ToUpper(uuid.NewString())

	tests := []struct {
		name    string
		req     env
		code    uint32
		subcode string
		action  string
		msg     string
	}{
		{"unknown shell", env{action: wsman.ActionReceive, shellID: unknown, body: receiveBody("")}, wsman.CodeUnexpectedSelectors, "w:InvalidSelectors", wsman.ActionFault, "shell was not found"},
		{"unknown command", env{action: wsman.ActionReceive, shellID: shell, body: receiveBody(unknown)}, wsman.CodeUnexpectedSelectors, "w:InvalidSelectors", wsman.ActionFault, "command identifier"},
		{"signal unknown command", env{action: wsman.ActionSignal, shellID: shell, body: `<rsp:Signal CommandId="` + unknown + `"><rsp:Code>` + wsman.SignalTerminate + `</rsp:Code></rsp:Signal>`}, wsman.CodeUnexpectedSelectors, "w:InvalidSelectors", wsman.ActionFault, "command identifier"},
		{"negative timeout", env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig, timeout: "PT-1S"}, wsman.CodeInvalidMessageHeader, "a:InvalidMessageInformationHeader", wsman.ActionAddressingFault, "invalid timeout field in the SOAP header: PT-1S"},
		{"tiny envelope", env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig, maxEnv: 4096}, codeEnvelopeTooSmall, "w:EncodingLimit", wsman.ActionFault, "MaxEnvelopeSize is 4096"},
		{"unknown action", env{action: "http://example.com/Frobnicate"}, 2150858771, "a:ActionNotSupported", wsman.ActionAddressingFault, "Frobnicate"},
		{"unknown configuration", env{action: wsman.ActionCreate, resourceURI: wsman.ResourcePowerShellPrefix + "Nope", body: createBody("", "x")}, wsman.CodeResourceNotFound, "w:DestinationUnreachable", wsman.ActionFault, "Nope"},
		{"bad protocol version", env{action: wsman.ActionCreate, options: map[string]string{"protocolversion": "3.0"}, body: createBody("", "x")}, wsman.CodeInvalidParameter, "w:InvalidParameter", wsman.ActionFault, "major version must be 2"},
		{"refused creationXml", env{action: wsman.ActionCreate, body: createBody("", "refuse")}, wsman.CodeInvalidParameter, "w:InvalidParameter", wsman.ActionFault, "refused"},
		{"duplicate shell", env{action: wsman.ActionCreate, body: createBody(shell, "x")}, wsman.CodeInvalidParameter, "w:InvalidParameter", wsman.ActionFault, "already exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := "uuid:" + strings.ToUpper(uuid.NewString())
			tt.req.messageID = id
			r := post(t, c, s.URL, tt.req.bytes())
			assert.Equal(t, 500, r.status, string(r.body))
			assert.Equal(t, strconv.FormatUint(uint64(tt.code), 10), r.faultCode())
			assert.Equal(t, tt.subcode, r.subcode())
			assert.Equal(t, tt.action, r.action())
			assert.Equal(t, id, strings.TrimSpace(r.tree.find("Header", "RelatesTo").Text))
			assert.Contains(t, r.faultMessage(), tt.msg)
		})
	}
}

func TestReceiveTimesOut(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, nil)
	c := s.Client()
	shell := createShell(t, s, c)
	post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: shell, body: receiveBody("")}.bytes()) // drain
	r := post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: shell, timeout: "PT0.2S", body: receiveBody("")}.bytes())
	assert.Equal(t, 500, r.status)
	assert.Equal(t, "w:TimedOut", r.subcode())
	assert.Equal(t, "s:Receiver", strings.TrimSpace(r.tree.find("Body", "Fault", "Code", "Value").Text))
	assert.Equal(t, "2150858793", r.faultCode())
	// Byte-exact with Windows, trailing spaces included.
	assert.Equal(t, "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  ", r.tree.find("Body", "Fault", "Detail", "WSManFault", "Message").Text)
}

func TestReceiveWakesOnInput(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, nil)
	c := s.Client()
	shell := createShell(t, s, c)
	post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: shell, body: receiveBody("")}.bytes())

	got := make(chan *reply, 1)
	go func() {
		r, err := postErr(c, s.URL, env{action: wsman.ActionReceive, shellID: shell, timeout: "PT30S", body: receiveBody("")}.bytes(), nil)
		if err != nil {
			r = &reply{status: -1}
		}
		got <- r
	}()
	// The Send may land before or after the Receive starts waiting; both
	// must deliver the data.
	r := post(t, c, s.URL, env{action: wsman.ActionSend, shellID: shell, body: `<rsp:Send><rsp:Stream Name="pr">` + b64("hello") + `</rsp:Stream></rsp:Send>`}.bytes())
	require.Equal(t, 200, r.status)
	rr := recv(t, got, "answer to the Receive")
	require.Equal(t, 200, rr.status, string(rr.body))
	assert.Equal(t, [][]byte{[]byte("pr:hello")}, rr.streams(t))
}

func TestReceiveSplitsToEnvelope(t *testing.T) {
	t.Parallel()
	s, backends := newFakeServer(t, nil)
	c := s.Client()
	shell := createShell(t, s, c)
	post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: shell, body: receiveBody("")}.bytes())

	// Queue 20 chunks of 3000 bytes straight into the backend.
	be := (*backends)[0]
	var want [][]byte
	be.mu.Lock()
	for i := range 20 {
		chunk := []byte(strings.Repeat(string(rune('a'+i)), 3000))
		want = append(want, chunk)
		be.queues[uuid.Nil] = append(be.queues[uuid.Nil], chunk)
	}
	be.mu.Unlock()

	const maxEnv = 12000
	var got [][]byte
	for len(got) < len(want) {
		r := post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: shell, maxEnv: maxEnv, body: receiveBody("")}.bytes())
		require.Equal(t, 200, r.status, string(r.body))
		assert.LessOrEqual(t, len(r.body), maxEnv)
		st := r.streams(t)
		require.NotEmpty(t, st)
		got = append(got, st...)
	}
	assert.Equal(t, want, got)

	// A chunk that cannot fit the client's envelope is the EncodingLimit fault.
	be.mu.Lock()
	be.queues[uuid.Nil] = append(be.queues[uuid.Nil], make([]byte, 9000))
	be.mu.Unlock()
	r := post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: shell, maxEnv: 8192, body: receiveBody("")}.bytes())
	assert.Equal(t, 500, r.status)
	assert.Equal(t, "w:EncodingLimit", r.subcode())
	// With a big enough envelope it comes through.
	r = post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: shell, body: receiveBody("")}.bytes())
	require.Equal(t, 200, r.status)
	assert.Len(t, r.streams(t)[0], 9000)
}

func TestRequestTooLarge(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, func(s *Server) { s.MaxEnvelopeSizeKB = 32 })
	c := s.Client()
	shell := createShell(t, s, c)
	big := strings.Repeat("A", 40*1024)
	r := post(t, c, s.URL, env{action: wsman.ActionSend, shellID: shell, body: `<rsp:Send><rsp:Stream Name="stdin">` + big + `</rsp:Stream></rsp:Send>`}.bytes())
	assert.Equal(t, 500, r.status)
	assert.Equal(t, "w:EncodingLimit", r.subcode())
	assert.Equal(t, strconv.FormatUint(uint64(codeRequestTooLarge), 10), r.faultCode())

	r = post(t, c, s.URL, env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes())
	require.Equal(t, 200, r.status)
	assert.Equal(t, "32", r.tree.find("Body", "Config", "MaxEnvelopeSizekb").Text)
}

func TestShellQuota(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, func(s *Server) { s.MaxShellsPerUser = 2 })
	c := s.Client()
	a := createShell(t, s, c)
	createShell(t, s, c)
	r := post(t, c, s.URL, env{action: wsman.ActionCreate, body: createBody("", "x")}.bytes())
	assert.Equal(t, 500, r.status)
	assert.Equal(t, "w:QuotaLimit", r.subcode())
	assert.Equal(t, "2150859173", r.faultCode())
	assert.Contains(t, r.faultMessage(), "maximum number of concurrent shells")

	post(t, c, s.URL, env{action: wsman.ActionDelete, shellID: a}.bytes())
	createShell(t, s, c)
}

func TestSignalsAndEnumerate(t *testing.T) {
	t.Parallel()
	s, backends := newFakeServer(t, nil)
	c := s.Client()
	shell := createShell(t, s, c)
	cmd := strings.ToUpper(uuid.NewString())
	r := post(t, c, s.URL, env{action: wsman.ActionCommand, shellID: shell,
		body: `<rsp:CommandLine CommandId="` + cmd + `"><rsp:Command /><rsp:Arguments>` + b64("hang") + `</rsp:Arguments></rsp:CommandLine>`}.bytes())
	require.Equal(t, 200, r.status)

	r = post(t, c, s.URL, env{action: wsman.ActionEnumerate, resourceURI: wsman.ResourceCommand,
		body: `<wsen:Enumerate><wsman:OptimizeEnumeration/><wsman:MaxElements>32000</wsman:MaxElements><wsman:Filter Dialect="` + wsman.FilterSelectorDialect +
			`"><wsman:SelectorSet><wsman:Selector Name="ShellId">` + shell + `</wsman:Selector></wsman:SelectorSet></wsman:Filter></wsen:Enumerate>`}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	ids := r.tree.all("CommandId")
	require.Len(t, ids, 1)
	assert.Equal(t, cmd, ids[0].Text)

	// crtl_c stops but keeps the command; its Receive then reports Done.
	sig := func(code string) *reply {
		return post(t, c, s.URL, env{action: wsman.ActionSignal, shellID: shell,
			body: `<rsp:Signal CommandId="` + cmd + `"><rsp:Code>` + code + `</rsp:Code></rsp:Signal>`}.bytes())
	}
	r = sig(wsman.SignalPSCtrlC)
	require.Equal(t, 200, r.status)
	assert.NotNil(t, r.tree.find("Body", "SignalResponse"))
	r = post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: shell, body: receiveBody(cmd)}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	assert.True(t, r.done())

	// Terminate (any case, as pypsrp sends it) closes the command.
	r = sig("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/Terminate")
	require.Equal(t, 200, r.status)
	r = sig(wsman.SignalTerminate)
	assert.Equal(t, 500, r.status)
	assert.Equal(t, "w:InvalidSelectors", r.subcode())
	be := (*backends)[0]
	be.mu.Lock()
	assert.Equal(t, []string{wsman.SignalPSCtrlC, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/Terminate"}, be.signals)
	be.mu.Unlock()
}

func TestDisconnectReconnectConnect(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, nil)
	c := s.Client()
	shell := createShell(t, s, c)
	other := createShell(t, s, c)

	r := post(t, c, s.URL, env{action: wsman.ActionDisconnect, shellID: shell, body: `<rsp:Disconnect><rsp:IdleTimeOut>PT60S</rsp:IdleTimeOut></rsp:Disconnect>`}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, wsman.ActionDisconnect+"Response", r.action())

	r = post(t, c, s.URL, env{action: wsman.ActionEnumerate, resourceURI: wsman.ResourceShell,
		body: `<wsen:Enumerate><wsman:OptimizeEnumeration/><wsman:MaxElements>32000</wsman:MaxElements></wsen:Enumerate>`}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	states := map[string]string{}
	for _, sh := range r.tree.all("Shell") {
		states[sh.find("ShellId").Text] = sh.find("State").Text
	}
	assert.Equal(t, map[string]string{shell: "Disconnected", other: "Connected"}, states)
	assert.NotNil(t, r.tree.find("Body", "EnumerateResponse", "EndOfSequence"))

	r = post(t, c, s.URL, env{action: wsman.ActionGet, resourceURI: wsman.ResourceShell, shellID: shell}.bytes())
	require.Equal(t, 200, r.status)
	assert.Equal(t, "Disconnected", r.tree.find("Body", "Shell", "State").Text)

	r = post(t, c, s.URL, env{action: wsman.ActionReconnect, shellID: shell}.bytes())
	require.Equal(t, 200, r.status)
	r = post(t, c, s.URL, env{action: wsman.ActionGet, resourceURI: wsman.ResourceShell, shellID: shell}.bytes())
	assert.Equal(t, "Connected", r.tree.find("Body", "Shell", "State").Text)

	post(t, c, s.URL, env{action: wsman.ActionDisconnect, shellID: shell, body: `<rsp:Disconnect/>`}.bytes())
	r = post(t, c, s.URL, env{action: wsman.ActionConnect, shellID: shell,
		body: `<rsp:Connect><connectXml xmlns="http://schemas.microsoft.com/powershell">` + b64("hi") + `</connectXml></rsp:Connect>`}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, b64("connected:hi"), r.tree.find("Body", "ConnectResponse", "connectResponseXml").Text)
	assert.Equal(t, "stdin pr", r.tree.find("Body", "ConnectResponse", "InputStreams").Text)

	// An empty enumeration of commands is just EndOfSequence.
	r = post(t, c, s.URL, env{action: wsman.ActionEnumerate, resourceURI: wsman.ResourceCommand,
		body: `<wsen:Enumerate><wsman:Filter Dialect="` + wsman.FilterSelectorDialect + `"><wsman:SelectorSet><wsman:Selector Name="ShellId">` + other + `</wsman:Selector></wsman:SelectorSet></wsman:Filter></wsen:Enumerate>`}.bytes())
	require.Equal(t, 200, r.status)
	assert.Nil(t, r.tree.find("Body", "EnumerateResponse", "Items"))
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	users := map[string]string{"alice": "Secr3t!"}
	tests := []struct {
		name      string
		tls       bool
		allowHTTP bool
		user      string
		pass      string
		status    int
	}{
		{"tls ok", true, false, "alice", "Secr3t!", 200},
		{"tls no credentials", true, false, "", "", 401},
		{"tls wrong password", true, false, "alice", "nope", 401},
		{"tls unknown user", true, false, "mallory", "Secr3t!", 401},
		{"http refused", false, false, "alice", "Secr3t!", 401},
		{"http allowed", false, true, "alice", "Secr3t!", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewUnstartedServer()
			s.Users = users
			s.AllowUnencrypted = tt.allowHTTP
			if tt.tls {
				s.StartTLS()
				require.True(t, strings.HasPrefix(s.URL, "https://127.0.0.1:"))
			} else {
				s.Start()
			}
			defer s.Close()
			r, err := postErr(s.Client(), s.URL, env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes(), func(req *http.Request) {
				if tt.user != "" {
					req.SetBasicAuth(tt.user, tt.pass)
				}
			})
			require.NoError(t, err)
			assert.Equal(t, tt.status, r.status)
			assert.NotContains(t, string(r.body), "Secr3t!")
		})
	}
}

func TestAccessDenied(t *testing.T) {
	t.Parallel()
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		s, _ := newFakeServer(t, func(s *Server) { s.Disabled = true })
		r := post(t, s.Client(), s.URL, env{action: wsman.ActionCreate, body: createBody("", "x")}.bytes())
		assert.Equal(t, 500, r.status)
		assert.Equal(t, "5", r.faultCode())
		assert.Equal(t, "w:AccessDenied", r.subcode())
		assert.Contains(t, r.faultMessage(), "remoting is disabled")
	})
	t.Run("configuration users", func(t *testing.T) {
		t.Parallel()
		s := NewUnstartedServer()
		s.newBackend = newFakeFactory(nil, nil)
		s.Users = map[string]string{"alice": "a", "bob": "b"}
		s.AllowUnencrypted = true
		s.Configurations = map[string]ConfigurationAccess{"Microsoft.PowerShell": {}, "JEA": {Users: []string{"bob"}}}
		s.Start()
		defer s.Close()
		as := func(user string) func(*http.Request) {
			return func(r *http.Request) { r.SetBasicAuth(user, user[:1]) }
		}
		jea := env{action: wsman.ActionCreate, resourceURI: wsman.ResourcePowerShellPrefix + "JEA", body: createBody("", "x")}
		r, err := postErr(s.Client(), s.URL, jea.bytes(), as("alice"))
		require.NoError(t, err)
		assert.Equal(t, 500, r.status)
		assert.Equal(t, "5", r.faultCode())
		assert.Contains(t, r.faultMessage(), "alice lacks access to the session configuration JEA")

		r, err = postErr(s.Client(), s.URL, jea.bytes(), as("bob"))
		require.NoError(t, err)
		assert.Equal(t, 200, r.status, string(r.body))
		bobShell := r.tree.find("Body", "Shell", "ShellId").Text

		// Shells belong to their owner: alice cannot see bob's.
		r, err = postErr(s.Client(), s.URL, env{action: wsman.ActionReceive, shellID: bobShell, body: receiveBody("")}.bytes(), as("alice"))
		require.NoError(t, err)
		assert.Equal(t, "w:InvalidSelectors", r.subcode())

		r, err = postErr(s.Client(), s.URL, env{action: wsman.ActionEnumerate, resourceURI: wsman.ResourceShell, body: `<wsen:Enumerate/>`}.bytes(), as("bob"))
		require.NoError(t, err)
		require.Len(t, r.tree.all("Shell"), 1)
		assert.Equal(t, "bob", r.tree.all("Shell")[0].find("Owner").Text)
	})
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, nil)
	c := s.Client()
	resp, err := c.Get(s.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	resp, err = c.Post(s.URL[:len(s.URL)-len("/wsman")]+"/other", "application/soap+xml", strings.NewReader("<x/>"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	r := post(t, c, s.URL, []byte("<not-soap"))
	assert.Equal(t, 500, r.status)
	assert.Equal(t, "w:SchemaValidationError", r.subcode())

	r = post(t, c, s.URL, []byte(`<a xmlns="urn:x"/>`))
	assert.Equal(t, 500, r.status)
	assert.Equal(t, "w:SchemaValidationError", r.subcode())

	// An empty POST (the authentication probe of encrypting clients) is 200.
	resp, err = c.Post(s.URL, "application/soap+xml", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
}

func TestInjectFault(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, nil)
	c := s.Client()
	get := env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}

	s.InjectFault(Fault{Action: "Get", Count: 2, Status: 503, Code: wsman.CodeQuotaMaxOperations, Subcode: "w:QuotaLimit", Message: "busy"})
	for range 2 {
		r := post(t, c, s.URL, get.bytes())
		assert.Equal(t, 503, r.status)
		assert.Equal(t, "2150859174", r.faultCode())
		assert.Equal(t, "busy", r.faultMessage())
	}
	assert.Equal(t, 200, post(t, c, s.URL, get.bytes()).status)

	// A fault for another action does not fire on Get.
	s.InjectFault(Fault{Action: "Receive", Status: 500})
	assert.Equal(t, 200, post(t, c, s.URL, get.bytes()).status)
	shell := createShell(t, s, c)
	r := post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: shell, body: receiveBody("")}.bytes())
	assert.Equal(t, 500, r.status)

	s.InjectFault(Fault{DropConnection: true})
	_, err := postErr(c, s.URL, get.bytes(), nil)
	require.Error(t, err)

	s.InjectFault(Fault{Action: "get", TruncateBody: true})
	_, err = postErr(c, s.URL, get.bytes(), nil)
	require.Error(t, err)

	s.InjectFault(Fault{Delay: 10 * time.Millisecond})
	assert.Equal(t, 200, post(t, c, s.URL, get.bytes()).status)
}

func TestCloseEndsWaitingReceive(t *testing.T) {
	t.Parallel()
	var list []*fakeBackend
	var mu sync.Mutex
	s := NewUnstartedServer()
	s.newBackend = newFakeFactory(&list, &mu)
	s.Start()
	c := s.Client()
	shell := createShell(t, s, c)
	post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: shell, body: receiveBody("")}.bytes())

	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = postErr(c, s.URL, env{action: wsman.ActionReceive, shellID: shell, timeout: "PT60S", body: receiveBody("")}.bytes(), nil)
	}()
	// Wait until the Receive is in the server, then close.
	require.Eventually(t, func() bool { return len(s.Shells()) == 1 }, time.Second, time.Millisecond)
	s.Close()
	recv(t, done, "end of the Receive")
	assert.True(t, list[0].isClosed())
	assert.Empty(t, s.Shells())
	s.Close() // idempotent
}

func TestStartTLSCertificate(t *testing.T) {
	t.Parallel()
	s := NewUnstartedServer()
	s.newBackend = newFakeFactory(nil, nil)
	s.StartTLS()
	defer s.Close()
	cert := s.Certificate()
	require.NotNil(t, cert)
	assert.Contains(t, cert.DNSNames, "localhost")
	require.NoError(t, cert.VerifyHostname("127.0.0.1"))
	require.NoError(t, cert.VerifyHostname("localhost"))
	r := post(t, s.Client(), s.URL, env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes())
	assert.Equal(t, 200, r.status)

	// A client that does not trust the certificate fails.
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	defer plain.CloseIdleConnections()
	_, err := postErr(plain, s.URL, env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes(), nil)
	require.Error(t, err)

	assert.Panics(t, func() { s.Start() })
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT20S", 20 * time.Second, true},
		{"PT0.5S", 500 * time.Millisecond, true},
		{"PT1M30S", 90 * time.Second, true},
		{"P1DT2H", 26 * time.Hour, true},
		{"PT7200.000S", 7200 * time.Second, true},
		{"PT-1S", 0, false},
		{"PT", 0, false},
		{"20", 0, false},
		{"P1H", 0, false},
		{"PT1.2.3S", 0, false},
		{"PTTS", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if !tt.ok {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
	assert.Equal(t, "PT7200.000S", formatSeconds(7200*time.Second))
	assert.Equal(t, "P1DT1H1M1S", formatRunTime(25*time.Hour+61*time.Second))
}

func TestScriptArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		script string
		want   []Arg
	}{
		{"Get-Date", nil},
		{"Get-Date -Format o", []Arg{{Name: "Format", Value: "o"}}},
		{"Start-Sleep 5", []Arg{{Value: "5"}}},
		{"Write-Output 'a b' \"c d\" | Out-Null", []Arg{{Value: "a b"}, {Value: "c d"}}},
		{"Write-Progress -Activity x -Completed", []Arg{{Name: "Activity", Value: "x"}, {Name: "Completed", Value: true}}},
		{"Get-Thing -Count -1; Other", []Arg{{Name: "Count", Value: "-1"}}},
		{"$PSVersionTable.PSVersion", nil},
		{"Write-Output '-timeout' -Name \"-x\"", []Arg{{Value: "-timeout"}, {Name: "Name", Value: "-x"}}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, scriptArgs(tt.script), tt.script)
	}
	assert.Equal(t, "$PSVersionTable", firstWord("$PSVersionTable.PSVersion"))
	assert.Equal(t, "Get-Date", firstWord("  Get-Date -Format o"))
	assert.Equal(t, "./run.ps1", firstWord("./run.ps1 -X"))
}

func TestIdleShellIsDeleted(t *testing.T) {
	t.Parallel()
	s, backends := newFakeServer(t, func(s *Server) { s.IdleTimeout = 50 * time.Millisecond })
	c := s.Client()
	shell := createShell(t, s, c)
	r := post(t, c, s.URL, env{action: wsman.ActionGet, resourceURI: wsman.ResourceShell, shellID: shell}.bytes())
	require.Equal(t, 200, r.status)
	assert.Equal(t, "PT0.050S", r.tree.find("Body", "Shell", "IdleTimeOut").Text)
	// Any request runs the reaper; wait until the shell is gone.
	require.Eventually(t, func() bool {
		r := post(t, c, s.URL, env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes())
		return r.status == 200 && len(s.Shells()) == 0
	}, 5*time.Second, 20*time.Millisecond)
	assert.True(t, (*backends)[0].isClosed())
	r = post(t, c, s.URL, env{action: wsman.ActionReceive, shellID: shell, body: receiveBody("")}.bytes())
	assert.Equal(t, "w:InvalidSelectors", r.subcode())
}

func TestKillShell(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, nil)
	c := s.Client()
	shell := createShell(t, s, c)
	assert.True(t, s.KillShell(uuid.MustParse(shell)))
	assert.False(t, s.KillShell(uuid.MustParse(shell)))
	r := post(t, c, s.URL, env{action: wsman.ActionGet, resourceURI: wsman.ResourceShell, shellID: shell}.bytes())
	assert.Equal(t, 500, r.status)
	assert.Equal(t, "w:InvalidSelectors", r.subcode())
	assert.NotNil(t, r.tree.all("ProviderFault"))
}

func TestInputQueue(t *testing.T) {
	t.Parallel()
	q := newInputQueue()
	for i := range maxQueuedInput {
		require.True(t, q.push(i))
	}
	assert.False(t, q.push("one too many"))
	c := &Call{input: q}
	v, ok, err := c.NextInput(context.Background())
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 0, v)
	assert.True(t, q.push("room again"))

	// An empty, open queue waits until ctx ends.
	empty := &Call{input: newInputQueue()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, ok, err = empty.NextInput(ctx)
	assert.False(t, ok)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	empty.input.end()
	_, ok, err = empty.NextInput(context.Background())
	assert.False(t, ok)
	assert.NoError(t, err)
}
