// Package spnego implements the Simple and Protected GSS-API Negotiation
// Mechanism (RFC 4178, with Microsoft's behaviour from MS-SPNG), the
// "Negotiate" scheme of WinRM, on both sides.
//
// SPNEGO carries no cryptography of its own: it wraps the gss.Initiator
// and gss.Acceptor implementations of other mechanisms (Kerberos, NTLM),
// chosen by object identifier, negotiates which of them is used, protects
// that choice with the mechListMIC, and then delegates Wrap and Unwrap to
// the chosen mechanism.
//
// Tokens are a NegotiationToken CHOICE: the initiator's first token is a
// NegTokenInit inside the GSS-API InitialContextToken framing (0x60, the
// SPNEGO OID), every later token of either side a bare NegTokenResp (0xa1).
package spnego
