package session_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/wsman"
)

// A redirect to another origin would hand the credentials to that host:
// it is refused unless the caller allows cross-origin redirects by name,
// and every redirect is refused unless redirects are allowed at all.
func TestRedirectsToAnotherOrigin(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	ctx := testContext(t)
	base := []session.Option{session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted()}

	for _, tc := range []struct {
		name        string
		opt         []session.Option
		crossOrigin bool
	}{
		{"redirects not allowed", nil, false},
		{"same-origin redirects only", []session.Option{session.WithAllowRedirects()}, true},
	} {
		_, err := session.New(ctx, redirector.URL+"/wsman", append(base, tc.opt...)...)
		var re *wsman.RedirectError
		if !errors.As(err, &re) || re.CrossOrigin != tc.crossOrigin {
			t.Errorf("%s: %v, want a *wsman.RedirectError with CrossOrigin %v", tc.name, err, tc.crossOrigin)
		}
	}
	s, err := session.New(ctx, redirector.URL+"/wsman", append(base, session.WithAllowCrossOriginRedirects())...)
	if err != nil {
		t.Fatalf("with WithAllowCrossOriginRedirects: %v", err)
	}
	if _, err := s.InvokeScript(ctx, "Write-Output ok"); err != nil {
		t.Error(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Error(err)
	}
}
