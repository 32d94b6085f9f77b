package sessiontest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/peertest"
)

// TestPywinrmNTLMEncrypted points pywinrm (Debian python3-winrm), with
// NTLM and message encryption, at the endpoint over plain HTTP with
// AllowUnencrypted false: a config Get, then a shell created, read and
// deleted through its generic send_message.
func TestPywinrmNTLMEncrypted(t *testing.T) {
	t.Parallel()
	py := peertest.Python(t, "", "winrm", "requests_ntlm", "xmltodict")
	s := newAuthServer(t, false, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// ntlm-auth hashes with MD4, which OpenSSL 3 keeps in its legacy provider.
	env := append(os.Environ(), "OPENSSL_CONF="+filepath.Join("testdata", "openssl-legacy.cnf"))
	cmd := exec.CommandContext(ctx, py, "testdata/pywinrm_ntlm.py", s.URL, `WORKGROUP\alice`, "pw-a")
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, string(out))
	var got map[string]any
	require.NoError(t, json.Unmarshal(out, &got), string(out))
	require.Nil(t, got["error"], stderr.String())
	assert.Equal(t, "false", got["allow_unencrypted"])
	assert.Equal(t, "true", got["negotiate"])
	assert.Equal(t, "opened:pool", got["received"])
	assert.Equal(t, true, got["deleted"])
	assert.Empty(t, s.Shells())

	// The wrong password is refused.
	cmd = exec.CommandContext(ctx, py, "testdata/pywinrm_ntlm.py", s.URL, "alice", "nope")
	cmd.Env = env
	out, err = cmd.Output()
	require.NoError(t, err, string(out))
	require.NoError(t, json.Unmarshal(out, &got), string(out))
	assert.Contains(t, got["error"], "InvalidCredentialsError")
}

// ntlmAuthNegotiate is the NEGOTIATE message python3-ntlm-auth 1.4 (what
// Debian's pywinrm uses) sends: flags 0xe2889032, OEM without UNICODE.
const ntlmAuthNegotiate = "TlRMTVNTUAABAAAAMpCI4gkACQAoAAAAAAAAADEAAAAGAbEdAAAAD1dPUktHUk9VUA=="
