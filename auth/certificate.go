package auth

import (
	"fmt"
	"net/http"
)

// CertificateAuthorization is the Authorization header value that asks
// WinRM to authenticate the client by its TLS certificate (MS-WSMV 2.2.9.3).
const CertificateAuthorization = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"

// Certificate is an http.RoundTripper for WinRM client-certificate
// authentication: it adds the Authorization header CertificateAuthorization
// and passes the request to Base, whose TLS configuration must present the
// client certificate (tls.Config.Certificates or GetClientCertificate).
// It refuses http:// URLs with ErrRequiresHTTPS. It does not seal message
// bodies: TLS protects them. It is safe for concurrent use.
type Certificate struct {
	// Base carries the requests; nil means http.DefaultTransport, which
	// presents no client certificate.
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper. It sends a clone of req with the
// Authorization header set and closes req.Body on every path.
func (c *Certificate) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.Scheme != "https" {
		closeBody(req)
		return nil, fmt.Errorf("auth: certificate: %v: %w", req.URL, ErrRequiresHTTPS)
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", CertificateAuthorization)
	return transport(c.Base).RoundTrip(r)
}

// EncryptsMessages reports false: TLS, not the message layer, protects the
// traffic.
func (c *Certificate) EncryptsMessages() bool { return false }

// CloseIdleConnections closes the idle connections of Base when it can.
func (c *Certificate) CloseIdleConnections() {
	if ci, ok := transport(c.Base).(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

var _ MessageEncrypter = (*Certificate)(nil)
