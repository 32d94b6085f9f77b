package wsman

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Defaults used when the corresponding Client field is zero.
const (
	// DefaultOperationTimeout is 20 s, what pypsrp sends and the captures
	// show Windows accepting. PowerShell's own 3 min would exceed the WinRM
	// service's default MaxTimeoutms (60 s) and draw a fault.
	DefaultOperationTimeout = 20 * time.Second
	// DefaultMaxEnvelopeSize is 150 KiB, the PowerShell v2 default that every
	// Windows host accepts; raise it with SetMaxEnvelopeSize once the server
	// is known to take more (protocol ≥ 2.2: 512000).
	DefaultMaxEnvelopeSize = 153600
	// DefaultLocale is used for Locale and DataLocale.
	DefaultLocale = "en-US"
	// DefaultMaxRedirects is PowerShell's MaximumConnectionRedirectionCount.
	DefaultMaxRedirects = 5
	// DefaultMaxResponseSize is the ceiling of the response size limit the
	// client derives from MaxEnvelopeSize (see maxResponseSize).
	DefaultMaxResponseSize = 64 << 20
	// ResponseSizeFactor and ResponseSizeSlack derive the response size
	// limit from the envelope size: a server must keep its answers within
	// the MaxEnvelopeSize the client sends (MS-WSMV 3.1.4.1.11); the factor
	// leaves room for a server that counts characters rather than bytes,
	// and the slack for a fault envelope's fixed part.
	ResponseSizeFactor = 4
	ResponseSizeSlack  = 64 << 10
)

// Client is a WS-Management client of one endpoint. Set the exported fields
// before first use and do not change them afterwards; apart from URL the zero
// value is usable. A Client is safe for concurrent use by multiple goroutines
// (the session layer runs a Receive per pipeline alongside Sends). Do not copy
// a Client after first use.
type Client struct {
	// URL is the endpoint, e.g. "https://host:5986/wsman". It is also sent as
	// wsa:To.
	URL string
	// HTTPClient carries the requests; authentication and message encryption
	// live in its Transport. If nil, http.DefaultClient is used (no timeout:
	// bound calls with their context). The Client never mutates it: redirect
	// policy is applied on a shallow copy.
	HTTPClient *http.Client
	// OperationTimeout is sent as wsman:OperationTimeout. Zero means
	// DefaultOperationTimeout (20 s). A Receive without output returns the
	// ErrOperationTimeout fault after this long.
	OperationTimeout time.Duration
	// MaxEnvelopeSize is sent as wsman:MaxEnvelopeSize, in bytes. Zero means
	// DefaultMaxEnvelopeSize (153600). SetMaxEnvelopeSize overrides it at
	// run time.
	MaxEnvelopeSize int
	// Locale and DataLocale are sent as xml:lang of wsman:Locale and
	// wsmv:DataLocale. Empty means "en-US".
	Locale, DataLocale string
	// SessionID is sent as wsmv:SessionId on every request; disconnect and
	// reconnect need it constant. If zero, a random one is generated on first
	// use and kept (see sessionIDHeader).
	SessionID uuid.UUID
	// AllowRedirects lets the client follow HTTP redirects (like
	// Connect-PSSession -AllowRedirection) to the same origin (scheme, host
	// and port of URL). They are refused by default with a *RedirectError,
	// since a redirect may send credentials elsewhere.
	AllowRedirects bool
	// AllowCrossOriginRedirects, with AllowRedirects, also follows redirects
	// to another origin. The credentials then go to the other host: the
	// Authorization comes from HTTPClient's Transport (Basic adds it to
	// every request, NTLM, Negotiate and CredSSP authenticate each new
	// connection), so wsman cannot strip it as net/http strips the
	// Authorization header it set itself. This is what PowerShell's
	// -AllowRedirection means; leave it off unless the redirect target is
	// trusted with the credentials. Without it a cross-origin redirect (a
	// different scheme, such as https to http, host or port) is refused with
	// a *RedirectError whose CrossOrigin is set.
	AllowCrossOriginRedirects bool
	// MaxRedirects is the number of redirects followed per call when
	// AllowRedirects is set. Zero means DefaultMaxRedirects (5).
	MaxRedirects int
	// MaxResponseSize bounds a response body, in bytes (after decryption:
	// sealed bodies are opened by the Transport). Zero derives the bound from
	// the envelope size in effect (see maxResponseSize). A larger
	// body is an error matching ErrResponseTooLarge.
	MaxResponseSize int64
	// Logger receives one Debug record per request (operation, status,
	// duration). Nil disables logging. Bodies are never logged unless
	// LogBodies is set.
	Logger *slog.Logger
	// LogBodies adds request and response bodies to the debug records. They
	// carry the PSRP payload (which may hold sensitive data); use only for
	// troubleshooting.
	LogBodies bool

	maxEnvelope atomic.Int64 // run-time override of MaxEnvelopeSize
	sidOnce     sync.Once
	sid         string
}

// NewClient returns a Client of the endpoint url that sends its requests
// through httpClient (nil means http.DefaultClient).
func NewClient(url string, httpClient *http.Client) *Client {
	return &Client{URL: url, HTTPClient: httpClient}
}

// SetMaxEnvelopeSize changes the wsman:MaxEnvelopeSize sent from now on; it is
// safe to call while other calls are in flight. n <= 0 restores the field's
// value.
func (c *Client) SetMaxEnvelopeSize(n int) {
	if n < 0 {
		n = 0
	}
	c.maxEnvelope.Store(int64(n))
}

// EffectiveMaxEnvelopeSize returns the MaxEnvelopeSize currently sent.
func (c *Client) EffectiveMaxEnvelopeSize() int {
	if n := c.maxEnvelope.Load(); n > 0 {
		return int(n)
	}
	if c.MaxEnvelopeSize > 0 {
		return c.MaxEnvelopeSize
	}
	return DefaultMaxEnvelopeSize
}

// maxResponseSize returns the bound on a response body in effect:
// MaxResponseSize if set, else ResponseSizeFactor × EffectiveMaxEnvelopeSize
// + ResponseSizeSlack, at most DefaultMaxResponseSize (about 664 KiB with the
// default envelope size, 2.1 MB with 512000).
func (c *Client) maxResponseSize() int64 {
	if c.MaxResponseSize > 0 {
		return c.MaxResponseSize
	}
	return responseLimit(c.EffectiveMaxEnvelopeSize())
}

func responseLimit(maxEnvelope int) int64 {
	return min(int64(maxEnvelope)*ResponseSizeFactor+ResponseSizeSlack, DefaultMaxResponseSize)
}

// sessionIDHeader returns the wsmv:SessionId this client sends ("uuid:" +
// uppercase GUID).
func (c *Client) sessionIDHeader() string {
	c.sidOnce.Do(func() {
		id := c.SessionID
		if id == uuid.Nil {
			id = newUUID()
		}
		c.sid = "uuid:" + strings.ToUpper(id.String())
	})
	return c.sid
}

func newUUID() uuid.UUID { return uuid.New() }

func (c *Client) operationTimeout(override time.Duration) time.Duration {
	switch {
	case override > 0:
		return override
	case c.OperationTimeout > 0:
		return c.OperationTimeout
	}
	return DefaultOperationTimeout
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// httpClient returns a shallow copy of the caller's client whose redirect
// policy hands 3xx responses back to us, so that the redirect decision (and
// re-POSTing the SOAP body, which net/http would turn into a GET on 301/302)
// is ours.
func (c *Client) httpClient() *http.Client {
	base := c.HTTPClient
	if base == nil {
		base = http.DefaultClient
	}
	hc := *base
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

// call sends the request and returns the decoded response envelope. Faults
// become *Fault; transport, HTTP, size and protocol errors are wrapped with
// the operation name.
func (c *Client) call(ctx context.Context, r *request) (*envelopeXML, error) {
	if c.URL == "" {
		return nil, fmt.Errorf("wsman: %s: Client.URL is empty", r.op)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	hc := c.httpClient()
	target := c.URL
	maxRedirects := c.MaxRedirects
	if maxRedirects <= 0 {
		maxRedirects = DefaultMaxRedirects
	}
	params := envelopeParams{
		sessionID:   c.sessionIDHeader(),
		maxEnvelope: c.EffectiveMaxEnvelopeSize(),
		locale:      orDefault(c.Locale, DefaultLocale),
		dataLocale:  orDefault(c.DataLocale, DefaultLocale),
		timeout:     c.operationTimeout(r.timeout),
	}
	limit := c.MaxResponseSize
	if limit <= 0 {
		limit = responseLimit(params.maxEnvelope)
	}
	respBuf := new(bytes.Buffer)
	if r.recycleBody {
		respBuf = bodyBuffers.Get().(*bytes.Buffer)
		defer putBodyBuffer(respBuf)
	}
	for redirects := 0; ; redirects++ {
		params.to = target
		params.messageID = "uuid:" + newGUID()
		body := buildEnvelope(r, params)
		status, respBody, loc, err := c.post(ctx, hc, target, r, body, limit, respBuf)
		if err != nil {
			return nil, err
		}
		if status >= 300 && status < 400 && status != http.StatusNotModified {
			next, err := c.redirect(r.op, status, loc, target, redirects, maxRedirects)
			if err != nil {
				return nil, err
			}
			target = next
			continue
		}
		return c.decode(r, params.messageID, status, respBody)
	}
}

// redirect decides whether to follow a redirect from target to loc, after
// redirects redirects, and returns the URL to POST to next. Every refusal is
// a *RedirectError.
func (c *Client) redirect(op string, status int, loc, target string, redirects, maxRedirects int) (string, error) {
	refuse := func(reason string) error {
		return &RedirectError{Op: op, StatusCode: status, Location: loc, Reason: reason}
	}
	if !c.AllowRedirects {
		return "", &RedirectError{Op: op, StatusCode: status, Location: loc}
	}
	if redirects >= maxRedirects {
		return "", &RedirectError{Op: op, StatusCode: status, Location: loc, TooMany: true}
	}
	next, err := resolveLocation(target, loc)
	if err != nil {
		return "", refuse(err.Error())
	}
	if !c.AllowCrossOriginRedirects {
		from, err := url.Parse(c.URL)
		if err != nil || !sameOrigin(from, next) {
			return "", &RedirectError{Op: op, StatusCode: status, Location: loc, CrossOrigin: true,
				Reason: "another origin (" + origin(next) + ") would receive the credentials; allow it by name to follow (Client.AllowCrossOriginRedirects, session.WithAllowCrossOriginRedirects)"}
		}
	}
	return next.String(), nil
}

// resolveLocation resolves a Location header against the request URL; only
// http and https targets without user information are followed.
func resolveLocation(base, loc string) (*url.URL, error) {
	if loc == "" {
		return nil, errors.New("no Location header")
	}
	b, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	l, err := url.Parse(loc)
	if err != nil {
		return nil, errors.New("invalid Location")
	}
	u := b.ResolveReference(l)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("unsupported Location scheme %q", truncate(u.Scheme, 32))
	}
	if u.User != nil {
		return nil, errors.New("the Location carries user information")
	}
	if u.Host == "" {
		return nil, errors.New("the Location has no host")
	}
	return u, nil
}

// sameOrigin compares scheme, host and port (RFC 6454), with the scheme's
// default port made explicit.
func sameOrigin(a, b *url.URL) bool {
	return origin(a) == origin(b)
}

func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// bodyBuffers recycles the buffers Receive responses are read into: a
// stream of output is one envelope-sized body after another, and
// allocating each anew made half of the client's garbage.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxRecycledBody bounds the buffers kept in bodyBuffers, so that one
// unusually large response does not stay in memory.
const maxRecycledBody = 4 << 20

func putBodyBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxRecycledBody {
		b.Reset()
		bodyBuffers.Put(b)
	}
}

// post does one HTTP exchange and reads the body under the size limit into
// buf (reset first); respBody aliases buf.
func (c *Client) post(ctx context.Context, hc *http.Client, target string, r *request, body []byte, limit int64, buf *bytes.Buffer) (status int, respBody []byte, location string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, "", fmt.Errorf("wsman: %s: %w", r.op, err)
	}
	// Replayable body: auth handshakes (NTLM, Negotiate) resend the request.
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.Header.Set("Accept-Encoding", "identity")
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		c.log(ctx, r, 0, start, body, nil, err)
		return 0, nil, "", fmt.Errorf("wsman: %s: %w", r.op, err)
	}
	defer resp.Body.Close()
	tooLarge := func() error {
		c.log(ctx, r, resp.StatusCode, start, body, nil, ErrResponseTooLarge)
		return &ProtocolError{Op: r.op, Kind: ErrResponseTooLarge, Msg: fmt.Sprintf("response body exceeds %d bytes (HTTP %d)", limit, resp.StatusCode)}
	}
	if resp.ContentLength > limit {
		return 0, nil, "", tooLarge()
	}
	buf.Reset()
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength) + bytes.MinRead)
	}
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		c.log(ctx, r, resp.StatusCode, start, body, nil, err)
		return 0, nil, "", fmt.Errorf("wsman: %s: reading response: %w", r.op, err)
	}
	if int64(buf.Len()) > limit {
		return 0, nil, "", tooLarge()
	}
	respBody = buf.Bytes()
	c.log(ctx, r, resp.StatusCode, start, body, respBody, nil)
	return resp.StatusCode, respBody, resp.Header.Get("Location"), nil
}

func (c *Client) log(ctx context.Context, r *request, status int, start time.Time, req, resp []byte, err error) {
	if c.Logger == nil || !c.Logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("op", r.op),
		slog.String("resource", r.resourceURI),
		slog.Int("status", status),
		slog.Duration("elapsed", time.Since(start)),
	}
	for _, s := range r.selectors {
		attrs = append(attrs, slog.String(s.name, s.value))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	if c.LogBodies {
		attrs = append(attrs, slog.String("request", string(req)), slog.String("response", string(resp)))
	}
	c.Logger.LogAttrs(ctx, slog.LevelDebug, "wsman request", attrs...)
}

// decode turns an HTTP status and body into an envelope or an error.
func (c *Client) decode(r *request, messageID string, status int, body []byte) (*envelopeXML, error) {
	env, perr := parseEnvelope(r.op, body)
	ok := status >= 200 && status < 300
	if perr != nil {
		if !ok {
			return nil, &HTTPError{StatusCode: status, Status: statusText(status), Body: excerpt(body)}
		}
		return nil, perr
	}
	if env.Body.Fault != nil {
		// A fault is reported even when RelatesTo is missing: the server
		// often cannot relate a request it could not parse.
		return nil, env.Body.Fault.toFault(status, r.action)
	}
	if !ok {
		return nil, &HTTPError{StatusCode: status, Status: statusText(status), Body: excerpt(body)}
	}
	if got := strings.TrimSpace(env.Header.RelatesTo); !strings.EqualFold(got, messageID) {
		return nil, &ProtocolError{Op: r.op, Kind: ErrUnexpectedResponse, Msg: fmt.Sprintf("wsa:RelatesTo %q does not match MessageID %q", boundText([]byte(got), len(got), maxFaultField), messageID)}
	}
	if r.rawBody != nil {
		*r.rawBody = bytes.Clone(bytes.TrimSpace(body[env.bodyStart:env.bodyEnd]))
	}
	return env, nil
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprint(code)
}
