// Package credssp implements CredSSP (MS-CSSP) as WinRM uses it, on the
// client side (Client, a gss.Initiator) and the server side (Server, a
// gss.Acceptor).
//
// CredSSP runs a TLS session inside the HTTP authentication tokens: every
// token is a run of TLS records. Inside that channel the peers exchange
// TSRequest structures that carry the tokens of an inner mechanism (SPNEGO,
// NTLM or Kerberos, supplied by the caller), then bind the inner context to
// the TLS server key (pubKeyAuth, hashed with a client nonce from version 5
// on, the fix for CVE-2018-0886), and finally the client delegates its
// password to the server (authInfo, a TSCredentials sealed with the inner
// mechanism). Once established, WinRM messages are sealed as TLS
// application-data records over the same TLS session.
//
// crypto/tls needs a net.Conn, so each context runs its TLS handshake in a
// goroutine over an in-memory connection that Step feeds; the goroutine
// ends when the handshake completes or fails, when Close is called, or when
// the context is garbage collected.
package credssp
