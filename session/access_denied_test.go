package session_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// Every way a server refuses the caller is session.ErrAccessDenied, so that
// a program classifies it without importing auth or wsman; the lower
// layer's error stays in the chain, and no password in the text.
func TestErrAccessDenied(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	const wrong = "Wr0ng-Password"

	negotiate := authServer(t, false, sessiontest.AuthConfig{Negotiate: true, Basic: true}, func(s *sessiontest.Server) { s.AllowUnencrypted = true })
	client := session.WithHTTPClient(&http.Client{Transport: baseTransport(negotiate)})
	disabled := sessiontest.NewUnstartedServer()
	disabled.Disabled = true
	disabled.Start()
	t.Cleanup(disabled.Close)
	restricted := sessiontest.NewUnstartedServer()
	restricted.Configurations = map[string]sessiontest.ConfigurationAccess{"Admins": {Users: []string{"root"}}}
	restricted.Start()
	t.Cleanup(restricted.Close)
	plain := []session.Option{session.WithHTTPClient(disabled.Client()), session.WithAllowUnencrypted()}

	cases := []struct {
		name   string
		target string
		opts   []session.Option
		lower  error // what the lower layer reported
	}{
		{"NTLM, wrong password", negotiate.URL, []session.Option{client, session.WithNTLM(authUser, wrong), session.WithTrustedHosts("*")}, auth.ErrAccessDenied},
		{"Negotiate, unknown user", negotiate.URL, []session.Option{client, session.WithNegotiate("mallory", wrong), session.WithTrustedHosts("*")}, auth.ErrAccessDenied},
		{"Basic, wrong password (HTTP 401)", negotiate.URL, []session.Option{client, session.WithBasicAuth(authUser, wrong), session.WithAllowUnencrypted(), session.WithTrustedHosts("*")}, nil},
		{"remoting disabled (w:AccessDenied)", disabled.URL, plain, nil},
		{"configuration not for this user", restricted.URL, []session.Option{session.WithHTTPClient(restricted.Client()), session.WithAllowUnencrypted(), session.WithConfigurationName("Admins")}, nil},
	}
	for _, tc := range cases {
		_, err := session.New(ctx, tc.target, tc.opts...)
		if !errors.Is(err, session.ErrAccessDenied) {
			t.Errorf("%s: New = %v, want session.ErrAccessDenied", tc.name, err)
			continue
		}
		if tc.lower != nil && !errors.Is(err, tc.lower) {
			t.Errorf("%s: %v lost the lower layer's %v", tc.name, err, tc.lower)
		}
		if strings.Contains(err.Error(), wrong) {
			t.Errorf("%s: the error reveals the password: %v", tc.name, err)
		}
	}
	// A Client's List, Connect and New classify the same way.
	c, err := session.NewClient(negotiate.URL, client, session.WithNTLM(authUser, wrong), session.WithTrustedHosts("*"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.List(ctx); !errors.Is(err, session.ErrAccessDenied) {
		t.Errorf("List = %v, want session.ErrAccessDenied", err)
	}
	if _, err := c.ConnectName(ctx, "some-name"); !errors.Is(err, session.ErrAccessDenied) {
		t.Errorf("ConnectName = %v, want session.ErrAccessDenied", err)
	}
	if _, err := c.Connect(ctx, uuid.New()); !errors.Is(err, session.ErrAccessDenied) {
		t.Errorf("Connect = %v, want session.ErrAccessDenied", err)
	}
	if _, err := c.New(ctx); !errors.Is(err, session.ErrAccessDenied) {
		t.Errorf("Client.New = %v, want session.ErrAccessDenied", err)
	}
	// Other failures are not access denied.
	_, err = session.New(ctx, negotiate.URL, client, session.WithConfigurationName("NoSuchEndpoint"), session.WithNTLM(authUser, authPassword), session.WithTrustedHosts("*"))
	if err == nil || errors.Is(err, session.ErrAccessDenied) {
		t.Errorf("unknown configuration = %v, want an error other than ErrAccessDenied", err)
	}
}
