package sessiontest

import (
	"crypto/x509"
	"encoding/asn1"
	"net/http"
	"strings"
)

// certificateUser maps the TLS client certificate of r to a local user
// through CertificateUsers, after verifying it against ClientCAs for
// client authentication. Like WinRM's certificate mappings it matches the
// certificate's user principal names first, then its e-mail addresses,
// then its subject common name.
func (s *Server) certificateUser(r *http.Request) (string, bool) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || s.ClientCAs == nil {
		return "", false
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         s.ClientCAs,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return "", false
	}
	names := append(userPrincipalNames(leaf), leaf.EmailAddresses...)
	if leaf.Subject.CommonName != "" {
		names = append(names, leaf.Subject.CommonName)
	}
	for _, n := range names {
		for k, user := range s.CertificateUsers {
			if strings.EqualFold(k, n) {
				return s.localUser(user), true
			}
		}
	}
	return "", false
}

var (
	oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}
	// oidUPN is szOID_NT_PRINCIPAL_NAME, the otherName of a Windows
	// user principal name.
	oidUPN = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}
)

// userPrincipalNames returns the UPN otherNames of the certificate's
// subject alternative names (crypto/x509 skips otherName).
func userPrincipalNames(c *x509.Certificate) []string {
	var out []string
	for _, ext := range c.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		var seq asn1.RawValue
		if rest, err := asn1.Unmarshal(ext.Value, &seq); err != nil || len(rest) > 0 || !seq.IsCompound {
			return nil
		}
		b := seq.Bytes
		for len(b) > 0 {
			var gn asn1.RawValue
			rest, err := asn1.Unmarshal(b, &gn)
			if err != nil {
				return out
			}
			b = rest
			if gn.Class != asn1.ClassContextSpecific || gn.Tag != 0 {
				continue // not an otherName
			}
			var other struct {
				TypeID asn1.ObjectIdentifier
				Value  asn1.RawValue `asn1:"explicit,tag:0"`
			}
			if _, err := asn1.UnmarshalWithParams(gn.FullBytes, &other, "tag:0"); err != nil || !other.TypeID.Equal(oidUPN) {
				continue
			}
			var upn string
			if _, err := asn1.UnmarshalWithParams(other.Value.Bytes, &upn, "utf8"); err == nil {
				out = append(out, upn)
			}
		}
	}
	return out
}
