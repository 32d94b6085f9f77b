package session_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/internal/endpointtest"
	"github.com/gopsrp/gopsrp/internal/kdctest"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

const (
	authUser     = "alice"
	authPassword = "Sup3r-Secret!pw"
)

// authServer starts an endpoint that behaves like a default Windows host:
// the schemes of enabled, encryption required (AllowUnencrypted false).
func authServer(t *testing.T, useTLS bool, enabled sessiontest.AuthConfig, configure func(*sessiontest.Server)) *sessiontest.Server {
	t.Helper()
	return endpointtest.Start(t, useTLS, map[string]string{authUser: authPassword}, enabled, configure)
}

// baseTransport is a transport that trusts srv's certificate, for the
// authenticating transport to clone.
func baseTransport(srv *sessiontest.Server) *http.Transport {
	return srv.Client().Transport.(*http.Transport)
}

// fullSession runs what every mechanism must carry: open, a pipeline with
// output, one with an error record, close.
func fullSession(t *testing.T, srv *sessiontest.Server, opts ...session.Option) {
	t.Helper()
	fullSessionAt(t, srv, srv.URL, opts...)
}

// fullSessionAt is fullSession with srv addressed as target.
func fullSessionAt(t *testing.T, srv *sessiontest.Server, target string, opts ...session.Option) {
	t.Helper()
	ctx := testContext(t)
	all := append([]session.Option{session.WithHTTPClient(&http.Client{Transport: baseTransport(srv)})}, opts...)
	s, err := session.New(ctx, target, all...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	res, err := s.InvokeScript(ctx, "Write-Output 'sealed hello'")
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if len(res.Output) != 1 || res.Output[0] != "sealed hello" {
		t.Errorf("output %v, want [sealed hello]", res.Output)
	}
	res, err = s.InvokeScript(ctx, "Write-Error 'it broke'")
	if err != nil {
		t.Fatalf("Invoke Write-Error: %v", err)
	}
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Message(), "it broke") {
		t.Errorf("error records %v, want one saying 'it broke'", res.Errors)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestAuthMechanismsFullSession(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		enabled sessiontest.AuthConfig
		opt     session.Option
	}{
		{"negotiate", sessiontest.AuthConfig{Negotiate: true}, session.WithNegotiate(authUser, authPassword)},
		{"ntlm", sessiontest.AuthConfig{Negotiate: true}, session.WithNTLM(authUser, authPassword)},
		{"ntlm domain user", sessiontest.AuthConfig{Negotiate: true}, session.WithNTLM(`CORP\`+authUser, authPassword)},
		{"credssp", sessiontest.AuthConfig{CredSSP: true}, session.WithCredSSP(authUser, authPassword)},
	}
	for _, tc := range cases {
		for _, useTLS := range []bool{false, true} {
			name := tc.name + " over http, sealed"
			if useTLS {
				name = tc.name + " over https"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				// Over https the endpoint insists on channel bindings
				// (CbtHardeningLevel Strict): the client must send them.
				srv := authServer(t, useTLS, tc.enabled, func(s *sessiontest.Server) { s.CbtHardeningLevel = sessiontest.CbtStrict })
				fullSession(t, srv, tc.opt, session.WithTrustedHosts("127.0.0.1"))
			})
		}
	}
	t.Run("basic over https", func(t *testing.T) {
		t.Parallel()
		srv := authServer(t, true, sessiontest.AuthConfig{Basic: true}, nil)
		fullSession(t, srv, session.WithBasicAuth(authUser, authPassword))
	})
	t.Run("basic over http needs both opt-ins", func(t *testing.T) {
		t.Parallel()
		srv := authServer(t, false, sessiontest.AuthConfig{Basic: true}, func(s *sessiontest.Server) { s.AllowUnencrypted = true })
		ctx := testContext(t)
		client := session.WithHTTPClient(srv.Client())
		if _, err := session.New(ctx, srv.URL, client, session.WithBasicAuth(authUser, authPassword)); !errors.Is(err, session.ErrUnencrypted) {
			t.Errorf("without WithAllowUnencrypted: %v, want ErrUnencrypted", err)
		}
		_, err := session.New(ctx, srv.URL, client, session.WithBasicAuth(authUser, authPassword), session.WithAllowUnencrypted())
		if !errors.Is(err, auth.ErrUntrustedHost) || !strings.Contains(err.Error(), "TrustedHosts") {
			t.Errorf("without WithTrustedHosts: %v, want ErrUntrustedHost naming the setting", err)
		}
		fullSession(t, srv, session.WithBasicAuth(authUser, authPassword), session.WithAllowUnencrypted(), session.WithTrustedHosts("127.0.0.1"))
	})
	t.Run("certificate over https", func(t *testing.T) {
		t.Parallel()
		caPool, clientCert := clientCertificate(t, authUser+"@example.test")
		srv := authServer(t, true, sessiontest.AuthConfig{Certificate: true}, func(s *sessiontest.Server) {
			s.ClientCAs = caPool
			s.CertificateUsers = map[string]string{authUser + "@example.test": authUser}
		})
		tlsCfg := baseTransport(srv).TLSClientConfig.Clone()
		ctx := testContext(t)
		s, err := session.New(ctx, srv.URL, session.WithTLSConfig(tlsCfg), session.WithCertificate(clientCert))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if _, err := s.InvokeScript(ctx, "Write-Output ok"); err != nil {
			t.Error(err)
		}
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
		// Certificate authentication is never attempted over http.
		if _, err := session.New(ctx, "http://127.0.0.1:1/wsman", session.WithCertificate(clientCert)); !errors.Is(err, auth.ErrRequiresHTTPS) {
			t.Errorf("certificate over http: %v, want ErrRequiresHTTPS", err)
		}
	})
}

func TestAuthRefusals(t *testing.T) {
	t.Parallel()
	srv := authServer(t, false, sessiontest.AuthConfig{Negotiate: true}, nil)
	ctx := testContext(t)
	client := session.WithHTTPClient(&http.Client{Transport: baseTransport(srv)})

	// NTLM proves nothing about the server: an http:// host that is not
	// trusted is never sent credentials, and the error names the setting.
	_, err := session.New(ctx, srv.URL, client, session.WithNTLM(authUser, authPassword))
	if !errors.Is(err, auth.ErrUntrustedHost) || !strings.Contains(err.Error(), "WithTrustedHosts") {
		t.Errorf("NTLM to an untrusted http host: %v, want ErrUntrustedHost naming WithTrustedHosts", err)
	}
	// Negotiate to an address (no Kerberos possible) or to a name with no
	// KDC would fall back to NTLM: refused the same way.
	for _, target := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		_, err = session.New(ctx, target, client, session.WithAuth(&auth.Negotiate{Username: authUser, Password: authPassword,
			Kerberos: &auth.Kerberos{ConfigPath: "/nonexistent/krb5.conf"}}))
		if !errors.Is(err, auth.ErrUntrustedHost) {
			t.Errorf("Negotiate to untrusted %s: %v, want ErrUntrustedHost", target, err)
		}
	}
	for _, pattern := range []string{"*", "127.0.0.1", "127.0.0.1,other"} {
		s, err := session.New(ctx, srv.URL, client, session.WithNTLM(authUser, authPassword), session.WithTrustedHosts(pattern))
		if err != nil {
			t.Errorf("TrustedHosts %q: %v", pattern, err)
			continue
		}
		_ = s.Close(ctx)
	}
	// Wrong password, unknown user: access denied, no secret in the text.
	for _, tc := range []struct{ user, pw string }{{authUser, "Wr0ng-Password"}, {"mallory", authPassword}} {
		_, err := session.New(ctx, srv.URL, client, session.WithNTLM(tc.user, tc.pw), session.WithTrustedHosts("*"))
		if !errors.Is(err, auth.ErrAccessDenied) {
			t.Errorf("%s/%s: %v, want ErrAccessDenied", tc.user, tc.pw, err)
		} else if strings.Contains(err.Error(), tc.pw) {
			t.Errorf("error reveals the password: %v", err)
		}
	}
	// A server that does not offer the scheme.
	_, err = session.New(ctx, srv.URL, client, session.WithCredSSP(authUser, authPassword), session.WithTrustedHosts("*"))
	if !errors.Is(err, auth.ErrSchemeNotOffered) {
		t.Errorf("CredSSP to a Negotiate-only server: %v, want ErrSchemeNotOffered", err)
	}
	// An authenticating option needs an *http.Transport to clone.
	_, err = session.New(ctx, srv.URL, session.WithHTTPClient(&http.Client{Transport: http.NewFileTransport(http.Dir("/"))}), session.WithNTLM(authUser, authPassword))
	if err == nil || !strings.Contains(err.Error(), "*http.Transport") {
		t.Errorf("non-*http.Transport client: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the session's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// passwordMechanisms are the sealing mechanisms that carry a password
// through their own protocol (Negotiate as NTLM here, CredSSP delegating
// it), with the endpoint settings that offer them.
func passwordMechanisms() []struct {
	name    string
	enabled sessiontest.AuthConfig
	opt     session.Option
} {
	return []struct {
		name    string
		enabled sessiontest.AuthConfig
		opt     session.Option
	}{
		{"negotiate", sessiontest.AuthConfig{Negotiate: true}, session.WithNegotiate(authUser, authPassword)},
		{"credssp", sessiontest.AuthConfig{CredSSP: true}, session.WithCredSSP(authUser, authPassword)},
	}
}

func TestAuthSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	for _, mech := range passwordMechanisms() {
		t.Run(mech.name, func(t *testing.T) {
			t.Parallel()
			srv := authServer(t, false, mech.enabled, nil)
			var log syncBuffer
			logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			fullSession(t, srv, mech.opt, session.WithTrustedHosts("127.0.0.1"), session.WithLogger(logger))
			// A failed attempt logs and errs too.
			_, err := session.New(testContext(t), srv.URL, session.WithHTTPClient(&http.Client{Transport: baseTransport(srv)}),
				session.WithNTLM(authUser, "An0ther-Secret"), session.WithTrustedHosts("*"), session.WithLogger(logger))
			if err == nil {
				t.Fatal("wrong password accepted")
			}
			text := log.String() + err.Error()
			if !strings.Contains(log.String(), "level=DEBUG") {
				t.Fatalf("nothing was logged at debug level: %q", log.String())
			}
			for _, secret := range []string{authPassword, "An0ther-Secret", "TlRMTVNT" /* base64 of an NTLM token */} {
				if strings.Contains(text, secret) {
					t.Errorf("log or error holds %q:\n%s", secret, text)
				}
			}
		})
	}
}

func TestKerberosFullSession(t *testing.T) {
	t.Parallel()
	kdc := kdctest.Start(t)
	kdc.AddUser(t, authUser, authPassword)
	kt, err := keytab.Load(kdc.AddService(t, "HTTP/localhost"))
	if err != nil {
		t.Fatal(err)
	}
	for _, useTLS := range []bool{false, true} {
		for _, tc := range []struct {
			name string
			mech auth.Mechanism
		}{
			{"kerberos", &auth.Kerberos{Username: authUser, Password: authPassword, ConfigPath: kdc.ConfPath, Hostname: "localhost"}},
			{"negotiate picks kerberos", &auth.Negotiate{Username: authUser, Password: authPassword, Kerberos: &auth.Kerberos{ConfigPath: kdc.ConfPath}}},
		} {
			srv := authServer(t, useTLS, sessiontest.AuthConfig{Negotiate: true, Kerberos: true}, func(s *sessiontest.Server) {
				s.Keytab = kt
				s.ServicePrincipal = "HTTP/localhost"
				s.CbtHardeningLevel = sessiontest.CbtStrict
			})
			// Kerberos needs a host name: address the endpoint as
			// localhost, the host of its service principal. No
			// WithTrustedHosts: Kerberos with mutual authentication proves
			// the server's identity over http.
			fullSessionAt(t, srv, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), session.WithAuth(tc.mech))
		}
	}
	// CredSSP with Kerberos inside (SPNEGO in the TLS channel) delegates the
	// password, as with NTLM inside.
	{
		srv := authServer(t, false, sessiontest.AuthConfig{CredSSP: true}, func(s *sessiontest.Server) {
			s.Keytab = kt
			s.ServicePrincipal = "HTTP/localhost"
			// NTLM inside would fail: the endpoint's own password for
			// alice differs from the KDC's, so only Kerberos gets in.
			s.Users = map[string]string{authUser: "not-" + authPassword}
		})
		fullSessionAt(t, srv, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), session.WithAuth(&auth.CredSSP{
			Username: authUser, Password: authPassword, Kerberos: &auth.Kerberos{ConfigPath: kdc.ConfPath}}),
			session.WithTrustedHosts("localhost"))
		got := srv.DelegatedCredentials()
		if len(got) == 0 || got[0].User != authUser || got[0].Password != authPassword {
			t.Errorf("CredSSP with Kerberos delegated %+v, want %s's password", got, authUser)
		}
	}
	// Delegation (double hop): the endpoint receives a forwarded TGT for
	// the user; without Delegate it receives nothing.
	for _, delegate := range []bool{false, true} {
		srv := authServer(t, false, sessiontest.AuthConfig{Kerberos: true}, func(s *sessiontest.Server) { s.Keytab = kt })
		fullSessionAt(t, srv, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), session.WithAuth(&auth.Kerberos{
			Username: authUser, Password: authPassword, ConfigPath: kdc.ConfPath, Delegate: delegate}))
		// One delegation per authenticated connection.
		got := srv.DelegatedCredentials()
		if delegate != (len(got) > 0) {
			t.Errorf("Delegate %v: the endpoint received %+v", delegate, got)
		}
		for _, d := range got {
			if d.KerberosTGT != authUser+"@"+kdc.Realm || d.User != authUser {
				t.Errorf("delegated %+v, want a TGT of %s@%s", d, authUser, kdc.Realm)
			}
		}
	}
	// A wrong password is refused by the KDC.
	srv := authServer(t, false, sessiontest.AuthConfig{Kerberos: true}, func(s *sessiontest.Server) { s.Keytab = kt })
	_, err = session.New(testContext(t), srv.URL, session.WithHTTPClient(&http.Client{Transport: baseTransport(srv)}),
		session.WithAuth(&auth.Kerberos{Username: authUser, Password: "Wr0ng", ConfigPath: kdc.ConfPath, Hostname: "localhost"}))
	if err == nil || strings.Contains(err.Error(), "Wr0ng") {
		t.Errorf("wrong Kerberos password: %v", err)
	}
}

// clientCertificate makes a CA and a client certificate for upn.
func clientCertificate(t *testing.T, upn string) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: upn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		EmailAddresses: []string{upn},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// wireTap records every byte the client writes to its connections.
type wireTap struct {
	mu  sync.Mutex
	out bytes.Buffer
}

type tappedConn struct {
	net.Conn
	tap *wireTap
}

func (c tappedConn) Write(p []byte) (int, error) {
	c.tap.mu.Lock()
	c.tap.out.Write(p)
	c.tap.mu.Unlock()
	return c.Conn.Write(p)
}

func (w *wireTap) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return tappedConn{Conn: c, tap: w}, nil
}

func (w *wireTap) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

// Over plain http every SOAP message crosses the wire sealed: the script,
// the envelope and the password never appear in clear.
func TestAuthSealsOnTheWire(t *testing.T) {
	t.Parallel()
	for _, mech := range passwordMechanisms() {
		t.Run(mech.name, func(t *testing.T) {
			t.Parallel()
			srv := authServer(t, false, mech.enabled, nil)
			tap := &wireTap{}
			base := &http.Transport{DialContext: tap.dial}
			ctx := testContext(t)
			s, err := session.New(ctx, srv.URL, session.WithHTTPClient(&http.Client{Transport: base}), mech.opt, session.WithTrustedHosts("127.0.0.1"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.InvokeScript(ctx, "Write-Output 'confidential-script-text'"); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(ctx); err != nil {
				t.Fatal(err)
			}
			wire := tap.String()
			if !strings.Contains(wire, "Content-Type: multipart/encrypted") && !strings.Contains(wire, "Content-Type: multipart/x-multi-encrypted") {
				t.Fatalf("no sealed body on the wire:\n%.2000s", wire)
			}
			for _, clear := range []string{"Envelope", "confidential-script-text", authPassword, "application/soap+xml;charset=UTF-8\r\n"} {
				if strings.Contains(wire, clear) {
					t.Errorf("%q crossed the wire in clear", clear)
				}
			}
		})
	}
}
