package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session"
)

// started is a winhost running in-process.
type started struct {
	urls  []string
	lines []string // what it printed up to "Ctrl-C stops it."
	stop  func() (string, error)
}

// startHost runs winhost with args until the test ends (or stop), and
// returns once it has printed its instructions.
func startHost(t *testing.T, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw, io.Discard)
		pw.CloseWithError(err)
		done <- err
	}()
	s := &started{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		s.lines = append(s.lines, line)
		if u, ok := strings.CutPrefix(line, "listening on "); ok {
			s.urls = append(s.urls, u)
		}
		if line == "Ctrl-C stops it." {
			break
		}
	}
	if len(s.urls) == 0 {
		cancel()
		t.Fatalf("winhost printed no URL: %q (%v)", s.lines, <-done)
	}
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(pr)
		rest <- string(b)
	}()
	var stopped bool
	s.stop = func() (string, error) {
		if stopped {
			return "", nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return <-rest, err
		case <-time.After(10 * time.Second):
			t.Fatal("winhost did not stop")
			return "", nil
		}
	}
	t.Cleanup(func() { _, _ = s.stop() })
	return s
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// As a default Windows host: Negotiate over HTTP with every message
// sealed, which our client does with NTLM; the benchmark generators and
// the pipeline built-ins answer; HTTPS serves the generated certificate
// the instructions name; SIGINT-like cancellation stops it cleanly.
func TestWinhostServesOurClient(t *testing.T) {
	h := startHost(t, "-http-port", "0", "-https-port", "0", "-user", "alice:Pa55!", "-max-shells", "1")
	require.Len(t, h.urls, 2)
	out := strings.Join(h.lines, "\n")
	assert.Contains(t, out, "users: alice")
	assert.NotContains(t, out, "Pa55!\n", "a password given on the command line is not echoed as the generated one is")
	assert.Contains(t, out, "psrun:  GOPSRP_PASSWORD='Pa55!' go run ./examples/psrun -host 127.0.0.1 -port ")
	assert.Contains(t, out, `execute_ps("Get-Date")`)
	assert.True(t, strings.HasPrefix(h.urls[0], "http://127.0.0.1:"), h.urls[0])
	assert.True(t, strings.HasPrefix(h.urls[1], "https://127.0.0.1:"), h.urls[1])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := session.New(ctx, h.urls[0], session.WithNTLM("alice", "Pa55!"), session.WithTrustedHosts("127.0.0.1"))
	require.NoError(t, err)
	res, err := s.InvokeScript(ctx, "Get-Process -Count 5000 | Select-Object -First 3")
	require.NoError(t, err)
	require.Len(t, res.Output, 3)
	assert.Equal(t, "System.Diagnostics.Process (svchost2)", res.Output[2].(*clixml.Object).ToString)
	res, err = s.InvokeScript(ctx, "1..4")
	require.NoError(t, err)
	assert.Equal(t, []any{int32(1), int32(2), int32(3), int32(4)}, res.Output)
	res, err = s.Invoke(ctx, psrp.Cmd("Invoke-Expression").Param("Command", "Write-Output 'a b'; 7").AddCommand("Out-String").Switch("Stream"))
	require.NoError(t, err)
	assert.Equal(t, []any{"a b", "7"}, res.Output)

	// -max-shells 1: a second session of alice's exceeds the quota.
	_, err = session.New(ctx, h.urls[0], session.WithNTLM("alice", "Pa55!"), session.WithTrustedHosts("127.0.0.1"))
	require.Error(t, err)
	require.NoError(t, s.Close(ctx))

	// HTTPS, trusting the certificate file the instructions name.
	var certPath string
	for _, l := range h.lines {
		if _, after, ok := strings.Cut(l, "-cacert '"); ok {
			certPath, _, _ = strings.Cut(after, "'")
		}
	}
	require.NotEmpty(t, certPath)
	pemData, err := os.ReadFile(certPath)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pemData))
	s, err = session.New(ctx, h.urls[1], session.WithNTLM("alice", "Pa55!"), session.WithTLSConfig(&tls.Config{RootCAs: roots}))
	require.NoError(t, err)
	res, err = s.InvokeScript(ctx, "Get-Date")
	require.NoError(t, err)
	require.Len(t, res.Output, 1)
	require.NoError(t, s.Close(ctx))

	rest, err := h.stop()
	require.NoError(t, err)
	assert.Contains(t, rest, "winhost: stopping")
	_, err = os.Stat(certPath)
	assert.True(t, os.IsNotExist(err), "the generated certificate is removed on stop")
}

// Without -user, winhost makes one and prints its password; -auth basic
// with -allow-unencrypted serves Basic over HTTP; -configuration limits
// who may use which configuration; -fault fails the next request.
func TestWinhostOptions(t *testing.T) {
	h := startHost(t, "-http-port", "0", "-auth", "basic", "-allow-unencrypted",
		"-configuration", "Microsoft.PowerShell", "-configuration", "JEA=nobody", "-fault", "Create:status=503")
	var user, pw string
	for _, l := range h.lines {
		if rest, ok := strings.CutPrefix(l, "user "); ok {
			fields := strings.Fields(strings.ReplaceAll(rest, ",", ""))
			user, pw = fields[0], fields[2]
		}
	}
	require.Equal(t, "winhost", user)
	require.Len(t, pw, 16)
	assert.Contains(t, strings.Join(h.lines, "\n"), "-auth basic -allow-unencrypted")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := []session.Option{session.WithBasicAuth(user, pw), session.WithTrustedHosts("127.0.0.1"), session.WithAllowUnencrypted()}
	_, err := session.New(ctx, h.urls[0], opts...)
	require.Error(t, err, "the injected fault fails the first Create")
	s, err := session.New(ctx, h.urls[0], opts...)
	require.NoError(t, err)
	res, err := s.InvokeScript(ctx, "Write-Output hi")
	require.NoError(t, err)
	assert.Equal(t, []any{"hi"}, res.Output)
	require.NoError(t, s.Close(ctx))
	_, err = session.New(ctx, h.urls[0], append(opts, session.WithConfigurationName("JEA"))...)
	require.Error(t, err, "JEA is for nobody")
}

func TestWinhostRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-auth", "telepathy"},
		{"-auth", "kerberos"},
		{"-user", "nopassword"},
		{"-http-port", "-1"},
		{"-cert", "x.pem"},
		{"-fault", "Receive:explode"},
		{"stray"},
	} {
		err := run(context.Background(), append([]string{"-http-port", "0"}, args...), io.Discard, io.Discard)
		if args[0] == "-http-port" {
			err = run(context.Background(), args, io.Discard, io.Discard)
		}
		assert.Error(t, err, "%q", args)
	}
	// Listening beyond loopback is never possible: there is no flag for a
	// host, and the endpoint refuses one.
	f, err := parseFault("Receive:delay=2s:3")
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, f.Delay)
	assert.Equal(t, 3, f.Count)
}
