package kerberos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	krbclient "github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// ClientConfig configures the initiator side of a Kerberos context. Exactly
// one of Password, Keytab and CCache supplies the credentials.
type ClientConfig struct {
	// Username and Realm name the user; Username may be "user@REALM", and
	// an empty Realm means the configuration's default_realm. Not used
	// with CCache, whose default principal is the user.
	Username, Realm string
	// Password logs in with the user's password.
	Password string
	// Keytab logs in with the user's keys instead of a password.
	Keytab *keytab.Keytab
	// CCache uses the user's ticket cache (a TGT from kinit) instead.
	CCache *credentials.CCache
	// Config is the krb5.conf (realms, KDCs, encryption types); required.
	Config *config.Config
	// SPN is the service principal without realm, for example
	// "HTTP/win01.corp.example"; the caller composes class and host.
	SPN string
	// DisableMutual turns off mutual authentication. By default it is
	// requested and the acceptor's AP-REP is verified.
	DisableMutual bool
	// Delegate forwards the user's TGT to the service (GSS_C_DELEG_FLAG,
	// "double hop"): the KDC issues a forwarded TGT, which travels in a
	// KRB-CRED inside the AP-REQ. The user's TGT must be forwardable (with
	// Password or Keytab it is requested so); otherwise Step fails with
	// ErrNotForwardable. Like MIT's GSS_C_DELEG_FLAG, the service's
	// ok-as-delegate flag is not consulted.
	Delegate bool
	// ChannelBindings binds the context to a TLS channel; nil sends the
	// all-zero bindings.
	ChannelBindings *gss.ChannelBindings
}

// Client is the initiator side of a Kerberos GSS-API context (RFC 4121). It
// implements gss.Initiator, gss.MICer and gss.ServerAuthenticator.
type Client struct {
	cfg   ClientConfig
	state clientState

	sessionKey types.EncryptionKey
	subkey     types.EncryptionKey
	seq        uint64
	ctime      time.Time
	cusec      int

	serverAuthenticated bool
	*sealer
}

type clientState int

const (
	clientStart clientState = iota
	clientWaitAPRep
	clientEstablished
	clientFailed
)

var (
	_ gss.Initiator           = (*Client)(nil)
	_ gss.MICer               = (*Client)(nil)
	_ gss.ServerAuthenticator = (*Client)(nil)
)

// NewClient checks cfg and returns a client context; the first Step logs
// in.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Config == nil {
		return nil, errors.New("kerberos: ClientConfig.Config (krb5.conf) is required")
	}
	if cfg.SPN == "" {
		return nil, errors.New("kerberos: ClientConfig.SPN is required")
	}
	n := 0
	if cfg.Password != "" {
		n++
	}
	if cfg.Keytab != nil {
		n++
	}
	if cfg.CCache != nil {
		n++
	}
	if n != 1 {
		return nil, errors.New("kerberos: ClientConfig needs exactly one of Password, Keytab and CCache")
	}
	if cfg.CCache == nil {
		if user, realm, ok := strings.Cut(cfg.Username, "@"); ok {
			cfg.Username = user
			if cfg.Realm == "" {
				cfg.Realm = realm
			}
		}
		if cfg.Username == "" {
			return nil, errors.New("kerberos: ClientConfig.Username is required")
		}
		if cfg.Realm == "" {
			cfg.Realm = cfg.Config.LibDefaults.DefaultRealm
		}
		if cfg.Realm == "" {
			return nil, errors.New("kerberos: no realm in ClientConfig.Realm, Username or default_realm")
		}
	}
	return &Client{cfg: cfg}, nil
}

// Established reports whether the context is complete.
func (c *Client) Established() bool { return c.state == clientEstablished }

// ServerAuthenticated reports whether the acceptor proved its identity with
// a verified AP-REP (mutual authentication).
func (c *Client) ServerAuthenticated() bool { return c.serverAuthenticated }

// Step produces the AP-REQ token on the first call (in is nil) and, with
// mutual authentication, verifies the acceptor's AP-REP token on the second.
func (c *Client) Step(ctx context.Context, in []byte) ([]byte, error) {
	switch c.state {
	case clientStart:
		if len(in) != 0 {
			return nil, fmt.Errorf("kerberos: the first step takes no token: %w", gss.ErrBadToken)
		}
		out, err := c.initiate(ctx)
		if err != nil {
			c.state = clientFailed
		}
		return out, err
	case clientWaitAPRep:
		err := c.verifyAPRep(in)
		if err != nil {
			c.state = clientFailed
			return nil, err
		}
		c.state = clientEstablished
		return nil, nil
	case clientEstablished:
		return nil, fmt.Errorf("kerberos: context already established: %w", gss.ErrBadToken)
	}
	return nil, errors.New("kerberos: context failed earlier")
}

// principal is the user for error messages.
func (c *Client) principal() string {
	if c.cfg.CCache != nil {
		p := c.cfg.CCache.DefaultPrincipal
		return strings.Join(p.PrincipalName.NameString, "/") + "@" + p.Realm
	}
	return c.cfg.Username + "@" + c.cfg.Realm
}

// ticket is what the KDC exchanges yield.
type ticket struct {
	tkt        messages.Ticket
	sessionKey types.EncryptionKey
	cname      types.PrincipalName
	crealm     string
	// forwarded is the TGT to delegate, with ClientConfig.Delegate.
	forwarded *forwardedTGT
}

// getTicket logs in and gets the service ticket. gokrb5 has no context
// support, so the exchanges run in a goroutine that ctx can abandon; it
// ends with gokrb5's own network timeouts.
func (c *Client) getTicket(ctx context.Context) (ticket, error) {
	if err := ctx.Err(); err != nil {
		return ticket{}, fmt.Errorf("kerberos: %w", err)
	}
	type result struct {
		t   ticket
		err error
	}
	done := make(chan result, 1)
	go func() {
		t, err := c.exchange()
		done <- result{t, err}
	}()
	select {
	case r := <-done:
		return r.t, r.err
	case <-ctx.Done():
		return ticket{}, fmt.Errorf("kerberos: %w", ctx.Err())
	}
}

func (c *Client) exchange() (ticket, error) {
	var (
		cl       *krbclient.Client
		tgt      messages.Ticket
		tgtKey   types.EncryptionKey
		tgtFlags asn1.BitString
		realm    string
	)
	opts := []func(*krbclient.Settings){krbclient.DisablePAFXFAST(true)}
	if c.cfg.CCache != nil {
		var err error
		tgt, tgtKey, tgtFlags, realm, err = c.ccacheTGT()
		if err != nil {
			return ticket{}, err
		}
		cl, err = krbclient.NewFromCCache(c.cfg.CCache, c.cfg.Config, opts...)
		if err != nil {
			return ticket{}, fmt.Errorf("kerberos: ticket cache of %s: %w", c.principal(), ErrNoCredentials)
		}
	} else {
		if c.cfg.Keytab != nil {
			cl = krbclient.NewWithKeytab(c.cfg.Username, c.cfg.Realm, c.cfg.Keytab, c.cfg.Config, opts...)
		} else {
			cl = krbclient.NewWithPassword(c.cfg.Username, c.cfg.Realm, c.cfg.Password, c.cfg.Config, opts...)
		}
		// The AS exchange by hand rather than cl.Login, which would start
		// a TGT renewal goroutine the context has no use for.
		realm = c.cfg.Realm
		asReq, err := messages.NewASReqForTGT(realm, c.cfg.Config, cl.Credentials.CName())
		if err != nil {
			return ticket{}, fmt.Errorf("kerberos: AS-REQ: %w", err)
		}
		if c.cfg.Delegate {
			types.SetFlag(&asReq.ReqBody.KDCOptions, flags.Forwardable)
		}
		asRep, err := cl.ASExchange(realm, asReq, 0)
		if err != nil {
			return ticket{}, classify("login", c.principal(), err)
		}
		tgt, tgtKey, tgtFlags = asRep.Ticket, asRep.DecryptedEncPart.Key, asRep.DecryptedEncPart.Flags
	}
	defer cl.Destroy()
	var fwd *forwardedTGT
	if c.cfg.Delegate {
		f, err := c.forwardTGT(cl, tgt, tgtKey, tgtFlags, realm)
		if err != nil {
			return ticket{}, err
		}
		fwd = &f
	}
	spn := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, c.cfg.SPN)
	_, tgsRep, err := cl.TGSREQGenerateAndExchange(spn, realm, tgt, tgtKey, false)
	if err != nil {
		return ticket{}, classify("service ticket for", c.cfg.SPN, err)
	}
	return ticket{
		tkt:        tgsRep.Ticket,
		sessionKey: tgsRep.DecryptedEncPart.Key,
		cname:      cl.Credentials.CName(),
		crealm:     cl.Credentials.Realm(),
		forwarded:  fwd,
	}, nil
}

// ccacheTGT finds the TGT of the cache's default principal.
func (c *Client) ccacheTGT() (tgt messages.Ticket, key types.EncryptionKey, tktFlags asn1.BitString, realm string, err error) {
	cc := c.cfg.CCache
	realm = cc.DefaultPrincipal.Realm
	cred, ok := cc.GetEntry(types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", realm}})
	if !ok {
		return tgt, key, tktFlags, "", fmt.Errorf("kerberos: no TGT for %s in the ticket cache: %w", c.principal(), ErrNoCredentials)
	}
	if time.Now().After(cred.EndTime) {
		return tgt, key, tktFlags, "", &KRBError{Op: "ticket cache", Principal: c.principal(), Code: errorcode.KRB_AP_ERR_TKT_EXPIRED}
	}
	if err := tgt.Unmarshal(cred.Ticket); err != nil {
		return tgt, key, tktFlags, "", fmt.Errorf("kerberos: TGT in the ticket cache: %w", gss.ErrBadToken)
	}
	return tgt, cred.Key, cred.TicketFlags, realm, nil
}

func (c *Client) initiate(ctx context.Context) ([]byte, error) {
	t, err := c.getTicket(ctx)
	if err != nil {
		return nil, err
	}
	et, err := crypto.GetEtype(t.sessionKey.KeyType)
	if err != nil {
		return nil, fmt.Errorf("kerberos: session key type %d: %w", t.sessionKey.KeyType, gss.ErrUnsupported)
	}
	auth, err := types.NewAuthenticator(t.crealm, t.cname)
	if err != nil {
		return nil, fmt.Errorf("kerberos: authenticator: %w", err)
	}
	if err := auth.GenerateSeqNumberAndSubKey(t.sessionKey.KeyType, et.GetKeyByteSize()); err != nil {
		return nil, fmt.Errorf("kerberos: authenticator subkey: %w", err)
	}
	// Fresh random bytes are not a valid key for every etype; let the
	// etype make one.
	sub, err := types.GenerateEncryptionKey(et)
	if err != nil {
		return nil, fmt.Errorf("kerberos: authenticator subkey: %w", err)
	}
	auth.SubKey = sub
	auth.CTime = auth.CTime.Truncate(time.Second)
	cks := gssChecksum{Bindings: c.cfg.ChannelBindings.Hash(), Flags: flagInteg | flagConf | flagSequence}
	if !c.cfg.DisableMutual {
		cks.Flags |= flagMutual
	}
	if t.forwarded != nil {
		// Encrypted with the ticket's session key, not the subkey, as
		// MIT and Windows do (RFC 4121 4.1.1 leaves the key open).
		cred, err := marshalKRBCred(t.forwarded.tkt, t.forwarded.info, t.crealm, t.cname, t.sessionKey)
		if err != nil {
			return nil, err
		}
		if len(cred) > 0xffff {
			return nil, fmt.Errorf("kerberos: delegation: %d-byte KRB-CRED exceeds the checksum's 65535: %w", len(cred), gss.ErrUnsupported)
		}
		cks.Flags |= flagDeleg
		cks.Deleg = cred
	}
	auth.Cksum = types.Checksum{CksumType: checksumType, Checksum: cks.marshal()}
	apreq, err := messages.NewAPReq(t.tkt, t.sessionKey, auth)
	if err != nil {
		return nil, fmt.Errorf("kerberos: AP-REQ: %w", err)
	}
	if !c.cfg.DisableMutual {
		types.SetFlag(&apreq.APOptions, flags.APOptionMutualRequired)
	}
	b, err := apreq.Marshal()
	if err != nil {
		return nil, fmt.Errorf("kerberos: AP-REQ: %w", err)
	}
	c.sessionKey, c.subkey = t.sessionKey, sub
	c.seq = uint64(auth.SeqNumber)
	c.ctime, c.cusec = auth.CTime, auth.Cusec
	if c.cfg.DisableMutual {
		// Without an AP-REP both directions use the initiator's subkey
		// and sequence number (RFC 4121 4.1, as MIT does).
		if c.sealer, err = newSealer(sub, false, false, c.seq, c.seq); err != nil {
			return nil, err
		}
		c.state = clientEstablished
	} else {
		c.state = clientWaitAPRep
	}
	return marshalToken(tokAPReq, b), nil
}

// verifyAPRep checks the acceptor's AP-REP (RFC 4120 3.2.5): it decrypts
// with the session key, echoes our authenticator's time, and may carry the
// acceptor's subkey and first sequence number.
func (c *Client) verifyAPRep(in []byte) error {
	id, inner, err := parseToken(in)
	if err != nil {
		return err
	}
	switch id {
	case tokAPRep:
	case tokKRBError:
		var ke messages.KRBError
		if err := ke.Unmarshal(inner); err != nil {
			return fmt.Errorf("kerberos: KRB-ERROR from the service: %w", gss.ErrBadToken)
		}
		return &KRBError{Op: "service refused", Principal: c.cfg.SPN, Code: ke.ErrorCode}
	default:
		return fmt.Errorf("kerberos: token ID %#04x where an AP-REP was expected: %w", id, gss.ErrBadToken)
	}
	var rep messages.APRep
	if err := rep.Unmarshal(inner); err != nil {
		return fmt.Errorf("kerberos: AP-REP: %w", gss.ErrBadToken)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, c.sessionKey, keyusage.AP_REP_ENCPART)
	if err != nil {
		return fmt.Errorf("kerberos: AP-REP does not decrypt with the session key: %w", gss.ErrIntegrity)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		return fmt.Errorf("kerberos: AP-REP encrypted part: %w", gss.ErrBadToken)
	}
	if !part.CTime.Equal(c.ctime) || part.Cusec != c.cusec {
		return fmt.Errorf("kerberos: AP-REP does not echo the authenticator's time: %w", gss.ErrAuthFailed)
	}
	key, acceptorSubkey := c.subkey, false
	if part.Subkey.KeyType != 0 || len(part.Subkey.KeyValue) != 0 {
		key, acceptorSubkey = part.Subkey, true
	}
	s, err := newSealer(key, false, acceptorSubkey, c.seq, uint64(uint32(part.SequenceNumber)))
	if err != nil {
		return err
	}
	c.sealer = s
	c.serverAuthenticated = true
	return nil
}

// Wrap seals msg once the context is established.
func (c *Client) Wrap(msg []byte) (header, data []byte, err error) {
	if c.state != clientEstablished {
		return nil, nil, fmt.Errorf("kerberos: wrap: %w", gss.ErrNotEstablished)
	}
	return c.sealer.Wrap(msg)
}

// Unwrap opens a message sealed by the acceptor.
func (c *Client) Unwrap(header, data []byte) ([]byte, error) {
	if c.state != clientEstablished {
		return nil, fmt.Errorf("kerberos: unwrap: %w", gss.ErrNotEstablished)
	}
	return c.sealer.Unwrap(header, data)
}

// MIC signs msg (GSS_GetMIC).
func (c *Client) MIC(msg []byte) ([]byte, error) {
	if c.state != clientEstablished {
		return nil, fmt.Errorf("kerberos: mic: %w", gss.ErrNotEstablished)
	}
	return c.sealer.MIC(msg)
}

// VerifyMIC checks the acceptor's signature of msg (GSS_VerifyMIC).
func (c *Client) VerifyMIC(msg, mic []byte) error {
	if c.state != clientEstablished {
		return fmt.Errorf("kerberos: verify mic: %w", gss.ErrNotEstablished)
	}
	return c.sealer.VerifyMIC(msg, mic)
}
