package spnego

import (
	"bytes"
	"context"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// ClientMech is one mechanism a Client may negotiate.
type ClientMech struct {
	// OID names the mechanism in mechTypes (kerberos.OID, ntlm.OID, …).
	OID asn1.ObjectIdentifier
	// Initiator is the mechanism's fresh, unstarted context.
	Initiator gss.Initiator
}

// Client is the initiator side of SPNEGO. It implements gss.Initiator and
// gss.ServerAuthenticator. A Client is used by one goroutine at a time.
type Client struct {
	// mechs are the candidates in preference order. After the first Step
	// it holds only those advertised in mechTypes: the ones whose first
	// Step failed are dropped.
	mechs        []ClientMech
	started      []bool
	mechTypesDER []byte
	chosen       int

	initSent    bool
	gotResponse bool
	micRequired bool
	micSent     bool
	micRecv     bool
	established bool
	// failed makes a failure final: a context is not resumed after an
	// error.
	failed error
}

var (
	_ gss.Initiator           = (*Client)(nil)
	_ gss.ServerAuthenticator = (*Client)(nil)
)

// NewClient returns an SPNEGO initiator offering mechs in the given order
// of preference; the first is the one that sends an optimistic token.
func NewClient(mechs ...ClientMech) (*Client, error) {
	if len(mechs) == 0 {
		return nil, fmt.Errorf("spnego: no mechanism to offer: %w", gss.ErrUnsupported)
	}
	if len(mechs) > maxMechTypes {
		return nil, fmt.Errorf("spnego: %d mechanisms, at most %d: %w", len(mechs), maxMechTypes, gss.ErrUnsupported)
	}
	for i, m := range mechs {
		if len(m.OID) < 2 || m.Initiator == nil {
			return nil, fmt.Errorf("spnego: mechanism %d has no OID or no initiator: %w", i, gss.ErrUnsupported)
		}
		for _, prev := range mechs[:i] {
			if prev.OID.Equal(m.OID) {
				return nil, fmt.Errorf("spnego: mechanism %v offered twice: %w", m.OID, gss.ErrUnsupported)
			}
		}
	}
	return &Client{mechs: append([]ClientMech(nil), mechs...), chosen: -1}, nil
}

// Mech returns the OID of the mechanism in use: the optimistic one after
// the first Step, the acceptor's choice after its first answer; nil before.
func (c *Client) Mech() asn1.ObjectIdentifier {
	if c.chosen < 0 {
		return nil
	}
	return c.mechs[c.chosen].OID
}

// Established reports whether the chosen mechanism is complete, the
// acceptor has answered and the mechListMIC exchange, when there is one,
// has verified.
func (c *Client) Established() bool { return c.established }

// ServerAuthenticated reports whether the chosen mechanism authenticated
// the acceptor (Kerberos with mutual authentication); false before
// establishment and for mechanisms that cannot tell (NTLM).
func (c *Client) ServerAuthenticated() bool {
	if !c.established {
		return false
	}
	sa, ok := c.mechs[c.chosen].Initiator.(gss.ServerAuthenticator)
	return ok && sa.ServerAuthenticated()
}

// Wrap seals msg with the chosen mechanism.
//
// Wrap works as soon as the chosen mechanism is complete and our
// mechListMIC (if one is due) was signed, before the acceptor's final
// token: CredSSP sends the NTLM AUTHENTICATE and the first sealed message
// (pubKeyAuth) in one TSRequest, as Windows expects. Unwrap waits for the
// acceptor's mechListMIC, which resets the incoming cipher state.
func (c *Client) Wrap(msg []byte) (header, data []byte, err error) {
	if !c.canWrap() {
		return nil, nil, fmt.Errorf("spnego: wrap: %w", gss.ErrNotEstablished)
	}
	return c.mechs[c.chosen].Initiator.Wrap(msg)
}

// canWrap reports whether our side of the context is complete.
func (c *Client) canWrap() bool {
	if c.established {
		return true
	}
	return c.gotResponse && c.failed == nil && c.chosen >= 0 && c.chosen < len(c.mechs) &&
		c.mechs[c.chosen].Initiator.Established() && (!c.micRequired || c.micSent)
}

// Unwrap opens a message sealed by the acceptor with the chosen mechanism.
func (c *Client) Unwrap(header, data []byte) ([]byte, error) {
	if !c.established {
		return nil, fmt.Errorf("spnego: unwrap: %w", gss.ErrNotEstablished)
	}
	return c.mechs[c.chosen].Initiator.Unwrap(header, data)
}

// Step returns the next token to send. The first call takes nil and
// returns the NegTokenInit; later calls take the acceptor's NegTokenResp,
// including the last one (accept-completed with the mechListMIC or the
// Kerberos AP-REP) that arrives with the final HTTP 200, after which
// Established is true and the returned token is empty. A rejection wraps
// gss.ErrAuthFailed, a missing or bad mechListMIC gss.ErrIntegrity, a
// malformed token gss.ErrBadToken. After an error the Client is unusable.
func (c *Client) Step(ctx context.Context, in []byte) ([]byte, error) {
	if c.failed != nil {
		return nil, c.failed
	}
	out, err := c.step(ctx, in)
	if err != nil {
		c.failed = err
		return nil, err
	}
	return out, nil
}

func (c *Client) step(ctx context.Context, in []byte) ([]byte, error) {
	if !c.initSent {
		if len(in) != 0 {
			return nil, errBadToken("initiator got a token before its NegTokenInit")
		}
		return c.start(ctx)
	}
	if c.established {
		return nil, c.trailer(in)
	}
	if len(in) == 0 {
		return nil, errBadToken("empty answer from the acceptor")
	}
	_, resp, err := parseToken(in)
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, errBadToken("acceptor sent a NegTokenInit")
	}
	return c.answer(ctx, resp)
}

// start produces the NegTokenInit. The first mechanism that produces its
// first token wins the optimistic slot; those before it are dropped (a
// Kerberos context that finds no KDC or no ticket for an IP address), the
// way Windows falls back from Kerberos to NTLM.
func (c *Client) start(ctx context.Context) ([]byte, error) {
	var errs []error
	for i, m := range c.mechs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("spnego: %w", err)
		}
		tok, err := m.Initiator.Step(ctx, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%v: %w", m.OID, err))
			continue
		}
		c.mechs = c.mechs[i:]
		c.started = make([]bool, len(c.mechs))
		c.started[0] = true
		c.chosen = 0
		oids := make([]asn1.ObjectIdentifier, len(c.mechs))
		for j, m := range c.mechs {
			oids[j] = m.OID
		}
		if c.mechTypesDER, err = marshalMechTypes(oids); err != nil {
			return nil, err
		}
		out, err := (&negTokenInit{mechTypesDER: c.mechTypesDER, mechToken: tok}).marshal()
		if err != nil {
			return nil, err
		}
		c.initSent = true
		return out, nil
	}
	return nil, fmt.Errorf("spnego: no mechanism could start: %w", errors.Join(errs...))
}

// answer processes a NegTokenResp of the acceptor.
func (c *Client) answer(ctx context.Context, resp *negTokenResp) ([]byte, error) {
	if resp.state == stateReject {
		return nil, fmt.Errorf("spnego: the acceptor rejected the negotiation: %w", gss.ErrAuthFailed)
	}
	first := !c.gotResponse
	c.gotResponse = true
	if len(resp.supportedMech) > 0 {
		i := c.index(resp.supportedMech)
		switch {
		case i < 0:
			return nil, fmt.Errorf("spnego: acceptor chose %v, which was not offered: %w", resp.supportedMech, gss.ErrUnsupported)
		case !first && i != c.chosen:
			return nil, errBadToken("acceptor changed the mechanism to %v", resp.supportedMech)
		}
		c.chosen = i
	}
	mech := c.mechs[c.chosen]
	// RFC 4178 5: when the acceptor picked another than our preferred
	// mechanism, the mechListMIC protects the list from a downgrade.
	if c.chosen != 0 || resp.state == stateRequestMIC || alwaysNeedsMIC(mech.OID) {
		c.micRequired = true
	}
	mic := resp.mechListMIC
	if len(mic) > 0 && bytes.Equal(mic, resp.responseToken) {
		// Some old acceptors copy the responseToken into the mechListMIC
		// (pyspnego works around it; smbprotocol issue 137).
		mic = nil
	}
	if len(mic) > 0 {
		c.micRequired = true
	}

	var out []byte
	var err error
	switch {
	case !c.started[c.chosen]:
		// The acceptor refused our optimistic mechanism and chose this one:
		// start it now.
		if len(resp.responseToken) > 0 {
			return nil, errBadToken("responseToken for %v before its first token", mech.OID)
		}
		c.started[c.chosen] = true
		if out, err = mech.Initiator.Step(ctx, nil); err != nil {
			return nil, fmt.Errorf("spnego: %v: %w", mech.OID, err)
		}
	case !mech.Initiator.Established():
		if len(resp.responseToken) == 0 {
			return nil, errBadToken("no responseToken while %v is incomplete (negState %v)", mech.OID, resp.state)
		}
		if out, err = mech.Initiator.Step(ctx, resp.responseToken); err != nil {
			return nil, fmt.Errorf("spnego: %v: %w", mech.OID, err)
		}
	case len(resp.responseToken) > 0:
		return nil, errBadToken("responseToken after %v completed", mech.OID)
	}

	if !mech.Initiator.Established() {
		if len(mic) > 0 {
			return nil, errBadToken("mechListMIC before %v completed", mech.OID)
		}
		if resp.state == stateAcceptCompleted {
			return nil, errBadToken("acceptor completed before %v did", mech.OID)
		}
		return (&negTokenResp{state: stateAcceptIncomplete, responseToken: out}).marshal()
	}

	if len(mic) > 0 {
		if c.micRecv {
			return nil, errBadToken("second mechListMIC")
		}
		if err := verifyMechList(mech.Initiator, mech.OID, c.mechTypesDER, mic); err != nil {
			return nil, err
		}
		c.micRecv = true
	}
	// An acceptor that signed and completed in the same token expects
	// nothing more: our MIC could not even be delivered (its token came
	// with the final HTTP 200), so we do not sign one (as pyspnego).
	done := resp.state == stateAcceptCompleted && c.micRecv
	var outMIC []byte
	if c.micRequired && !c.micSent && !done {
		if outMIC, err = signMechList(mech.Initiator, mech.OID, c.mechTypesDER); err != nil {
			return nil, err
		}
		c.micSent = true
	}

	switch {
	case c.micRequired && c.micRecv && (c.micSent || done):
		c.established = true
	case c.micRequired && resp.state == stateAcceptCompleted:
		return nil, fmt.Errorf("spnego: acceptor completed without a mechListMIC: %w", gss.ErrIntegrity)
	case !c.micRequired && resp.state == stateAcceptCompleted:
		c.established = true
	}
	if c.established && len(out) == 0 && len(outMIC) == 0 {
		return nil, nil
	}
	if len(out) == 0 && len(outMIC) == 0 {
		return nil, errBadToken("acceptor is incomplete (negState %v) but there is nothing to send", resp.state)
	}
	state := stateAcceptIncomplete
	if c.established {
		state = stateAcceptCompleted
	}
	return (&negTokenResp{state: state, responseToken: out, mechListMIC: outMIC}).marshal()
}

// trailer accepts what an acceptor may still send once the context is
// established: nothing, or a bare accept-completed.
func (c *Client) trailer(in []byte) error {
	if len(in) == 0 {
		return nil
	}
	_, resp, err := parseToken(in)
	if err != nil {
		return err
	}
	if resp == nil || resp.state != stateAcceptCompleted || len(resp.responseToken) > 0 || len(resp.mechListMIC) > 0 ||
		(len(resp.supportedMech) > 0 && !resp.supportedMech.Equal(c.mechs[c.chosen].OID)) {
		return errBadToken("token after the context was established")
	}
	return nil
}

func (c *Client) index(oid asn1.ObjectIdentifier) int {
	for i, m := range c.mechs {
		if m.OID.Equal(oid) {
			return i
		}
	}
	return -1
}
