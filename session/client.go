package session

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/wsman"
)

// Client is how to reach one WinRM endpoint: its URL, the HTTP transport
// with authentication and message encryption, and the settings of every
// WS-Man request. Like ssh.Client, it opens sessions on its host (New,
// as New-PSSession), attaches to disconnected ones (Connect, as
// Connect-PSSession) and lists them (List, as Get-PSSession
// -ComputerName); the sessions share its connections and credentials.
//
// NewClient sends nothing; every method that waits takes a context. A
// Client is safe for concurrent use. Close it when its sessions are closed.
type Client struct {
	cfg        clientConfig
	url        string
	http       *http.Client
	own        interface{ CloseIdleConnections() } // ours to close on Close, or nil
	reqTimeout time.Duration                       // the default deadline of one WS-Man request
}

// NewClient resolves target and prepares the transport; nothing is sent.
//
// target is a URL ("https://host:5986/wsman", "http://host:5985/wsman") or
// a host name or IP address, optionally with a port ("win01",
// "10.0.0.5:5986", "[fe80::1]"); a bare host means https on port 5986 with
// path /wsman (WithHTTP and WithPort change that).
//
// A plain http:// endpoint whose transport does not encrypt messages is
// refused with ErrUnencrypted unless WithAllowUnencrypted is given; an
// invalid target wraps ErrInvalidTarget.
func NewClient(target string, opts ...ClientOption) (*Client, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return newClient(target, cfg.clientConfig)
}

func newClient(target string, cfg clientConfig) (*Client, error) {
	u, err := cfg.endpointURL(target)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, url: u.String(), reqTimeout: cfg.requestTimeout()}
	client, err := c.buildHTTPClient(u)
	if err != nil {
		return nil, err
	}
	c.http = client
	if u.Scheme == "http" && !cfg.allowUnencrypted && !encrypts(client) {
		c.Close()
		return nil, ErrUnencrypted
	}
	// No request waits for ever, whatever context the caller passed: the
	// client is our own copy, so its Timeout is ours to set.
	if client.Timeout <= 0 || client.Timeout > c.reqTimeout {
		client.Timeout = c.reqTimeout
	}
	return c, nil
}

// URL returns the WS-Man endpoint URL.
func (c *Client) URL() string { return c.url }

// WSMan returns a new WS-Man client of the endpoint over this Client's
// authenticated transport, with its timeouts, envelope size, redirect
// policy and logger: the way to the host's other shell resources, such as
// the WinRS cmd shell (package winrs).
func (c *Client) WSMan() *wsman.Client {
	w := &wsman.Client{
		URL:                       c.url,
		HTTPClient:                c.http,
		OperationTimeout:          c.cfg.opTimeout,
		MaxEnvelopeSize:           initialEnvelopeSize,
		AllowRedirects:            c.cfg.allowRedirects,
		AllowCrossOriginRedirects: c.cfg.crossOrigin,
		Logger:                    c.cfg.logger,
	}
	if c.cfg.maxEnvelope > 0 {
		w.MaxEnvelopeSize = c.cfg.maxEnvelope
	}
	return w
}

// Close releases the Client's idle connections. Sessions opened from it
// should be closed (or disconnected) first; a request still in flight
// completes.
func (c *Client) Close() {
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
}

// New opens a runspace pool on the host and returns when it is Opened (see
// the package-level New, which is NewClient followed by this).
func (c *Client) New(ctx context.Context, opts ...SessionOption) (_ *Session, err error) {
	defer func() { err = accessDenied(err) }()
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return c.open(ctx, cfg.poolConfig, false)
}

// Connect attaches to the disconnected session id on the host
// (Connect-PSSession -InstanceId): id is the session's ID (Session.ID of
// the client that created it, or Info.ID from List). The session is looked
// for in the configuration of WithConfigurationName (default
// Microsoft.PowerShell) without a round trip. WithRunspaces does not apply,
// since the pool exists. A session the server does not know yields an
// error matching ErrSessionNotFound. The session returned is Opened; use
// Pipelines and ConnectPipeline to pick up its pipelines. The server must
// be at protocol 2.2 or later.
func (c *Client) Connect(ctx context.Context, id uuid.UUID, opts ...SessionOption) (_ *Session, err error) {
	defer func() { err = accessDenied(err) }()
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	ref := wsman.ShellRef{ID: strings.ToUpper(id.String()), ResourceURI: cfg.resourceURI()}
	return c.connect(ctx, cfg.poolConfig, id, ref, false)
}

// ConnectName attaches to the disconnected session named name (given with
// WithName; Connect-PSSession -Name): the host's sessions are listed first,
// and exactly one must have that name. Otherwise it is Connect.
func (c *Client) ConnectName(ctx context.Context, name string, opts ...SessionOption) (_ *Session, err error) {
	defer func() { err = accessDenied(err) }()
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, errors.New("session: connect: empty session name")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	info, err := c.findShell(ctx, name)
	if err != nil {
		return nil, err
	}
	id, err := uuid.Parse(info.ID)
	if err != nil {
		return nil, fmt.Errorf("session: connect: the server reports ShellId %q, not a GUID", info.ID)
	}
	return c.connect(ctx, cfg.poolConfig, id, info.Ref(), false)
}

// buildHTTPClient returns the client the WS-Man layer uses: the caller's,
// or one of our own (then closed on Close), wrapped with the authentication
// the options ask for.
func (c *Client) buildHTTPClient(u *url.URL) (*http.Client, error) {
	cfg := &c.cfg
	var client *http.Client
	if cfg.httpClient != nil {
		if cfg.tlsConfig != nil || cfg.clientCert != nil {
			return nil, errors.New("session: WithTLSConfig and WithCertificate cannot be combined with WithHTTPClient; configure that client's transport")
		}
		hc := *cfg.httpClient // shallow copy: never modify the caller's client
		client = &hc
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.tlsConfig != nil {
			tr.TLSClientConfig = cfg.tlsConfig.Clone()
		}
		if cfg.clientCert != nil {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			tr.TLSClientConfig.Certificates = append(tr.TLSClientConfig.Certificates, *cfg.clientCert)
		}
		c.own = tr
		client = &http.Client{Transport: tr}
	}
	switch {
	case cfg.mech != nil:
		base, ok := client.Transport.(*http.Transport)
		if client.Transport == nil {
			base, ok = http.DefaultTransport.(*http.Transport), true
		}
		if !ok {
			return nil, fmt.Errorf("session: %v needs an *http.Transport in WithHTTPClient (it clones one per authenticated connection), got %T", cfg.mech, client.Transport)
		}
		// Over https, TLS protects the messages: like PowerShell and
		// pypsrp, seal only over plain http.
		t := &auth.Transport{Mechanism: cfg.mech, Base: base, TrustedHosts: cfg.trustedHosts, Logger: cfg.logger,
			AllowUnencrypted: u.Scheme == "https", MaxResponseSize: sealedResponseLimit(cfg.maxEnvelope)}
		client.Transport = t
		c.own = t
	case cfg.basic:
		if u.Scheme == "http" && cfg.allowUnencrypted && !auth.HostTrusted(cfg.trustedHosts, u.Hostname()) {
			return nil, fmt.Errorf("session: Basic over plain http:// to %s: %w", u.Hostname(), auth.ErrUntrustedHost)
		}
		client.Transport = &auth.Basic{Username: cfg.basicUser, Password: cfg.basicPass, Base: client.Transport}
	case cfg.clientCert != nil:
		if u.Scheme != "https" {
			return nil, fmt.Errorf("session: WithCertificate: %w", auth.ErrRequiresHTTPS)
		}
		client.Transport = &auth.Certificate{Base: client.Transport}
	}
	return client, nil
}

// encrypts reports whether the client's transport seals message bodies.
func encrypts(c *http.Client) bool {
	if c == nil || c.Transport == nil {
		return false
	}
	e, ok := c.Transport.(auth.MessageEncrypter)
	return ok && e.EncryptsMessages()
}

// sealedResponseLimit bounds a sealed response body as wsman bounds the
// plaintext (a multiple of the largest envelope the session may ask for),
// plus room for the sealing's framing, so that a hostile server cannot make
// the transport buffer and decrypt more than wsman would accept.
func sealedResponseLimit(maxEnvelope int) int64 {
	env := max(maxEnvelope, v22EnvelopeSize)
	plain := int64(wsman.ResponseSizeFactor*env + wsman.ResponseSizeSlack)
	return plain + plain/64 + 64<<10
}
