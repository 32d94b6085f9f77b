package sessiontest

import (
	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/kerberos"
)

// DelegatedCredential is what a client delegated to the endpoint for the
// second hop: a CredSSP password, or a forwarded Kerberos TGT.
type DelegatedCredential struct {
	// User is the local user the connection authenticated as.
	User string
	// Domain, UserName and Password are the delegated TSPasswordCreds
	// (CredSSP).
	Domain, UserName, Password string
	// KerberosTGT is the client principal of a forwarded ticket-granting
	// ticket (Kerberos with delegation), e.g. "alice@EXAMPLE.TEST".
	KerberosTGT string
}

// DelegatedCredentials returns the credentials clients delegated, oldest
// first.
func (s *Server) DelegatedCredentials() []DelegatedCredential {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DelegatedCredential(nil), s.delegated...)
}

// delegationSource is implemented by CredSSP acceptors that received the
// client's credentials.
type delegationSource interface {
	Credentials() (domain, user, password string, ok bool)
}

// ticketSource is implemented by Kerberos acceptors that received a
// forwarded TGT.
type ticketSource interface {
	DelegatedCredential() (*kerberos.DelegatedCredential, bool)
}

func (s *Server) recordDelegation(acc gss.Acceptor, user string) {
	var cred DelegatedCredential
	switch d := acc.(type) {
	case delegationSource:
		domain, name, pass, ok := d.Credentials()
		if !ok {
			return
		}
		cred = DelegatedCredential{User: user, Domain: domain, UserName: name, Password: pass}
	case ticketSource:
		tgt, ok := d.DelegatedCredential()
		if !ok || !tgt.IsTGT() {
			return
		}
		cred = DelegatedCredential{User: user, KerberosTGT: tgt.Client.PrincipalNameString() + "@" + tgt.ClientRealm}
	default:
		return
	}
	s.mu.Lock()
	s.delegated = append(s.delegated, cred)
	s.mu.Unlock()
}
