package sessiontest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/wsman"
)

// testCA is a certificate authority that issues client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sessiontest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key}
}

// issue makes a client certificate with the subject CN, and a UPN and
// e-mail address in its subject alternative names when not empty.
func (ca *testCA) issue(t *testing.T, cn, upn, email string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if email != "" {
		tmpl.EmailAddresses = []string{email}
	}
	if upn != "" {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidSubjectAltName, Value: sanWithUPN(t, upn)}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// sanWithUPN encodes GeneralNames { otherName { UPN, [0] UTF8String } }.
func sanWithUPN(t testing.TB, upn string) []byte {
	t.Helper()
	val, err := asn1.MarshalWithParams(upn, "utf8")
	require.NoError(t, err)
	other, err := asn1.Marshal(struct {
		TypeID asn1.ObjectIdentifier
		Value  asn1.RawValue
	}{oidUPN, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: val}})
	require.NoError(t, err)
	// otherName is [0] IMPLICIT: replace the SEQUENCE tag.
	other[0] = 0xa0
	out, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: other})
	require.NoError(t, err)
	return out
}

func TestCertificateAuth(t *testing.T) {
	t.Parallel()
	ca, other := newTestCA(t), newTestCA(t)
	s := newAuthServer(t, true, func(s *Server) {
		s.Auth = AuthConfig{Certificate: true, Negotiate: true}
		s.ClientCAs = x509.NewCertPool()
		s.ClientCAs.AddCert(ca.cert)
		s.CertificateUsers = map[string]string{"alice@example.test": "alice", "bob.mail@example.test": "bob", "carol": "alice"}
	})
	mutual := http.Header{"Authorization": {CertificateMutualScheme}}
	create := env{action: wsman.ActionCreate, body: createBody("", "pool")}.bytes()
	enumerate := env{action: wsman.ActionEnumerate, resourceURI: wsman.ResourceShell, body: `<wsen:Enumerate/>`}.bytes()
	tests := []struct {
		name  string
		cert  *tls.Certificate
		owner string // "" means refused
	}{
		{"upn", ptr(ca.issue(t, "someone", "alice@example.test", "", x509.ExtKeyUsageClientAuth)), "alice"},
		{"email", ptr(ca.issue(t, "someone", "", "bob.mail@example.test", x509.ExtKeyUsageClientAuth)), "Bob"},
		{"common name", ptr(ca.issue(t, "carol", "", "", x509.ExtKeyUsageClientAuth)), "alice"},
		{"unmapped", ptr(ca.issue(t, "dave", "dave@example.test", "", x509.ExtKeyUsageClientAuth)), ""},
		{"other CA", ptr(other.issue(t, "carol", "alice@example.test", "", x509.ExtKeyUsageClientAuth)), ""},
		{"not for client auth", ptr(ca.issue(t, "carol", "", "", x509.ExtKeyUsageServerAuth)), ""},
		{"no certificate", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rc *rawConn
			if tt.cert != nil {
				rc = dial(t, s, *tt.cert)
			} else {
				rc = dial(t, s)
			}
			r := rc.plain(mutual, create)
			if tt.owner == "" {
				assert.Equal(t, 401, r.status)
				return
			}
			require.Equal(t, 200, r.status, string(r.body))
			r = rc.plain(mutual, enumerate)
			require.Equal(t, 200, r.status)
			assert.Contains(t, string(r.body), "<rsp:Owner>"+tt.owner+"</rsp:Owner>")
			// The mapping is per request: no header, no user.
			r = rc.plain(nil, enumerate)
			assert.Equal(t, 401, r.status)
		})
	}
}

func ptr[T any](v T) *T { return &v }
