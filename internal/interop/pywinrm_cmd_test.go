package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/peertest"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// pywinrmCmdResult is what testdata/pywinrm_cmd.py prints.
type pywinrmCmdResult struct {
	Cases map[string]struct {
		Stdout string `json:"stdout"`
		Stderr string `json:"stderr"`
		Code   int    `json:"code"`
	} `json:"cases"`
	BytesBug  bool   `json:"bytes_bug"`
	Exception string `json:"exception"`
}

// Debian's pywinrm, unmodified, runs native commands (Session.run_cmd) and
// PowerShell scripts (Session.run_ps: powershell -encodedcommand, its
// stderr "#< CLIXML" cleaned into the error text) on the endpoint's WinRS
// cmd shell resource: over HTTPS with NTLM (TLS protects the messages, as
// pywinrm's default "auto" encryption chooses there) and over HTTP with
// every message sealed with NTLM. Stdout, stderr and exit codes must come
// back as Windows gives them.
func TestPywinrmCmdAgainstEndpoint(t *testing.T) {
	py := peertest.Python(t, "", "winrm", "requests_ntlm")
	for _, tc := range []struct {
		name       string
		tls        bool
		encryption string
	}{
		{"ntlm over https", true, "auto"},
		{"ntlm over http, sealed", false, "always"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.tls, sessiontest.AuthConfig{Negotiate: true}, func(srv *sessiontest.Server) {
				srv.HandleCmd("tool", func(_ context.Context, c *sessiontest.CmdCall) (int, error) {
					fmt.Fprintf(c.Stdout, "%s ran with %s as %s\r\n", c.Name, strings.Join(c.Args, ","), c.User)
					fmt.Fprint(c.Stderr, "tool warning\r\n")
					return 7, nil
				})
			})
			ssl := "0"
			if tc.tls {
				ssl = "1"
			}
			r := runPywinrmCmd(t, py, "PEER_PORT="+port(t, srv), "PEER_SSL="+ssl,
				"PEER_USER="+user, "PEER_PASSWORD="+password, "PEER_ENCRYPTION="+tc.encryption)
			if r.BytesBug {
				t.Log("the installed pywinrm gives run_ps's CLIXML cleaner bytes (pywinrm 0.3 on Python 3); the script decodes them for it")
			}
			c := r.Cases
			require.Len(t, c, 5, "cases run: %+v", r)

			assert.Equal(t, "hello world\r\n", c["echo"].Stdout, "echo")
			assert.Empty(t, c["echo"].Stderr, "echo")
			assert.Equal(t, 0, c["echo"].Code, "echo")

			assert.Equal(t, "tool.exe ran with one,two as "+user+"\r\n", c["tool"].Stdout, "tool")
			assert.Equal(t, "tool warning\r\n", c["tool"].Stderr, "tool")
			assert.Equal(t, 7, c["tool"].Code, "tool")

			assert.Equal(t, "out\r\n", c["cmd_chain"].Stdout, "cmd /c chain")
			assert.Equal(t, "err\r\n", c["cmd_chain"].Stderr, "cmd /c chain")
			assert.Equal(t, 0, c["cmd_chain"].Code, "cmd /c chain")

			assert.Equal(t, "from ps\r\n", c["ps_output"].Stdout, "run_ps output")
			assert.Empty(t, c["ps_output"].Stderr, "run_ps output")
			assert.Equal(t, 0, c["ps_output"].Code, "run_ps output")

			assert.Empty(t, c["ps_error"].Stdout, "run_ps error")
			assert.Contains(t, c["ps_error"].Stderr, "ps boom", "run_ps error: the CLIXML error record, cleaned by pywinrm")
			assert.Contains(t, c["ps_error"].Stderr, "+ CategoryInfo", "run_ps error: the whole error record")
			assert.NotContains(t, c["ps_error"].Stderr, "CLIXML", "run_ps error: pywinrm read the document")
			assert.Equal(t, 1, c["ps_error"].Code, "run_ps error")
		})
	}
}

// runPywinrmCmd runs testdata/pywinrm_cmd.py with env and decodes its line.
func runPywinrmCmd(t *testing.T, py string, env ...string) pywinrmCmdResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join("testdata", "pywinrm_cmd.py"))
	cmd.Env = append(peerEnv(""), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "pywinrm_cmd.py\nstderr:\n%s", stderr.String())
	var r pywinrmCmdResult
	line := bytes.TrimSpace(stdout.Bytes())
	if i := bytes.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	require.NoError(t, json.Unmarshal(line, &r), "pywinrm_cmd.py printed %q\nstderr:\n%s", stdout.String(), stderr.String())
	require.Empty(t, r.Exception, "pywinrm_cmd.py failed\nstderr:\n%s", stderr.String())
	return r
}
