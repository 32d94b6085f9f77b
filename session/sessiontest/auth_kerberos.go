package sessiontest

import (
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/kerberos"
	"github.com/gopsrp/gopsrp/internal/spnego"
)

// kerberosAcceptor is a Kerberos context decrypting tickets with Keytab.
func (s *Server) kerberosAcceptor(cb bindingsConfig) (gss.Acceptor, error) {
	if s.Keytab == nil {
		return nil, fmt.Errorf("%w: Kerberos without a keytab", errNoMechanism)
	}
	return kerberos.NewServer(kerberos.ServerConfig{
		Keytab:                 s.Keytab,
		ServicePrincipal:       s.ServicePrincipal,
		ChannelBindings:        cb.bindings,
		RequireChannelBindings: cb.require,
	})
}

// kerberosMechs are the Kerberos entries SPNEGO offers when a keytab is
// set: the standard OID and the one Microsoft clients list first.
func (s *Server) kerberosMechs(cb bindingsConfig) []spnego.AcceptMech {
	if s.Keytab == nil {
		return nil
	}
	newKrb := func() (gss.Acceptor, error) { return s.kerberosAcceptor(cb) }
	return []spnego.AcceptMech{{OID: kerberos.OIDMS, New: newKrb}, {OID: kerberos.OID, New: newKrb}}
}
