package spnego

import (
	"context"
	"encoding/asn1"
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// AcceptMech is one mechanism a Server accepts.
type AcceptMech struct {
	// OID names the mechanism as initiators list it in mechTypes.
	OID asn1.ObjectIdentifier
	// New returns a fresh acceptor context; it is called once, for the
	// chosen mechanism only.
	New func() (gss.Acceptor, error)
}

// Server is the acceptor side of SPNEGO; it implements gss.Acceptor. A
// Server accepts one security context and is used by one goroutine at a
// time.
type Server struct {
	mechs []AcceptMech

	oid          asn1.ObjectIdentifier
	acceptor     gss.Acceptor
	mechTypesDER []byte
	// pendingMIC is an initiator's mechListMIC that arrived before the
	// inner context completed (RFC 4178 allows one in the NegTokenInit).
	pendingMIC []byte

	gotInit     bool
	requestMIC  bool
	micRequired bool
	micSent     bool
	micRecv     bool
	established bool
	failed      error
}

var _ gss.Acceptor = (*Server)(nil)

// NewServer returns an SPNEGO acceptor for mechs. The initiator's order of
// preference decides among them: the first mechanism of its mechTypes that
// is in mechs is chosen.
func NewServer(mechs ...AcceptMech) (*Server, error) {
	if len(mechs) == 0 {
		return nil, fmt.Errorf("spnego: no mechanism to accept: %w", gss.ErrUnsupported)
	}
	for i, m := range mechs {
		if len(m.OID) < 2 || m.New == nil {
			return nil, fmt.Errorf("spnego: mechanism %d has no OID or no constructor: %w", i, gss.ErrUnsupported)
		}
	}
	return &Server{mechs: append([]AcceptMech(nil), mechs...)}, nil
}

// Mech returns the OID of the chosen mechanism, nil before the
// NegTokenInit.
func (s *Server) Mech() asn1.ObjectIdentifier { return s.oid }

// Established reports whether the initiator is authenticated by the chosen
// mechanism and the mechListMIC exchange, if any, has verified.
func (s *Server) Established() bool { return s.established }

// UserName is the initiator's name as the chosen mechanism reports it,
// once Established; empty before.
func (s *Server) UserName() string {
	if !s.established {
		return ""
	}
	return s.acceptor.UserName()
}

// Wrap seals msg with the chosen mechanism.
func (s *Server) Wrap(msg []byte) (header, data []byte, err error) {
	if !s.established {
		return nil, nil, fmt.Errorf("spnego: wrap: %w", gss.ErrNotEstablished)
	}
	return s.acceptor.Wrap(msg)
}

// Unwrap opens a message sealed by the initiator with the chosen mechanism.
func (s *Server) Unwrap(header, data []byte) ([]byte, error) {
	if !s.established {
		return nil, fmt.Errorf("spnego: unwrap: %w", gss.ErrNotEstablished)
	}
	return s.acceptor.Unwrap(header, data)
}

// Step takes the initiator's token (its NegTokenInit first, NegTokenResps
// after) and returns the NegTokenResp to send. The reply that completes the
// context has negState accept-completed. An initiator offering no mechanism
// of ours gets an error wrapping gss.ErrUnsupported, wrong credentials
// gss.ErrAuthFailed (from the mechanism), a missing or bad mechListMIC
// gss.ErrIntegrity, a malformed token gss.ErrBadToken. After an error the
// Server is unusable.
func (s *Server) Step(ctx context.Context, in []byte) ([]byte, error) {
	if s.failed != nil {
		return nil, s.failed
	}
	out, err := s.step(ctx, in)
	if err != nil {
		s.failed = err
		return nil, err
	}
	return out, nil
}

func (s *Server) step(ctx context.Context, in []byte) ([]byte, error) {
	if s.established {
		return nil, errBadToken("token after the context was established")
	}
	init, resp, err := parseToken(in)
	if err != nil {
		return nil, err
	}
	first := !s.gotInit
	var mechToken, mic []byte
	switch {
	case first && init != nil:
		if mechToken, err = s.choose(init); err != nil {
			return nil, err
		}
		mic = init.mechListMIC
	case first:
		return nil, errBadToken("initiator's first token is not a NegTokenInit")
	case resp != nil:
		if resp.state == stateReject {
			return nil, fmt.Errorf("spnego: the initiator aborted the negotiation: %w", gss.ErrAuthFailed)
		}
		if len(resp.supportedMech) > 0 && !resp.supportedMech.Equal(s.oid) {
			return nil, errBadToken("initiator names mechanism %v, not %v", resp.supportedMech, s.oid)
		}
		mechToken, mic = resp.responseToken, resp.mechListMIC
	default:
		return nil, errBadToken("second NegTokenInit")
	}
	if len(mic) > 0 {
		if len(s.pendingMIC) > 0 || s.micRecv {
			return nil, errBadToken("second mechListMIC")
		}
		s.pendingMIC = mic
		s.micRequired = true
	}

	var out []byte
	switch {
	case len(mechToken) > 0 && s.acceptor.Established():
		return nil, errBadToken("mechanism token after %v completed", s.oid)
	case len(mechToken) > 0:
		if out, err = s.acceptor.Step(ctx, mechToken); err != nil {
			return nil, fmt.Errorf("spnego: %v: %w", s.oid, err)
		}
	case !first && !s.acceptor.Established():
		return nil, errBadToken("no mechanism token while %v is incomplete", s.oid)
	}

	var outMIC []byte
	if s.acceptor.Established() {
		if len(s.pendingMIC) > 0 {
			if err := verifyMechList(s.acceptor, s.oid, s.mechTypesDER, s.pendingMIC); err != nil {
				return nil, err
			}
			s.pendingMIC, s.micRecv = nil, true
		} else if s.micSent {
			// Our mechListMIC went out with the previous reply; this token
			// had to carry the initiator's.
			return nil, fmt.Errorf("spnego: initiator sent no mechListMIC: %w", gss.ErrIntegrity)
		}
		if s.micRequired && !s.micSent {
			if outMIC, err = signMechList(s.acceptor, s.oid, s.mechTypesDER); err != nil {
				return nil, err
			}
			s.micSent = true
		}
		s.established = !s.micRequired || s.micRecv
	} else if len(s.pendingMIC) > 0 && !first {
		return nil, errBadToken("mechListMIC before %v completed", s.oid)
	}

	reply := &negTokenResp{state: stateAcceptIncomplete, responseToken: out, mechListMIC: outMIC}
	if first {
		// supportedMech and request-mic belong in the first reply only
		// (RFC 4178 4.2.2).
		reply.supportedMech = s.oid
		if s.requestMIC {
			reply.state = stateRequestMIC
		}
	}
	if s.established {
		reply.state = stateAcceptCompleted
	}
	return reply.marshal()
}

// choose picks the first mechanism of the initiator's list that we accept
// and starts its acceptor. It returns the optimistic token to feed it: nil
// when the optimistic token was for another mechanism, which the initiator
// then has to start anew.
func (s *Server) choose(init *negTokenInit) ([]byte, error) {
	s.gotInit = true
	s.mechTypesDER = init.mechTypesDER
	for i, oid := range init.mechTypes {
		for _, m := range s.mechs {
			if !m.OID.Equal(oid) {
				continue
			}
			a, err := m.New()
			if err != nil {
				return nil, fmt.Errorf("spnego: start %v: %w", oid, err)
			}
			if a == nil {
				return nil, fmt.Errorf("spnego: start %v: no acceptor: %w", oid, gss.ErrUnsupported)
			}
			s.oid, s.acceptor = m.OID, a
			// RFC 4178 5: not the initiator's preferred mechanism, so the
			// mechanism list must be protected by the mechListMIC.
			if i != 0 || alwaysNeedsMIC(oid) {
				s.micRequired = true
			}
			if i != 0 {
				s.requestMIC = true
				return nil, nil
			}
			return init.mechToken, nil
		}
	}
	return nil, fmt.Errorf("spnego: no common mechanism among %v: %w", init.mechTypes, gss.ErrUnsupported)
}
