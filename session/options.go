package session

import (
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/wsman"
)

// Default ports and path of the WinRM listener.
const (
	DefaultHTTPSPort = 5986
	DefaultHTTPPort  = 5985
	DefaultPath      = "/wsman"
	// DefaultConfigurationName is the session configuration used when
	// WithConfigurationName is not given.
	DefaultConfigurationName = "Microsoft.PowerShell"
)

// Envelope sizes: PowerShell v2's 150 KiB until the server's protocol
// version is known, then 500 KiB for protocol 2.2 and later.
const (
	initialEnvelopeSize = 153600
	v22EnvelopeSize     = 512000
)

// requestMargin is what a WS-Man request may take beyond the
// OperationTimeout (network, authentication, a large body) before the
// session gives up on it.
const requestMargin = 10 * time.Second

// requestTimeout is the default deadline of one WS-Man request: the
// OperationTimeout plus requestMargin, or plus the OperationTimeout itself
// when that is shorter.
func (c *clientConfig) requestTimeout() time.Duration {
	op := c.opTimeout
	if op <= 0 {
		op = wsman.DefaultOperationTimeout
	}
	return op + min(op, requestMargin)
}

// Option configures New. It is either a ClientOption, which says how to
// reach the host (authentication, TLS, timeouts …), or a SessionOption,
// which shapes the runspace pool (runspaces, host, name …). Options are
// applied in order; a later option overrides an earlier one.
type Option interface {
	apply(*config)
}

// ClientOption configures how a Client (or New) reaches a host: the
// transport, authentication, TLS and the settings of every WS-Man request.
type ClientOption func(*clientConfig)

func (o ClientOption) apply(c *config) {
	if o != nil {
		o(&c.clientConfig)
	}
}

// SessionOption configures a runspace pool that New, Client.New or
// Client.Connect opens.
type SessionOption func(*poolConfig)

func (o SessionOption) apply(c *config) {
	if o != nil {
		o(&c.poolConfig)
	}
}

// config is every option New takes.
type config struct {
	clientConfig
	poolConfig
}

// clientConfig is what ClientOptions set.
type clientConfig struct {
	httpClient       *http.Client
	basicUser        string
	basicPass        string
	basic            bool
	mech             auth.Mechanism
	clientCert       *tls.Certificate
	trustedHosts     []string
	tlsConfig        *tls.Config
	forceHTTP        bool
	port             int
	opTimeout        time.Duration
	maxEnvelope      int
	allowRedirects   bool
	crossOrigin      bool
	logger           *slog.Logger
	allowUnencrypted bool
	errs             []error
}

// poolConfig is what SessionOptions set.
type poolConfig struct {
	configName   string
	minRunspaces int
	maxRunspaces int
	appArgs      map[string]any
	idleTimeout  time.Duration
	noProfile    bool
	host         Host
	name         string
	exchangeKey  *rsa.PrivateKey // WithExchangeKey (keyexchange.go)
	robust       robustConfig    // WithReconnectWindow (robust.go)
	errs         []error
}

func (c *clientConfig) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("session: "+format, args...))
}

func (c *poolConfig) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("session: "+format, args...))
}

// newConfig applies opts, in order.
func newConfig[O Option](opts []O) (config, error) {
	var cfg config
	for _, o := range opts {
		if any(o) != nil {
			o.apply(&cfg)
		}
	}
	if errs := append(cfg.clientConfig.errs, cfg.poolConfig.errs...); len(errs) > 0 {
		return cfg, errors.Join(errs...)
	}
	return cfg, nil
}

// WithHTTPClient sends every request through client. Its Transport is where
// authentication and message encryption live (see package auth). A Transport
// that implements auth.MessageEncrypter and reports true counts as encrypted
// for plain http:// URLs. The client is not modified and not closed.
func WithHTTPClient(client *http.Client) ClientOption {
	return func(c *clientConfig) {
		if client == nil {
			c.fail("WithHTTPClient: nil client")
			return
		}
		c.httpClient = client
	}
}

// WithAuth authenticates with m: &auth.Negotiate{…}, &auth.NTLM{…},
// &auth.Kerberos{…} or &auth.CredSSP{…}. Each connection authenticates once
// and then seals every message (WinRM message-level encryption), so plain
// http:// is allowed, as on a default Windows host (port 5985, Negotiate,
// AllowUnencrypted=false). Over http://, a mechanism that cannot prove the
// server's identity (NTLM, CredSSP, Negotiate that falls back to NTLM)
// needs the host in WithTrustedHosts, as Windows' own client does.
//
// The client's Transport (WithHTTPClient), if given, must be an
// *http.Transport: it is cloned once per authenticated connection, so its
// TLS configuration, dialer and proxy hold on every connection.
func WithAuth(m auth.Mechanism) ClientOption {
	return func(c *clientConfig) {
		if m == nil {
			c.fail("WithAuth: nil mechanism")
			return
		}
		c.mech, c.basic = m, false
	}
}

// WithNegotiate authenticates like PowerShell's default: SPNEGO, which picks
// Kerberos when the host has a name and a ticket can be had, NTLM
// otherwise. user is "user", `DOMAIN\user` or "user@domain". It is
// WithAuth(&auth.Negotiate{Username: user, Password: password}).
func WithNegotiate(user, password string) ClientOption {
	return WithAuth(&auth.Negotiate{Username: user, Password: password})
}

// WithNTLM authenticates with NTLMv2 (raw NTLMSSP tokens under the
// Negotiate scheme) and seals every message. NTLM does not prove the
// server's identity: over http:// the host must be in WithTrustedHosts.
func WithNTLM(user, password string) ClientOption {
	return WithAuth(&auth.NTLM{Username: user, Password: password})
}

// WithKerberos authenticates with Kerberos (the Kerberos HTTP scheme) with
// mutual authentication, for user ("user" or "user@REALM") and password;
// empty user and password use the credential cache named by KRB5CCNAME
// (after kinit). krb5.conf comes from KRB5_CONFIG or /etc/krb5.conf. For
// keytabs, other service classes or delegation use WithAuth(&auth.Kerberos{…}).
func WithKerberos(user, password string) ClientOption {
	return WithAuth(&auth.Kerberos{Username: user, Password: password})
}

// WithCredSSP authenticates with CredSSP (NTLM inside a TLS channel) and
// delegates user's password to the server, for the second hop. CredSSP
// does not prove the server's identity: over http:// the host must be in
// WithTrustedHosts.
func WithCredSSP(user, password string) ClientOption {
	return WithAuth(&auth.CredSSP{Username: user, Password: password})
}

// WithCertificate authenticates with a TLS client certificate mapped to a
// user on the server (WinRM certificate authentication). It needs https://.
// It cannot be combined with WithHTTPClient or WithTLSConfig's own
// Certificates; the certificate is added to WithTLSConfig's configuration.
func WithCertificate(cert tls.Certificate) ClientOption {
	return func(c *clientConfig) {
		if len(cert.Certificate) == 0 {
			c.fail("WithCertificate: empty certificate")
			return
		}
		c.clientCert = &cert
	}
}

// WithBasicAuth authenticates with HTTP Basic (auth.Basic). Basic sends the
// password with every request and encrypts nothing: over plain http:// it
// is refused unless WithAllowUnencrypted is given and the host is in
// WithTrustedHosts.
func WithBasicAuth(user, password string) ClientOption {
	return func(c *clientConfig) {
		c.basic, c.basicUser, c.basicPass, c.mech = true, user, password, nil
	}
}

// WithTrustedHosts lists the hosts that may be sent credentials over plain
// http:// by mechanisms that cannot authenticate the server (NTLM, CredSSP,
// Basic), like WinRM's TrustedHosts: host names and IP addresses,
// "*.corp.example" for a domain, "*" for every host. HTTPS and Kerberos
// with mutual authentication need no entry.
func WithTrustedHosts(patterns ...string) ClientOption {
	return func(c *clientConfig) { c.trustedHosts = append(c.trustedHosts, patterns...) }
}

// WithTLSConfig uses cfg for HTTPS (root CAs, client certificates, server
// name). Certificates are verified unless cfg itself says otherwise. It
// cannot be combined with WithHTTPClient: configure that client's transport
// instead.
func WithTLSConfig(cfg *tls.Config) ClientOption {
	return func(c *clientConfig) { c.tlsConfig = cfg }
}

// WithHTTP makes a target given as a host name use http:// and port 5985.
// Plain HTTP still needs WithAllowUnencrypted or an encrypting transport.
func WithHTTP() ClientOption { return func(c *clientConfig) { c.forceHTTP = true } }

// WithPort sets the port used when the target does not name one.
func WithPort(port int) ClientOption {
	return func(c *clientConfig) {
		if port <= 0 || port > 65535 {
			c.fail("WithPort: invalid port %d", port)
			return
		}
		c.port = port
	}
}

// WithConfigurationName selects the session configuration (endpoint), e.g. a
// JEA endpoint. A bare name gets "http://schemas.microsoft.com/powershell/"
// prefixed; a full resource URI is used as is. The default is
// Microsoft.PowerShell.
func WithConfigurationName(name string) SessionOption {
	return func(c *poolConfig) {
		if strings.TrimSpace(name) == "" {
			c.fail("WithConfigurationName: empty name")
			return
		}
		c.configName = name
	}
}

// WithRunspaces sets the minimum and maximum number of runspaces of the pool;
// at most max pipelines run at once (default 1 and 1).
func WithRunspaces(minRunspaces, maxRunspaces int) SessionOption {
	return func(c *poolConfig) {
		if minRunspaces < 1 || maxRunspaces < minRunspaces || maxRunspaces > 1<<16 {
			c.fail("WithRunspaces: need 1 <= min <= max <= 65536, got %d, %d", minRunspaces, maxRunspaces)
			return
		}
		c.minRunspaces, c.maxRunspaces = minRunspaces, maxRunspaces
	}
}

// WithApplicationArguments sends args to the server, where they appear as
// $PSSenderInfo.ApplicationArguments.
func WithApplicationArguments(args map[string]any) SessionOption {
	return func(c *poolConfig) { c.appArgs = args }
}

// WithIdleTimeout asks the server to close the shell after d without
// activity (rsp:IdleTimeOut). Zero leaves the server's default.
func WithIdleTimeout(d time.Duration) SessionOption {
	return func(c *poolConfig) {
		if d < 0 {
			c.fail("WithIdleTimeout: negative duration")
			return
		}
		c.idleTimeout = d
	}
}

// WithNoProfile asks the server not to load the user profile (WINRS_NOPROFILE).
func WithNoProfile() SessionOption { return func(c *poolConfig) { c.noProfile = true } }

// WithHost services host calls (Read-Host, prompts, Write-Host) with h
// instead of DefaultHost.
func WithHost(h Host) SessionOption {
	return func(c *poolConfig) {
		if h == nil {
			c.fail("WithHost: nil host")
			return
		}
		c.host = h
	}
}

// WithOperationTimeout sets the WS-Man OperationTimeout: how long a Receive
// waits on the server before it is re-issued (default 20 s). It also sets
// the default deadline of every WS-Man request (see New):
// OperationTimeout plus a margin of 10 s, or of OperationTimeout itself when
// that is shorter.
func WithOperationTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) {
		if d <= 0 {
			c.fail("WithOperationTimeout: need a positive duration")
			return
		}
		c.opTimeout = d
	}
}

// WithMaxEnvelopeSize fixes the WS-Man MaxEnvelopeSize in bytes. Without it
// the session starts at 153600 and raises it to 512000 once the server
// reports protocol 2.2 or later.
func WithMaxEnvelopeSize(n int) ClientOption {
	return func(c *clientConfig) {
		if n < 8192 {
			c.fail("WithMaxEnvelopeSize: %d is too small (minimum 8192)", n)
			return
		}
		c.maxEnvelope = n
	}
}

// WithAllowRedirects follows HTTP redirects (at most 5), like
// -AllowRedirection. They are refused by default.
func WithAllowRedirects() ClientOption { return func(c *clientConfig) { c.allowRedirects = true } }

// WithAllowCrossOriginRedirects follows redirects (like WithAllowRedirects)
// also to another scheme, host or port. The credentials then go to that
// host, as with PowerShell's -AllowRedirection: use it only when the
// redirect target is trusted with them. Without it a cross-origin redirect
// is refused with a *wsman.RedirectError.
func WithAllowCrossOriginRedirects() ClientOption {
	return func(c *clientConfig) { c.allowRedirects, c.crossOrigin = true, true }
}

// WithLogger logs one debug record per WS-Man call and the session's state
// changes to l. Bodies and credentials are never logged.
func WithLogger(l *slog.Logger) ClientOption { return func(c *clientConfig) { c.logger = l } }

// WithAllowUnencrypted permits traffic over plain http:// that the transport
// does not encrypt (and Basic authentication over it): everything, including
// a Basic password, then crosses the network in clear text. Use it only on
// trusted test networks.
func WithAllowUnencrypted() ClientOption { return func(c *clientConfig) { c.allowUnencrypted = true } }

// WithName names the session's shell on the server (the Name attribute of
// rsp:Shell, like New-PSSession -Name), so that another client can find it
// with List and attach to it with Connect by name.
func WithName(name string) SessionOption {
	return func(c *poolConfig) {
		if strings.TrimSpace(name) == "" {
			c.fail("WithName: empty name")
			return
		}
		c.name = name
	}
}

// resourceURI returns the WS-Man resource URI of the configuration.
func (c *poolConfig) resourceURI() string {
	name := c.configName
	if name == "" {
		name = DefaultConfigurationName
	}
	if strings.Contains(name, "://") {
		return name
	}
	return wsman.ResourcePowerShellPrefix + name
}

// ErrInvalidTarget is wrapped by the error New returns for a target it
// cannot turn into a WS-Man URL.
var ErrInvalidTarget = errors.New("session: invalid target")

// endpointURL turns target (a URL, or a host name or IP with an optional
// port; IPv6 in brackets) into the WS-Man endpoint URL.
func (c *clientConfig) endpointURL(target string) (*url.URL, error) {
	target = strings.TrimSpace(target)
	if target == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidTarget)
	}
	if strings.Contains(target, "://") {
		u, err := url.Parse(target)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidTarget, err)
		}
		scheme := strings.ToLower(u.Scheme)
		if scheme != "http" && scheme != "https" {
			return nil, fmt.Errorf("%w: scheme %q (want http or https)", ErrInvalidTarget, u.Scheme)
		}
		if u.Hostname() == "" {
			return nil, fmt.Errorf("%w: no host in %q", ErrInvalidTarget, redactURL(u))
		}
		u.Scheme = scheme
		if u.User != nil {
			return nil, fmt.Errorf("%w: credentials in the URL are not supported; use an auth option", ErrInvalidTarget)
		}
		if u.Port() == "" {
			port := c.port
			if port == 0 {
				port = DefaultHTTPSPort
				if scheme == "http" {
					port = DefaultHTTPPort
				}
			}
			u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = DefaultPath
		}
		return u, nil
	}
	host, port := target, ""
	switch {
	case strings.HasPrefix(target, "["):
		end := strings.IndexByte(target, ']')
		if end < 0 {
			return nil, fmt.Errorf("%w: unterminated IPv6 literal %q", ErrInvalidTarget, target)
		}
		host = target[1:end]
		rest := target[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return nil, fmt.Errorf("%w: %q", ErrInvalidTarget, target)
			}
			port = rest[1:]
		}
	case strings.Count(target, ":") == 1:
		host, port = target[:strings.IndexByte(target, ':')], target[strings.IndexByte(target, ':')+1:]
	case strings.Count(target, ":") > 1:
		host = target // a bare IPv6 address
	}
	if host == "" || strings.ContainsAny(host, "/?#@ ") {
		return nil, fmt.Errorf("%w: bad host %q", ErrInvalidTarget, target)
	}
	scheme := "https"
	p := DefaultHTTPSPort
	if c.forceHTTP {
		scheme, p = "http", DefaultHTTPPort
	}
	if c.port != 0 {
		p = c.port
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("%w: bad port %q", ErrInvalidTarget, port)
		}
		p = n
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(p)), Path: DefaultPath}, nil
}

// redactURL prints u without any user information.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
