package sessiontest

import (
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/ntlm"
	"github.com/gopsrp/gopsrp/internal/spnego"
)

// negotiateAcceptor takes the first token of the Negotiate scheme: SPNEGO
// offering NTLM (when Users is set) and Kerberos (when Keytab is set), a
// raw NTLMSSP message as pywinrm and requests-ntlm send, or a raw Kerberos
// GSS token.
func (s *Server) negotiateAcceptor(first []byte, cb bindingsConfig) (gss.Acceptor, error) {
	switch {
	case spnego.IsToken(first):
		mechs := s.kerberosMechs(cb)
		if len(s.Users) > 0 {
			mechs = append(mechs, spnego.AcceptMech{OID: ntlm.OID, New: func() (gss.Acceptor, error) { return s.ntlmAcceptor(cb) }})
		}
		return spnego.NewServer(mechs...)
	case ntlm.IsToken(first):
		if len(s.Users) == 0 {
			return nil, fmt.Errorf("%w: NTLM without Users", errNoMechanism)
		}
		return s.ntlmAcceptor(cb)
	}
	return s.kerberosAcceptor(cb)
}
