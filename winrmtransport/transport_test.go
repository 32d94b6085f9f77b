package winrmtransport_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/masterzen/winrm"

	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/winrmtransport"
	"github.com/gopsrp/gopsrp/wsman"
)

// TestNTLMSealsOverOneConnection sends masterzen/winrm requests (Delete of
// shells the endpoint does not know, answered with a fault) through NTLM
// over plain http and checks on the wire: every request sealed, nothing of
// the SOAP in clear, one connection, one handshake for all of them.
func TestNTLMSealsOverOneConnection(t *testing.T) {
	t.Parallel()
	srv := authServer(t, false, sessiontest.AuthConfig{Negotiate: true}, nil)
	var w wire
	tr := winrmtransport.New(&auth.NTLM{Username: testUser, Password: testPassword}, winrmtransport.WithTrustedHosts("127.0.0.1"))
	// masterzen/winrm's own Parameters.Dial is honoured.
	c := newClient(t, endpointOf(t, srv, ""), tr, func(p *winrm.Parameters) { p.Dial = w.dial })

	const messages = 10
	var shellIDs []string
	for range messages {
		id := uuid.NewString()
		shellIDs = append(shellIDs, id)
		err := c.NewShell(id).Close()
		var he *winrmtransport.HTTPError
		if !errors.As(err, &he) || he.StatusCode != 500 || he.Fault == nil {
			t.Fatalf("Delete of an unknown shell: %v, want an *HTTPError 500 with a fault", err)
		}
		if !errors.Is(err, wsman.ErrShellNotFound) || !strings.HasPrefix(err.Error(), "http error 500: <") {
			t.Errorf("error %q does not read as masterzen/winrm's or match wsman.ErrShellNotFound", err)
		}
	}

	// A second winrm.Client of the same endpoint (programs that make one
	// per command) shares the authenticated connection.
	c2 := newClient(t, endpointOf(t, srv, ""), tr, nil)
	if err := c2.NewShell(uuid.NewString()).Close(); !errors.Is(err, wsman.ErrShellNotFound) {
		t.Fatalf("second client: %v", err)
	}

	dials, sent, received := w.stats()
	if dials != 1 {
		t.Errorf("%d connections for %d messages, want 1", dials, messages+1)
	}
	// One handshake: the NTLM CHALLENGE (base64 of "NTLMSSP\0" and type
	// 2) comes once, on a 401.
	if n := strings.Count(received, "TlRMTVNTUAACAAAA"); n != 1 {
		t.Errorf("%d NTLM challenges for %d messages, want one handshake", n, messages)
	}
	if n := strings.Count(received, "HTTP/1.1 401"); n > 2 {
		t.Errorf("%d 401 answers for %d messages, want the handshake's two (probe, challenge)", n, messages)
	}
	if n := requestsWith(sent, "Content-Type: multipart/encrypted"); n != messages+1 {
		t.Errorf("%d sealed requests, want %d", n, messages+1)
	}
	for _, id := range shellIDs {
		if strings.Contains(strings.ToUpper(sent), strings.ToUpper(id)) {
			t.Fatalf("shell id %s crossed the wire in clear", id)
		}
	}
	if strings.Contains(sent, "Envelope") || strings.Contains(received, "InvalidSelectors") {
		t.Error("SOAP crossed the wire in clear")
	}
}

func TestWrongPasswordIsA401(t *testing.T) {
	t.Parallel()
	srv := authServer(t, false, sessiontest.AuthConfig{Negotiate: true}, nil)
	tr := winrmtransport.New(&auth.NTLM{Username: testUser, Password: "Wr0ng-secret"}, winrmtransport.WithTrustedHosts("127.0.0.1"))
	c := newClient(t, endpointOf(t, srv, ""), tr, nil)
	_, err := c.CreateShell()
	var he *winrmtransport.HTTPError
	if !errors.As(err, &he) || he.StatusCode != 401 {
		t.Fatalf("wrong password: %v, want an *HTTPError 401", err)
	}
	if !errors.Is(err, auth.ErrAccessDenied) || !errors.Is(err, wsman.ErrAccessDenied) {
		t.Errorf("%v does not match auth.ErrAccessDenied and wsman.ErrAccessDenied", err)
	}
	if !strings.HasPrefix(err.Error(), "http error 401: ") || strings.Contains(err.Error(), "Wr0ng") {
		t.Errorf("error text %q", err)
	}
}

// TestUntrustedHostIsRefusedBeforeConnecting: NTLM over http:// to a host
// not in TrustedHosts sends nothing, and the error names the option.
func TestUntrustedHostIsRefusedBeforeConnecting(t *testing.T) {
	t.Parallel()
	srv := authServer(t, false, sessiontest.AuthConfig{Negotiate: true}, nil)
	for _, mech := range []auth.Mechanism{
		&auth.NTLM{Username: testUser, Password: testPassword},
		&auth.Negotiate{Username: testUser, Password: testPassword},
		&auth.CredSSP{Username: testUser, Password: testPassword},
	} {
		var w wire
		tr := winrmtransport.New(mech, winrmtransport.WithDialContext(w.dialContext), winrmtransport.WithTrustedHosts("*.corp.example"))
		c := newClient(t, endpointOf(t, srv, ""), tr, nil)
		_, err := c.CreateShell()
		if !errors.Is(err, auth.ErrUntrustedHost) || !strings.Contains(err.Error(), `winrmtransport.WithTrustedHosts("127.0.0.1")`) {
			t.Errorf("%v: %v, want ErrUntrustedHost naming WithTrustedHosts", mech, err)
		}
		if _, sent, _ := w.stats(); strings.Contains(sent, "Authorization") {
			t.Errorf("%v: credentials went to the untrusted host", mech)
		}
	}
}

func TestFaultKeepsItsText(t *testing.T) {
	t.Parallel()
	srv := authServer(t, false, sessiontest.AuthConfig{Negotiate: true}, nil)
	tr := winrmtransport.New(&auth.Negotiate{Username: testUser, Password: testPassword}, winrmtransport.WithTrustedHosts("127.0.0.1"))
	c := newClient(t, endpointOf(t, srv, ""), tr, nil)
	const msg = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout."
	srv.InjectFault(sessiontest.Fault{Action: "Delete", Status: 500, Code: wsman.CodeOperationTimeout, Message: msg})
	err := c.NewShell(uuid.NewString()).Close()
	// masterzen/winrm's Receive loop looks for this word in the error.
	if !strings.Contains(err.Error(), "OperationTimeout") || !errors.Is(err, wsman.ErrOperationTimeout) {
		t.Errorf("operation timeout fault: %v", err)
	}
	var he *winrmtransport.HTTPError
	if !errors.As(err, &he) || he.Fault.WSManCode != wsman.CodeOperationTimeout || he.Fault.HTTPStatus != 500 {
		t.Errorf("fault %+v", he)
	}
}

// TestResponseTimeoutIsAURLTimeout: a server that does not answer within
// Endpoint.Timeout gives a *url.Error whose Timeout reports true, which
// masterzen/winrm's Receive loop treats as "poll again".
func TestResponseTimeoutIsAURLTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { close(release) })
	u, _ := url.Parse(ts.URL)
	port, _ := strconv.Atoi(u.Port())
	ep := &winrm.Endpoint{Host: "127.0.0.1", Port: port, Timeout: 100 * time.Millisecond}
	tr := winrmtransport.New(&auth.NTLM{Username: testUser, Password: testPassword}, winrmtransport.WithTrustedHosts("127.0.0.1"))
	c := newClient(t, ep, tr, nil)
	_, err := c.CreateShell()
	var ue *url.Error
	if !errors.As(err, &ue) || !ue.Timeout() {
		t.Fatalf("stalled server: %v, want a *url.Error that is a timeout", err)
	}
}

func TestServerWithoutTheScheme(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="WSMAN"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	port, _ := strconv.Atoi(u.Port())
	tr := winrmtransport.New(&auth.NTLM{Username: testUser, Password: testPassword}, winrmtransport.WithTrustedHosts("127.0.0.1"))
	c := newClient(t, &winrm.Endpoint{Host: "127.0.0.1", Port: port, Timeout: 5 * time.Second}, tr, nil)
	_, err := c.CreateShell()
	if !errors.Is(err, auth.ErrSchemeNotOffered) {
		t.Errorf("Basic-only server: %v, want auth.ErrSchemeNotOffered", err)
	}
}
