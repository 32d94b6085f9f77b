// Package gss defines the security contexts that every message-sealing
// authentication mechanism of gopsrp implements (NTLM, Kerberos, SPNEGO,
// CredSSP), on the client side (Initiator) and on the server side
// (Acceptor), in the shape of GSS-API (RFC 2743) reduced to what WinRM uses:
// a token exchange, then Wrap and Unwrap of message bodies in the layout of
// MS-WSMV 2.2.9.1 (a per-message header and the sealed data).
//
// The package holds no mechanism; it is the seam between the mechanisms
// (internal/ntlm, internal/kerberos, internal/spnego, internal/credssp), the
// HTTP transport of package auth and the emulated endpoint of
// session/sessiontest.
package gss

import (
	"context"
	"errors"
)

// Sealer seals and opens message bodies with an established context.
// Each direction has its own sequence numbers and cipher state, so a Sealer
// is used by one goroutine at a time.
type Sealer interface {
	// Wrap seals msg and returns the per-message header (the NTLM
	// signature, the Kerberos wrap-token header, the TLS record header)
	// and the sealed data. The header and data are what the
	// multipart/encrypted body carries as <len(header)><header><data>.
	Wrap(msg []byte) (header, data []byte, err error)
	// Unwrap verifies and opens a message sealed by the peer. It returns
	// an error wrapping ErrIntegrity when the message was altered,
	// ErrSequence when it is out of order or replayed, and ErrBadToken
	// when it is malformed; nothing is returned decrypted in those cases.
	// It may decrypt data in place (NTLM does): callers must not use data
	// afterwards, and the result may share its memory.
	Unwrap(header, data []byte) ([]byte, error)
}

// Initiator is the client side of a security context.
type Initiator interface {
	// Step takes the acceptor's last token (nil on the first call) and
	// returns the next token to send, which may be empty once the context
	// is established. ctx bounds any network access (a KDC).
	Step(ctx context.Context, in []byte) (out []byte, err error)
	// Established reports whether the context is complete: the acceptor
	// is authenticated as far as the mechanism can, and Wrap and Unwrap
	// may be used.
	Established() bool
	Sealer
}

// Acceptor is the server side of a security context.
type Acceptor interface {
	// Step takes the initiator's token and returns the answer to send
	// (possibly empty). It returns an error wrapping ErrAuthFailed when
	// the initiator's credentials are wrong.
	Step(ctx context.Context, in []byte) (out []byte, err error)
	// Established reports whether the initiator is authenticated.
	Established() bool
	// UserName is the authenticated user, as DOMAIN\user (NTLM) or
	// user@REALM (Kerberos), once Established.
	UserName() string
	Sealer
}

// MICer is implemented by contexts that sign a message without sealing it
// (GSS_GetMIC and GSS_VerifyMIC), which SPNEGO needs for its mechListMIC.
type MICer interface {
	MIC(msg []byte) ([]byte, error)
	VerifyMIC(msg, mic []byte) error
}

// ServerAuthenticator is implemented by initiators that know, once
// established, whether the acceptor proved its identity (Kerberos with
// mutual authentication does; NTLM never does).
type ServerAuthenticator interface {
	ServerAuthenticated() bool
}

// CipherResetter is implemented by NTLM contexts. MS-SPNG 3.3.5.1 wants
// the RC4 state of a direction reset to its initial value after SPNEGO's
// mechListMIC was signed (outgoing) or verified (incoming) with it, so that
// the first sealed message uses the same RC4 state; the sequence numbers
// carry on.
type CipherResetter interface {
	ResetCipherState(outgoing bool)
}

// Errors the mechanisms wrap, so that callers can classify failures with
// errors.Is whatever the mechanism.
var (
	// ErrBadToken: a token or wrapped message that cannot be parsed.
	ErrBadToken = errors.New("gss: malformed token")
	// ErrIntegrity: a signature or checksum that does not verify (a
	// tampered message, or the wrong key).
	ErrIntegrity = errors.New("gss: message integrity check failed")
	// ErrSequence: a sealed message out of order or replayed.
	ErrSequence = errors.New("gss: message out of sequence")
	// ErrAuthFailed: the peer's credentials were refused (wrong password,
	// unknown user, bad ticket).
	ErrAuthFailed = errors.New("gss: authentication failed")
	// ErrNotEstablished: Wrap or Unwrap before the context is complete.
	ErrNotEstablished = errors.New("gss: security context not established")
	// ErrChannelBindings: the channel bindings are missing or do not match
	// the TLS channel.
	ErrChannelBindings = errors.New("gss: channel bindings do not match")
	// ErrUnsupported: the peer asked for something the mechanism does not
	// do (no sealing, an unknown encryption type, a too-old version).
	ErrUnsupported = errors.New("gss: unsupported by the mechanism")
)
