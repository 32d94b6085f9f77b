// Package ntlm implements the NTLM security mechanism (MS-NLMP) on both
// sides, as WinRM uses it: NTLMv2 with extended session security, 128-bit
// keys, key exchange, signing and sealing, the MIC and channel bindings.
//
// Client is a gss.Initiator and Server a gss.Acceptor; both seal and open
// message bodies in the MS-WSMV 2.2.9.1 layout (a 16-byte NTLM signature
// and RC4-sealed data of the plaintext's length).
//
// The messages are written here rather than with github.com/Azure/go-ntlmssp
// because that package only authenticates: it neither negotiates
// signing and sealing nor exposes the exported session key the sealing keys
// derive from, and it has no server side.
package ntlm
