package winrmtransport

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/wsman"
)

// ErrNotSOAP means a 200 response was not a SOAP envelope (a proxy's or a
// captive portal's page), which masterzen/winrm could not parse.
var ErrNotSOAP = errors.New("winrmtransport: the response is not a SOAP envelope")

// maxErrorBody bounds the body an HTTPError keeps: a Windows fault is a few
// KiB, and an error must not grow with what a server sends.
const maxErrorBody = 16 << 10

// HTTPError is a response other than 200 OK, or a refusal of the credentials
// (StatusCode 401). Its message is "http error <status>: <body>", as the
// transports of masterzen/winrm write it, so that programs matching on that
// text (masterzen/winrm itself looks for "OperationTimeout") keep working.
type HTTPError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Body is the response body, usually a SOAP fault envelope, cut to
	// 16 KiB. It is empty when the auth layer refused the credentials.
	Body string
	// Fault is the SOAP fault of Body, nil when Body holds none.
	Fault *wsman.Fault

	err error // the auth layer's error for a refusal
}

// Error returns "http error <status>: <body>", or the reason of a refusal
// when there is no body.
func (e *HTTPError) Error() string {
	text := e.Body
	if text == "" && e.err != nil {
		text = e.err.Error()
	}
	return "http error " + strconv.Itoa(e.StatusCode) + ": " + text
}

// Unwrap returns the fault (for errors.Is with wsman.ErrOperationTimeout,
// wsman.ErrShellNotFound, …) or the auth layer's error (auth.ErrAccessDenied).
func (e *HTTPError) Unwrap() error {
	if e.Fault != nil {
		return e.Fault
	}
	return e.err
}

// Is reports wsman.ErrAccessDenied for a 401 or 403, as wsman.HTTPError does.
func (e *HTTPError) Is(target error) bool {
	return target == wsman.ErrAccessDenied && (e.StatusCode == 401 || e.StatusCode == 403)
}

// newHTTPError describes a response of status with body.
func newHTTPError(status int, body []byte) *HTTPError {
	e := &HTTPError{StatusCode: status, Body: cut(string(body), maxErrorBody)}
	if f := wsman.ParseFault(body); f != nil {
		f.HTTPStatus = status
		e.Fault = f
	}
	return e
}

// cut bounds s to n bytes, saying how much it left out.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…(" + strconv.Itoa(len(s)-n) + " bytes more)"
}

// postError maps an error of http.Client.Do for the endpoint at rawURL to
// what masterzen/winrm's callers expect.
func postError(err error, rawURL string, mech auth.Mechanism) error {
	switch {
	case errors.Is(err, auth.ErrAccessDenied):
		return &HTTPError{StatusCode: 401, err: err}
	case errors.Is(err, auth.ErrUntrustedHost):
		host := rawURL
		if u, perr := url.Parse(rawURL); perr == nil {
			host = u.Hostname()
		}
		return fmt.Errorf("winrmtransport: %v over http:// cannot verify the identity of %s: pass winrmtransport.WithTrustedHosts(%q) if you trust it, or use HTTPS or Kerberos: %w",
			mech, host, host, err)
	case isTimeout(err):
		// masterzen/winrm keeps polling after a *url.Error whose Timeout
		// reports true; the auth layer's wrapping hides that method from
		// url.Error.Timeout, which does not unwrap.
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			return err
		}
		return &url.Error{Op: "Post", URL: rawURL, Err: timeoutError{err}}
	}
	return fmt.Errorf("winrmtransport: %w", err)
}

// isTimeout reports whether an error in err's tree says it is a timeout
// (errors.As would stop at the *url.Error on top, whose Timeout method does
// not look past the auth layer's wrapping).
func isTimeout(err error) bool {
	for err != nil {
		if t, ok := err.(interface{ Timeout() bool }); ok && t.Timeout() {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if isTimeout(e) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// timeoutError marks err as a timeout for url.Error.Timeout.
type timeoutError struct{ err error }

func (e timeoutError) Error() string   { return e.err.Error() }
func (e timeoutError) Unwrap() error   { return e.err }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }

// notSOAP describes a 200 response whose Content-Type is ct.
func notSOAP(ct string) error {
	return fmt.Errorf("%w: HTTP 200 with Content-Type %q", ErrNotSOAP, cut(strings.ToValidUTF8(ct, "?"), 128))
}
