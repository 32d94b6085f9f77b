package interop_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/kdctest"
	"github.com/gopsrp/gopsrp/internal/peertest"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// kerberosProtection is how pypsrp protected its messages: the multipart
// content type of its sealed messages and the mechanism its auth context
// negotiated.
type kerberosProtection struct {
	Encryption string `json:"encryption"`
	Mechanism  string `json:"mechanism"`
}

// kerberosResult is what testdata/pypsrp_kerberos.py prints.
type kerberosResult struct {
	ExecutePS struct {
		Output    string `json:"output"`
		HadErrors bool   `json:"had_errors"`
		kerberosProtection
	} `json:"execute_ps"`
	Output    []string           `json:"output"`
	HadErrors bool               `json:"had_errors"`
	Errors    []string           `json:"errors"`
	Pool      kerberosProtection `json:"pool"`
	Exception string             `json:"exception"`
}

// pypsrp's Kerberos (pyspnego over python3-gssapi and MIT krb5), unmodified,
// with a ticket a real MIT KDC issued to kinit, against an endpoint that
// requires every message sealed over plain HTTP (AllowUnencrypted false, as
// on Windows): Client.execute_ps and a RunspacePool pipeline, with the
// Kerberos scheme and with Negotiate.
//
// pyspnego 0.12 offers Kerberos only when it can import both gssapi and
// krb5 (pykrb5, which Debian does not package), although with a ticket in
// the default cache it never calls into krb5; testdata/krb5stub stands in
// for that import. pypsrp is given no password, so Negotiate cannot fall
// back to NTLM: success means Kerberos did the work.
func TestPypsrpKerberosAgainstEndpoint(t *testing.T) {
	stub, err := filepath.Abs(filepath.Join("testdata", "krb5stub"))
	require.NoError(t, err)
	pyPath := stub + ":" + peertest.PeerSource(t, peertest.Pypsrp, "pypsrp") + ":" + peertest.PeerSource(t, peertest.Pyspnego, "spnego")
	py := peertest.Python(t, pyPath, "pypsrp.client", "requests", "cryptography", "gssapi")
	kinit := kdctest.SkipUnlessAvailable(t, "kinit", "krb5-user")

	kdc := kdctest.Start(t)
	kdc.AddUser(t, user, password)
	kt, err := keytab.Load(kdc.AddService(t, "HTTP/localhost"))
	require.NoError(t, err)
	ccache := "FILE:" + filepath.Join(t.TempDir(), "ccache")
	cmd := exec.Command(kinit, user+"@"+kdc.Realm)
	cmd.Env = append(append(os.Environ(), kdc.Env()...), "KRB5CCNAME="+ccache)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v: %s", err, out)
	}

	spnego := "application/HTTP-SPNEGO-session-encrypted"
	for _, tc := range []struct {
		name string
		auth string
		// offered are the schemes the endpoint's 401 names.
		offered sessiontest.AuthConfig
		// encryption is the content type of pypsrp's sealed messages,
		// which follows the scheme it picked from the 401.
		encryption string
	}{
		// As Windows does, the endpoint offers Negotiate and Kerberos;
		// pypsrp picks Negotiate and sends a bare Kerberos token in it.
		{"kerberos", "kerberos", sessiontest.AuthConfig{Negotiate: true, Kerberos: true}, spnego},
		{"kerberos scheme", "kerberos", sessiontest.AuthConfig{Kerberos: true}, "application/HTTP-Kerberos-session-encrypted"},
		{"negotiate", "negotiate", sessiontest.AuthConfig{Negotiate: true, Kerberos: true}, spnego},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, false, tc.offered, func(s *sessiontest.Server) {
				s.Keytab = kt
				s.ServicePrincipal = "HTTP/localhost"
			})
			text := "hello-" + strings.ReplaceAll(tc.name, " ", "-")
			r := runPeerScript[kerberosResult](t, "pypsrp_kerberos.py", 60*time.Second, py, pyPath, append(kdc.Env(), "KRB5CCNAME="+ccache,
				"PEER_PORT="+port(t, srv), "PEER_AUTH="+tc.auth, "PEER_HOSTNAME=localhost", "PEER_TEXT="+text)...)

			assert.Equal(t, text, strings.TrimSpace(r.ExecutePS.Output), "execute_ps output")
			assert.False(t, r.ExecutePS.HadErrors, "execute_ps had errors")
			assert.Equal(t, []string{text}, r.Output, "pipeline output")
			assert.False(t, r.HadErrors, "pipeline had errors")
			if assert.Len(t, r.Errors, 1) {
				assert.Contains(t, r.Errors[0], "boom "+text)
			}
			want := kerberosProtection{Encryption: tc.encryption, Mechanism: "kerberos"}
			assert.Equal(t, want, r.ExecutePS.kerberosProtection, "execute_ps protection")
			assert.Equal(t, want, r.Pool, "pool protection")
		})
	}
}
