package sessiontest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/winrs"
)

// hostText is the text of a Write-Host information record.
func hostText(t *testing.T, rec clixml.InformationRecord) string {
	t.Helper()
	if o, ok := rec.MessageData.(*clixml.Object); ok {
		m, ok := o.Member("Message")
		require.True(t, ok, "HostInformationMessage without Message: %v", o)
		s, _ := m.(string)
		return s
	}
	s, _ := rec.MessageData.(string)
	return s
}

// Write-Host writes all its arguments joined by spaces (or -Separator),
// as PowerShell does, through PSRP and through powershell.exe in a cmd
// shell.
func TestWriteHostJoinsArguments(t *testing.T) {
	t.Parallel()
	srv := sessiontest.NewTLSServer()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	defer s.Close(ctx)

	for script, want := range map[string]string{
		"Write-Host a b c":                        "a b c",
		"Write-Host 'a b' c":                      "a b c",
		"Write-Host -Object x":                    "x",
		"Write-Host a b -Separator ','":           "a,b",
		"Write-Host one -ForegroundColor Red two": "one two",
	} {
		res, err := s.InvokeScript(ctx, script)
		require.NoError(t, err, script)
		require.Len(t, res.Information, 1, script)
		assert.Equal(t, want, hostText(t, res.Information[0].InformationRecord), script)
	}

	sh := openCmdShell(ctx, t, srv)
	out, err := sh.RunPowerShell(ctx, "Write-Host a b c")
	require.NoError(t, err)
	assert.Equal(t, "a b c\n", string(out))
}

// A statement assigning a literal to a variable does nothing visible, and
// a script that starts with such statements (masterzen/winrm prefixes
// every script with $ProgressPreference = 'SilentlyContinue';) is served
// as its rest: through PSRP, where a script of several statements goes to
// one handler, and through Invoke-Expression (powershell.exe in a cmd
// shell), where each statement runs.
func TestLeadingLiteralAssignments(t *testing.T) {
	t.Parallel()
	srv := sessiontest.NewTLSServer()
	t.Cleanup(srv.Close)
	srv.HandleScript("Get-Exact", func(ctx context.Context, c *sessiontest.Call) error {
		return c.WriteOutput("exact")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	defer s.Close(ctx)
	sh := openCmdShell(ctx, t, srv)

	for script, want := range map[string][]any{
		"$ProgressPreference = 'SilentlyContinue'; Write-Output hi":                {"hi"},
		"$ProgressPreference = 'SilentlyContinue';\nWrite-Output a | Write-Output": {"a"},
		"$n = 1; $s = \"x\"; $global:b = $true\r\nWrite-Output ok":                 {"ok"},
		"$x = 'it''s; fine'; Write-Output done":                                    {"done"},
		"$v = -2.5\nGet-Exact":                                                     {"exact"},
		"$x = 'a'":                                                                 nil,
		"$x = 1; $y = $null":                                                       nil,
	} {
		res, err := s.InvokeScript(ctx, script)
		require.NoError(t, err, script)
		assert.Equal(t, want, res.Output, script)
		assert.False(t, res.HadErrors, script)
		assert.Equal(t, psrp.PipelineCompleted, res.State, script)

		out, err := sh.RunPowerShell(ctx, script)
		require.NoError(t, err, "powershell.exe: %s", script)
		var lines string
		for _, w := range want {
			lines += w.(string) + "\r\n"
		}
		assert.Equal(t, lines, string(out), "powershell.exe: %s", script)
	}

	// Not a literal: the statement is no command the endpoint knows, and
	// it says so rather than dropping it.
	for _, script := range []string{
		"$d = Get-Date; Write-Output hi",
		"$s = \"$env:USERNAME\"; Write-Output hi",
		"$a == 1; Write-Output hi",
	} {
		_, err := s.InvokeScript(ctx, script)
		require.Error(t, err, script)
		assert.Contains(t, err.Error(), "is not recognized", script)
	}
}

// openCmdShell opens a cmd shell on srv over a session Client's WS-Man
// client.
func openCmdShell(ctx context.Context, t *testing.T, srv *sessiontest.Server) *winrs.Shell {
	t.Helper()
	c, err := session.NewClient(srv.URL, session.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	sh, err := winrs.Open(ctx, c.WSMan())
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, sh.Close(ctx))
	})
	return sh
}
