package peertest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// gss-ntlmssp's plugin, wherever Debian puts it for the architecture, and
// the directory where MIT GSSAPI finds the mechanisms it loads.
const (
	gssNTLMSSPPlugin = "/usr/lib/*/gssntlmssp/gssntlmssp.so"
	gssMechDir       = "/etc/gss/mech.d"
	ntlmOID          = "1.3.6.1.4.1.311.2.2.10"
)

// GSSNTLMSSP checks that gss-ntlmssp is installed and registered with MIT
// GSSAPI for NTLM, and that DebianPython imports python3-gssapi, through
// which a test drives it; it returns DebianPython. Anything missing is
// reported by Need.
func GSSNTLMSSP(t testing.TB) string {
	t.Helper()
	const what = "gss-ntlmssp peer (Debian packages gss-ntlmssp and python3-gssapi)"
	if libs, _ := filepath.Glob(gssNTLMSSPPlugin); len(libs) == 0 {
		Need(t, what, "no "+gssNTLMSSPPlugin)
	}
	conf, _ := filepath.Glob(filepath.Join(gssMechDir, "*"))
	registered := false
	for _, f := range conf {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(ntlmOID)) {
			registered = true
		}
	}
	if !registered {
		Need(t, what, "no mechanism configuration for NTLM in "+gssMechDir)
	}
	return Python(t, "", "gssapi")
}
