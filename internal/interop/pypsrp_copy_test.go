package interop_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/peertest"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// pypsrp's Client.copy and Client.fetch, unmodified, against the endpoint
// set up as a default Windows host (Negotiate, messages sealed with NTLM):
// the endpoint recognises their scripts (copy.ps1, fetch.ps1) and carries
// them out on its own disk. A file of several of pypsrp's chunks goes to
// the host and back intact; fetching a missing path or a directory fails
// with the script's own message.
func TestPypsrpCopyFetch(t *testing.T) {
	pyPath := peertest.PeerSource(t, peertest.Pypsrp, "pypsrp") + ":" + peertest.PeerSource(t, peertest.Pyspnego, "spnego")
	py := peertest.Python(t, pyPath, "pypsrp.client", "requests", "cryptography")
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"ntlm over http, sealed", false}, {"ntlm over https, sealed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, tc.tls, sessiontest.AuthConfig{Negotiate: true}, nil)
			dir, err := srv.Files().LocalPath(`C:\data\sub`)
			require.NoError(t, err)
			require.NoError(t, os.MkdirAll(dir, 0o777))

			// Over half a MiB: pypsrp sends it in two input objects and the hash.
			data := make([]byte, 600<<10+123)
			for i := range data {
				data[i] = byte(i*13 + i>>10)
			}
			local := t.TempDir()
			src := filepath.Join(local, "src.bin")
			require.NoError(t, os.WriteFile(src, data, 0o644))
			fetched := filepath.Join(local, "fetched.bin")
			ssl := "0"
			if tc.tls {
				ssl = "1"
			}
			r := runPeerScript[map[string]string](t, "pypsrp_copy.py", 90*time.Second, py, pyPath, "PEER_PORT="+port(t, srv), "PEER_SSL="+ssl, "PEER_AUTH=ntlm",
				"PEER_USER="+user, "PEER_PASSWORD="+password, "KRB5_CONFIG=/dev/null",
				"PEER_SRC="+src, `PEER_DEST=C:\data\copied.bin`, "PEER_FETCHED="+fetched,
				`PEER_MISSING=C:\data\nope.bin`, `PEER_DIR=C:\data\sub`)

			assert.Equal(t, `C:\data\copied.bin`, r["copied"])
			onHost, err := srv.Files().LocalPath(`C:\data\copied.bin`)
			require.NoError(t, err)
			got, err := os.ReadFile(onHost)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, got), "the file on the host differs")
			back, err := os.ReadFile(fetched)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, back), "the fetched file differs")
			assert.Contains(t, r["PEER_MISSING"], `The path at 'C:\data\nope.bin' does not exist`)
			assert.Contains(t, r["PEER_DIR"], `The path at 'C:\data\sub' is a directory, src must be a file`)
		})
	}
}
