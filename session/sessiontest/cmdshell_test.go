package sessiontest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A cmd shell's CreateResponse repeats the Create's environment and
// working directory with the values Windows gave in the recordings, and
// its file-not-found and bad-Receive faults name the cmd plug-in as
// Windows' do.
func TestCmdShellAnswersAsWindows(t *testing.T) {
	t.Parallel()
	all := loadCaptures(t)
	s := NewServer()
	t.Cleanup(s.Close)
	echoed := func(n *node) (vars [][2]string, dir string) {
		for _, v := range n.all("Variable") {
			vars = append(vars, [2]string{v.attr("Name"), v.Text})
		}
		return vars, n.find("Body", "Shell", "WorkingDirectory").text()
	}
	for _, name := range []string{"test_winrs_environment.yml", "test_winrs_extra_opts.yml"} {
		cf := all[name]
		require.NotNil(t, cf, name)
		want, err := parseTree([]byte(cf.Entries[0].Response))
		require.NoError(t, err)
		got := post(t, s.Client(), s.URL, []byte(prepare(cf.Entries[0].Request)))
		require.Equal(t, 200, got.status, "%s: %s", name, got.body)
		wantVars, wantDir := echoed(want)
		gotVars, gotDir := echoed(got.tree)
		assert.Equal(t, wantVars, gotVars, name)
		assert.Equal(t, wantDir, gotDir, name)
	}

	for _, key := range []struct {
		name string
		i    int
	}{{"test_winrs_no_cmd_shell.yml", 1}, {"test_winrs_fail_poll_process.yml", 1}} {
		cf := all[key.name]
		require.NotNil(t, cf, key.name)
		want, err := parseTree([]byte(cf.Entries[key.i].Response))
		require.NoError(t, err)
		// The shell of the recording, then the request on it.
		created := post(t, s.Client(), s.URL, []byte(prepare(cf.Entries[0].Request)))
		recordedShell, err := parseTree([]byte(cf.Entries[0].Response))
		require.NoError(t, err)
		req := strings.ReplaceAll(prepare(cf.Entries[key.i].Request),
			recordedShell.find("Body", "Shell", "ShellId").text(), created.tree.find("Body", "Shell", "ShellId").text())
		recorded := want.find("Body", "Fault")
		got := post(t, s.Client(), s.URL, []byte(req))
		require.Equal(t, 500, got.status, "%s: %s", key.name, got.body)
		f := got.tree.find("Body", "Fault")
		for _, path := range [][]string{{"Code", "Subcode", "Value"}, {"Detail", "FaultDetail"}, {"Detail", "WSManFault", "Message", "ProviderFault"}} {
			assert.Equal(t, recorded.find(path...).text(), f.find(path...).text(), "%s %v", key.name, path)
		}
		pf := func(n *node) [2]string {
			p := n.find("Detail", "WSManFault", "Message", "ProviderFault")
			return [2]string{p.attr("provider"), p.attr("path")}
		}
		assert.Equal(t, pf(recorded), pf(f), key.name)
		assert.Equal(t, recorded.find("Detail", "WSManFault").attr("Code"), f.find("Detail", "WSManFault").attr("Code"), key.name)
	}
}

func TestExpandPercent(t *testing.T) {
	t.Parallel()
	env := map[string]string{"NAME": "alice", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[strings.ToUpper(k)]; return v, ok }
	for in, want := range map[string]string{
		"echo %NAME%":          "echo alice",
		"echo %name%!":         "echo alice!",
		"echo [%EMPTY%]":       "echo []",
		"echo %MISSING%":       "echo %MISSING%",
		"echo 100%% sure":      "echo 100% sure",
		"echo 50% of %NAME%":   "echo 50% of alice",
		"echo %":               "echo %",
		`echo "%NAME%" quoted`: `echo "alice" quoted`,
	} {
		if got := expandPercent(in, lookup); got != want {
			t.Errorf("expandPercent(%q) = %q, want %q", in, got, want)
		}
	}
}
