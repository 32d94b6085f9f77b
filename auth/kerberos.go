package auth

import (
	"fmt"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/kerberos"
	"github.com/gopsrp/gopsrp/internal/sealedbody"
)

// Kerberos authenticates with Kerberos 5 under the "Kerberos" HTTP scheme
// and seals with RFC 4121 wrap tokens. With mutual authentication (the
// default) it proves the server's identity, so no TrustedHosts entry is
// needed over http://. The host must be a name with a service principal,
// never an IP address.
//
// Credentials come from, in order: Password (with Username and Realm),
// KeytabPath, then the credential cache (CCachePath, else KRB5CCNAME).
type Kerberos struct {
	// Username is "user" or "user@REALM".
	Username string
	// Password, when set, gets a ticket with a new AS exchange.
	Password string
	// Realm is the user's realm when Username has none; empty means the
	// default realm of the configuration.
	Realm string
	// KeytabPath is a keytab holding the user's keys.
	KeytabPath string
	// CCachePath is an MIT credential cache; empty means KRB5CCNAME.
	CCachePath string
	// ConfigPath is the krb5.conf; empty means KRB5_CONFIG, else
	// /etc/krb5.conf.
	ConfigPath string
	// ServiceClass is the service of the SPN; empty means "HTTP", which
	// Windows registers for WinRM.
	ServiceClass string
	// Hostname replaces the URL's host in the SPN (a CNAME's canonical
	// name, or a name for a URL with an IP address).
	Hostname string
	// Delegate forwards the TGT to the server (double hop).
	Delegate bool
	// DisableMutual skips mutual authentication; the server is then not
	// authenticated.
	DisableMutual bool
}

func (m *Kerberos) String() string {
	return redacted("Kerberos", m.Username, m.Password != "")
}

func (m *Kerberos) scheme() string   { return "Kerberos" }
func (m *Kerberos) protocol() string { return sealedbody.ProtocolKerberos }
func (m *Kerberos) chunkSize() int   { return 0 }

func (m *Kerberos) mayAuthenticateServer(string) bool { return !m.DisableMutual }

// spn is the service principal for host: ServiceClass/Hostname-or-host.
func (m *Kerberos) spn(host string) string {
	class := m.ServiceClass
	if class == "" {
		class = "HTTP"
	}
	if m.Hostname != "" {
		host = m.Hostname
	}
	return class + "/" + host
}

func (m *Kerberos) newInitiator(t target) (gss.Initiator, error) {
	return newKerberosInitiator(m, t)
}

// newKerberosInitiator is the Kerberos context of Kerberos and Negotiate.
// It loads the configuration, keytab and ticket cache on every call, so a
// renewed cache (kinit) is picked up by the next connection.
func newKerberosInitiator(m *Kerberos, t target) (*kerberos.Client, error) {
	if m.Hostname == "" && isIP(t.host) {
		return nil, fmt.Errorf("kerberos: %s is an IP address, which has no service principal (set Kerberos.Hostname): %w", t.host, gss.ErrUnsupported)
	}
	cfg := kerberos.ClientConfig{
		Username:        m.Username,
		Realm:           m.Realm,
		SPN:             m.spn(t.host),
		DisableMutual:   m.DisableMutual,
		Delegate:        m.Delegate,
		ChannelBindings: t.bindings,
	}
	var err error
	switch {
	case m.Password != "":
		cfg.Password = m.Password
	case m.KeytabPath != "":
		if cfg.Keytab, err = keytab.Load(m.KeytabPath); err != nil {
			return nil, fmt.Errorf("kerberos: keytab %s: %w", m.KeytabPath, err)
		}
	case m.CCachePath != "":
		if cfg.CCache, err = credentials.LoadCCache(m.CCachePath); err != nil {
			return nil, fmt.Errorf("kerberos: ticket cache %s: %w", m.CCachePath, err)
		}
	}
	if m.ConfigPath != "" {
		if cfg.Config, err = config.Load(m.ConfigPath); err != nil {
			return nil, fmt.Errorf("kerberos: krb5.conf %s: %w", m.ConfigPath, err)
		}
	}
	noCreds := cfg.Password == "" && cfg.Keytab == nil && cfg.CCache == nil
	if cfg.Config == nil || noCreds {
		conf, cc, err := kerberos.LoadClientConfigFromEnv()
		if cfg.Config == nil {
			if conf == nil {
				return nil, err
			}
			cfg.Config = conf
		}
		if noCreds {
			if cc == nil {
				return nil, err
			}
			cfg.CCache = cc
		}
	}
	return kerberos.NewClient(cfg)
}
