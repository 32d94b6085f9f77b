package interop_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/peertest"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// everydayResult is what testdata/pypsrp_everyday.py prints.
type everydayResult struct {
	Date          string `json:"date"`
	DateHadErrors bool   `json:"date_had_errors"`
	Script        struct {
		Output    string   `json:"output"`
		HadErrors bool     `json:"had_errors"`
		Errors    []string `json:"errors"`
		Warnings  []string `json:"warnings"`
	} `json:"script"`
	Procs   [][]any `json:"procs"`
	First   []any   `json:"first"`
	Streams struct {
		Output      []any    `json:"output"`
		HadErrors   bool     `json:"had_errors"`
		Error       []string `json:"error"`
		Warning     []string `json:"warning"`
		Verbose     []string `json:"verbose"`
		Debug       []string `json:"debug"`
		Information []string `json:"information"`
		Progress    []string `json:"progress"`
	} `json:"streams"`
	Failed struct {
		State     int      `json:"state"`
		HadErrors bool     `json:"had_errors"`
		Error     []string `json:"error"`
	} `json:"failed"`
	Input                 []any  `json:"input"`
	Reconnect             []any  `json:"reconnect"`
	FoundPool             int    `json:"found_pool"`
	DisconnectedPipelines int    `json:"disconnected_pipelines"`
	ConnectedOutput       []any  `json:"connected_output"`
	NewClient             []any  `json:"new_client"`
	Exception             string `json:"exception"`
	// Seconds is the time each step took, for the log.
	Seconds map[string]float64 `json:"seconds"`
}

// pypsrp's everyday calls, unmodified, against an endpoint set up as a
// default Windows host (Negotiate, every message sealed with NTLM):
// Client.execute_ps, RunspacePool + PowerShell with output, errors and
// streams, and disconnect + connect by the same and by a new client.
// pypsrp's Client.copy and fetch are covered by TestPypsrpCopyFetch
// (pypsrp_copy_test.go): the endpoint knows their scripts by their exact
// text and carries them out on its own disk. pypsrp's Kerberos is
// TestPypsrpKerberosAgainstEndpoint (a ticket from kinit: with a password,
// pyspnego needs the krb5 binding, pykrb5, which Debian does not package).
func TestPypsrpEverydayCalls(t *testing.T) {
	pyPath := peertest.PeerSource(t, peertest.Pypsrp, "pypsrp") + ":" + peertest.PeerSource(t, peertest.Pyspnego, "spnego")
	py := peertest.Python(t, pyPath, "pypsrp.client", "requests", "cryptography")
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"ntlm over http, sealed", false}, {"ntlm over https, sealed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, tc.tls, sessiontest.AuthConfig{Negotiate: true}, nil)
			ssl := "0"
			if tc.tls {
				ssl = "1"
			}
			r := runPeerScript[everydayResult](t, "pypsrp_everyday.py", 90*time.Second, py, pyPath, "PEER_PORT="+port(t, srv), "PEER_SSL="+ssl, "PEER_AUTH=ntlm",
				"PEER_USER="+user, "PEER_PASSWORD="+password, "KRB5_CONFIG=/dev/null")
			t.Logf("pypsrp's steps took %v s", r.Seconds)

			// execute_ps: Invoke-Expression -Command <script> | Out-String -Stream.
			assert.Regexp(t, regexp.MustCompile(`^[A-Z][a-z]+day, [A-Z][a-z]+ \d+, \d{4} \d+:\d\d:\d\d [AP]M$`), r.Date)
			assert.False(t, r.DateHadErrors)
			assert.Equal(t, "1\n2\n3", r.Script.Output)
			// pypsrp sets had_errors only for a Failed pipeline.
			assert.False(t, r.Script.HadErrors)
			require.Len(t, r.Script.Errors, 1)
			assert.Contains(t, r.Script.Errors[0], "went wrong")
			assert.Equal(t, []string{"careful"}, r.Script.Warnings)

			// RunspacePool + PowerShell.
			assert.Equal(t, [][]any{{"svchost0", 0.0}, {"svchost1", 1.0}, {"svchost2", 2.0}}, r.Procs)
			assert.Equal(t, []any{1.0, 2.0, 3.0, 4.0}, r.First)
			s := r.Streams
			assert.Equal(t, []any{"out"}, s.Output)
			assert.False(t, s.HadErrors)
			require.Len(t, s.Error, 1)
			assert.Contains(t, s.Error[0], "err")
			assert.Equal(t, []string{"warn"}, s.Warning)
			assert.Equal(t, []string{"verb"}, s.Verbose)
			assert.Equal(t, []string{"dbg"}, s.Debug)
			assert.Equal(t, []string{"info"}, s.Information)
			assert.Equal(t, []string{"act"}, s.Progress)
			assert.Equal(t, 5, r.Failed.State, "PSInvocationState.FAILED")
			assert.True(t, r.Failed.HadErrors)
			require.Len(t, r.Failed.Error, 1)
			assert.Contains(t, r.Failed.Error[0], "Get-Nothing")
			assert.Equal(t, []any{"b", "c"}, r.Input)

			// Disconnect and connect.
			assert.Equal(t, []any{"after reconnect"}, r.Reconnect)
			assert.Equal(t, 1, r.FoundPool)
			assert.Equal(t, 1, r.DisconnectedPipelines)
			assert.Equal(t, []any{"while away"}, r.ConnectedOutput)
			assert.Equal(t, []any{"new client"}, r.NewClient)
		})
	}
}
