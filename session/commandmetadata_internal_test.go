package session

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// countObject is a CommandMetadataCount (MS-PSRP 2.2.3.21) as Windows
// sends it.
func countObject(n any) *clixml.Object {
	return &clixml.Object{
		TypeNames: []string{"Selected.Microsoft.PowerShell.Commands.GenericMeasureInfo", "System.Management.Automation.PSCustomObject", "System.Object"},
		Members:   []clixml.Property{{Name: "Count", Value: n}},
	}
}

func metadataValue(t *testing.T, m clixml.CommandMetadata) any {
	t.Helper()
	v, err := m.MarshalCLIXML()
	require.NoError(t, err)
	return v
}

func TestDecodeCommandMetadata(t *testing.T) {
	good := clixml.CommandMetadata{Name: "Get-Date", CommandType: 8, Namespace: "Microsoft.PowerShell.Utility",
		OutputType: []string{"System.DateTime"},
		Parameters: map[string]clixml.ParameterMetadata{
			"Format": {Name: "Format", ParameterType: "System.String"},
			"Date":   {Name: "Date", ParameterType: "System.DateTime", Aliases: []string{"LastWriteTime"}},
		}}
	cmds, err := decodeCommandMetadata([]any{countObject(int32(1)), metadataValue(t, good)})
	require.NoError(t, err)
	assert.Equal(t, []CommandInfo{{Name: "Get-Date", Type: psrp.CommandTypeCmdlet, Module: "Microsoft.PowerShell.Utility",
		OutputType: []string{"System.DateTime"}, Parameters: []ParameterInfo{
			{Name: "Date", Type: "System.DateTime", Aliases: []string{"LastWriteTime"}},
			{Name: "Format", Type: "System.String"},
		}}}, cmds)

	// Older endpoints answer the count as a bare integer.
	cmds, err = decodeCommandMetadata([]any{int32(0)})
	require.NoError(t, err)
	assert.Empty(t, cmds)
	cmds, err = decodeCommandMetadata([]any{int64(1), metadataValue(t, good)})
	require.NoError(t, err)
	assert.Len(t, cmds, 1)
}

func TestDecodeCommandMetadataGarbage(t *testing.T) {
	good := metadataValue(t, clixml.CommandMetadata{Name: "Get-Date", CommandType: 8})
	badParams := metadataValue(t, clixml.CommandMetadata{Name: "Get-Date", CommandType: 8})
	badParams.(*clixml.Object).Members[5].Value = "not a dictionary"
	for name, out := range map[string][]any{
		"nothing":             nil,
		"no count":            {good},
		"string first":        {"hello"},
		"nil first":           {nil},
		"count not a number":  {countObject("three")},
		"negative count":      {countObject(int32(-1))},
		"count too high":      {countObject(int32(2)), good},
		"count too low":       {countObject(int32(0)), good},
		"string command":      {countObject(int32(1)), "Get-Date"},
		"nil command":         {countObject(int32(1)), nil},
		"nameless command":    {countObject(int32(1)), &clixml.Object{}},
		"bad parameters":      {countObject(int32(1)), badParams},
		"count without Count": {&clixml.Object{Members: []clixml.Property{{Name: "Total", Value: int32(0)}}}},
	} {
		_, err := decodeCommandMetadata(out)
		assert.ErrorIs(t, err, ErrBadCommandMetadata, name)
	}
}

func TestHasWildcard(t *testing.T) {
	for s, want := range map[string]bool{
		"Get-Date": false, "Get-*": true, "Get-Dat?": true, "Get-[DS]ate": true,
		"Get-Date`*": false, "``*": true, "a`[b": false, "": false,
	} {
		assert.Equal(t, want, hasWildcard(s), s)
	}
}

// FuzzDecodeCommandMetadata feeds CLIXML from the wire (one object per
// line, as pipeline output) to the answer decoder: it must return
// commands or a typed error, never panic.
func FuzzDecodeCommandMetadata(f *testing.F) {
	m := clixml.CommandMetadata{Name: "Get-Date", CommandType: 8, Parameters: map[string]clixml.ParameterMetadata{
		"Date": {Name: "Date", ParameterType: "System.DateTime", Aliases: []string{"LastWriteTime"}}}}
	v, err := m.MarshalCLIXML()
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []any{v, countObject(int32(1)), int32(0)} {
		b, err := clixml.Marshal(seed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, b)
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		var out []any
		for _, data := range [][]byte{first, second} {
			v, err := clixml.Decode(data)
			if err != nil {
				return
			}
			out = append(out, v)
		}
		cmds, err := decodeCommandMetadata(out)
		if err != nil && !errors.Is(err, ErrBadCommandMetadata) {
			t.Fatalf("untyped error: %v", err)
		}
		if err == nil && len(cmds) != len(out)-1 {
			t.Fatalf("%d commands from %d objects", len(cmds), len(out))
		}
	})
}
