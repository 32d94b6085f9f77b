package sessiontest

import (
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// acceptorFactory makes the server side of a security context for the HTTP
// scheme (Negotiate, Kerberos, CredSSP) whose first token is first. Tests
// replace it with a fake mechanism.
type acceptorFactory func(scheme string, first []byte, cb bindingsConfig) (gss.Acceptor, error)

// defaultAcceptor picks the mechanism from the scheme and, for Negotiate,
// from the shape of the first token: SPNEGO, raw NTLMSSP (pywinrm sends
// that) or a raw Kerberos GSS token.
func (s *Server) defaultAcceptor(scheme string, first []byte, cb bindingsConfig) (gss.Acceptor, error) {
	switch scheme {
	case schemeNegotiate:
		return s.negotiateAcceptor(first, cb)
	case schemeKerberos:
		return s.kerberosAcceptor(cb)
	case schemeCredSSP:
		return s.credsspAcceptor()
	}
	return nil, fmt.Errorf("%w: scheme %s", errNoMechanism, scheme)
}

// established is called once per context a connection completes.
func (s *Server) established(scheme string, acc gss.Acceptor, user string) {
	s.recordDelegation(acc, user)
}
