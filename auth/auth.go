// Package auth provides the authentication of gopsrp: http.RoundTripper
// decorators that authenticate (and, for some mechanisms, encrypt) the
// WS-Management traffic of a session.
//
// Each mechanism is a RoundTripper wrapping a Base transport, so it fits any
// *http.Client:
//
//	client := &http.Client{Transport: &auth.Basic{Username: "alice", Password: pw}}
//
// Authenticating inside a RoundTripper departs on purpose from the
// net/http advice that a RoundTripper "should not attempt to handle
// authentication": WinRM's mechanisms bind state to connections and seal
// message bodies, which only a transport can do.
//
// Only Basic is implemented so far. Basic sends the password on every
// request and does not encrypt messages, so it is only safe over HTTPS.
package auth

import "net/http"

// MessageEncrypter is implemented by RoundTrippers that encrypt the message
// bodies they carry (MS-WSMV 2.2.9.1 message-level encryption), so that
// traffic over plain http:// is still confidential. The session package
// refuses plain-http traffic unless the transport reports true here, or the
// caller opts in explicitly.
type MessageEncrypter interface {
	// EncryptsMessages reports whether every message body is sealed.
	EncryptsMessages() bool
}

// transport returns base, or http.DefaultTransport when base is nil.
func transport(base http.RoundTripper) http.RoundTripper {
	if base != nil {
		return base
	}
	return http.DefaultTransport
}

// closeBody closes the request body, as a RoundTripper must on every path.
func closeBody(req *http.Request) {
	if req != nil && req.Body != nil {
		_ = req.Body.Close()
	}
}
