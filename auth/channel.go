package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/sealedbody"
)

// maxHandshakeRounds bounds the POSTs of one handshake (probe included):
// the longest real exchange (CredSSP with NTLM inside) takes about 6.
const maxHandshakeRounds = 12

// maxTokenSize bounds a token in WWW-Authenticate (Kerberos tickets with
// large PACs stay well under this).
const maxTokenSize = 64 << 10

// errConnChanged reports that a handshake request went out on another
// connection than the one the handshake started on.
var errConnChanged = errors.New("auth: the connection changed during the handshake")

// errNeedProbe reports that a handshake started without the probe got no
// answer to its first token: it starts over with the probe.
var errNeedProbe = errors.New("auth: the server did not take up the first token")

// errStale reports that a sealed request could not go out on the bound
// connection (it was closed, or http.Transport picked another one).
var errStale = errors.New("auth: the authenticated connection is gone")

// channel is one security context bound to one TCP connection. Only the
// goroutine that acquired it from its pool uses it.
type channel struct {
	t  *Transport
	id int64
	hc *http.Transport

	init      gss.Initiator // nil until authenticated
	bound     *trackedConn  // the connection init belongs to
	serverOK  bool          // the mechanism authenticated the server
	handshake int           // round trips of the last handshake, for tests
	// offered, when not nil, is shared by the channels of one endpoint:
	// set once a probe over plain HTTP found the scheme offered.
	offered *atomic.Bool
}

func newChannel(t *Transport) *channel {
	return &channel{t: t, id: t.nextID.Add(1), hc: t.newHTTPTransport()}
}

// reset forgets the context and closes the idle connection, so the next
// request authenticates on a new connection.
func (c *channel) reset() {
	closeInitiator(c.init)
	c.init, c.bound, c.serverOK = nil, nil, false
	c.hc.CloseIdleConnections()
}

// roundTrip sends one request on the channel, authenticating first when
// needed and once more when the context turns out stale. keep reports
// whether the channel's context is still good.
func (c *channel) roundTrip(req *http.Request, body []byte, untrusted bool) (resp *http.Response, keep bool, err error) {
	log := c.t.logger()
	for attempt := 0; ; attempt++ {
		if c.init == nil || c.bound.closed.Load() {
			if c.init != nil {
				log.Debug("auth: connection closed, re-authenticating", "scheme", c.t.Mechanism.scheme(), "channel", c.id)
				c.reset()
			}
			if err := c.authenticate(req, untrusted); err != nil {
				return nil, false, err
			}
		}
		if untrusted && !c.serverOK {
			return nil, false, fmt.Errorf("auth: %s: host %q: %w", c.t.name(), req.URL.Hostname(), ErrUntrustedHost)
		}
		resp, err := c.send(req, body)
		if err == nil {
			return resp, true, nil
		}
		if attempt == 0 && (errors.Is(err, errStale) || errors.Is(err, ErrAccessDenied)) {
			log.Debug("auth: re-authenticating", "scheme", c.t.Mechanism.scheme(), "channel", c.id, "reason", reason(err))
			c.reset()
			continue
		}
		return nil, false, err
	}
}

// closeInitiator releases what a context holds beyond memory (CredSSP's
// TLS goroutine).
func closeInitiator(init gss.Initiator) {
	if cl, ok := init.(io.Closer); ok {
		_ = cl.Close()
	}
}

// reason names why a channel re-authenticates, for the log.
func reason(err error) string {
	if errors.Is(err, ErrAccessDenied) {
		return "401 on a sealed request"
	}
	return "connection changed"
}

// authenticate runs the handshake on a new connection, once more if the
// connection changed in the middle.
func (c *channel) authenticate(req *http.Request, untrusted bool) error {
	log := c.t.logger()
	scheme := c.t.Mechanism.scheme()
	start := time.Now()
	log.Debug("auth: handshake start", "scheme", scheme, "channel", c.id, "host", req.URL.Host)
	// The probe (an anonymous POST) learns the offered schemes and the TLS
	// certificate. Over plain HTTP there is no certificate to bind to, so
	// once one channel of the endpoint has seen the scheme offered, the
	// others start with their first token; should that fail, they probe.
	probe := c.offered == nil || !c.offered.Load() || req.URL.Scheme != "http"
	var err error
handshake:
	for range 3 {
		err = c.runHandshake(req, untrusted, probe)
		switch {
		case errors.Is(err, errConnChanged):
			log.Debug("auth: connection changed during the handshake, starting over", "scheme", scheme, "channel", c.id)
		case errors.Is(err, errNeedProbe):
			log.Debug("auth: the first token was not taken up, probing", "scheme", scheme, "channel", c.id)
			c.offered.Store(false)
			probe = true
		default:
			break handshake
		}
		c.reset()
	}
	if err != nil {
		c.reset()
		log.Debug("auth: handshake failed", "scheme", scheme, "channel", c.id, "round_trips", c.handshake, "error", err)
		return err
	}
	log.Debug("auth: handshake done", "scheme", scheme, "channel", c.id, "round_trips", c.handshake,
		"server_authenticated", c.serverOK, "duration", time.Since(start))
	return nil
}

// runHandshake probes for the offered schemes and the TLS certificate
// (unless probe is false), then exchanges tokens until the context is
// established, every request on the same connection.
func (c *channel) runHandshake(req *http.Request, untrusted, probe bool) (err error) {
	name, scheme := c.t.name(), c.t.Mechanism.scheme()
	c.handshake = 0
	tgt := target{host: req.URL.Hostname(), untrusted: untrusted}
	var conn *trackedConn // the handshake's connection, once known
	if probe {
		resp, got, err := c.post(req, "")
		if err != nil {
			return fmt.Errorf("auth: %s: probe: %w", name, err)
		}
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("auth: %s: the server answered an unauthenticated request with HTTP %d: %w", name, resp.StatusCode, ErrSchemeNotOffered)
		}
		if !offersScheme(resp.Header, scheme) {
			return fmt.Errorf("auth: %s: WWW-Authenticate offers %q: %w", name, offeredSchemes(resp.Header), ErrSchemeNotOffered)
		}
		if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
			tgt.bindings = gss.TLSServerEndPoint(resp.TLS.PeerCertificates[0])
		}
		if c.offered != nil && resp.TLS == nil {
			c.offered.Store(true)
		}
		conn = got
	}
	init, err := c.t.Mechanism.newInitiator(tgt)
	if err != nil {
		return fmt.Errorf("auth: %s: %w: %w", name, ErrHandshake, err)
	}
	defer func() {
		if err != nil {
			closeInitiator(init)
		}
	}()
	out, err := init.Step(req.Context(), nil)
	if err != nil {
		if _, negotiate := c.t.Mechanism.(*Negotiate); untrusted && negotiate {
			// Only Kerberos was offered, and it could not start.
			return fmt.Errorf("auth: %s: host %q: %w: Kerberos: %w", name, req.URL.Hostname(), ErrUntrustedHost, err)
		}
		return fmt.Errorf("auth: %s: %w: first token: %w", name, ErrHandshake, err)
	}
	for {
		if c.handshake >= maxHandshakeRounds {
			return fmt.Errorf("auth: %s: %w: no result after %d round trips", name, ErrHandshake, c.handshake)
		}
		resp, got, err := c.post(req, scheme+" "+base64.StdEncoding.EncodeToString(out))
		if err != nil {
			return fmt.Errorf("auth: %s: handshake: %w", name, err)
		}
		if conn == nil {
			conn = got
		}
		if got != conn {
			return errConnChanged
		}
		in, err := tokenFor(resp.Header, scheme)
		if err != nil {
			return fmt.Errorf("auth: %s: %w: %w", name, ErrHandshake, err)
		}
		if !probe && c.handshake == 1 && resp.StatusCode == http.StatusUnauthorized && len(in) == 0 {
			// No answer to the first token: the server may no longer
			// offer the scheme. Not a refusal of the credentials, which
			// comes later in the exchange.
			return errNeedProbe
		}
		switch resp.StatusCode {
		case http.StatusOK:
			if len(in) > 0 && !init.Established() {
				// The server's last token: Kerberos AP-REP, SPNEGO
				// accept-completed with its mechListMIC.
				if _, err := init.Step(req.Context(), in); err != nil {
					return fmt.Errorf("auth: %s: %w: final token: %w", name, ErrHandshake, err)
				}
			}
			if !init.Established() {
				return fmt.Errorf("auth: %s: %w: the server accepted an unfinished exchange: %w", name, ErrHandshake, gss.ErrNotEstablished)
			}
			c.init, c.bound = init, conn
			sa, ok := init.(gss.ServerAuthenticator)
			c.serverOK = ok && sa.ServerAuthenticated()
			return nil
		case http.StatusUnauthorized:
			if init.Established() {
				return fmt.Errorf("auth: %s: %w", name, ErrAccessDenied)
			}
			if len(in) == 0 {
				// A bare challenge is a refusal, except to a mechanism
				// that can go on without a server token (CredSSP after
				// its last TLS 1.3 flight, which the server does not
				// answer).
				if out, err = init.Step(req.Context(), nil); err != nil || len(out) == 0 {
					return fmt.Errorf("auth: %s: %w", name, ErrAccessDenied)
				}
				continue
			}
			if out, err = init.Step(req.Context(), in); err != nil {
				return fmt.Errorf("auth: %s: %w: %w", name, ErrHandshake, err)
			}
		default:
			return fmt.Errorf("auth: %s: %w: unexpected HTTP %d", name, ErrHandshake, resp.StatusCode)
		}
	}
}

// post sends one empty-body handshake POST, with Authorization authz
// unless empty, and reports the connection it went out on. The response
// body is drained so the connection stays usable.
func (c *channel) post(req *http.Request, authz string) (*http.Response, *trackedConn, error) {
	ctx, trace := withConnTrace(req.Context())
	u := *req.URL
	u.User = nil
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	if ua := req.Header.Get("User-Agent"); ua != "" {
		r.Header.Set("User-Agent", ua)
	}
	r.Host = req.Host
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	c.handshake++
	resp, err := c.hc.RoundTrip(r)
	if err != nil {
		return nil, nil, err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, nil, err
	}
	return resp, trace.conn.Load(), nil
}

// send seals body (unless AllowUnencrypted), sends it on the bound
// connection and opens the response. errStale and ErrAccessDenied mean
// nothing was processed under the context and a retry is safe.
func (c *channel) send(req *http.Request, body []byte) (*http.Response, error) {
	name := c.t.name()
	contentType := req.Header.Get("Content-Type")
	payload := body
	if !c.t.AllowUnencrypted {
		var err error
		contentType, payload, err = sealedbody.Seal(c.init, c.t.Mechanism.protocol(), body, c.t.Mechanism.chunkSize())
		if err != nil {
			return nil, fmt.Errorf("auth: %s: seal: %w", name, err)
		}
	}
	ctx, trace := withConnTrace(req.Context())
	var refused atomic.Bool
	newBody := func() io.ReadCloser {
		return &guardedBody{r: bytes.NewReader(payload), trace: trace, bound: c.bound, refused: &refused}
	}
	r := req.Clone(ctx)
	r.Body = newBody()
	r.GetBody = func() (io.ReadCloser, error) { return newBody(), nil }
	r.ContentLength = int64(len(payload))
	r.Header.Del("Authorization")
	r.Header.Del("Content-Length")
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.RoundTrip(r)
	if err != nil {
		if refused.Load() || (req.Context().Err() == nil && c.bound.closed.Load() && (!trace.wrote.Load() || connDropped(err))) {
			// Nothing, or not all of the sealed body, reached the server
			// before the bound connection died; or the server hung up on
			// the kept-alive connection without a byte of answer, the race
			// between its idle timeout and our request that browsers also
			// retry. The server has not acted on the request.
			return nil, fmt.Errorf("auth: %s: %w: %w", name, errStale, err)
		}
		return nil, fmt.Errorf("auth: %s: %w", name, err)
	}
	buf, err := readLimited(resp.Body, resp.ContentLength, c.t.maxResponse())
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("auth: %s: read response: %w", name, err)
	}
	data := *buf
	if got := trace.conn.Load(); got != c.bound {
		// An empty body would not trip the guard; the answer came under
		// no context of ours.
		putResponseBuffer(buf)
		return nil, fmt.Errorf("auth: %s: %w", name, errStale)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		putResponseBuffer(buf)
		return nil, fmt.Errorf("auth: %s: %w", name, ErrAccessDenied)
	}
	resp.Request = req
	ct := resp.Header.Get("Content-Type")
	switch {
	case sealedbody.IsSealed(ct):
		plain, err := sealedbody.Open(c.init, ct, data, int(min(c.t.maxResponse(), int64(^uint(0)>>1))))
		if err != nil {
			putResponseBuffer(buf)
			c.reset() // the sequence state is unknown now
			return nil, fmt.Errorf("auth: %s: HTTP %d: %w: %w", name, resp.StatusCode, ErrSealedResponse, err)
		}
		data = plain
		resp.Header.Set("Content-Type", sealedbody.SOAPContentType)
	case len(data) > 0 && !c.t.AllowUnencrypted:
		putResponseBuffer(buf)
		c.reset()
		return nil, fmt.Errorf("auth: %s: HTTP %d with Content-Type %q: %w", name, resp.StatusCode, ct, ErrUnsealedResponse)
	}
	// data is buf, or (opened in place) a part of it, or (several parts)
	// a copy of the plaintext; the body gives buf back on Close.
	resp.Body = newResponseBody(data, buf)
	resp.ContentLength = int64(len(data))
	resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
	resp.Uncompressed = false
	return resp, nil
}

// connDropped reports whether err is the peer closing or resetting the
// connection (rather than a timeout or a cancellation).
func connDropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "server closed idle connection")
}

// guardedBody is a sealed request body that refuses, without emitting a
// byte, to go out on any connection but the one its context is bound to:
// it catches a connection the server closed and http.Transport's silent
// retry on a new connection alike.
type guardedBody struct {
	r       *bytes.Reader
	trace   *connTrace
	bound   *trackedConn
	refused *atomic.Bool
	checked bool
}

func (g *guardedBody) Read(p []byte) (int, error) {
	if !g.checked {
		if g.trace.conn.Load() != g.bound || g.bound.closed.Load() {
			g.refused.Store(true)
			return 0, errStale
		}
		g.checked = true
	}
	return g.r.Read(p)
}

func (g *guardedBody) Close() error { return nil }

// offersScheme reports whether a WWW-Authenticate header offers scheme.
func offersScheme(h http.Header, scheme string) bool {
	for _, v := range h.Values("Www-Authenticate") {
		for part := range strings.SplitSeq(v, ",") {
			s, _, _ := strings.Cut(strings.TrimSpace(part), " ")
			if strings.EqualFold(s, scheme) {
				return true
			}
		}
	}
	return false
}

// offeredSchemes lists the schemes of WWW-Authenticate, for errors.
func offeredSchemes(h http.Header) string {
	var s []string
	for _, v := range h.Values("Www-Authenticate") {
		name, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		s = append(s, name)
	}
	return strings.Join(s, ", ")
}

// tokenFor returns the token of the WWW-Authenticate value "<scheme>
// <base64>", or nil when there is none.
func tokenFor(h http.Header, scheme string) ([]byte, error) {
	for _, v := range h.Values("Www-Authenticate") {
		s, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
		if !ok || !strings.EqualFold(s, scheme) {
			continue
		}
		tok = strings.TrimSpace(tok)
		if tok == "" {
			return nil, nil
		}
		if base64.StdEncoding.DecodedLen(len(tok)) > maxTokenSize {
			return nil, fmt.Errorf("server token larger than %d bytes: %w", maxTokenSize, gss.ErrBadToken)
		}
		b, err := base64.StdEncoding.DecodeString(tok)
		if err != nil {
			return nil, fmt.Errorf("server token is not base64: %w", gss.ErrBadToken)
		}
		return b, nil
	}
	return nil, nil
}
