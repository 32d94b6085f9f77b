package winrmtransport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"

	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/wsman"
)

// ErrNoEndpoint is returned by Post before Transport: the Transport was not
// set up by winrm.NewClientWithParameters.
var ErrNoEndpoint = errors.New("winrmtransport: Post before Transport: no endpoint")

// minEnvelope is the envelope size the response bound assumes at least:
// WinRM's default MaxEnvelopeSizekb of 500 (Windows Server 2012 and later).
const minEnvelope = 512000

// Transport is a winrm.Transporter that authenticates with an auth.Mechanism
// and seals every message, over connections that stay authenticated from
// one message to the next. Create it with New and hand it to masterzen/winrm
// through Parameters.TransportDecorator.
//
// A Transport serves one endpoint, possibly for several winrm.Clients, which
// then share its authenticated connections. It is safe for concurrent use.
// Call CloseIdleConnections when done with it.
type Transport struct {
	mech auth.Mechanism
	cfg  config

	mu       sync.Mutex
	endpoint *winrm.Endpoint // a copy of the one Transport was given
	url      string
	base     *http.Transport
	rt       *auth.Transport // built by the first Post, which knows the client
	client   *http.Client
}

var _ winrm.Transporter = (*Transport)(nil)

// New returns a Transport that authenticates with mech: &auth.NTLM{…},
// &auth.Kerberos{…}, &auth.Negotiate{…} or &auth.CredSSP{…}.
func New(mech auth.Mechanism, opts ...Option) *Transport {
	t := &Transport{mech: mech}
	for _, o := range opts {
		o(&t.cfg)
	}
	return t
}

// Transport implements winrm.Transporter: winrm.NewClientWithParameters
// calls it with the client's endpoint, whose URL and TLS settings the
// Transport takes. A Transport already serving another endpoint returns
// ErrEndpointChanged; unusable certificates return ErrBadCertificate.
func (t *Transport) Transport(ep *winrm.Endpoint) error {
	if t.mech == nil {
		return auth.ErrNoMechanism
	}
	if ep == nil {
		return errors.New("winrmtransport: nil Endpoint")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.endpoint != nil {
		if sameEndpoint(t.endpoint, ep) {
			return nil
		}
		return fmt.Errorf("%w: it serves %s, not %s", ErrEndpointChanged, t.url, endpointURL(ep))
	}
	base, err := baseTransport(ep, &t.cfg)
	if err != nil {
		return err
	}
	e := *ep
	e.CACert, e.Cert, e.Key = bytes.Clone(ep.CACert), bytes.Clone(ep.Cert), bytes.Clone(ep.Key)
	t.endpoint, t.url, t.base = &e, endpointURL(ep), base
	return nil
}

// Post implements winrm.Transporter: it sends the SOAP message, sealed, and
// returns the response envelope. Errors are described in the package
// documentation.
func (t *Transport) Post(c *winrm.Client, msg *soap.SoapMessage) (string, error) {
	client, rawURL, err := t.httpClient(c)
	if err != nil {
		return "", err
	}
	// masterzen/winrm's Transporter carries no context; Endpoint.Timeout
	// bounds the wait for each response, as in its own transports.
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, rawURL, strings.NewReader(msg.String()))
	if err != nil {
		return "", fmt.Errorf("winrmtransport: %w", err)
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	resp, err := client.Do(req)
	if err != nil {
		return "", postError(err, rawURL, t.mech)
	}
	return readResponse(resp)
}

// CloseIdleConnections closes the authenticated connections not in use and
// forgets their security contexts.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	rt := t.rt
	t.mu.Unlock()
	if rt != nil {
		rt.CloseIdleConnections()
	}
}

// httpClient returns the client of the endpoint, building it on the first
// call from what c's parameters say (its dialer and envelope size).
func (t *Transport) httpClient(c *winrm.Client) (*http.Client, string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.client != nil {
		return t.client, t.url, nil
	}
	if t.base == nil {
		return nil, "", ErrNoEndpoint
	}
	envelope := minEnvelope
	if c != nil {
		if t.cfg.dialContext == nil && c.Dial != nil {
			dial := c.Dial
			t.base.DialContext = func(_ context.Context, network, addr string) (net.Conn, error) {
				return dial(network, addr)
			}
		}
		envelope = max(envelope, c.EnvelopeSize)
	}
	t.rt = &auth.Transport{
		Mechanism:        t.mech,
		Base:             t.base,
		TrustedHosts:     t.cfg.trustedHosts,
		AllowUnencrypted: t.endpoint.HTTPS && t.cfg.encryption == EncryptAuto,
		MaxChannels:      t.cfg.maxChannels,
		MaxResponseSize:  responseLimit(envelope),
		Logger:           t.cfg.logger,
	}
	t.client = &http.Client{
		Transport: t.rt,
		// WinRM does not redirect; following one would carry the
		// credentials elsewhere. The 3xx becomes an *HTTPError.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return t.client, t.url, nil
}

// responseLimit bounds a (sealed) response body as package wsman bounds
// the plaintext for an envelope size, with room for the sealing's framing.
func responseLimit(envelope int) int64 {
	plain := int64(wsman.ResponseSizeFactor*envelope + wsman.ResponseSizeSlack)
	return plain + plain/64 + 64<<10
}

// readResponse returns the SOAP envelope of a 200 response, or the error
// that describes any other. The auth layer has already read (and bounded)
// the body.
func readResponse(resp *http.Response) (string, error) {
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("winrmtransport: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", newHTTPError(resp.StatusCode, body)
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); mt != "application/soap+xml" {
		return "", notSOAP(ct)
	}
	return string(body), nil
}
