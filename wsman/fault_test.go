package wsman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// Idle keep-alive connections of the default transport are not leaks.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// faultEnvelope builds a SOAP fault like Windows sends, relating to id.
func faultEnvelope(id, subcode string, code uint32, message string) string {
	return `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action><a:RelatesTo>` + id + `</a:RelatesTo></s:Header><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>` + subcode + `</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">reason text</s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="` + fmt.Sprint(code) + `" Machine="host1"><f:Message>` + message + `</f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`
}

// handlerServer starts a loopback server running h.
func handlerServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestErrorResponses(t *testing.T) {
	t.Parallel()
	deleteOK := loadCapture(t, "test_psrp_no_profile.yml")[5].Response
	tests := []struct {
		name    string
		status  int
		body    func(messageID string) string
		limit   int64
		check   func(t *testing.T, err error)
		errText string
	}{
		{
			name: "401 without body is access denied", status: 401,
			body: func(string) string { return "" },
			check: func(t *testing.T, err error) {
				var he *HTTPError
				require.ErrorAs(t, err, &he)
				assert.Equal(t, 401, he.StatusCode)
				assert.ErrorIs(t, err, ErrAccessDenied)
			},
			errText: "wsman: HTTP 401 Unauthorized: access denied: the credentials were rejected, or remoting is disabled on the endpoint or for this configuration",
		},
		{
			name: "WSManFault code 5 is access denied", status: 500,
			body: func(id string) string {
				return faultEnvelope(id, "w:AccessDenied", CodeAccessDenied, "Access is denied.")
			},
			check: func(t *testing.T, err error) {
				var f *Fault
				require.ErrorAs(t, err, &f)
				assert.ErrorIs(t, err, ErrAccessDenied)
				assert.NotErrorIs(t, err, ErrOperationTimeout)
			},
			errText: "wsman: fault 5 (w:AccessDenied) on host1: Access is denied.",
		},
		{
			name: "quota fault", status: 500,
			body: func(id string) string { return faultEnvelope(id, "w:QuotaLimit", CodeQuotaMaxOperations, "too many") },
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, ErrQuotaExceeded)
				assert.NotErrorIs(t, err, ErrAccessDenied)
			},
		},
		{
			name: "shell disconnected fault", status: 500,
			body: func(id string) string {
				return faultEnvelope(id, "w:InternalError", CodeShellDisconnected, "The shell is disconnected.")
			},
			check: func(t *testing.T, err error) {
				var f *Fault
				require.ErrorAs(t, err, &f)
				assert.Equal(t, uint32(2150859204), f.WSManCode)
				assert.ErrorIs(t, err, ErrShellDisconnected)
				assert.NotErrorIs(t, err, ErrShellNotFound)
				assert.NotErrorIs(t, err, ErrOperationTimeout)
			},
		},
		{
			name: "fault with HTTP 200 is still a fault", status: 200,
			body: func(id string) string { return faultEnvelope(id, "w:TimedOut", CodeOperationTimeout, "t") },
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, ErrOperationTimeout)
			},
		},
		{
			name: "500 with non-SOAP body", status: 500,
			body: func(string) string {
				return "<html>\x1b[31mboom\r\nInjected: line" + strings.Repeat("x", 2000) + "</html>"
			},
			check: func(t *testing.T, err error) {
				var he *HTTPError
				require.ErrorAs(t, err, &he)
				assert.Equal(t, 500, he.StatusCode)
				assert.LessOrEqual(t, len(he.Body), maxExcerpt)
				assert.True(t, strings.HasPrefix(he.Body, "<html> [31mboom  Injected: line"), he.Body)
				assert.NotContains(t, he.Body, "\n")
				assert.NotErrorIs(t, err, ErrAccessDenied)
			},
		},
		{
			name: "RelatesTo mismatch", status: 200,
			body: func(string) string { return withRelatesTo(deleteOK, "uuid:00000000-0000-0000-0000-000000000000") },
			check: func(t *testing.T, err error) {
				var pe *ProtocolError
				require.ErrorAs(t, err, &pe)
				assert.ErrorIs(t, err, ErrUnexpectedResponse)
				assert.Contains(t, err.Error(), "RelatesTo")
			},
		},
		{
			name: "malformed XML", status: 200,
			body: func(string) string { return "<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body>" },
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, ErrMalformedResponse)
			},
		},
		{
			name: "not a SOAP envelope", status: 200,
			body: func(string) string { return "<html><body>hello</body></html>" },
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, ErrMalformedResponse)
			},
		},
		{
			name: "oversized body", status: 200, limit: 1024,
			body: func(id string) string { return withRelatesTo(deleteOK, id) + strings.Repeat(" ", 2048) },
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, ErrResponseTooLarge)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body(messageIDOf(body)))
			})
			c := NewClient(srv.URL, srv.Client())
			c.MaxResponseSize = tt.limit
			err := c.Delete(context.Background(), ShellRef{ID: "S"})
			require.Error(t, err)
			tt.check(t, err)
			if tt.errText != "" {
				assert.Equal(t, tt.errText, err.Error())
			}
		})
	}
}

func TestFaultIs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		f    Fault
		want []error
	}{
		{Fault{WSManCode: CodeOperationTimeout}, []error{ErrOperationTimeout}},
		{Fault{Subcode: "w:TimedOut"}, []error{ErrOperationTimeout}},
		{Fault{WSManCode: CodeUnexpectedSelectors}, []error{ErrShellNotFound}},
		{Fault{Subcode: "w:InvalidSelectors"}, []error{ErrShellNotFound}},
		{Fault{WSManCode: CodeAccessDenied}, []error{ErrAccessDenied}},
		{Fault{Subcode: "w:AccessDenied"}, []error{ErrAccessDenied}},
		{Fault{HTTPStatus: 401}, []error{ErrAccessDenied}},
		{Fault{WSManCode: CodeQuotaMaxShells}, []error{ErrQuotaExceeded}},
		{Fault{WSManCode: CodeQuotaMaxOperations}, []error{ErrQuotaExceeded}},
		{Fault{Subcode: "w:QuotaLimit"}, []error{ErrQuotaExceeded}},
		{Fault{WSManCode: CodeInvalidParameter, Subcode: "w:InvalidParameter"}, nil},
		{Fault{WSManCode: CodeShellDisconnected, Subcode: "w:InternalError"}, []error{ErrShellDisconnected}},
		{Fault{WSManCode: CodeConnectedToDifferentClient, Subcode: "w:InternalError"}, []error{ErrShellConnectedElsewhere}},
		{Fault{WSManCode: CodeClientSessionMismatch, Subcode: "w:InternalError"}, []error{ErrShellConnectedElsewhere}},
		// Other faults of disconnected shells, and other internal errors,
		// match none: only the disconnected code may pause a receive loop.
		{Fault{WSManCode: CodeDisconnectNotValid, Subcode: "w:InternalError"}, nil},
		{Fault{WSManCode: CodeCommandReconnectNotValid, Subcode: "w:InternalError"}, nil},
		{Fault{WSManCode: 2150858754, Subcode: "w:InternalError"}, nil},
	}
	all := []error{ErrOperationTimeout, ErrShellNotFound, ErrAccessDenied, ErrQuotaExceeded,
		ErrShellDisconnected, ErrShellConnectedElsewhere}
	for _, tt := range tests {
		t.Run(tt.f.Error(), func(t *testing.T) {
			t.Parallel()
			err := fmt.Errorf("wrapped: %w", &tt.f)
			for _, s := range all {
				want := false
				for _, w := range tt.want {
					want = want || w == s
				}
				assert.Equal(t, want, errors.Is(err, s), "%v", s)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	deleteOK := loadCapture(t, "test_psrp_no_profile.yml")[5].Response
	// newServer redirects `hops` times (with the given status) before
	// answering; it checks that every hop re-POSTs the SOAP body.
	newServer := func(t *testing.T, hops int, status int) (*httptest.Server, *atomic.Int32) {
		var n atomic.Int32
		var srv *httptest.Server
		srv = handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			i := int(n.Add(1))
			if r.Method != http.MethodPost || !strings.Contains(string(body), ActionDelete) {
				http.Error(w, "expected the SOAP POST", http.StatusBadRequest)
				return
			}
			if !strings.Contains(string(body), "<wsa:To>"+srv.URL+r.URL.Path+"</wsa:To>") {
				http.Error(w, "wsa:To is not this URL", http.StatusBadRequest)
				return
			}
			if i <= hops {
				http.Redirect(w, r, fmt.Sprintf("/hop%d", i), status)
				return
			}
			_, _ = io.WriteString(w, withRelatesTo(deleteOK, messageIDOf(body)))
		})
		return srv, &n
	}
	t.Run("refused by default", func(t *testing.T) {
		t.Parallel()
		srv, n := newServer(t, 1, http.StatusTemporaryRedirect)
		err := NewClient(srv.URL+"/wsman", nil).Delete(context.Background(), ShellRef{ID: "S"})
		var re *RedirectError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, "/hop1", re.Location)
		assert.False(t, re.TooMany)
		assert.Contains(t, err.Error(), "AllowRedirects")
		assert.Equal(t, int32(1), n.Load())
	})
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(fmt.Sprintf("allowed %d", status), func(t *testing.T) {
			t.Parallel()
			srv, n := newServer(t, DefaultMaxRedirects, status)
			c := NewClient(srv.URL+"/wsman", nil)
			c.AllowRedirects = true
			require.NoError(t, c.Delete(context.Background(), ShellRef{ID: "S"}))
			assert.Equal(t, int32(DefaultMaxRedirects+1), n.Load())
		})
	}
	t.Run("limit", func(t *testing.T) {
		t.Parallel()
		srv, n := newServer(t, 100, http.StatusTemporaryRedirect)
		c := NewClient(srv.URL+"/wsman", nil)
		c.AllowRedirects = true
		err := c.Delete(context.Background(), ShellRef{ID: "S"})
		var re *RedirectError
		require.ErrorAs(t, err, &re)
		assert.True(t, re.TooMany)
		assert.Equal(t, int32(DefaultMaxRedirects+1), n.Load())
	})
	t.Run("custom limit and caller client untouched", func(t *testing.T) {
		t.Parallel()
		srv, n := newServer(t, 100, http.StatusTemporaryRedirect)
		hc := srv.Client()
		c := NewClient(srv.URL+"/wsman", hc)
		c.AllowRedirects, c.MaxRedirects = true, 2
		require.Error(t, c.Delete(context.Background(), ShellRef{ID: "S"}))
		assert.Equal(t, int32(3), n.Load())
		assert.Nil(t, hc.CheckRedirect)
	})
}

// TestReceiveCancel checks that cancelling the context aborts a Receive the
// server is holding, and that the server sees the request end.
func TestReceiveCancel(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	ended := make(chan struct{})
	abort := make(chan struct{})
	srv := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		// The server notices a client hang-up only once the body is read.
		_, _ = io.ReadAll(r.Body)
		close(started)
		select {
		case <-r.Context().Done():
			close(ended)
		case <-abort: // test failed; let srv.Close finish
		}
	})
	t.Cleanup(func() { close(abort) })
	c := NewClient(srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Receive(ctx, ShellRef{ID: "S"}, "", ReceiveOptions{})
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the Receive never reached the server")
	}
	cancel()
	var err error
	select {
	case err = <-errc:
	case <-time.After(10 * time.Second):
		t.Fatal("Receive did not return after its context was cancelled")
	}
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, strings.HasPrefix(err.Error(), "wsman: Receive: "), err.Error())
	select {
	case <-ended:
	case <-time.After(10 * time.Second): // deadlock guard, not a timing assertion
		t.Fatal("server handler never saw the request end")
	}
}

func TestExcerpt(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"a\nb\tc\x00d", "a b c d"},
		{"\xff\xfe", "?"},
		{strings.Repeat("é", 400), strings.Repeat("é", 256)},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, excerpt([]byte(tt.in)), "%q", tt.in)
	}
}

func TestParseReceiveResponse(t *testing.T) {
	t.Parallel()
	wrap := func(body string) []byte {
		return []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Body>` + body + `</s:Body></s:Envelope>`)
	}
	tests := []struct {
		name string
		in   []byte
		want *ReceiveResult
		err  error
	}{
		{"streams in order with End", wrap(`<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="C">YQ==</rsp:Stream><rsp:Stream Name="stdout" CommandId="C">Yg==</rsp:Stream><rsp:Stream Name="stderr" CommandId="C" End="true"></rsp:Stream><rsp:CommandState CommandId="C" State="` + CommandStateRunning + `"/></rsp:ReceiveResponse>`),
			&ReceiveResult{Streams: []StreamData{{Name: "stdout", CommandID: "C", Data: []byte("a")}, {Name: "stdout", CommandID: "C", Data: []byte("b")}, {Name: "stderr", CommandID: "C", Data: []byte{}, End: true}},
				CommandState: &CommandState{CommandID: "C", State: CommandStateRunning}}, nil},
		{"negative exit code", wrap(`<rsp:ReceiveResponse><rsp:CommandState CommandId="C" State="` + CommandStateDone + `"><rsp:ExitCode>-1</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>`),
			&ReceiveResult{Streams: []StreamData{}, CommandState: &CommandState{CommandID: "C", State: CommandStateDone, ExitCode: func() *int64 { v := int64(-1); return &v }()}}, nil},
		{"bad base64", wrap(`<rsp:ReceiveResponse><rsp:Stream Name="stdout">!!!</rsp:Stream></rsp:ReceiveResponse>`), nil, ErrMalformedResponse},
		{"bad exit code", wrap(`<rsp:ReceiveResponse><rsp:CommandState><rsp:ExitCode>x</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>`), nil, ErrMalformedResponse},
		{"wrong body", wrap(`<rsp:SendResponse/>`), nil, ErrUnexpectedResponse},
		{"wrong namespace", []byte(`<s:Envelope xmlns:s="urn:other"><s:Body/></s:Envelope>`), nil, ErrMalformedResponse},
		{"no body", []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"></s:Envelope>`), nil, ErrMalformedResponse},
		{"fault", []byte(faultEnvelope("x", "w:TimedOut", CodeOperationTimeout, "m")), nil, ErrOperationTimeout},
		{"empty", nil, nil, ErrMalformedResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseReceiveResponse(tt.in)
			if tt.err != nil {
				assert.ErrorIs(t, err, tt.err)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want.Streams, got.Streams)
			assert.Equal(t, tt.want.CommandState, got.CommandState)
		})
	}
}

func TestRedirectBadLocation(t *testing.T) {
	t.Parallel()
	for _, loc := range []string{"", "ftp://127.0.0.1/x", "http://[::1"} {
		srv := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
			if loc != "" {
				w.Header().Set("Location", loc)
			}
			w.WriteHeader(http.StatusTemporaryRedirect)
		})
		c := NewClient(srv.URL, nil)
		c.AllowRedirects = true
		err := c.Delete(context.Background(), ShellRef{ID: "S"})
		require.Error(t, err, loc)
		assert.True(t, strings.HasPrefix(err.Error(), "wsman: Delete: "), err.Error())
	}
}

func TestReceiveOptions(t *testing.T) {
	t.Parallel()
	msgs := loadCapture(t, "test_psrp_no_profile.yml")
	srv := newReplayServer(t, msgs[1])
	c := NewClient(srv.URL, nil)
	c.OperationTimeout = time.Minute
	_, err := c.Receive(context.Background(), ShellRef{ID: "S", ResourceURI: ResourceCmd}, "C", ReceiveOptions{Streams: "stdout stderr", OperationTimeout: 5 * time.Second})
	require.NoError(t, err)
	req := string(srv.request(t, 0))
	assert.Contains(t, req, `<wsman:OperationTimeout>PT5S</wsman:OperationTimeout>`)
	assert.Contains(t, req, `<wsman:ResourceURI s:mustUnderstand="true">`+ResourceCmd+`</wsman:ResourceURI>`)
	assert.Contains(t, req, `<rsp:DesiredStream CommandId="C">stdout stderr</rsp:DesiredStream>`)
	assert.NotContains(t, req, "KEEPALIVE")
}

func TestParseFault(t *testing.T) {
	t.Parallel()
	fault := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">timed out</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>`
	f := ParseFault([]byte(fault))
	require.NotNil(t, f)
	assert.Equal(t, "w:TimedOut", f.Subcode)
	assert.ErrorIs(t, f, ErrOperationTimeout)
	assert.Nil(t, ParseFault([]byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>`)))
	assert.Nil(t, ParseFault([]byte("not xml")))
}
