package auth

import (
	"fmt"
	"net"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// Mechanism is what authenticates a connection of a Transport: *NTLM,
// *Kerberos, *Negotiate or *CredSSP. Its methods are unexported: the
// mechanisms are the ones this package implements.
type Mechanism interface {
	// String describes the mechanism and its user, never the password.
	String() string

	// scheme is the HTTP authentication scheme: "Negotiate", "Kerberos",
	// "CredSSP".
	scheme() string
	// protocol is the sealed-body protocol string (sealedbody.Protocol*).
	protocol() string
	// chunkSize is the largest plaintext sealed in one part (0: one part).
	chunkSize() int
	// mayAuthenticateServer reports whether the mechanism can prove the
	// server's identity to host. False means it certainly cannot (NTLM,
	// CredSSP, Negotiate towards an IP address), so that credentials are
	// not offered to an untrusted host over http:// at all.
	mayAuthenticateServer(host string) bool
	// newInitiator starts a security context towards target.
	newInitiator(t target) (gss.Initiator, error)
}

// target is what a mechanism needs to know about the server.
type target struct {
	// host is the host name or IP address of the URL, without port or
	// brackets.
	host string
	// bindings are the TLS channel bindings (tls-server-end-point) over
	// https, nil over http.
	bindings *gss.ChannelBindings
	// untrusted means the server must prove its identity (http:// to a
	// host not in TrustedHosts): no credential may go to it through a
	// mechanism that cannot authenticate it.
	untrusted bool
}

// isIP reports whether host is an IP address literal.
func isIP(host string) bool { return net.ParseIP(host) != nil }

// redacted describes a user for String methods.
func redacted(kind, user string, hasSecret bool) string {
	secret := "<none>"
	if hasSecret {
		secret = "<redacted>"
	}
	return fmt.Sprintf("auth.%s{Username: %s, Password: %s}", kind, user, secret)
}
