package winrmtransport

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/masterzen/winrm"
)

// ErrEndpointChanged is returned by Transport.Transport when a Transport
// already serving one endpoint is asked to serve another: its
// authenticated connections belong to the first one. Create one Transport per
// endpoint.
var ErrEndpointChanged = errors.New("winrmtransport: a Transport serves one endpoint; create one per host")

// ErrBadCertificate is wrapped when the Endpoint's CACert, Cert or Key
// cannot be used.
var ErrBadCertificate = errors.New("winrmtransport: unusable endpoint certificate")

// endpointURL is the WinRM URL of ep, as masterzen/winrm forms it (with
// IPv6 literals in brackets).
func endpointURL(ep *winrm.Endpoint) string {
	scheme := "http"
	if ep.HTTPS {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port)) + "/wsman"
}

// sameEndpoint reports whether a and b describe the same connections.
func sameEndpoint(a, b *winrm.Endpoint) bool {
	return a.Host == b.Host && a.Port == b.Port && a.HTTPS == b.HTTPS && a.Insecure == b.Insecure &&
		a.TLSServerName == b.TLSServerName && a.Timeout == b.Timeout &&
		bytes.Equal(a.CACert, b.CACert) && bytes.Equal(a.Cert, b.Cert) && bytes.Equal(a.Key, b.Key)
}

// baseTransport is the http.Transport the auth layer clones for each
// authenticated connection: ep's TLS settings and timeout, cfg's proxy.
func baseTransport(ep *winrm.Endpoint, cfg *config) (*http.Transport, error) {
	tlsConfig := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         ep.TLSServerName,
		InsecureSkipVerify: ep.Insecure, //nolint:gosec // the caller's Endpoint asks for it
	}
	if len(ep.CACert) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ep.CACert) {
			return nil, fmt.Errorf("%w: CACert holds no PEM certificate", ErrBadCertificate)
		}
		tlsConfig.RootCAs = pool
	}
	switch {
	case len(ep.Cert) > 0 && len(ep.Key) > 0:
		cert, err := tls.X509KeyPair(ep.Cert, ep.Key)
		if err != nil {
			// The error of X509KeyPair names what failed, never key bytes.
			return nil, fmt.Errorf("%w: Cert and Key: %w", ErrBadCertificate, err)
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	case len(ep.Cert) > 0 || len(ep.Key) > 0:
		return nil, fmt.Errorf("%w: Cert and Key must be set together", ErrBadCertificate)
	}

	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = tlsConfig
	base.ResponseHeaderTimeout = ep.Timeout
	base.Proxy = http.ProxyFromEnvironment
	if cfg.proxy != nil {
		base.Proxy = cfg.proxy
	}
	if cfg.dialContext != nil {
		base.DialContext = cfg.dialContext
	}
	return base, nil
}
