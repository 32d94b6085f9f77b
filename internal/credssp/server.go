package credssp

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"runtime"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// ServerConfig configures a CredSSP server.
type ServerConfig struct {
	// Certificate is the TLS certificate of the inner TLS session. If it
	// is empty, a self-signed RSA certificate generated once per process
	// is used.
	Certificate tls.Certificate
	// NewInner returns the acceptor of the inner mechanism (SPNEGO, or raw
	// NTLM) for one authentication.
	NewInner func() (gss.Acceptor, error)
	// MinClientVersion is the lowest TSRequest version accepted from the
	// client, 2 to 6. Zero means DefaultMinVersion.
	MinClientVersion int
}

type serverState int

const (
	serverHandshake serverState = iota // TLS handshake running
	serverAuth                         // exchanging inner tokens until pubKeyAuth
	serverCreds                        // sent pubKeyAuth, waiting for authInfo
	serverDone                         // credentials received
)

// Server is the acceptor side of CredSSP. It implements gss.Acceptor.
// A Server is used by one goroutine at a time; call Close when abandoning
// it before it is established.
type Server struct {
	tlsContext
	newInner    func() (gss.Acceptor, error)
	minVersion  int
	version     int // the version announced; Version except in tests
	pubKey      []byte
	state       serverState
	inner       gss.Acceptor
	peerVersion int
	headerLen   int // the inner mechanism's wrap header length, from pubKeyAuth
	creds       passwordCreds
}

// NewServer returns a server configured by cfg.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.NewInner == nil {
		return nil, errors.New("credssp: ServerConfig.NewInner is nil")
	}
	minVersion, err := minPeerVersion("MinClientVersion", cfg.MinClientVersion)
	if err != nil {
		return nil, err
	}
	cert := cfg.Certificate
	if len(cert.Certificate) == 0 {
		if cert, err = selfSigned(); err != nil {
			return nil, fmt.Errorf("credssp: self-signed certificate: %w", err)
		}
	}
	leaf, err := leafOf(cert)
	if err != nil {
		return nil, err
	}
	pub, err := subjectPublicKey(leaf)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{
		Certificates:           []tls.Certificate{cert},
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: true, // no resumption in CredSSP
	}
	s := &Server{
		newInner:   cfg.NewInner,
		minVersion: minVersion,
		version:    Version,
		tlsContext: tlsContext{ch: newTLSChannel(false, tc)},
		pubKey:     pub,
	}
	runtime.AddCleanup(s, (*memConn).closeConn, s.ch.conn)
	return s, nil
}

// UserName is the user the inner mechanism authenticated.
func (s *Server) UserName() string {
	if !s.established {
		return ""
	}
	return s.inner.UserName()
}

// Credentials returns the password credentials the client delegated.
func (s *Server) Credentials() (domain, user, password string, ok bool) {
	if !s.established {
		return "", "", "", false
	}
	return s.creds.Domain, s.creds.User, s.creds.Password, true
}

// Version returns the TSRequest version the client announced.
func (s *Server) Version() int { return s.peerVersion }

// Step implements gss.Acceptor. When the inner mechanism refuses the
// client, Step returns an error wrapping gss.ErrAuthFailed together with a
// token carrying the errorCode (for client versions 3, 4 and 6+), which the
// caller may send to the client. A failure ends the context.
func (s *Server) Step(ctx context.Context, in []byte) ([]byte, error) {
	return s.advance(ctx, in, s.step)
}

func (s *Server) step(ctx context.Context, in []byte) ([]byte, error) {
	switch s.state {
	case serverHandshake:
		out, done, err := s.ch.handshake(ctx, in)
		if err != nil || !done {
			return out, err
		}
		s.state = serverAuth
		// A client may send its first TSRequest with its last flight.
		data, err := s.ch.open()
		if err != nil {
			return nil, err
		}
		if len(data) == 0 {
			return out, nil
		}
		resp, err := s.handleAuth(ctx, data)
		return append(out, resp...), err
	case serverAuth:
		if len(in) > maxToken {
			return nil, fmt.Errorf("credssp: token of %d bytes exceeds the limit: %w", len(in), gss.ErrBadToken)
		}
		if len(in) == 0 {
			return nil, fmt.Errorf("credssp: empty token where a TSRequest was expected: %w", gss.ErrBadToken)
		}
		data, err := s.ch.open(in)
		if err != nil {
			return nil, err
		}
		return s.handleAuth(ctx, data)
	case serverCreds:
		req, err := openRequest(s.ch, in)
		if err != nil {
			return nil, err
		}
		if req.AuthInfo == nil {
			return nil, fmt.Errorf("credssp: client sent no authInfo: %w", gss.ErrBadToken)
		}
		plain, err := unwrapField(s.inner, req.AuthInfo, s.headerLen)
		if err != nil {
			return nil, fmt.Errorf("credssp: open authInfo: %w", err)
		}
		creds, err := parseTSCredentials(plain)
		clear(plain)
		if err != nil {
			return nil, err
		}
		s.creds = creds
		s.state = serverDone
		s.established = true
		return nil, nil
	default:
		return nil, fmt.Errorf("credssp: token after the context was established: %w", gss.ErrBadToken)
	}
}

// handleAuth processes a TSRequest of the inner exchange, up to the
// client's pubKeyAuth.
func (s *Server) handleAuth(ctx context.Context, data []byte) ([]byte, error) {
	req, err := parseTSRequest(data)
	if err != nil {
		return nil, err
	}
	s.peerVersion = req.Version
	if req.Version < s.minVersion {
		return s.refuse(StatusNotSupported, &VersionError{Version: req.Version, Min: s.minVersion})
	}
	var out []byte
	tok := req.firstToken()
	if len(tok) > 0 {
		if s.inner == nil {
			if s.inner, err = s.newInner(); err != nil {
				return nil, fmt.Errorf("credssp: inner acceptor: %w", err)
			}
		}
		out, err = s.inner.Step(ctx, tok)
		if err != nil {
			code := StatusInvalidParameter
			if errors.Is(err, gss.ErrAuthFailed) {
				code = StatusLogonFailure
			}
			return s.refuse(code, fmt.Errorf("credssp: inner authentication: %w", err))
		}
	}
	if req.PubKeyAuth == nil {
		if tok == nil {
			return nil, fmt.Errorf("credssp: TSRequest with neither negoTokens nor pubKeyAuth: %w", gss.ErrBadToken)
		}
		return s.ch.seal((&tsRequest{Version: s.version, NegoTokens: [][]byte{nonNil(out)}}).marshal())
	}
	if s.inner == nil || !s.inner.Established() {
		return nil, fmt.Errorf("credssp: pubKeyAuth before the inner mechanism completed: %w", gss.ErrNotEstablished)
	}
	var nonce []byte
	if min(req.Version, s.version) >= nonceVersion {
		if len(req.ClientNonce) != nonceLen {
			return nil, fmt.Errorf("credssp: clientNonce of %d bytes, want %d: %w", len(req.ClientNonce), nonceLen, gss.ErrBadToken)
		}
		nonce = req.ClientNonce
	}
	want := clientBinding(s.pubKey, nonce)
	s.headerLen = len(req.PubKeyAuth) - len(want)
	got, err := unwrapField(s.inner, req.PubKeyAuth, s.headerLen)
	if err != nil {
		return nil, fmt.Errorf("credssp: open client pubKeyAuth: %w", err)
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return nil, fmt.Errorf("credssp: client pubKeyAuth does not match the TLS server key (man in the middle?): %w", gss.ErrIntegrity)
	}
	pka, err := wrapField(s.inner, serverBinding(s.pubKey, nonce))
	if err != nil {
		return nil, fmt.Errorf("credssp: seal pubKeyAuth: %w", err)
	}
	resp := &tsRequest{Version: s.version, PubKeyAuth: pka}
	if len(out) > 0 {
		resp.NegoTokens = [][]byte{out}
	}
	s.state = serverCreds
	return s.ch.seal(resp.marshal())
}

// refuse returns err and, when the client's version has errorCode (3, 4
// and 6+), the sealed TSRequest that reports code.
func (s *Server) refuse(code uint32, err error) ([]byte, error) {
	v := min(s.peerVersion, s.version)
	if v != 3 && v != 4 && v < 6 {
		return nil, err
	}
	tok, serr := s.ch.seal((&tsRequest{Version: s.version, HasErrorCode: true, ErrorCode: code}).marshal())
	if serr != nil {
		return nil, err
	}
	return tok, err
}
