package sessiontest

import (
	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/ntlm"
)

// ntlmAcceptor is an NTLM context checked against Users; the client's
// domain is not checked, as for the local accounts of a stand-alone host.
func (s *Server) ntlmAcceptor(cb bindingsConfig) (gss.Acceptor, error) {
	return ntlm.NewServer(ntlm.ServerConfig{
		Password: func(_, user string) (string, bool) {
			_, pass, ok := s.lookupUser(user)
			return pass, ok
		},
		ChannelBindings:        cb.bindings,
		RequireChannelBindings: cb.require,
	})
}
