package winrmtransport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"

	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/winrmtransport"
)

// psScript is the script masterzen/winrm's RunPSWithContext sends for
// "Write-Output 'from powershell'": it prefixes a statement of its own, and
// the endpoint, which does not interpret PowerShell, serves a script of
// several statements by its exact text.
const psScript = "$ProgressPreference = 'SilentlyContinue';Write-Output 'from powershell'"

// serveGreet registers "greet": it echoes its stdin on stdout with its
// arguments, writes a line on stderr and exits 3. It also serves psScript.
func serveGreet(srv *sessiontest.Server) {
	srv.HandleScript(psScript, func(ctx context.Context, c *sessiontest.Call) error {
		return c.WriteOutput("from powershell")
	})
	srv.HandleCmd("greet", func(ctx context.Context, c *sessiontest.CmdCall) (int, error) {
		in, err := io.ReadAll(c.Stdin)
		if err != nil {
			return 1, err
		}
		fmt.Fprintf(c.Stdout, "hello %s: %s\r\n", strings.Join(c.Args, " "), in)
		fmt.Fprintf(c.Stderr, "to stderr\r\n")
		return 3, nil
	})
}

// runEverything drives masterzen/winrm's client through its main calls and
// checks what each returns.
func runEverything(t *testing.T, c *winrm.Client) {
	t.Helper()
	ctx := testContext(t)
	stdout, stderr, code, err := c.RunCmdWithContext(ctx, "echo sealed hello")
	if err != nil || stdout != "sealed hello\r\n" || stderr != "" || code != 0 {
		t.Errorf("RunCmdWithContext(echo): %q, %q, %d, %v", stdout, stderr, code, err)
	}

	stdout, stderr, code, err = c.RunWithContextWithString(ctx, "greet a b", "from stdin")
	if err != nil || stdout != "hello a b: from stdin\r\n" || stderr != "to stderr\r\n" || code != 3 {
		t.Errorf("RunWithContextWithString(greet): %q, %q, %d, %v", stdout, stderr, code, err)
	}

	var out, errOut strings.Builder
	code, err = c.RunWithContext(ctx, "whoami", &out, &errOut)
	if err != nil || !strings.Contains(strings.ToLower(out.String()), testUser) || code != 0 {
		t.Errorf("RunWithContext(whoami): %q, %q, %d, %v", out.String(), errOut.String(), code, err)
	}

	// RunPSWithContext sends powershell.exe -EncodedCommand <base64>.
	stdout, stderr, code, err = c.RunPSWithContext(ctx, "Write-Output 'from powershell'")
	if err != nil || strings.TrimSpace(stdout) != "from powershell" || code != 0 {
		t.Errorf("RunPSWithContext: %q, %q, %d, %v", stdout, stderr, code, err)
	}

	shell, err := c.CreateShell()
	if err != nil {
		t.Fatalf("CreateShell: %v", err)
	}
	cmd, err := shell.ExecuteWithContext(ctx, "hostname")
	if err != nil {
		t.Fatalf("Execute(hostname): %v", err)
	}
	host, err := io.ReadAll(cmd.Stdout)
	cmd.Wait()
	if err != nil || len(strings.TrimSpace(string(host))) == 0 || cmd.ExitCode() != 0 {
		t.Errorf("hostname: %q, exit %d, %v", host, cmd.ExitCode(), err)
	}
	if err := cmd.Close(); err != nil {
		t.Errorf("Command.Close: %v", err)
	}
	if err := shell.Close(); err != nil {
		t.Errorf("Shell.Close: %v", err)
	}
}

// checkSealed checks the recorded plaintext HTTP: every request that
// carried a body was sealed, and no SOAP crossed in clear.
func checkSealed(t *testing.T, w *wire) (requests int) {
	t.Helper()
	_, sent, received := w.stats()
	requests = requestsWith(sent, "Content-Type: multipart/encrypted")
	if n := requestsWith(sent, "Content-Type: application/soap+xml"); n != 0 {
		t.Errorf("%d requests sent in clear", n)
	}
	if requests < 10 {
		t.Errorf("only %d sealed requests", requests)
	}
	for _, clear := range []string{"Envelope", "sealed hello", "from stdin", "powershell"} {
		if strings.Contains(sent, clear) || strings.Contains(received, clear) {
			t.Errorf("%q crossed the wire in clear", clear)
		}
	}
	return requests
}

// TestMasterzenClientNTLM drives masterzen/winrm's own client through the
// Transport with NTLM over plain http: the cmd shell, stdin, stdout,
// stderr, exit codes, powershell -EncodedCommand, all sealed, and a
// handshake per connection, not per message.
func TestMasterzenClientNTLM(t *testing.T) {
	t.Parallel()
	srv := authServer(t, false, sessiontest.AuthConfig{Negotiate: true}, nil)
	serveGreet(srv)
	var w wire
	tr := winrmtransport.New(&auth.NTLM{Username: testUser, Password: testPassword},
		winrmtransport.WithTrustedHosts("127.0.0.1"), winrmtransport.WithDialContext(w.dialContext))
	runEverything(t, newClient(t, endpointOf(t, srv, ""), tr, nil))

	requests := checkSealed(t, &w)
	dials, _, received := w.stats()
	// masterzen/winrm polls output while it sends input and signals, so a
	// few connections may be open at once; each authenticates once.
	challenges := strings.Count(received, "TlRMTVNTUAACAAAA")
	if challenges != dials || dials > 3 {
		t.Errorf("%d NTLM challenges on %d connections for %d messages, want one per connection and at most 3",
			challenges, dials, requests)
	}
	t.Logf("%d sealed messages over %d connections, %d NTLM handshakes", requests, dials, challenges)
}

// TestMasterzenClientCredSSP: CredSSP (NTLM inside its TLS), sealed
// over plain http.
func TestMasterzenClientCredSSP(t *testing.T) {
	t.Parallel()
	srv := authServer(t, false, sessiontest.AuthConfig{CredSSP: true}, serveGreet)
	var w wire
	tr := winrmtransport.New(&auth.CredSSP{Username: testUser, Password: testPassword},
		winrmtransport.WithTrustedHosts("127.0.0.1"), winrmtransport.WithDialContext(w.dialContext))
	runEverything(t, newClient(t, endpointOf(t, srv, ""), tr, nil))
	checkSealed(t, &w)
	if got := srv.DelegatedCredentials(); len(got) == 0 {
		t.Error("the endpoint received no delegated credentials")
	}
}

// TestMasterzenClientKerberos is the same with Kerberos (a real MIT KDC)
// over http, sealed, and over https, sealed inside TLS with EncryptAlways.
func TestMasterzenClientKerberos(t *testing.T) {
	t.Parallel()
	kdc, kt := realm(t)
	mech := &auth.Kerberos{Username: testUser, Password: testPassword, ConfigPath: kdc.ConfPath}
	t.Run("http", func(t *testing.T) {
		srv := kerberosServer(t, kt, false, serveGreet)
		var w wire
		tr := winrmtransport.New(mech, winrmtransport.WithDialContext(w.dialContext))
		runEverything(t, newClient(t, endpointOf(t, srv, "localhost"), tr, nil))
		checkSealed(t, &w)
	})
	t.Run("https", func(t *testing.T) {
		cert, certPEM := serverCertificate(t)
		srv := kerberosServer(t, kt, true, func(s *sessiontest.Server) { s.TLSCertificate = &cert; serveGreet(s) })
		var w wire
		ep := endpointOf(t, srv, "localhost")
		ep.Port, ep.CACert = tlsRecorder(t, srv, cert, &w), certPEM
		tr := winrmtransport.New(mech, winrmtransport.WithMessageEncryption(winrmtransport.EncryptAlways))
		runEverything(t, newClient(t, ep, tr, nil))
		checkSealed(t, &w)
	})
}

// TestMasterzenClientWrongCredentials: RunCmdWithContext reports the
// refusal as a 401 that errors.Is recognises.
func TestMasterzenClientWrongCredentials(t *testing.T) {
	t.Parallel()
	srv := authServer(t, false, sessiontest.AuthConfig{Negotiate: true}, nil)
	tr := winrmtransport.New(&auth.Negotiate{Username: testUser, Password: "Wr0ng-secret"}, winrmtransport.WithTrustedHosts("127.0.0.1"))
	c := newClient(t, endpointOf(t, srv, ""), tr, nil)
	_, _, _, err := c.RunCmdWithContext(testContext(t), "echo never")
	if !errors.Is(err, auth.ErrAccessDenied) || !strings.HasPrefix(err.Error(), "http error 401: ") || strings.Contains(err.Error(), "Wr0ng") {
		t.Errorf("wrong password: %v", err)
	}
	if len(srv.Shells()) != 0 {
		t.Error("a shell was created with wrong credentials")
	}
}

// TestMasterzenClientKeepsPolling: a command silent for longer than the
// OperationTimeout makes the endpoint answer Receives with the w:TimedOut
// fault; masterzen/winrm recognises it in the error text and polls again,
// so the command completes.
func TestMasterzenClientKeepsPolling(t *testing.T) {
	t.Parallel()
	srv := authServer(t, false, sessiontest.AuthConfig{Negotiate: true}, nil)
	srv.HandleCmd("slow", func(ctx context.Context, c *sessiontest.CmdCall) (int, error) {
		select {
		case <-time.After(2200 * time.Millisecond):
		case <-ctx.Done():
			return 1, ctx.Err()
		}
		_, err := io.WriteString(c.Stdout, "done\r\n")
		return 0, err
	})
	tr := winrmtransport.New(&auth.NTLM{Username: testUser, Password: testPassword}, winrmtransport.WithTrustedHosts("127.0.0.1"))
	c := newClient(t, endpointOf(t, srv, ""), tr, func(p *winrm.Parameters) { p.Timeout = "PT1S" })
	stdout, _, code, err := c.RunCmdWithContext(testContext(t), "slow")
	if err != nil || stdout != "done\r\n" || code != 0 {
		t.Errorf("slow command: %q, %d, %v", stdout, code, err)
	}
}
