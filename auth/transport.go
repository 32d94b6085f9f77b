package auth

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxChannels is the number of authenticated connections a
// Transport opens per endpoint when MaxChannels is zero.
const DefaultMaxChannels = 16

// DefaultMaxResponseSize bounds a response body when MaxResponseSize is
// zero: far above WinRM's largest envelope (MaxEnvelopeSizekb tops out near
// 1 GB only in theory; 500 KB by default).
const DefaultMaxResponseSize = 64 << 20

// Transport is an http.RoundTripper that authenticates with a Mechanism
// (NTLM, Kerberos, Negotiate, CredSSP) and seals every message body with
// the resulting security context (MS-WSMV 2.2.9.1 message-level
// encryption), as Windows requires over http:// by default.
//
// Each security context belongs to one TCP connection (a "channel"): a
// channel authenticates once with empty-body POSTs, then carries sealed
// requests one at a time, so that sequence numbers never mix. Concurrent
// requests use up to MaxChannels channels per endpoint and wait, honouring
// the request's context, when all are busy. When the server closes a
// channel's connection, or answers a sealed request with 401, the channel
// re-authenticates on a new connection and sends the request once more; a
// sealed body is never sent on a connection other than the one its context
// was established on.
//
// Over http://, a mechanism that cannot prove the server's identity (NTLM,
// CredSSP, Negotiate that fell back to NTLM) is refused with
// ErrUntrustedHost unless the host matches TrustedHosts.
//
// RoundTrip reads the whole response (up to MaxResponseSize) before it
// returns; the response's Body holds the plaintext SOAP envelope.
//
// A Transport is safe for concurrent use. Its fields must not change after
// its first use. Call CloseIdleConnections when done with it.
type Transport struct {
	// Mechanism authenticates the connections. Required.
	Mechanism Mechanism

	// Base is cloned once per channel: its TLSClientConfig, Proxy,
	// DialContext (and DialTLSContext), timeouts hold on every connection.
	// HTTP/2 is always disabled (connection-bound authentication needs
	// HTTP/1.1). nil means a clone of http.DefaultTransport.
	Base *http.Transport

	// TrustedHosts lists WinRM TrustedHosts patterns: host names, IP
	// addresses, "*.corp.example", "<local>", "*". Over http://, only these
	// hosts are offered credentials of mechanisms that cannot authenticate
	// the server.
	TrustedHosts []string

	// AllowUnencrypted sends plain SOAP bodies after authenticating (no
	// sealing) and accepts plaintext responses. Default false: every body
	// is sealed and a plaintext response is an error.
	AllowUnencrypted bool

	// MaxChannels bounds the authenticated connections per endpoint; zero
	// means DefaultMaxChannels.
	MaxChannels int

	// MaxResponseSize bounds a response body in bytes; zero means
	// DefaultMaxResponseSize.
	MaxResponseSize int64

	// Logger receives debug records of handshakes and re-authentications.
	// They never hold tokens, passwords or keys. nil: no logging.
	Logger *slog.Logger

	mu     sync.Mutex
	pools  map[string]*pool
	nextID atomic.Int64
}

// RoundTrip implements http.RoundTripper: it authenticates a channel if
// needed, sends req's body sealed on it, and returns the response with its
// body opened. It does not modify req and closes req.Body on every path.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Mechanism == nil {
		closeBody(req)
		return nil, ErrNoMechanism
	}
	if req.URL == nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
		closeBody(req)
		return nil, fmt.Errorf("auth: %s: unsupported URL %v", t.name(), req.URL)
	}
	host := req.URL.Hostname()
	untrusted := req.URL.Scheme == "http" && !HostTrusted(t.TrustedHosts, host)
	if untrusted && !t.Mechanism.mayAuthenticateServer(host) {
		closeBody(req)
		return nil, fmt.Errorf("auth: %s: host %q: %w", t.name(), host, ErrUntrustedHost)
	}
	body, err := readRequestBody(req)
	if err != nil {
		return nil, fmt.Errorf("auth: %s: read request body: %w", t.name(), err)
	}
	p := t.pool(req.URL.Scheme + "://" + req.URL.Host)
	ch, err := p.acquire(req.Context())
	if err != nil {
		return nil, err
	}
	resp, keep, err := ch.roundTrip(req, body, untrusted)
	p.release(ch, keep)
	return resp, err
}

// EncryptsMessages reports whether every message body is sealed: true
// unless AllowUnencrypted. It implements MessageEncrypter.
func (t *Transport) EncryptsMessages() bool { return !t.AllowUnencrypted }

// CloseIdleConnections closes the connections of idle channels and forgets
// their security contexts. Channels in use at the time are not affected.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	pools := make([]*pool, 0, len(t.pools))
	for _, p := range t.pools {
		pools = append(pools, p)
	}
	t.mu.Unlock()
	for _, p := range pools {
		p.closeIdle()
	}
}

// name is the scheme as it appears in errors and logs.
func (t *Transport) name() string { return strings.ToLower(t.Mechanism.scheme()) }

func (t *Transport) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return discardLogger
}

var discardLogger = slog.New(slog.DiscardHandler)

func (t *Transport) maxResponse() int64 {
	if t.MaxResponseSize > 0 {
		return t.MaxResponseSize
	}
	return DefaultMaxResponseSize
}

// pool returns the channel pool of an endpoint ("scheme://host:port").
func (t *Transport) pool(key string) *pool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pools == nil {
		t.pools = make(map[string]*pool)
	}
	p := t.pools[key]
	if p == nil {
		n := t.MaxChannels
		if n <= 0 {
			n = DefaultMaxChannels
		}
		p = &pool{t: t, sem: make(chan struct{}, n)}
		t.pools[key] = p
	}
	return p
}

// newHTTPTransport clones Base for one channel: one connection at a time,
// kept alive, HTTP/1.1 only, every dialled connection tagged.
func (t *Transport) newHTTPTransport() *http.Transport {
	var hc *http.Transport
	switch {
	case t.Base != nil:
		hc = t.Base.Clone()
	default:
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			hc = dt.Clone()
		} else {
			hc = &http.Transport{Proxy: http.ProxyFromEnvironment, TLSHandshakeTimeout: 10 * time.Second}
		}
	}
	hc.MaxConnsPerHost = 1
	hc.MaxIdleConnsPerHost = 1
	hc.MaxIdleConns = 1
	hc.DisableKeepAlives = false
	hc.DisableCompression = true
	hc.ForceAttemptHTTP2 = false
	hc.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	var protos http.Protocols
	protos.SetHTTP1(true)
	hc.Protocols = &protos
	if hc.TLSClientConfig != nil && len(hc.TLSClientConfig.NextProtos) > 0 {
		hc.TLSClientConfig.NextProtos = nil
	}
	dial := hc.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	hc.DialContext = trackDial(dial)
	if hc.DialTLSContext != nil {
		hc.DialTLSContext = trackDial(hc.DialTLSContext)
	}
	return hc
}

// readRequestBody reads and closes the request body.
func readRequestBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	return io.ReadAll(req.Body)
}

// pool holds the channels of one endpoint.
type pool struct {
	t   *Transport
	sem chan struct{} // one slot per channel in use

	mu   sync.Mutex
	idle []*channel // most recently used last

	// offered is set once a probe of this endpoint over plain HTTP found
	// the scheme offered: later channels skip the probe (see
	// channel.authenticate).
	offered atomic.Bool
}

// acquire takes an idle channel, or a new one while fewer than MaxChannels
// are in use, else waits for one or for ctx.
func (p *pool) acquire(ctx context.Context) (*channel, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("auth: %s: waiting for a free connection: %w", p.t.name(), context.Cause(ctx))
	}
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		ch := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return ch, nil
	}
	p.mu.Unlock()
	ch := newChannel(p.t)
	ch.offered = &p.offered
	return ch, nil
}

// release returns ch to the idle set; keep false drops its context and
// connection first.
func (p *pool) release(ch *channel, keep bool) {
	if !keep {
		ch.reset()
	}
	p.mu.Lock()
	p.idle = append(p.idle, ch)
	p.mu.Unlock()
	<-p.sem
}

// closeIdle closes every idle channel and forgets it.
func (p *pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, ch := range idle {
		ch.reset()
	}
}
