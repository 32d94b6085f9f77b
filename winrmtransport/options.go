package winrmtransport

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
)

// An Option configures a Transport.
type Option func(*config)

type config struct {
	trustedHosts []string
	proxy        func(*http.Request) (*url.URL, error)
	dialContext  func(ctx context.Context, network, addr string) (net.Conn, error)
	encryption   Encryption
	maxChannels  int
	logger       *slog.Logger
}

// Encryption says when message bodies are sealed with the security context
// of the authentication.
type Encryption int

const (
	// EncryptAuto seals over http:// and relies on TLS over https://, as
	// PowerShell, pywinrm and WinRM's own client do. The default.
	EncryptAuto Encryption = iota
	// EncryptAlways seals over https:// too.
	EncryptAlways
)

// WithTrustedHosts lists WinRM TrustedHosts patterns (host names, IP
// addresses, "*.corp.example", "<local>", "*"; see auth.HostTrusted). Over
// http://, NTLM and CredSSP, which cannot authenticate the server, are used
// only with these hosts. Repeated options add to the list.
func WithTrustedHosts(patterns ...string) Option {
	return func(c *config) { c.trustedHosts = append(c.trustedHosts, patterns...) }
}

// WithProxy sets the proxy of every connection, as http.Transport.Proxy does;
// nil means no proxy. Without this option the proxy comes from the
// environment (http.ProxyFromEnvironment), as in masterzen/winrm.
func WithProxy(proxy func(*http.Request) (*url.URL, error)) Option {
	return func(c *config) {
		if proxy == nil {
			proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
		}
		c.proxy = proxy
	}
}

// WithDialContext sets how connections are dialled (an SSH bastion, a test
// recorder). Without it the Parameters.Dial of the first winrm.Client that
// posts through the Transport is used when set, else a net.Dialer.
func WithDialContext(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(c *config) { c.dialContext = dial }
}

// WithMessageEncryption says when to seal message bodies; the default is
// EncryptAuto.
func WithMessageEncryption(e Encryption) Option {
	return func(c *config) { c.encryption = e }
}

// WithMaxChannels bounds the authenticated connections the Transport keeps
// open, each with its own handshake; zero means auth.DefaultMaxChannels.
// masterzen/winrm polls output while it sends input and signals, so a
// command uses up to three at a time.
func WithMaxChannels(n int) Option {
	return func(c *config) { c.maxChannels = n }
}

// WithLogger receives debug records of handshakes and re-authentications
// (never tokens, passwords or keys). Without it nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}
