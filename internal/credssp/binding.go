package credssp

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// The magic strings of the pubKeyAuth hashes (MS-CSSP 3.1.5, version 5+).
const (
	clientBindingMagic = "CredSSP Client-To-Server Binding Hash\x00"
	serverBindingMagic = "CredSSP Server-To-Client Binding Hash\x00"
)

// nonceVersion is the first version with clientNonce and hashed pubKeyAuth.
const nonceVersion = 5

// nonceLen is the length of clientNonce.
const nonceLen = 32

// subjectPublicKey returns the subjectPublicKey BIT STRING contents of the
// certificate (for RSA, the DER RSAPublicKey), which pubKeyAuth binds.
func subjectPublicKey(cert *x509.Certificate) ([]byte, error) {
	var spki struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, fmt.Errorf("credssp: server certificate public key: %w (%w)", gss.ErrBadToken, err)
	}
	return spki.PublicKey.Bytes, nil
}

// clientBinding is the value the client seals into pubKeyAuth: the hash
// with the nonce from version 5 on, else the public key itself.
func clientBinding(pubKey, nonce []byte) []byte {
	if nonce == nil {
		return pubKey
	}
	return bindingHash(clientBindingMagic, nonce, pubKey)
}

// serverBinding is the value the server seals into its pubKeyAuth: the
// server-to-client hash, or (before version 5) the public key with its
// first byte incremented.
func serverBinding(pubKey, nonce []byte) []byte {
	if nonce == nil {
		b := append([]byte(nil), pubKey...)
		if len(b) > 0 {
			b[0]++
		}
		return b
	}
	return bindingHash(serverBindingMagic, nonce, pubKey)
}

// bindingHash is SHA-256 over magic, nonce and pubKey (MS-CSSP 3.1.5,
// version 5+).
func bindingHash(magic string, nonce, pubKey []byte) []byte {
	h := sha256.New()
	h.Write([]byte(magic))
	h.Write(nonce)
	h.Write(pubKey)
	return h.Sum(nil)
}

// wrapField seals msg with the inner mechanism for pubKeyAuth or
// authInfo: the field is the mechanism's header followed by its data
// (for NTLM, the 16-byte signature then the sealed bytes, as Windows and
// pyspnego lay it out).
func wrapField(s gss.Sealer, msg []byte) ([]byte, error) {
	h, d, err := s.Wrap(msg)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(h)+len(d))
	return append(append(out, h...), d...), nil
}

// unwrapField opens a field sealed by the peer's inner mechanism, whose
// header is headerLen bytes.
func unwrapField(s gss.Sealer, field []byte, headerLen int) ([]byte, error) {
	if headerLen < 0 || headerLen > len(field) {
		return nil, fmt.Errorf("credssp: sealed field of %d bytes is too short: %w", len(field), gss.ErrBadToken)
	}
	return s.Unwrap(field[:headerLen:headerLen], field[headerLen:])
}
