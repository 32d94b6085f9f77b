// Package auth provides the authentication of gopsrp: http.RoundTrippers
// that authenticate, and for most mechanisms encrypt, the WS-Management
// traffic of a session.
//
// Transport authenticates with a Mechanism (NTLM, Kerberos, Negotiate,
// CredSSP) and seals every message body with the resulting security
// context (MS-WSMV 2.2.9.1), which is what a default Windows host requires
// at http://host:5985/wsman:
//
//	rt := &auth.Transport{Mechanism: &auth.Negotiate{Username: `CORP\alice`, Password: pw}}
//	defer rt.CloseIdleConnections()
//	client := &http.Client{Transport: rt}
//
// Each security context belongs to one TCP connection; Transport keeps a
// small pool of such connections so that concurrent requests do not queue
// behind one socket, and re-authenticates transparently when the server
// closes one. Over http://, mechanisms that cannot prove the server's
// identity (NTLM, CredSSP, Negotiate that fell back to NTLM) are refused
// unless the host is in Transport.TrustedHosts, as WinRM's client does.
//
// Basic sends the password on every request and Certificate relies on a
// TLS client certificate; neither encrypts messages, so both are only safe
// over HTTPS.
//
// Authenticating inside a RoundTripper departs on purpose from the
// net/http advice that a RoundTripper "should not attempt to handle
// authentication": WinRM's mechanisms bind state to connections and seal
// message bodies, which only a transport can do.
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
