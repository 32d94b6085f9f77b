package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/internal/endpointtest"
	"github.com/gopsrp/gopsrp/internal/kdctest"
	"github.com/gopsrp/gopsrp/internal/peertest"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

const (
	user     = "alice"
	password = "Passw0rd!"
)

// peerEnv is the environment of a peer process: requests' CA-bundle
// variables would override pywinrm's server_cert_validation="ignore" for
// the endpoint's self-signed certificate, and ntlm-auth needs MD4 from
// OpenSSL's legacy provider.
func peerEnv(pythonPath string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k == "REQUESTS_CA_BUNDLE" || k == "CURL_CA_BUNDLE" {
			continue
		}
		env = append(env, kv)
	}
	conf, _ := filepath.Abs(filepath.Join("testdata", "openssl-legacy.cnf"))
	return append(env, "PYTHONPATH="+pythonPath, "OPENSSL_CONF="+conf)
}

type peerResult struct {
	Output            []string `json:"output"`
	HadErrors         bool     `json:"had_errors"`
	Errors            []string `json:"errors"`
	EnumerateResponse bool     `json:"enumerate_response"`
	Exception         string   `json:"exception"`
}

// runPeer runs a testdata script with env and decodes its JSON line.
func runPeer(t *testing.T, py, pythonPath, script string, env ...string) peerResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join("testdata", script))
	cmd.Env = append(peerEnv(pythonPath), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", script, err, stderr.String())
	}
	var r peerResult
	line := bytes.TrimSpace(stdout.Bytes())
	if i := bytes.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if err := json.Unmarshal(line, &r); err != nil {
		t.Fatalf("%s printed %q: %v\nstderr:\n%s", script, stdout.String(), err, stderr.String())
	}
	if r.Exception != "" {
		t.Fatalf("%s failed: %s\nstderr:\n%s", script, r.Exception, stderr.String())
	}
	return r
}

func port(t *testing.T, srv *sessiontest.Server) string {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// checkPSRP asserts what pypsrp got back from Write-Output and Write-Error.
func checkPSRP(t *testing.T, r peerResult, text string) {
	t.Helper()
	if len(r.Output) != 1 || r.Output[0] != text || r.HadErrors {
		t.Errorf("output %q (had errors %v), want [%q]", r.Output, r.HadErrors, text)
	}
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "boom "+text) {
		t.Errorf("errors %q, want one saying %q", r.Errors, "boom "+text)
	}
}

// newServer starts an endpoint that behaves like a default Windows host:
// Negotiate (and what auth enables), encryption required.
func newServer(t *testing.T, useTLS bool, auth sessiontest.AuthConfig, configure func(*sessiontest.Server)) *sessiontest.Server {
	t.Helper()
	return endpointtest.Start(t, useTLS, map[string]string{user: password}, auth, configure)
}

func TestPypsrpAgainstEndpoint(t *testing.T) {
	pyPath := peertest.PeerSource(t, peertest.Pypsrp, "pypsrp") + ":" + peertest.PeerSource(t, peertest.Pyspnego, "spnego")
	py := peertest.Python(t, pyPath, "pypsrp.powershell", "requests", "cryptography")
	cases := []struct {
		name    string
		auth    string
		tls     bool
		enabled sessiontest.AuthConfig
	}{
		{"ntlm over http, sealed", "ntlm", false, sessiontest.AuthConfig{Negotiate: true}},
		{"negotiate over http, sealed", "negotiate", false, sessiontest.AuthConfig{Negotiate: true}},
		{"ntlm over https, sealed", "ntlm", true, sessiontest.AuthConfig{Negotiate: true}},
		{"basic over https", "basic", true, sessiontest.AuthConfig{Basic: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.tls, tc.enabled, nil)
			ssl := "0"
			if tc.tls {
				ssl = "1"
			}
			text := "hello " + tc.auth
			r := runPeer(t, py, pyPath, "pypsrp_run.py",
				"PEER_PORT="+port(t, srv), "PEER_SSL="+ssl, "PEER_AUTH="+tc.auth,
				"PEER_USER="+user, "PEER_PASSWORD="+password, "PEER_TEXT="+text,
				// No Kerberos for these cases: keep pyspnego from asking a KDC.
				"KRB5_CONFIG=/dev/null")
			checkPSRP(t, r, text)
		})
	}
	t.Run("wrong password is refused", func(t *testing.T) {
		srv := newServer(t, false, sessiontest.AuthConfig{Negotiate: true}, nil)
		cmd := exec.Command(py, filepath.Join("testdata", "pypsrp_run.py"))
		cmd.Env = append(peerEnv(pyPath), "PEER_PORT="+port(t, srv), "PEER_AUTH=ntlm",
			"PEER_USER="+user, "PEER_PASSWORD=wrong", "PEER_TEXT=x", "KRB5_CONFIG=/dev/null")
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte("exception")) || bytes.Contains(out, []byte(`"output"`)) {
			t.Fatalf("a wrong password was not refused: %s", out)
		}
	})
}

// pywinrm's Kerberos (requests-kerberos over MIT GSSAPI) against the
// endpoint's Kerberos acceptor, with a ticket from a real MIT KDC. Debian's
// pywinrm 0.3 cannot seal Kerberos messages, so this endpoint allows
// plaintext: the handshake (AP-REQ, mutual authentication) is what is
// checked here; internal/kerberos checks sealing against MIT GSSAPI.
// pypsrp's Kerberos, with sealing, is TestPypsrpKerberosAgainstEndpoint.
func TestPywinrmKerberosAgainstEndpoint(t *testing.T) {
	py := peertest.Python(t, "", "winrm", "requests_kerberos")
	kdc := kdctest.Start(t)
	kdc.AddUser(t, user, password)
	kt, err := keytab.Load(kdc.AddService(t, "HTTP/localhost"))
	if err != nil {
		t.Fatal(err)
	}
	ccache := filepath.Join(t.TempDir(), "ccache")
	kinit := exec.Command("kinit", user+"@"+kdc.Realm)
	kinit.Env = append(append(os.Environ(), kdc.Env()...), "KRB5CCNAME=FILE:"+ccache)
	kinit.Stdin = strings.NewReader(password + "\n")
	if out, err := kinit.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v: %s", err, out)
	}
	// requests-kerberos sends raw Kerberos tokens under the Negotiate scheme.
	srv := newServer(t, false, sessiontest.AuthConfig{Negotiate: true, Kerberos: true}, func(s *sessiontest.Server) {
		s.Keytab = kt
		s.ServicePrincipal = "HTTP/localhost"
		s.AllowUnencrypted = true
	})
	env := append(kdc.Env(), "KRB5CCNAME=FILE:"+ccache, "PEER_PORT="+port(t, srv), "PEER_AUTH=kerberos",
		"PEER_HOSTNAME=localhost", "PEER_ENCRYPTION=never")
	if r := runPeer(t, py, "", "pywinrm_get.py", env...); !r.EnumerateResponse {
		t.Fatalf("pywinrm got no EnumerateResponse: %+v", r)
	}
}

func TestPywinrmAgainstEndpoint(t *testing.T) {
	py := peertest.Python(t, "", "winrm", "requests_ntlm")
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"ntlm over http, sealed", false}, {"ntlm over https, sealed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.tls, sessiontest.AuthConfig{Negotiate: true}, nil)
			ssl := "0"
			if tc.tls {
				ssl = "1"
			}
			r := runPeer(t, py, "", "pywinrm_get.py", "PEER_PORT="+port(t, srv), "PEER_SSL="+ssl,
				"PEER_AUTH=ntlm", "PEER_USER="+user, "PEER_PASSWORD="+password, "PEER_ENCRYPTION=always")
			if !r.EnumerateResponse {
				t.Fatalf("pywinrm got no EnumerateResponse: %+v", r)
			}
		})
	}
}

// runPeerScript runs testdata/<script> with py, pythonPath and env, within
// timeout, and decodes the JSON line it prints last into an R.
func runPeerScript[R any](t *testing.T, script string, timeout time.Duration, py, pythonPath string, env ...string) R {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join("testdata", script))
	cmd.Env = append(peerEnv(pythonPath), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", script, err, stderr.String())
	}
	line := bytes.TrimSpace(stdout.Bytes())
	if i := bytes.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	var r R
	if err := json.Unmarshal(line, &r); err != nil {
		t.Fatalf("%s printed %q: %v\nstderr:\n%s", script, stdout.String(), err, stderr.String())
	}
	return r
}
