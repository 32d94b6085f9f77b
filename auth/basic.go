package auth

import (
	"errors"
	"net/http"
	"strings"
)

// Basic is an http.RoundTripper that adds HTTP Basic authentication
// (RFC 7617) to every request and passes it on to Base.
//
// Basic does not encrypt messages: the password and the traffic are only
// protected by TLS, so use it with https:// URLs. It is safe for concurrent
// use by multiple goroutines as long as its fields are not changed.
type Basic struct {
	// Username is the user name, e.g. "alice" or "CORP\\alice". It must not
	// contain a colon (RFC 7617).
	Username string
	// Password is the password. It is never included in errors or in the
	// String form.
	Password string
	// Base is the transport that carries the requests; nil means
	// http.DefaultTransport.
	Base http.RoundTripper
}

// ErrInvalidUsername is returned by Basic.RoundTrip when the user name
// contains a colon, which Basic authentication cannot carry.
var ErrInvalidUsername = errors.New("auth: basic: user name must not contain ':'")

// RoundTrip implements http.RoundTripper. It does not modify req: it sends a
// clone with the Authorization header set. It closes req.Body on every path.
func (b *Basic) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.Contains(b.Username, ":") {
		closeBody(req)
		return nil, ErrInvalidUsername
	}
	// A RoundTripper must not modify the caller's request; Clone copies the
	// headers deeply and shares the body, which the base then consumes.
	r := req.Clone(req.Context())
	r.SetBasicAuth(b.Username, b.Password)
	return transport(b.Base).RoundTrip(r)
}

// EncryptsMessages reports false: Basic never encrypts message bodies.
func (b *Basic) EncryptsMessages() bool { return false }

// String describes b without revealing the password.
func (b Basic) String() string {
	return "auth.Basic{Username: " + b.Username + ", Password: <redacted>}"
}

// GoString describes b for %#v without revealing the password.
func (b Basic) GoString() string { return b.String() }

// Clone returns a copy of b sharing the same Base.
func (b *Basic) Clone() *Basic {
	c := *b
	return &c
}

var _ MessageEncrypter = (*Basic)(nil)
