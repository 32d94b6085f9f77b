package sessiontest

import (
	"context"
	"fmt"

	"github.com/gopsrp/gopsrp/internal/credssp"
	"github.com/gopsrp/gopsrp/internal/gss"
)

// credsspAcceptor is a CredSSP context whose inner mechanism is whatever
// the client's first inner token is, as for the Negotiate scheme (SPNEGO,
// raw NTLM or Kerberos). Its TLS certificate is the credssp package's own
// self-signed RSA certificate: WinRM's CredSSP TLS runs inside the tokens,
// so it works over plain HTTP too.
func (s *Server) credsspAcceptor() (gss.Acceptor, error) {
	return credssp.NewServer(credssp.ServerConfig{
		NewInner: func() (gss.Acceptor, error) { return &firstTokenAcceptor{s: s}, nil },
	})
}

// firstTokenAcceptor picks the inner mechanism from the first token.
type firstTokenAcceptor struct {
	s *Server
	gss.Acceptor
}

func (a *firstTokenAcceptor) Step(ctx context.Context, in []byte) ([]byte, error) {
	if a.Acceptor == nil {
		acc, err := a.s.negotiateAcceptor(in, bindingsConfig{})
		if err != nil {
			return nil, fmt.Errorf("sessiontest: credssp inner token: %w", err)
		}
		a.Acceptor = acc
	}
	return a.Acceptor.Step(ctx, in)
}

func (a *firstTokenAcceptor) Established() bool {
	return a.Acceptor != nil && a.Acceptor.Established()
}

func (a *firstTokenAcceptor) UserName() string {
	if a.Acceptor == nil {
		return ""
	}
	return a.Acceptor.UserName()
}

func (a *firstTokenAcceptor) Wrap(msg []byte) ([]byte, []byte, error) {
	if a.Acceptor == nil {
		return nil, nil, gss.ErrNotEstablished
	}
	return a.Acceptor.Wrap(msg)
}

func (a *firstTokenAcceptor) Unwrap(header, data []byte) ([]byte, error) {
	if a.Acceptor == nil {
		return nil, gss.ErrNotEstablished
	}
	return a.Acceptor.Unwrap(header, data)
}
