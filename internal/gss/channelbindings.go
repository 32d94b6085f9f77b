package gss

import (
	"crypto"
	"crypto/md5"
	"crypto/x509"
	"encoding/binary"

	// Hash functions a certificate may be signed with.
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// ChannelBindings ties a security context to the TLS channel it runs in
// (RFC 5056), so that a context established through a man in the middle
// cannot be used by it. WinRM uses the "tls-server-end-point" binding of
// RFC 5929: a hash of the server's certificate.
type ChannelBindings struct {
	// ApplicationData is "tls-server-end-point:" followed by the hash.
	ApplicationData []byte
}

// TLSServerEndPoint returns the tls-server-end-point bindings of the
// server certificate cert (RFC 5929 4.1): the certificate hashed with the
// hash of its signature algorithm, or SHA-256 when that is MD5 or SHA-1.
func TLSServerEndPoint(cert *x509.Certificate) *ChannelBindings {
	h := crypto.SHA256
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = crypto.SHA384
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = crypto.SHA512
	}
	d := h.New()
	d.Write(cert.Raw)
	return &ChannelBindings{ApplicationData: append([]byte("tls-server-end-point:"), d.Sum(nil)...)}
}

// Marshal returns the gss_channel_bindings_struct as NTLM and Kerberos
// hash it (RFC 4121 4.1.1.2, MS-NLMP 2.2.2.1): initiator and acceptor
// address types and addresses (all zero for TLS), then the application
// data, each length as a little-endian uint32.
func (cb *ChannelBindings) Marshal() []byte {
	b := make([]byte, 0, 20+len(cb.ApplicationData))
	b = binary.LittleEndian.AppendUint32(b, 0) // initiator addrtype
	b = binary.LittleEndian.AppendUint32(b, 0) // initiator address length
	b = binary.LittleEndian.AppendUint32(b, 0) // acceptor addrtype
	b = binary.LittleEndian.AppendUint32(b, 0) // acceptor address length
	b = binary.LittleEndian.AppendUint32(b, uint32(len(cb.ApplicationData)))
	return append(b, cb.ApplicationData...)
}

// Hash returns the MD5 of Marshal: the value NTLM's MsvAvChannelBindings
// and the Kerberos authenticator checksum carry. A nil cb hashes to 16 zero
// bytes, which both mechanisms send when there is no channel.
func (cb *ChannelBindings) Hash() [16]byte {
	if cb == nil {
		return [16]byte{}
	}
	return md5.Sum(cb.Marshal())
}
