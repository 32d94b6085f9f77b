package peertest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// DebianPython is Debian's python3, the one whose dist-packages hold the
// Debian-packaged peers (python3-gssapi, python3-winrm, …); the python3
// first on PATH may be another one (pyenv) without them.
const DebianPython = "/usr/bin/python3"

// Python returns DebianPython after checking that it imports every module
// (a dotted name imports its package too). A non-empty pythonPath is the
// PYTHONPATH of the check, as the peer will run with it; an empty one
// leaves the environment as it is. Anything missing is reported by Need.
func Python(t testing.TB, pythonPath string, modules ...string) string {
	t.Helper()
	if _, err := os.Stat(DebianPython); err != nil {
		Need(t, DebianPython, err.Error())
	}
	if len(modules) == 0 {
		return DebianPython
	}
	cmd := exec.Command(DebianPython, "-c", "import "+strings.Join(modules, ", "))
	if pythonPath != "" {
		cmd.Env = append(os.Environ(), "PYTHONPATH="+pythonPath)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		Need(t, "python modules "+strings.Join(modules, ", ")+" for "+DebianPython,
			strings.TrimSpace(err.Error()+": "+string(out)))
	}
	return DebianPython
}
