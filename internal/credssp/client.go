package credssp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"runtime"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// Version is the CredSSP (TSRequest) version this package speaks.
const Version = 6

// DefaultMinVersion is the lowest peer version accepted when the
// configuration leaves it zero: 5, the first version with the client nonce
// that fixes CVE-2018-0886 (Windows updated since May 2018 speaks 6).
const DefaultMinVersion = 5

// minPeerVersion is the lowest TSRequest version to accept from the peer
// when the setting named field is v: DefaultMinVersion for zero, else v
// if it is between 2 and Version.
func minPeerVersion(field string, v int) (int, error) {
	if v == 0 {
		return DefaultMinVersion, nil
	}
	if v < 2 || v > Version {
		return 0, fmt.Errorf("credssp: %s %d is not between 2 and %d", field, v, Version)
	}
	return v, nil
}

// ClientConfig configures a CredSSP client.
type ClientConfig struct {
	// Username is `DOMAIN\user`, user@domain or user. The domain part of
	// the first form goes into TSPasswordCreds.domainName; the other forms
	// are sent whole as userName with an empty domain.
	Username string
	// Password is delegated to the server in TSPasswordCreds.
	Password string
	// Inner authenticates inside the TLS channel. WinRM peers expect
	// SPNEGO (wrapping NTLM or Kerberos); raw NTLM also works with pyspnego.
	Inner gss.Initiator
	// TLSConfig configures the inner TLS session. If nil, the server
	// certificate is not verified by TLS (CredSSP binds the server key to
	// the inner authentication through pubKeyAuth instead) and TLS 1.2 is
	// the minimum. A MinVersion of zero is raised to TLS 1.2.
	TLSConfig *tls.Config
	// MinServerVersion is the lowest TSRequest version accepted from the
	// server, 2 to 6. Zero means DefaultMinVersion; set 2 to talk to
	// servers without the CVE-2018-0886 fix.
	MinServerVersion int
}

type clientState int

const (
	clientHandshake    clientState = iota // TLS handshake running
	clientHandshakeAck                    // sent the last TLS flight, waiting for the server's answer
	clientAuth                            // exchanging inner tokens
	clientPubKey                          // sent pubKeyAuth, waiting for the server's
	clientDone                            // sent authInfo
)

// Client is the initiator side of CredSSP. It implements gss.Initiator.
// A Client is used by one goroutine at a time; call Close when abandoning
// it before it is established.
type Client struct {
	tlsContext
	creds       passwordCreds
	inner       gss.Initiator
	minVersion  int
	state       clientState
	peerVersion int
	pubKey      []byte
	nonce       []byte
}

// NewClient returns a client that authenticates with cfg.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Inner == nil {
		return nil, errors.New("credssp: ClientConfig.Inner is nil")
	}
	minVersion, err := minPeerVersion("MinServerVersion", cfg.MinServerVersion)
	if err != nil {
		return nil, err
	}
	var tc *tls.Config
	if cfg.TLSConfig == nil {
		// Not verified by TLS: pubKeyAuth proves the inner mechanism's
		// peer holds this key.
		tc = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec
	} else {
		tc = cfg.TLSConfig.Clone()
		if tc.MinVersion == 0 {
			tc.MinVersion = tls.VersionTLS12
		}
	}
	domain, user := splitUsername(cfg.Username)
	c := &Client{
		creds:      passwordCreds{Domain: domain, User: user, Password: cfg.Password},
		inner:      cfg.Inner,
		minVersion: minVersion,
		tlsContext: tlsContext{ch: newTLSChannel(true, tc)},
	}
	runtime.AddCleanup(c, (*memConn).closeConn, c.ch.conn)
	return c, nil
}

// closeConn is the cleanup of an abandoned context.
func (c *memConn) closeConn() { c.Close() }

// Version returns the TSRequest version the server announced (0 before
// its first TSRequest).
func (c *Client) Version() int { return c.peerVersion }

// Step implements gss.Initiator: in is the server's last token (nil at
// first) and out the next token to send. A failure ends the context.
func (c *Client) Step(ctx context.Context, in []byte) ([]byte, error) {
	out, err := c.advance(ctx, in, c.step)
	if err != nil {
		return nil, err // nothing goes to the server after a failure
	}
	return out, nil
}

func (c *Client) step(ctx context.Context, in []byte) ([]byte, error) {
	switch c.state {
	case clientHandshake:
		out, done, err := c.ch.handshake(ctx, in)
		if err != nil || !done {
			return out, err
		}
		st := c.ch.tls.ConnectionState()
		if len(st.PeerCertificates) == 0 {
			return nil, fmt.Errorf("credssp: server sent no certificate: %w", gss.ErrBadToken)
		}
		if c.pubKey, err = subjectPublicKey(st.PeerCertificates[0]); err != nil {
			return nil, err
		}
		if len(out) > 0 {
			// TLS 1.3: our Finished goes alone, as Windows and pyspnego
			// expect; the server answers (possibly with an empty token).
			c.state = clientHandshakeAck
			return out, nil
		}
		return c.startAuth(ctx)
	case clientHandshakeAck:
		if len(in) > 0 {
			data, err := c.ch.open(in)
			if err != nil {
				return nil, err
			}
			if len(data) > 0 {
				return nil, fmt.Errorf("credssp: unexpected data after the TLS handshake: %w", gss.ErrBadToken)
			}
		}
		return c.startAuth(ctx)
	case clientAuth:
		req, err := c.readRequest(in)
		if err != nil {
			return nil, err
		}
		out, err := c.inner.Step(ctx, req.firstToken())
		if err != nil {
			return nil, fmt.Errorf("credssp: inner authentication: %w", err)
		}
		return c.afterInner(out)
	case clientPubKey:
		return c.finish(ctx, in)
	default: // clientDone
		if len(in) > 0 {
			if _, err := c.readRequest(in); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
}

// startAuth runs the inner mechanism's first step.
func (c *Client) startAuth(ctx context.Context) ([]byte, error) {
	out, err := c.inner.Step(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("credssp: inner authentication: %w", err)
	}
	return c.afterInner(out)
}

// ntlmAuthenticate is the start of an NTLM AUTHENTICATE message.
var ntlmAuthenticate = []byte("NTLMSSP\x00\x03\x00\x00\x00")

// afterInner sends the inner mechanism's token: alone while the inner
// exchange goes on, with pubKeyAuth once the inner context can seal.
// SPNEGO-wrapped NTLM is complete only after the server's mechListMIC, but
// Windows expects the AUTHENTICATE together with pubKeyAuth, so that token
// also triggers pubKeyAuth when the inner context can already seal.
func (c *Client) afterInner(out []byte) ([]byte, error) {
	if c.inner.Established() || bytes.Contains(out, ntlmAuthenticate) {
		tok, err := c.pubKeyRequest(out)
		if err == nil {
			return tok, nil
		}
		if c.inner.Established() || !errors.Is(err, gss.ErrNotEstablished) {
			return nil, err
		}
	}
	c.state = clientAuth
	return c.ch.seal((&tsRequest{Version: Version, NegoTokens: [][]byte{nonNil(out)}}).marshal())
}

// pubKeyRequest builds the TSRequest with pubKeyAuth (and the inner
// mechanism's last token, if any).
func (c *Client) pubKeyRequest(out []byte) ([]byte, error) {
	selected := Version
	if c.peerVersion != 0 {
		selected = min(c.peerVersion, Version)
	}
	var nonce []byte
	if selected >= nonceVersion {
		nonce = make([]byte, nonceLen)
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("credssp: nonce: %w", err)
		}
	}
	pka, err := wrapField(c.inner, clientBinding(c.pubKey, nonce))
	if err != nil {
		return nil, fmt.Errorf("credssp: seal pubKeyAuth: %w", err)
	}
	req := &tsRequest{Version: Version, PubKeyAuth: pka, ClientNonce: nonce}
	if len(out) > 0 {
		req.NegoTokens = [][]byte{out}
	}
	c.nonce = nonce
	c.state = clientPubKey
	return c.ch.seal(req.marshal())
}

// finish checks the server's pubKeyAuth and delegates the credentials.
func (c *Client) finish(ctx context.Context, in []byte) ([]byte, error) {
	req, err := c.readRequest(in)
	if err != nil {
		return nil, err
	}
	if tok := req.firstToken(); len(tok) > 0 && !c.inner.Established() {
		// SPNEGO's final token (accept-completed, mechListMIC).
		if _, err := c.inner.Step(ctx, tok); err != nil {
			return nil, fmt.Errorf("credssp: inner authentication: %w", err)
		}
	}
	if !c.inner.Established() {
		return nil, fmt.Errorf("credssp: inner mechanism not complete after pubKeyAuth: %w", gss.ErrNotEstablished)
	}
	if req.PubKeyAuth == nil {
		return nil, fmt.Errorf("credssp: server sent no pubKeyAuth: %w", gss.ErrBadToken)
	}
	want := serverBinding(c.pubKey, c.nonce)
	got, err := unwrapField(c.inner, req.PubKeyAuth, len(req.PubKeyAuth)-len(want))
	if err != nil {
		return nil, fmt.Errorf("credssp: open server pubKeyAuth: %w", err)
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return nil, fmt.Errorf("credssp: server pubKeyAuth does not match the TLS server key (man in the middle?): %w", gss.ErrIntegrity)
	}
	plain := marshalTSCredentials(c.creds)
	authInfo, err := wrapField(c.inner, plain)
	clear(plain)
	if err != nil {
		return nil, fmt.Errorf("credssp: seal authInfo: %w", err)
	}
	out, err := c.ch.seal((&tsRequest{Version: Version, AuthInfo: authInfo}).marshal())
	if err != nil {
		return nil, err
	}
	c.state = clientDone
	c.established = true
	return out, nil
}

// readRequest opens and parses a TSRequest from the server, and turns its
// errorCode and a too-old version into errors.
func (c *Client) readRequest(in []byte) (*tsRequest, error) {
	req, err := openRequest(c.ch, in)
	if err != nil {
		return nil, err
	}
	if req.HasErrorCode && req.ErrorCode != 0 {
		return nil, &StatusError{Code: req.ErrorCode}
	}
	if req.Version < c.minVersion {
		return nil, &VersionError{Version: req.Version, Min: c.minVersion}
	}
	c.peerVersion = req.Version
	return req, nil
}

// openRequest decrypts one token and parses the TSRequest inside.
func openRequest(ch *tlsChannel, in []byte) (*tsRequest, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("credssp: empty token where a TSRequest was expected: %w", gss.ErrBadToken)
	}
	if len(in) > maxToken {
		return nil, fmt.Errorf("credssp: token of %d bytes exceeds the limit: %w", len(in), gss.ErrBadToken)
	}
	plain, err := ch.open(in)
	if err != nil {
		return nil, err
	}
	return parseTSRequest(plain)
}

// nonNil returns b, or an empty non-nil slice, so that an empty negoToken
// is still encoded.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
