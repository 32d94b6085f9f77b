package winrmtransport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"

	"github.com/gopsrp/gopsrp/auth"
)

// selfSigned returns a PEM certificate and key for name.
func selfSigned(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, DNSNames: []string{name},
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func TestEndpointSettingsReachTheConnections(t *testing.T) {
	t.Parallel()
	caPEM, _ := selfSigned(t, "ca.example")
	certPEM, keyPEM := selfSigned(t, "client.example")
	ep := &winrm.Endpoint{Host: "win01.example", Port: 5986, HTTPS: true, Insecure: true,
		TLSServerName: "other.example", CACert: caPEM, Cert: certPEM, Key: keyPEM, Timeout: 42 * time.Second}
	proxyURL, _ := url.Parse("http://proxy.example:3128")
	tr := New(&auth.NTLM{Username: "alice", Password: "pw"}, WithProxy(http.ProxyURL(proxyURL)))
	if err := tr.Transport(ep); err != nil {
		t.Fatal(err)
	}
	if tr.url != "https://win01.example:5986/wsman" {
		t.Errorf("URL %q", tr.url)
	}
	tc := tr.base.TLSClientConfig
	if !tc.InsecureSkipVerify || tc.ServerName != "other.example" || tc.RootCAs == nil || len(tc.Certificates) != 1 {
		t.Errorf("TLS config does not hold the endpoint's settings: %+v", tc)
	}
	if tr.base.ResponseHeaderTimeout != 42*time.Second {
		t.Errorf("ResponseHeaderTimeout %v, want the endpoint's 42s", tr.base.ResponseHeaderTimeout)
	}
	req, _ := http.NewRequest(http.MethodPost, tr.url, nil)
	if u, err := tr.base.Proxy(req); err != nil || u == nil || u.Host != "proxy.example:3128" {
		t.Errorf("proxy %v, %v", u, err)
	}

	// The same endpoint again (a second winrm.Client) shares the Transport;
	// another one is refused.
	again := *ep
	if err := tr.Transport(&again); err != nil {
		t.Errorf("same endpoint: %v", err)
	}
	other := *ep
	other.Host = "win02.example"
	if err := tr.Transport(&other); !errors.Is(err, ErrEndpointChanged) || !strings.Contains(err.Error(), "win02.example") {
		t.Errorf("another endpoint: %v", err)
	}
}

func TestEndpointIPv6URL(t *testing.T) {
	t.Parallel()
	if got := endpointURL(&winrm.Endpoint{Host: "::1", Port: 5985}); got != "http://[::1]:5985/wsman" {
		t.Errorf("got %q", got)
	}
}

func TestBadEndpointCertificates(t *testing.T) {
	t.Parallel()
	certPEM, keyPEM := selfSigned(t, "client.example")
	otherCert, _ := selfSigned(t, "other.example")
	for name, ep := range map[string]*winrm.Endpoint{
		"CACert not PEM":     {Host: "h", Port: 1, HTTPS: true, CACert: []byte("not a certificate")},
		"Cert without Key":   {Host: "h", Port: 1, HTTPS: true, Cert: certPEM},
		"Key without Cert":   {Host: "h", Port: 1, HTTPS: true, Key: keyPEM},
		"Key of another one": {Host: "h", Port: 1, HTTPS: true, Cert: otherCert, Key: keyPEM},
	} {
		err := New(&auth.NTLM{Username: "alice", Password: "pw"}).Transport(ep)
		if !errors.Is(err, ErrBadCertificate) {
			t.Errorf("%s: %v, want ErrBadCertificate", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: the error shows the key: %v", name, err)
		}
	}
}

func TestTransportWithoutMechanismOrEndpoint(t *testing.T) {
	t.Parallel()
	if err := New(nil).Transport(&winrm.Endpoint{Host: "h", Port: 1}); !errors.Is(err, auth.ErrNoMechanism) {
		t.Errorf("nil mechanism: %v", err)
	}
	if _, err := New(&auth.NTLM{}).Post(nil, nil); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("Post before Transport: %v", err)
	}
}

func TestResponseLimitCoversTheEnvelope(t *testing.T) {
	t.Parallel()
	for _, env := range []int{153600, minEnvelope, 8 << 20} {
		if got := responseLimit(env); got < int64(env) || got > int64(8*env+1<<20) {
			t.Errorf("responseLimit(%d) = %d", env, got)
		}
	}
}
