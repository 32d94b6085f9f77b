package auth

import (
	"github.com/gopsrp/gopsrp/internal/credssp"
	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/sealedbody"
)

// CredSSP authenticates with CredSSP (MS-CSSP) under the "CredSSP" HTTP
// scheme and delegates the password to the server (double hop). The inner
// authentication is NTLM, or Kerberos when Kerberos is set. The inner TLS
// certificate is not verified, so over http:// the host must be in
// Transport.TrustedHosts. The WinRM service must enable CredSSP.
type CredSSP struct {
	// Username is `DOMAIN\user` or "user@domain"; the server logs on as
	// this user with Password.
	Username, Password string
	// Kerberos, if set, authenticates with Kerberos (through SPNEGO)
	// inside instead of NTLM, with its settings (krb5.conf, ticket cache,
	// service principal); without credentials of its own (password,
	// keytab or ticket cache) it uses Username and Password above, which
	// are delegated either way.
	Kerberos *Kerberos
	// MinServerVersion refuses servers below this CredSSP version (e.g. 5,
	// the first with the nonce that fixes CVE-2018-0886); zero accepts all.
	MinServerVersion int
}

func (m *CredSSP) String() string {
	return redacted("CredSSP", m.Username, m.Password != "")
}

func (m *CredSSP) scheme() string                    { return "CredSSP" }
func (m *CredSSP) protocol() string                  { return sealedbody.ProtocolCredSSP }
func (m *CredSSP) chunkSize() int                    { return sealedbody.CredSSPChunkSize }
func (m *CredSSP) mayAuthenticateServer(string) bool { return false }

// newInitiator wraps SPNEGO (NTLM only, or Kerberos) in CredSSP, as
// Windows expects. The outer channel bindings do not apply: CredSSP binds
// the inner authentication to its own TLS key through pubKeyAuth.
func (m *CredSSP) newInitiator(t target) (gss.Initiator, error) {
	k := Kerberos{Username: m.Username, Password: m.Password}
	if m.Kerberos != nil {
		k = *m.Kerberos
		if k.Username == "" && k.Password == "" && k.KeytabPath == "" && k.CCachePath == "" {
			k.Username, k.Password = m.Username, m.Password
		}
	}
	inner, err := newNegotiateInitiator(&k, m.Username, m.Password, m.Kerberos == nil, target{host: t.host})
	if err != nil {
		return nil, err
	}
	return credssp.NewClient(credssp.ClientConfig{
		Username:         m.Username,
		Password:         m.Password,
		Inner:            inner,
		MinServerVersion: m.MinServerVersion,
	})
}
