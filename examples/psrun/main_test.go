package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runPsrun runs psrun's main logic in-process with a non-terminal stdin.
func runPsrun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	stdin, w, err := os.Pipe()
	require.NoError(t, err)
	w.Close()
	defer stdin.Close()
	var out, errOut bytes.Buffer
	a := app{stdin: stdin, stdout: &out, stderr: &errOut, endpoint: defaultEndpoint}
	code = a.run(context.Background(), args)
	return code, out.String(), errOut.String()
}

func TestDefaultTargetPrintsDate(t *testing.T) {
	code, out, errOut := runPsrun(t, "Get-Date")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	assert.Contains(t, out, strconv.Itoa(time.Now().Year()))
	assert.Contains(t, out, time.Now().Weekday().String())
}

func TestStreamsArePrefixedOnStderr(t *testing.T) {
	for _, tc := range []struct {
		script, prefix string
	}{
		{"Write-Warning careful", "WARNING: careful"},
		{"Write-Verbose detail", "VERBOSE: detail"},
		{"Write-Debug trace", "DEBUG: trace"},
	} {
		code, out, errOut := runPsrun(t, tc.script)
		assert.Equal(t, exitOK, code, tc.script)
		assert.Empty(t, out, tc.script)
		assert.Contains(t, errOut, tc.prefix, tc.script)
		assert.NotContains(t, errOut, "\x1b[", "no colours without a terminal")
	}
}

func TestErrorsSetExitCode(t *testing.T) {
	code, _, errOut := runPsrun(t, "Write-Error broken")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "broken")

	code, _, errOut = runPsrun(t, "Get-NoSuchThing")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "The term 'Get-NoSuchThing' is not recognized")
	assert.Contains(t, errOut, "FullyQualifiedErrorId : CommandNotFoundException")
}

func TestObjectsFormatAsList(t *testing.T) {
	code, out, _ := runPsrun(t, "Get-Process -Name svchost")
	require.Equal(t, exitOK, code)
	assert.Regexp(t, `(?m)^Name\s+: svchost$`, out)
	assert.Regexp(t, `(?m)^Id\s+: 812$`, out)
}

func TestUsageErrors(t *testing.T) {
	code, _, errOut := runPsrun(t)
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, "usage: psrun")

	code, _, _ = runPsrun(t, "-no-such-flag", "Get-Date")
	assert.Equal(t, exitCannotRun, code)
}

func TestPasswordNeverFromAFlag(t *testing.T) {
	t.Setenv(passwordEnv, "")
	os.Unsetenv(passwordEnv)
	code, _, errOut := runPsrun(t, "-host", "127.0.0.1:1", "-user", "alice", "Get-Date")
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, "set $"+passwordEnv)
}

func TestPlainHTTPRefusedWithoutOptIn(t *testing.T) {
	t.Setenv(passwordEnv, "s3cret-value")
	code, _, errOut := runPsrun(t, "-host", "127.0.0.1", "-http", "-auth", "basic", "-user", "alice", "Get-Date")
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, strings.ToLower(errOut), "unencrypted")
	assert.Contains(t, errOut, "-allow-unencrypted", "the hint names psrun's flag")
	assert.NotContains(t, errOut, "s3cret-value")
}

// The README's first command runs the secure path: plain HTTP, Negotiate,
// every message sealed; every mechanism the built-in endpoint offers works.
func TestDefaultEndpointMechanisms(t *testing.T) {
	for _, mech := range []string{"negotiate", "ntlm", "credssp"} {
		code, out, errOut := runPsrun(t, "-auth", mech, "Write-Output sealed")
		require.Equal(t, exitOK, code, "%s: stderr: %s", mech, errOut)
		assert.Equal(t, "sealed\n", out, mech)
	}
	code, _, errOut := runPsrun(t, "-auth", "basic", "Get-Date")
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, "built-in endpoint takes")
}

// NTLM over plain http to a host not in -trusted-hosts is refused before
// any credential is sent, and the refusal names the flag.
func TestUntrustedHostNamesTheFlag(t *testing.T) {
	srv := defaultEndpoint("alice", "pw")
	defer srv.Close()
	t.Setenv(passwordEnv, "pw")
	code, _, errOut := runPsrun(t, "-host", srv.URL, "-auth", "ntlm", "-user", "alice", "Get-Date")
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, "-trusted-hosts")
	code, out, errOut := runPsrun(t, "-host", srv.URL, "-auth", "ntlm", "-user", "alice", "-trusted-hosts", "127.0.0.1", "Write-Output ok")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	assert.Equal(t, "ok\n", out)
	t.Setenv(passwordEnv, "wrong")
	code, _, errOut = runPsrun(t, "-host", srv.URL, "-auth", "ntlm", "-user", "alice", "-trusted-hosts", "*", "Get-Date")
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, "credentials were refused")
}

// Interrupting psrun (Ctrl-C cancels its context) stops the remote pipeline
// and exits 130.
func TestInterruptStopsRemotePipeline(t *testing.T) {
	started := make(chan struct{})
	stopped := make(chan struct{})
	endpoint := func(user, password string) *sessiontest.Server {
		srv := defaultEndpoint(user, password)
		srv.Handle("Wait-Forever", func(ctx context.Context, c *sessiontest.Call) error {
			close(started)
			<-ctx.Done()
			close(stopped)
			return ctx.Err()
		})
		return srv
	}
	stdin, w, err := os.Pipe()
	require.NoError(t, err)
	w.Close()
	defer stdin.Close()
	var out, errOut bytes.Buffer
	a := app{stdin: stdin, stdout: &out, stderr: &errOut, endpoint: endpoint}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- a.run(ctx, []string{"Wait-Forever"}) }()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the remote pipeline never started")
	}
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, exitInterrupted, code)
	case <-time.After(30 * time.Second):
		t.Fatal("psrun did not return after the interrupt")
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the remote pipeline was not stopped")
	}
	assert.Contains(t, errOut.String(), "interrupted; the remote pipeline was stopped")
}

// Read-Host and $Host.UI.RawUI.ReadKey on the remote side are answered from
// psrun's stdin.
func TestConsoleHostAnswersFromStdin(t *testing.T) {
	endpoint := func(user, password string) *sessiontest.Server {
		srv := defaultEndpoint(user, password)
		srv.Handle("Ask-Twice", func(ctx context.Context, c *sessiontest.Call) error {
			key, err := c.HostCall(ctx, psrp.HostReadKey, int32(session.ReadKeyIncludeKeyDown))
			if err != nil {
				return err
			}
			o, ok := key.(*clixml.Object)
			if !ok {
				return fmt.Errorf("ReadKey answered %T", key)
			}
			ch, _ := o.Member("character")
			line, err := c.ReadLine(ctx, "Name")
			if err != nil {
				return err
			}
			return c.WriteOutput(fmt.Sprintf("key=%c line=%s", rune(ch.(clixml.Char)), line))
		})
		return srv
	}
	stdin, w, err := os.Pipe()
	require.NoError(t, err)
	defer stdin.Close()
	// From a pipe ReadKey takes exactly one character; Read-Host the rest
	// of the line.
	_, err = w.WriteString("qAda\n")
	require.NoError(t, err)
	w.Close()
	var out, errOut bytes.Buffer
	a := app{stdin: stdin, stdout: &out, stderr: &errOut, endpoint: endpoint}
	code := a.run(context.Background(), []string{"Ask-Twice"})
	require.Equal(t, exitOK, code, "stderr: %s", errOut.String())
	// Read-Host's prompt is a host write, shown as pwsh shows it.
	assert.Equal(t, "Name: key=q line=Ada\n", out.String())
}

// An unquoted script's words are joined as ssh joins its command's.
func TestUnquotedScriptWordsAreJoined(t *testing.T) {
	code, out, errOut := runPsrun(t, "Get-Process", "-Name", "svchost")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	assert.Regexp(t, `(?m)^Name\s+: svchost$`, out)
	assert.NotContains(t, out, "wsmprovhost", "-Name reached the remote command")

	code, out, errOut = runPsrun(t, "Write-Output", "a", "b")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	assert.Equal(t, "a\nb\n", out)
}

// A psrun flag after the script is diagnosed in one line, not sent to
// PowerShell; after --, it is PowerShell's.
func TestFlagAfterScriptIsDiagnosed(t *testing.T) {
	code, out, errOut := runPsrun(t, "Get-Date", "-timeout", "5s")
	assert.Equal(t, exitCannotRun, code)
	assert.Empty(t, out)
	assert.Equal(t, "psrun: -timeout comes after the script: put psrun's flags before it, or -- before the script to pass -timeout to PowerShell\n", errOut)

	code, out, errOut = runPsrun(t, "-timeout", "30s", "--", "Write-Output", "'-timeout'")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	assert.Equal(t, "-timeout\n", out)
	// PowerShell's own parameters are capitalized and pass.
	code, _, errOut = runPsrun(t, "Get-Process", "-Name", "svchost", "-Host", "x")
	assert.Equal(t, exitOK, code, "stderr: %s", errOut)
}

// -h lists the exit codes and the environment variables.
func TestHelpListsExitCodesAndEnvironment(t *testing.T) {
	code, _, errOut := runPsrun(t, "-h")
	assert.Equal(t, exitOK, code)
	for _, want := range []string{"Exit status:", "\n  0 ", "\n  1 ", "\n  2 ", "\n  130 ", "Environment:", passwordEnv} {
		assert.Contains(t, errOut, want)
	}
}

// Objects in list view are separated by one blank line, as in PowerShell.
func TestListObjectsSeparatedByOneBlankLine(t *testing.T) {
	code, out, errOut := runPsrun(t, "Get-Process")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	assert.NotContains(t, out, "\n\n\n", "two blank lines between objects")
	assert.True(t, strings.HasPrefix(out, "\nName "), "a blank line before the first object: %q", out)
	assert.Equal(t, 4, strings.Count(out, "\n\nName ")+1, "four objects, each after one blank line: %q", out)
	assert.True(t, strings.HasSuffix(out, "ProcessName  : powershell\n\n"), "%q", out)
}

// Information records show only where PowerShell shows them: Write-Host's
// (tagged PSHOST), not Write-Information's.
func TestOnlyHostInformationIsShown(t *testing.T) {
	code, out, errOut := runPsrun(t, "Write-Information", "quiet")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	assert.Empty(t, out+errOut)
	code, out, _ = runPsrun(t, "Write-Host", "loud")
	require.Equal(t, exitOK, code)
	assert.Equal(t, "loud\n", out)
}

// Write-Host's HostInformationMessage prints its Message, honouring
// -NoNewline.
func TestHostInformationMessage(t *testing.T) {
	var out bytes.Buffer
	p := newPrinter(&out, io.Discard)
	msg := func(text string, noNewLine bool) session.Record {
		return session.Information{InformationRecord: clixml.InformationRecord{Tags: []string{"PSHOST"}, MessageData: &clixml.Object{
			TypeNames: []string{"System.Management.Automation.HostInformationMessage", "System.Object"},
			Props:     []clixml.Property{{Name: "Message", Value: text}, {Name: "NoNewLine", Value: noNewLine}},
		}}}
	}
	p.record(msg("a", true))
	p.record(msg("b", false))
	assert.Equal(t, "ab\n", out.String())
}

// With stdin not a terminal (</dev/null included) psrun never prompts for
// the password: it says to set $GOPSRP_PASSWORD.
func TestNoPasswordPromptWithoutTerminal(t *testing.T) {
	t.Setenv(passwordEnv, "")
	os.Unsetenv(passwordEnv)
	null, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer null.Close()
	var out, errOut bytes.Buffer
	a := app{stdin: null, stdout: &out, stderr: &errOut, endpoint: defaultEndpoint}
	code := a.run(context.Background(), []string{"-host", "127.0.0.1:1", "-user", "alice", "Get-Date"})
	assert.Equal(t, exitCannotRun, code)
	assert.NotContains(t, errOut.String(), "Password for")
	assert.Contains(t, errOut.String(), "set $"+passwordEnv)
}

// Read-Host with stdin at its end fails with a message that says so.
func TestReadHostWithoutStdinSaysSo(t *testing.T) {
	code, _, errOut := runPsrun(t, "Read-Host -Prompt Name")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "standard input is closed")
	assert.NotContains(t, errOut, ": EOF")
}
