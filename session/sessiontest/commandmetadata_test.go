package sessiontest

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
)

func TestWildcardMatch(t *testing.T) {
	for _, tt := range []struct {
		pattern, s string
		want       bool
	}{
		{"Get-Date", "get-date", true},
		{"Get-Date", "Get-Dates", false},
		{"*", "", true},
		{"*", "anything", true},
		{"Get-*", "Get-Date", true},
		{"Get-*", "Set-Date", false},
		{"*-Date", "Get-Date", true},
		{"G*t-*e", "Get-Date", true},
		{"G*t-*e", "Get-Dat", false},
		{"Get-Dat?", "Get-Date", true},
		{"Get-Dat?", "Get-Dat", false},
		{"[gs]et-*", "Set-Item", true},
		{"[gs]et-*", "Net-Item", false},
		{"Write-[a-f]*", "Write-Error", true},
		{"Write-[a-f]*", "Write-Host", false},
		{"Get-Date`*", "Get-Date*", true},
		{"Get-Date`*", "Get-Dates", false},
		{"a`?", "a?", true},
		{"a`?", "ab", false},
		{"Ünï*", "ÜNÏCODE", true},
	} {
		got, err := wildcardMatch(tt.pattern, tt.s)
		require.NoError(t, err, tt.pattern)
		assert.Equal(t, tt.want, got, "%q ~ %q", tt.pattern, tt.s)
	}
	for _, bad := range []string{"Get-[Date", "[", "*[a", "a*b[c-"} {
		_, err := wildcardMatch(bad, "")
		assert.ErrorIs(t, err, errBadWildcard, bad)
		_, err = wildcardMatch(bad, "Get-Date")
		assert.ErrorIs(t, err, errBadWildcard, bad)
	}
}

func TestMatchCommands(t *testing.T) {
	srv := NewUnstartedServer()
	defer srv.Close()
	srv.Describe("Get-Item", CommandDescription{Type: psrp.CommandTypeFunction, Module: "Mine",
		Parameters: []Parameter{{Name: "Path"}, {Name: "Verbose", Type: "System.String"}}})
	// A description replaces a built-in one.
	srv.Describe("get-date", CommandDescription{Module: "Other"})

	cmds, err := srv.matchCommands(&psrp.GetCommandMetadata{Names: []string{"Get-Item", "Get-Date"}, CommandType: psrp.CommandTypeAll})
	require.NoError(t, err)
	require.Len(t, cmds, 2)
	assert.Equal(t, "get-date", cmds[0].Name, "spelled as described")
	assert.Equal(t, "Other", cmds[0].Namespace)
	assert.Contains(t, cmds[0].Parameters, "ErrorAction", "a cmdlet has the common parameters")
	item := cmds[1]
	assert.Equal(t, int32(psrp.CommandTypeFunction), item.CommandType)
	assert.Equal(t, "System.Object", item.Parameters["Path"].ParameterType)
	assert.Len(t, item.Parameters, 2, "a function gets no common parameters")

	// The type filter, and a module filter that matches nothing.
	cmds, err = srv.matchCommands(&psrp.GetCommandMetadata{Names: []string{"Get-*"}, CommandType: psrp.CommandTypeFunction})
	require.NoError(t, err)
	require.Len(t, cmds, 1)
	assert.Equal(t, "Get-Item", cmds[0].Name)
	cmds, err = srv.matchCommands(&psrp.GetCommandMetadata{Names: []string{"*"}, Namespace: []string{"NoSuchModule"}})
	require.NoError(t, err)
	assert.Empty(t, cmds)

	// A bad pattern in the names or the modules is refused.
	_, err = srv.matchCommands(&psrp.GetCommandMetadata{Names: []string{"["}})
	assert.True(t, errors.Is(err, errBadWildcard))
	_, err = srv.matchCommands(&psrp.GetCommandMetadata{Names: []string{"*"}, Namespace: []string{"a[b"}})
	assert.True(t, errors.Is(err, errBadWildcard))
}

// FuzzWildcardMatch checks the matcher on names and patterns from the
// wire: no panic, and a pattern without wildcards matches only itself.
func FuzzWildcardMatch(f *testing.F) {
	for _, s := range [][2]string{{"Get-*", "Get-Date"}, {"[a-z]?`*", "b**"}, {"Get-[Date", "x"}, {"*a*b*c*", "aabbcc"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		ok, err := wildcardMatch(pattern, s)
		if err != nil && !errors.Is(err, errBadWildcard) {
			t.Fatalf("untyped error %v", err)
		}
		if ok && err != nil {
			t.Fatal("a match with an error")
		}
		if err == nil && !containsAny(pattern, "*?[`") {
			if want := equalFoldRunes(pattern, s); ok != want {
				t.Fatalf("literal %q ~ %q = %v", pattern, s, ok)
			}
		}
	})
}

func containsAny(s, chars string) bool {
	for _, c := range chars {
		for _, r := range s {
			if r == c {
				return true
			}
		}
	}
	return false
}

// equalFoldRunes compares as wildcardMatch does: lower-cased runes.
func equalFoldRunes(a, b string) bool {
	ra, rb := []rune(strings.ToLower(a)), []rune(strings.ToLower(b))
	if len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		if ra[i] != rb[i] {
			return false
		}
	}
	return true
}
