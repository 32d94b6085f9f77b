package winrmtransport_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/masterzen/winrm"

	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/internal/kdctest"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/winrmtransport"
)

// realm starts a KDC (kdctest: a real MIT krb5kdc on loopback; the test
// skips without it, or fails under CI=true) with testUser and the service
// HTTP/localhost, and returns it with the service's keytab.
func realm(t *testing.T) (*kdctest.KDC, *keytab.Keytab) {
	t.Helper()
	kdc := kdctest.Start(t)
	kdc.AddUser(t, testUser, testPassword)
	kt, err := keytab.Load(kdc.AddService(t, "HTTP/localhost"))
	if err != nil {
		t.Fatal(err)
	}
	return kdc, kt
}

// kerberosServer is an endpoint accepting Kerberos and Negotiate with the
// keys of HTTP/localhost, checking channel bindings strictly over HTTPS.
func kerberosServer(t *testing.T, kt *keytab.Keytab, useTLS bool, configure func(*sessiontest.Server)) *sessiontest.Server {
	return authServer(t, useTLS, sessiontest.AuthConfig{Kerberos: true, Negotiate: true}, func(s *sessiontest.Server) {
		s.Keytab = kt
		s.ServicePrincipal = "HTTP/localhost"
		s.CbtHardeningLevel = sessiontest.CbtStrict
		if configure != nil {
			configure(s)
		}
	})
}

// deleteUnknownShells sends n Deletes of shells the endpoint does not know
// through c: each is a full sealed exchange answered with a fault. It
// returns the shell ids, which must not cross the wire in clear.
func deleteUnknownShells(t *testing.T, c *winrm.Client, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		id := uuid.NewString()
		ids = append(ids, id)
		var he *winrmtransport.HTTPError
		if err := c.NewShell(id).Close(); !errors.As(err, &he) || he.Fault == nil {
			t.Fatalf("Delete of an unknown shell: %v, want its fault", err)
		}
	}
	return ids
}

// TestKerberosSeals authenticates with Kerberos (mutual authentication, so
// no TrustedHosts entry) and checks on the wire that every message was
// sealed over one connection: over http, and over https with
// EncryptAlways, while EncryptAuto leaves https to TLS.
func TestKerberosSeals(t *testing.T) {
	t.Parallel()
	kdc, kt := realm(t)
	for _, tc := range []struct {
		name       string
		https      bool
		encryption winrmtransport.Encryption
		sealed     bool
		mech       auth.Mechanism
	}{
		{"kerberos http", false, winrmtransport.EncryptAuto, true,
			&auth.Kerberos{Username: testUser, Password: testPassword, ConfigPath: kdc.ConfPath}},
		{"negotiate picks kerberos http", false, winrmtransport.EncryptAuto, true,
			&auth.Negotiate{Username: testUser, Password: testPassword, Kerberos: &auth.Kerberos{ConfigPath: kdc.ConfPath}}},
		{"kerberos https always", true, winrmtransport.EncryptAlways, true,
			&auth.Kerberos{Username: testUser, Password: testPassword, ConfigPath: kdc.ConfPath}},
		{"kerberos https auto", true, winrmtransport.EncryptAuto, false,
			&auth.Kerberos{Username: testUser, Password: testPassword, ConfigPath: kdc.ConfPath}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w wire
			var ep *winrm.Endpoint
			opts := []winrmtransport.Option{winrmtransport.WithMessageEncryption(tc.encryption)}
			if tc.https {
				cert, certPEM := serverCertificate(t)
				srv := kerberosServer(t, kt, true, func(s *sessiontest.Server) { s.TLSCertificate = &cert })
				ep = endpointOf(t, srv, "localhost")
				ep.Port, ep.CACert = tlsRecorder(t, srv, cert, &w), certPEM
			} else {
				srv := kerberosServer(t, kt, false, nil)
				ep = endpointOf(t, srv, "localhost")
				opts = append(opts, winrmtransport.WithDialContext(w.dialContext))
			}
			c := newClient(t, ep, winrmtransport.New(tc.mech, opts...), nil)
			const messages = 5
			ids := deleteUnknownShells(t, c, messages)

			dials, sent, _ := w.stats()
			if dials != 1 {
				t.Errorf("%d connections for %d messages, want 1", dials, messages)
			}
			if n := requestsWith(sent, "Authorization:"); n != 1 {
				t.Errorf("%d requests carried a Kerberos token, want one handshake", n)
			}
			sealedRequests := requestsWith(sent, "Content-Type: multipart/encrypted")
			clear := strings.Contains(strings.ToUpper(sent), strings.ToUpper(ids[0]))
			if tc.sealed && (sealedRequests != messages || clear) {
				t.Errorf("%d of %d requests sealed; shell id in clear: %v", sealedRequests, messages, clear)
			}
			if !tc.sealed && (sealedRequests != 0 || !clear) {
				t.Errorf("EncryptAuto over https sealed %d requests, want TLS alone", sealedRequests)
			}
		})
	}
}

func TestKerberosWrongPassword(t *testing.T) {
	t.Parallel()
	kdc, kt := realm(t)
	srv := kerberosServer(t, kt, false, nil)
	tr := winrmtransport.New(&auth.Kerberos{Username: testUser, Password: "Wr0ng-secret", ConfigPath: kdc.ConfPath})
	c := newClient(t, endpointOf(t, srv, "localhost"), tr, nil)
	_, err := c.CreateShell()
	if !errors.Is(err, auth.ErrLogonFailed) {
		t.Errorf("wrong Kerberos password: %v, want auth.ErrLogonFailed", err)
	}
	if err != nil && strings.Contains(err.Error(), "Wr0ng") {
		t.Errorf("the error shows the password: %v", err)
	}
}
