package sessiontest

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// AuthConfig says which authentication schemes the endpoint accepts, as
// the Windows service configuration winrm/config/service/Auth does (the
// cfg:Auth element of a config Get).
type AuthConfig struct {
	// Basic is HTTP Basic against Server.Users; over plain HTTP it also
	// needs Server.AllowUnencrypted.
	Basic bool
	// Kerberos is the "Kerberos" HTTP scheme (a raw Kerberos GSS token);
	// it needs Server.Keytab.
	Kerberos bool
	// Negotiate is the "Negotiate" HTTP scheme: SPNEGO with NTLM (against
	// Server.Users) and Kerberos (when Server.Keytab is set) inside, or a
	// raw NTLMSSP or Kerberos token as some clients send.
	Negotiate bool
	// Certificate is TLS client-certificate authentication, mapped to a
	// user by Server.CertificateUsers. HTTPS only.
	Certificate bool
	// CredSSP is the "CredSSP" HTTP scheme: TLS inside the tokens, NTLM
	// (or Kerberos) inside the TLS, then the client's delegated password.
	CredSSP bool
}

// Channel-binding hardening levels (winrm/config/service/Auth/CbtHardeningLevel).
const (
	// CbtNone ignores channel bindings.
	CbtNone = "None"
	// CbtRelaxed checks the bindings a client sends over HTTPS and accepts
	// a client that sends none. The Windows default.
	CbtRelaxed = "Relaxed"
	// CbtStrict refuses a client that sends no bindings over HTTPS.
	CbtStrict = "Strict"
)

// CertificateMutualScheme is the Authorization value of WS-Management
// client-certificate authentication (DSP0226 secprofile https/mutual): no
// token; the certificate is the TLS client certificate.
const CertificateMutualScheme = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"

// HTTP scheme names of the context-based mechanisms.
const (
	schemeNegotiate = "Negotiate"
	schemeKerberos  = "Kerberos"
	schemeCredSSP   = "CredSSP"
)

// authEnabled returns the schemes in force: Auth when any is set; else,
// when credentials are configured, the Windows defaults (Negotiate, and
// Kerberos when a keytab is set) plus Basic, as this endpoint always
// offered, and Certificate when CertificateUsers is set; else nothing,
// which serves every request anonymously.
func (s *Server) authEnabled() AuthConfig {
	if s.Auth != (AuthConfig{}) {
		return s.Auth
	}
	if len(s.Users) == 0 && s.Keytab == nil && len(s.CertificateUsers) == 0 {
		return AuthConfig{}
	}
	return AuthConfig{
		Basic:       true,
		Negotiate:   true,
		Kerberos:    s.Keytab != nil,
		Certificate: len(s.CertificateUsers) > 0,
	}
}

func (s *Server) cbtLevel() string {
	switch {
	case strings.EqualFold(s.CbtHardeningLevel, CbtNone):
		return CbtNone
	case strings.EqualFold(s.CbtHardeningLevel, CbtStrict):
		return CbtStrict
	}
	return CbtRelaxed
}

// connState is the security state of one TCP connection: WinRM's
// Negotiate, Kerberos and CredSSP authenticate a connection, not a
// request, and the context then seals every message on it.
type connState struct {
	mu            sync.Mutex // guards the fields; held during Wrap/Unwrap, whose state is per direction
	pending       gss.Acceptor
	pendingScheme string
	ctx           gss.Acceptor // established context, or nil
	scheme        string
	user          string
}

type connStateKey struct{}

// connContext attaches a fresh connState to each accepted connection
// (http.Server.ConnContext).
func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	cs := &connState{}
	s.conns.Store(c, cs)
	return context.WithValue(ctx, connStateKey{}, cs)
}

// connStateChanged releases the contexts of a closed connection
// (http.Server.ConnState; httptest chains its own hook after it).
func (s *Server) connStateChanged(c net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	if v, ok := s.conns.LoadAndDelete(c); ok {
		v.(*connState).forget()
	}
}

func connFrom(ctx context.Context) *connState {
	cs, _ := ctx.Value(connStateKey{}).(*connState)
	if cs == nil {
		return &connState{} // a server whose ConnContext was replaced: per-request state
	}
	return cs
}

// established returns the connection's context and user, if any.
func (c *connState) established() (gss.Acceptor, string, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctx, c.scheme, c.user
}

// forget drops every context of the connection.
func (c *connState) forget() {
	c.mu.Lock()
	c.reset()
	c.mu.Unlock()
}

// reset drops every context; c.mu is held.
func (c *connState) reset() {
	release(c.pending)
	if c.ctx != c.pending {
		release(c.ctx)
	}
	c.pending, c.pendingScheme, c.ctx, c.scheme, c.user = nil, "", nil, "", ""
}

// release ends a context that holds resources (CredSSP runs its TLS
// handshake in a goroutine).
func release(acc gss.Acceptor) {
	if c, ok := acc.(io.Closer); ok {
		_ = c.Close()
	}
}

// authResult is who a request is from and, for a connection with an
// established context, that connection's state.
type authResult struct {
	user string
	// conn is set when the connection carries an established Negotiate,
	// Kerberos or CredSSP context; its messages may then be sealed.
	conn   *connState
	scheme string
}

// authenticate identifies the sender of r. It writes the 401 itself and
// reports false when the request must stop. Errors are never detailed to
// the client: a wrong password and an unknown user look the same.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (authResult, bool) {
	enabled := s.authEnabled()
	if enabled == (AuthConfig{}) {
		return authResult{}, true
	}
	cs := connFrom(r.Context())
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		if ctx, scheme, user := cs.established(); ctx != nil {
			return authResult{user: user, conn: cs, scheme: scheme}, true
		}
		s.challenge(w, r, enabled)
		return authResult{}, false
	}
	scheme, param, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Basic") && enabled.Basic:
		return s.authenticateBasic(w, r, enabled)
	case strings.EqualFold(scheme, schemeNegotiate) && enabled.Negotiate:
		return s.stepContext(w, r, cs, schemeNegotiate, param, enabled)
	case strings.EqualFold(scheme, schemeKerberos) && enabled.Kerberos:
		return s.stepContext(w, r, cs, schemeKerberos, param, enabled)
	case strings.EqualFold(scheme, schemeCredSSP) && enabled.CredSSP:
		return s.stepContext(w, r, cs, schemeCredSSP, param, enabled)
	case strings.EqualFold(h, CertificateMutualScheme) && enabled.Certificate:
		if user, ok := s.certificateUser(r); ok {
			return authResult{user: user}, true
		}
	}
	s.challenge(w, r, enabled)
	return authResult{}, false
}

// challenge answers 401 with one WWW-Authenticate per scheme the client
// may use on this connection.
func (s *Server) challenge(w http.ResponseWriter, r *http.Request, enabled AuthConfig) {
	h := w.Header()
	h.Del("WWW-Authenticate")
	if enabled.Negotiate {
		h.Add("WWW-Authenticate", schemeNegotiate)
	}
	if enabled.Kerberos {
		h.Add("WWW-Authenticate", schemeKerberos)
	}
	if enabled.CredSSP {
		h.Add("WWW-Authenticate", schemeCredSSP)
	}
	if enabled.Basic && (r.TLS != nil || s.AllowUnencrypted) {
		h.Add("WWW-Authenticate", `Basic realm="WSMAN"`)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}

func (s *Server) authenticateBasic(w http.ResponseWriter, r *http.Request, enabled AuthConfig) (authResult, bool) {
	if r.TLS == nil && !s.AllowUnencrypted {
		// Windows refuses Basic over HTTP unless AllowUnencrypted is set.
		s.challenge(w, r, enabled)
		return authResult{}, false
	}
	user, pass, ok := r.BasicAuth()
	if ok {
		name, want, found := s.lookupUser(user)
		// Compare in constant time; an unknown user still costs a compare.
		if subtle.ConstantTimeCompare([]byte(pass), []byte(want)) == 1 && found {
			return authResult{user: name}, true
		}
	}
	s.challenge(w, r, enabled)
	return authResult{}, false
}

// errNoMechanism is returned by newAcceptor for a token no configured
// mechanism takes.
var errNoMechanism = errors.New("sessiontest: no mechanism accepts the token")

// stepContext feeds one token of a Negotiate, Kerberos or CredSSP
// exchange to the connection's acceptor, starting one when needed.
// Intermediate answers go back on a 401; the final one on the response.
func (s *Server) stepContext(w http.ResponseWriter, r *http.Request, cs *connState, scheme, param string, enabled AuthConfig) (authResult, bool) {
	tok, err := base64.StdEncoding.DecodeString(strings.TrimSpace(param))
	if err != nil || len(tok) == 0 {
		cs.forget()
		s.challenge(w, r, enabled)
		return authResult{}, false
	}
	cs.mu.Lock()
	acc := cs.pending
	if acc == nil || cs.pendingScheme != scheme {
		// A new exchange; one started after establishment replaces the
		// connection's context, as re-authentication does on Windows.
		cs.reset()
		acc, err = s.newAcceptor(scheme, tok, s.bindings(r))
	}
	var out []byte
	if err == nil {
		out, err = acc.Step(r.Context(), tok)
	}
	if err != nil {
		if acc != cs.pending {
			release(acc)
		}
		cs.reset()
		cs.mu.Unlock()
		if len(out) == 0 {
			s.challenge(w, r, enabled)
			return authResult{}, false
		}
		// The mechanism's own refusal (CredSSP's errorCode), which tells
		// the client no more than a bare 401 does.
		w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(out))
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusUnauthorized)
		return authResult{}, false
	}
	if !acc.Established() {
		cs.pending, cs.pendingScheme = acc, scheme
		cs.mu.Unlock()
		w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(out))
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusUnauthorized)
		return authResult{}, false
	}
	user := s.localUser(acc.UserName())
	cs.pending, cs.pendingScheme = nil, ""
	cs.ctx, cs.scheme, cs.user = acc, scheme, user
	cs.mu.Unlock()
	s.established(scheme, acc, user)
	if len(out) > 0 {
		w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(out))
	}
	return authResult{user: user, conn: cs, scheme: scheme}, true
}

// bindingsConfig is what an acceptor needs to check channel bindings.
type bindingsConfig struct {
	// bindings are the tls-server-end-point bindings of the connection, or
	// nil over plain HTTP or with CbtNone.
	bindings *gss.ChannelBindings
	// require refuses a client that sends none (CbtStrict over HTTPS).
	require bool
}

func (s *Server) bindings(r *http.Request) bindingsConfig {
	if r.TLS == nil || s.tlsCert == nil || s.cbtLevel() == CbtNone {
		return bindingsConfig{}
	}
	return bindingsConfig{bindings: gss.TLSServerEndPoint(s.tlsCert), require: s.cbtLevel() == CbtStrict}
}

// lookupUser finds user in Users, case-insensitively as Windows does,
// after mapping DOMAIN\user and user@domain to user. It returns the name as
// Users spells it.
func (s *Server) lookupUser(user string) (name, password string, ok bool) {
	user = bareUser(user)
	if p, ok := s.Users[user]; ok {
		return user, p, true
	}
	for n, p := range s.Users {
		if strings.EqualFold(n, user) {
			return n, p, true
		}
	}
	return user, "", false
}

// localUser maps an authenticated name (DOMAIN\user, user@REALM) to the
// local user name the shells are owned by.
func (s *Server) localUser(name string) string {
	n, _, _ := s.lookupUser(name)
	return n
}

// bareUser strips a DOMAIN\ prefix or an @domain suffix.
func bareUser(name string) string {
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	return name
}
