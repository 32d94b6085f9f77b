package kerberos

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// ServerConfig configures the acceptor side of a Kerberos context.
type ServerConfig struct {
	// Keytab holds the service's keys; required.
	Keytab *keytab.Keytab
	// ServicePrincipal, if set ("HTTP/host" or "HTTP/host@REALM"), is
	// the keytab entry to decrypt tickets with; by default the ticket's
	// own service name is looked up.
	ServicePrincipal string
	// ChannelBindings are the bindings of the TLS channel the context
	// runs in; nil accepts any.
	ChannelBindings *gss.ChannelBindings
	// RequireChannelBindings refuses clients that send no bindings (all
	// zero) when ChannelBindings is set.
	RequireChannelBindings bool
	// MaxClockSkew is the tolerated clock difference; zero means 5 min.
	MaxClockSkew time.Duration
}

// Server is the acceptor side of a Kerberos GSS-API context. It implements
// gss.Acceptor and gss.MICer.
type Server struct {
	cfg         ServerConfig
	established bool
	failed      bool
	user        string
	delegated   *DelegatedCredential
	*sealer
}

var (
	_ gss.Acceptor = (*Server)(nil)
	_ gss.MICer    = (*Server)(nil)
)

// NewServer checks cfg and returns an acceptor context.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Keytab == nil {
		return nil, errors.New("kerberos: ServerConfig.Keytab is required")
	}
	if cfg.MaxClockSkew == 0 {
		cfg.MaxClockSkew = 5 * time.Minute
	}
	return &Server{cfg: cfg}, nil
}

// Established reports whether the initiator is authenticated.
func (s *Server) Established() bool { return s.established }

// UserName is the authenticated client as user@REALM.
func (s *Server) UserName() string { return s.user }

// Delegated reports whether the initiator delegated a credential
// (GSS_C_DELEG_FLAG) to the established context.
func (s *Server) Delegated() bool { return s.established && s.delegated != nil }

// DelegatedCredential returns the ticket the initiator forwarded, normally
// its TGT, once the context is established; ok is false when there is none.
// The credential holds a session key: keep it like a password.
func (s *Server) DelegatedCredential() (cred *DelegatedCredential, ok bool) {
	if !s.Delegated() {
		return nil, false
	}
	return s.delegated, true
}

// Step verifies the initiator's AP-REQ token and returns the AP-REP token
// when the initiator asked for mutual authentication, else nothing.
func (s *Server) Step(ctx context.Context, in []byte) ([]byte, error) {
	if s.established || s.failed {
		return nil, fmt.Errorf("kerberos: accept: context already used: %w", gss.ErrBadToken)
	}
	out, err := s.accept(in)
	if err != nil {
		s.failed = true
		return nil, err
	}
	s.established = true
	return out, nil
}

func (s *Server) accept(in []byte) ([]byte, error) {
	id, inner, err := parseToken(in)
	if err != nil {
		return nil, err
	}
	if id != tokAPReq {
		return nil, fmt.Errorf("kerberos: accept: token ID %#04x, want an AP-REQ: %w", id, gss.ErrBadToken)
	}
	var req messages.APReq
	if err := req.Unmarshal(inner); err != nil || len(req.Ticket.SName.NameString) == 0 ||
		!sealedLongEnough(req.Ticket.EncPart) || !sealedLongEnough(req.EncryptedAuthenticator) {
		return nil, fmt.Errorf("kerberos: accept: AP-REQ: %w", gss.ErrBadToken)
	}
	var sname *types.PrincipalName
	if s.cfg.ServicePrincipal != "" {
		spn, _, _ := strings.Cut(s.cfg.ServicePrincipal, "@")
		p := types.NewPrincipalName(req.Ticket.SName.NameType, spn)
		sname = &p
	}
	// APReq.Verify decrypts the ticket with the keytab, checks its times
	// and the authenticator; the PAC (MIT 1.20 adds a minimal one) is not
	// needed here and is not decoded.
	if ok, err := req.Verify(s.cfg.Keytab, s.cfg.MaxClockSkew, types.HostAddress{}, sname); !ok || err != nil {
		if err == nil {
			err = errors.New("ticket not valid")
		}
		return nil, classify("accept", strings.Join(req.Ticket.SName.NameString, "/"), err)
	}
	auth := req.Authenticator
	if replays.seen(auth) {
		return nil, &KRBError{Op: "accept", Code: errorcode.KRB_AP_ERR_REPEAT}
	}
	if auth.Cksum.CksumType != checksumType {
		return nil, fmt.Errorf("kerberos: accept: authenticator checksum type %d, want 0x8003: %w", auth.Cksum.CksumType, gss.ErrBadToken)
	}
	cks, err := parseGSSChecksum(auth.Cksum.Checksum)
	if err != nil {
		return nil, err
	}
	if err := s.checkBindings(cks.Bindings); err != nil {
		return nil, err
	}
	sessionKey := req.Ticket.DecryptedEncPart.Key
	key := sessionKey
	if auth.SubKey.KeyType != 0 {
		key = auth.SubKey
	}
	s.user = strings.Join(auth.CName.NameString, "/") + "@" + auth.CRealm
	if cks.Flags&flagDeleg != 0 {
		if s.delegated, err = acceptDelegation(cks.Deleg, sessionKey, auth); err != nil {
			return nil, err
		}
	}
	peerSeq := uint64(uint32(auth.SeqNumber))

	mutual := types.IsFlagSet(&req.APOptions, flags.APOptionMutualRequired) || cks.Flags&flagMutual != 0
	if !mutual {
		s.sealer, err = newSealer(key, true, false, peerSeq, peerSeq)
		return nil, err
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("kerberos: accept: key type %d: %w", key.KeyType, gss.ErrUnsupported)
	}
	sub, err := types.GenerateEncryptionKey(et)
	if err != nil {
		return nil, fmt.Errorf("kerberos: accept: subkey: %w", err)
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("kerberos: accept: sequence number: %w", err)
	}
	// Below 2^30 as other implementations, and not 0, which the
	// optional field could not carry.
	ourSeq := uint64(binary.BigEndian.Uint32(b[:])&0x3fffffff | 1)
	rep, err := marshalAPRep(sessionKey, messages.EncAPRepPart{
		CTime:          auth.CTime,
		Cusec:          auth.Cusec,
		Subkey:         sub,
		SequenceNumber: int64(ourSeq),
	})
	if err != nil {
		return nil, err
	}
	if s.sealer, err = newSealer(sub, true, true, ourSeq, peerSeq); err != nil {
		return nil, err
	}
	return marshalToken(tokAPRep, rep), nil
}

// acceptDelegation decodes the KRB-CRED of a delegating initiator. The
// forwarded ticket must be the authenticated user's: a KRB-CRED naming
// someone else is refused rather than handed on.
func acceptDelegation(b []byte, sessionKey types.EncryptionKey, auth types.Authenticator) (*DelegatedCredential, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("kerberos: accept: delegation flag without credentials: %w", gss.ErrBadToken)
	}
	d, err := parseKRBCred(b, sessionKey, auth.SubKey)
	if err != nil {
		return nil, err
	}
	if len(d.Client.NameString) == 0 {
		d.Client, d.ClientRealm = auth.CName, auth.CRealm
	}
	if !samePrincipal(d.Client, d.ClientRealm, auth.CName, auth.CRealm) {
		return nil, fmt.Errorf("kerberos: accept: delegated ticket is for %s@%s, not the authenticated %s@%s: %w",
			strings.Join(d.Client.NameString, "/"), d.ClientRealm, strings.Join(auth.CName.NameString, "/"), auth.CRealm, gss.ErrAuthFailed)
	}
	return d, nil
}

// samePrincipal compares principal names ignoring case, as Active
// Directory does.
func samePrincipal(a types.PrincipalName, arealm string, b types.PrincipalName, brealm string) bool {
	if !strings.EqualFold(arealm, brealm) || len(a.NameString) != len(b.NameString) {
		return false
	}
	for i := range a.NameString {
		if !strings.EqualFold(a.NameString[i], b.NameString[i]) {
			return false
		}
	}
	return true
}

// checkBindings compares the client's bindings hash with ours.
func (s *Server) checkBindings(got [16]byte) error {
	if s.cfg.ChannelBindings == nil {
		return nil
	}
	if got == ([16]byte{}) {
		if s.cfg.RequireChannelBindings {
			return fmt.Errorf("kerberos: accept: client sent no channel bindings: %w", gss.ErrChannelBindings)
		}
		return nil
	}
	if got != s.cfg.ChannelBindings.Hash() {
		return fmt.Errorf("kerberos: accept: %w", gss.ErrChannelBindings)
	}
	return nil
}

// marshalAPRep encodes KRB_AP_REP (RFC 4120 5.5.2), its part encrypted with
// the session key; gokrb5 can only decode one.
func marshalAPRep(sessionKey types.EncryptionKey, part messages.EncAPRepPart) ([]byte, error) {
	part.CTime = part.CTime.UTC()
	ed, err := encryptPart(part, asnAppTag.EncAPRepPart, sessionKey, keyusage.AP_REP_ENCPART)
	if err != nil {
		return nil, fmt.Errorf("kerberos: AP-REP: %w", err)
	}
	rep := messages.APRep{PVNO: iana.PVNO, MsgType: msgtype.KRB_AP_REP, EncPart: ed}
	b, err := marshalApp(rep, asnAppTag.APREP)
	if err != nil {
		return nil, fmt.Errorf("kerberos: AP-REP: %w", err)
	}
	return b, nil
}

// Wrap seals msg once the context is established.
func (s *Server) Wrap(msg []byte) (header, data []byte, err error) {
	if !s.established {
		return nil, nil, fmt.Errorf("kerberos: wrap: %w", gss.ErrNotEstablished)
	}
	return s.sealer.Wrap(msg)
}

// Unwrap opens a message sealed by the initiator.
func (s *Server) Unwrap(header, data []byte) ([]byte, error) {
	if !s.established {
		return nil, fmt.Errorf("kerberos: unwrap: %w", gss.ErrNotEstablished)
	}
	return s.sealer.Unwrap(header, data)
}

// MIC signs msg (GSS_GetMIC).
func (s *Server) MIC(msg []byte) ([]byte, error) {
	if !s.established {
		return nil, fmt.Errorf("kerberos: mic: %w", gss.ErrNotEstablished)
	}
	return s.sealer.MIC(msg)
}

// VerifyMIC checks the initiator's signature of msg (GSS_VerifyMIC).
func (s *Server) VerifyMIC(msg, mic []byte) error {
	if !s.established {
		return fmt.Errorf("kerberos: verify mic: %w", gss.ErrNotEstablished)
	}
	return s.sealer.VerifyMIC(msg, mic)
}

// replayCache remembers authenticators seen within the clock skew (RFC
// 4120 3.2.3), process-wide like a service's replay cache. Old entries are
// dropped as new ones arrive, so it needs no goroutine.
type replayCache struct {
	mu      sync.Mutex
	entries map[string]time.Time
}

var replays = &replayCache{entries: make(map[string]time.Time)}

// replayWindow is how long an authenticator is remembered: longer than
// any clock skew it could be accepted within.
const replayWindow = 15 * time.Minute

func (r *replayCache) seen(a types.Authenticator) bool {
	k := fmt.Sprintf("%s@%s|%d|%d", strings.Join(a.CName.NameString, "/"), a.CRealm, a.CTime.Unix(), a.Cusec)
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.entries[k]; ok && now.Sub(t) < replayWindow {
		return true
	}
	if len(r.entries) > 1024 {
		for key, t := range r.entries {
			if now.Sub(t) >= replayWindow {
				delete(r.entries, key)
			}
		}
	}
	r.entries[k] = now
	return false
}
