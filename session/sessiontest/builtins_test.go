package sessiontest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// Read-Host -AsSecureString asks the host for a SecureString
// (ReadLineAsSecureString), not a line.
func TestReadHostAsSecureString(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	// A SecureString argument makes the client exchange the session key,
	// which the host's SecureString answer needs.
	c.run(invocation{ps: psrp.Cmd("Write-Output").Param("InputObject", clixml.NewSecureString("k"))})
	var methods []psrp.HostMethodID
	host := func(ev psrp.PipelineHostCallEvent) any {
		methods = append(methods, ev.Method)
		switch ev.Method {
		case psrp.HostReadLineAsSecureString:
			return clixml.NewSecureString("s3cret")
		case psrp.HostReadLine:
			return "plain"
		}
		return nil
	}
	for _, ps := range []*psrp.PowerShell{
		psrp.Cmd("Read-Host").Param("Prompt", "Password").Switch("AsSecureString"),
		psrp.Script("Read-Host -Prompt Password -AsSecureString"),
	} {
		methods = nil
		res := c.run(invocation{ps: ps, host: host})
		require.Equal(t, psrp.PipelineCompleted, res.state, "%+v", res.stateErr)
		require.Len(t, res.output, 1)
		ss, ok := res.output[0].(clixml.SecureString)
		require.True(t, ok, "%T", res.output[0])
		assert.Equal(t, "s3cret", string(ss.Plaintext))
		assert.Equal(t, []psrp.HostMethodID{psrp.HostWrite1, psrp.HostReadLineAsSecureString}, methods)
	}
	res := c.run(invocation{ps: psrp.Cmd("Read-Host"), host: host})
	assert.Equal(t, []any{"plain"}, res.output)
}

// A Read-Host the client's host cannot answer fails with a record that
// says Read-Host could not read, and why.
func TestReadHostWithoutInputFailsClearly(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	res := c.run(invocation{ps: psrp.Cmd("Read-Host"), hostErr: NewErrorRecord("standard input is closed", "", CategoryNotSpecified)})
	assert.Equal(t, psrp.PipelineFailed, res.state)
	require.NotNil(t, res.stateErr)
	assert.Equal(t, "Read-Host could not read from the client's host: standard input is closed", res.stateErr.Exception.Message)
	assert.Equal(t, "HostException,Microsoft.PowerShell.Commands.ReadHostCommand", res.stateErr.FullyQualifiedErrorID)
	assert.Equal(t, CategoryResourceUnavailable, res.stateErr.CategoryInfo.Category)
}

// Write-Error -Category sets the record's category, by name or number; a
// name that is no category fails as PowerShell's parameter binding does.
func TestWriteErrorCategory(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	for _, tt := range []struct {
		ps   *psrp.PowerShell
		want clixml.ErrorCategory
	}{
		{psrp.Cmd("Write-Error").Arg("gone").Param("Category", "ObjectNotFound"), CategoryObjectNotFound},
		{psrp.Script("Write-Error -Message gone -Category permissiondenied"), 18},
		{psrp.Cmd("Write-Error").Arg("gone").Param("Category", int32(5)), CategoryInvalidArgument},
		{psrp.Cmd("Write-Error").Arg("gone"), CategoryNotSpecified},
	} {
		res := c.run(invocation{ps: tt.ps})
		require.Len(t, res.errors, 1)
		assert.Equal(t, "gone", res.errors[0].Exception.Message)
		assert.Equal(t, tt.want, res.errors[0].CategoryInfo.Category)
	}
	res := c.run(invocation{ps: psrp.Cmd("Write-Error").Arg("gone").Param("Category", "Grumpy")})
	assert.Equal(t, psrp.PipelineFailed, res.state)
	require.NotNil(t, res.stateErr)
	assert.Contains(t, res.stateErr.Exception.Message, "Cannot bind parameter 'Category'")
}
