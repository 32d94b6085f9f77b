package auth

import (
	"errors"
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/kerberos"
	"github.com/gopsrp/gopsrp/internal/ntlm"
	"github.com/gopsrp/gopsrp/internal/sealedbody"
	"github.com/gopsrp/gopsrp/internal/spnego"
)

// Negotiate authenticates with SPNEGO under the "Negotiate" HTTP scheme,
// offering Kerberos, then NTLM: Windows' default. Kerberos is offered only
// for a host name (never an IP address) and only when a ticket can be had;
// otherwise NTLM is used. NTLM cannot prove the server's identity, so over
// http:// it is offered only to hosts in Transport.TrustedHosts: an
// untrusted host gets Kerberos or nothing (ErrUntrustedHost), and no NTLM
// response an impostor could try to crack.
type Negotiate struct {
	// Username and Password serve both halves. For Kerberos an empty
	// Password means the credential cache.
	Username, Password string
	// Kerberos holds settings for the Kerberos half (keytab, cache,
	// configuration, SPN, delegation); its Username and Password default
	// to the ones above. nil means the defaults.
	Kerberos *Kerberos
	// DisableKerberos offers NTLM only.
	DisableKerberos bool
}

func (m *Negotiate) String() string {
	return redacted("Negotiate", m.Username, m.Password != "")
}

func (m *Negotiate) scheme() string   { return "Negotiate" }
func (m *Negotiate) protocol() string { return sealedbody.ProtocolSPNEGO }
func (m *Negotiate) chunkSize() int   { return 0 }

func (m *Negotiate) mayAuthenticateServer(host string) bool {
	// Kerberos needs a host name: the URL's, or Kerberos.Hostname's.
	return !m.DisableKerberos && (!isIP(host) || (m.Kerberos != nil && m.Kerberos.Hostname != ""))
}

// kerberos returns the settings of the Kerberos half.
func (m *Negotiate) kerberos() *Kerberos {
	k := Kerberos{}
	if m.Kerberos != nil {
		k = *m.Kerberos
	}
	if k.Username == "" {
		k.Username = m.Username
	}
	if k.Password == "" {
		k.Password = m.Password
	}
	return &k
}

func (m *Negotiate) newInitiator(t target) (gss.Initiator, error) {
	return newNegotiateInitiator(m.kerberos(), m.Username, m.Password, m.DisableKerberos, t)
}

// newNegotiateInitiator is the SPNEGO context of Negotiate and of CredSSP
// with Kerberos inside: Kerberos when a context can be made (a host name
// and credentials), then NTLM when there is a password, unless the target
// is untrusted: NTLM would hand an NTLMv2 response to a server that was
// never authenticated. SPNEGO itself drops a Kerberos context whose first
// step fails (no KDC, no ticket).
func newNegotiateInitiator(k *Kerberos, user, password string, noKerberos bool, t target) (*spnego.Client, error) {
	if t.untrusted {
		password = ""
	}
	var mechs []spnego.ClientMech
	var errs []error
	if !noKerberos {
		kc, err := newKerberosInitiator(k, t)
		if err == nil {
			mechs = append(mechs, spnego.ClientMech{OID: kerberos.OID, Initiator: kc})
		} else {
			errs = append(errs, err)
		}
	}
	if password != "" {
		nc, err := newNTLMInitiator(user, password, nil, t.bindings)
		if err == nil {
			mechs = append(mechs, spnego.ClientMech{OID: ntlm.OID, Initiator: nc})
		} else {
			errs = append(errs, err)
		}
	}
	if len(mechs) == 0 {
		if t.untrusted {
			errs = append(errs, ErrUntrustedHost)
		}
		return nil, fmt.Errorf("negotiate: no mechanism available: %w", errors.Join(append(errs, gss.ErrUnsupported)...))
	}
	return spnego.NewClient(mechs...)
}
