package sessiontest

import (
	"strings"
	"testing"
)

// FuzzCutLiteralAssignments: whatever script a client sends, cutting its
// leading literal assignments never panics, returns a suffix of the
// script, and leaves something to serve.
func FuzzCutLiteralAssignments(f *testing.F) {
	for _, seed := range []string{
		"$ProgressPreference = 'SilentlyContinue'; Get-Date",
		"$ProgressPreference = 'SilentlyContinue';\r\nWrite-Output a | Write-Output",
		"$n = 1; $s = \"x\"; $global:b = $true\nWrite-Output ok",
		"$x = 'it''s; fine'; Write-Output done",
		"$x = 'a'",
		"$a == 1; Write-Output hi",
		"$d = Get-Date; x",
		"$x = \"a`\"b\"; y",
		"$x = 1..5; y",
		"$a = $b = 1; c",
		"",
		";;;",
		"$",
		"$x =",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, script string) {
		rest, cut := cutLiteralAssignments(script)
		if !strings.HasSuffix(script, rest) {
			t.Fatalf("cutLiteralAssignments(%q) = %q, not a suffix", script, rest)
		}
		if cut && (rest == script || strings.TrimSpace(rest) == "") {
			t.Fatalf("cutLiteralAssignments(%q) = %q, %v", script, rest, cut)
		}
		if !cut && rest != script {
			t.Fatalf("cutLiteralAssignments(%q) changed the script without cutting", script)
		}
		_ = literalAssignment(script)
	})
}
