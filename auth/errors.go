package auth

import (
	"errors"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// Errors of the authenticating Transport. Every error it returns wraps one
// of these (or a net/http or context error), so callers classify with
// errors.Is. None of them ever carries a password, a token or a key.
var (
	// ErrAccessDenied means the server refused the credentials: a 401 at
	// the end of a handshake, or again after re-authenticating.
	ErrAccessDenied = errors.New("auth: the server refused the credentials (HTTP 401)")

	// ErrUnsealedResponse means the server answered a sealed request with a
	// plaintext body: an active attacker, or a server that dropped
	// encryption. Transport.AllowUnencrypted accepts such answers.
	ErrUnsealedResponse = errors.New("auth: the server dropped encryption (plaintext response to a sealed request)")

	// ErrSealedResponse means a sealed response could not be opened: a
	// malformed body, or a message that fails its integrity or sequence
	// check (see ErrTampered). The security context is dropped.
	ErrSealedResponse = errors.New("auth: the sealed response could not be opened")

	// ErrTampered is wrapped, with ErrSealedResponse, when a sealed response
	// fails its integrity check: it was altered in transit or sealed with
	// another key.
	ErrTampered = gss.ErrIntegrity

	// ErrReplayed is wrapped, with ErrSealedResponse, when a sealed
	// response is out of sequence: replayed, dropped or reordered.
	ErrReplayed = gss.ErrSequence

	// ErrLogonFailed is wrapped, with ErrHandshake, when a mechanism
	// refused the credentials on its own side of the exchange: the KDC
	// refused the Kerberos password, the server rejected the negotiation.
	ErrLogonFailed = gss.ErrAuthFailed

	// ErrUntrustedHost means the server cannot be authenticated (NTLM,
	// CredSSP, or Negotiate that fell back to NTLM, over plain http://) and
	// its host is not in Transport.TrustedHosts.
	ErrUntrustedHost = errors.New("auth: the server's identity cannot be verified over http:// with this mechanism; add the host to TrustedHosts (session.WithTrustedHosts) or use HTTPS or Kerberos")

	// ErrSchemeNotOffered means the server's 401 did not offer the
	// mechanism's HTTP scheme in WWW-Authenticate (or it did not ask for
	// authentication at all).
	ErrSchemeNotOffered = errors.New("auth: the server does not offer the authentication scheme")

	// ErrHandshake wraps failures of the authentication exchange other than
	// a refusal: a mechanism error (bad token, channel bindings), a server
	// that answers with an unexpected status, or one that never finishes.
	ErrHandshake = errors.New("auth: handshake failed")

	// ErrNoMechanism is returned by a Transport whose Mechanism is nil.
	ErrNoMechanism = errors.New("auth: Transport.Mechanism is nil")

	// ErrResponseTooLarge means a response body exceeded
	// Transport.MaxResponseSize.
	ErrResponseTooLarge = errors.New("auth: response body too large")

	// ErrRequiresHTTPS is returned by Certificate for an http:// URL: a
	// client certificate is only presented over TLS.
	ErrRequiresHTTPS = errors.New("auth: certificate authentication requires an https:// URL")
)
