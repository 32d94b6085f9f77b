package auth

import (
	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/ntlm"
	"github.com/gopsrp/gopsrp/internal/sealedbody"
)

// NTLM authenticates with NTLMv2 and seals with its session keys. Raw
// NTLMSSP tokens travel under the "Negotiate" HTTP scheme, as pywinrm
// sends them, which Windows accepts. NTLM cannot prove the server's
// identity: over http:// the host must be in Transport.TrustedHosts.
type NTLM struct {
	// Username is "user", `DOMAIN\user` or "user@domain".
	Username string
	// Password is the password; never in errors, logs or String.
	Password string
	// NTHash is the 16-byte NT hash (MD4 of the UTF-16LE password), used
	// instead of Password when set (pass-the-hash).
	NTHash []byte
}

func (m *NTLM) String() string {
	return redacted("NTLM", m.Username, m.Password != "" || len(m.NTHash) > 0)
}

func (m *NTLM) scheme() string                    { return "Negotiate" }
func (m *NTLM) protocol() string                  { return sealedbody.ProtocolSPNEGO }
func (m *NTLM) chunkSize() int                    { return 0 }
func (m *NTLM) mayAuthenticateServer(string) bool { return false }

func (m *NTLM) newInitiator(t target) (gss.Initiator, error) {
	return newNTLMInitiator(m.Username, m.Password, m.NTHash, t.bindings)
}

// newNTLMInitiator is the NTLM context of NTLM, Negotiate and CredSSP.
func newNTLMInitiator(user, password string, hash []byte, cb *gss.ChannelBindings) (*ntlm.Client, error) {
	return ntlm.NewClient(ntlm.ClientConfig{Username: user, Password: password, NTHash: hash, ChannelBindings: cb})
}
