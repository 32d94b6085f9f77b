package ntlm

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// ServerConfig configures the acceptor side.
type ServerConfig struct {
	// Password returns the password of user, with domain as the client
	// sent it (possibly empty); ok is false for an unknown user.
	Password func(domain, user string) (password string, ok bool)
	// NetBIOSDomain and NetBIOSComputer name the server in the CHALLENGE
	// (NetBIOSComputer defaults to "GOPSRP", NetBIOSDomain to the
	// computer name, as on a stand-alone Windows host); DNSDomain and
	// DNSComputer are sent when set.
	NetBIOSDomain, NetBIOSComputer, DNSDomain, DNSComputer string
	// ChannelBindings are the TLS channel's bindings, nil over HTTP.
	ChannelBindings *gss.ChannelBindings
	// RequireChannelBindings refuses an AUTHENTICATE without bindings
	// (CbtHardeningLevel Strict). Bindings that are present must match
	// whatever this says.
	RequireChannelBindings bool
	// Now is the clock of the CHALLENGE's timestamp; nil means time.Now.
	Now func() time.Time
}

// Server is the acceptor side of an NTLM context. It implements
// gss.Acceptor, gss.MICer and gss.CipherResetter. A Server is used by one
// goroutine at a time.
type Server struct {
	cfg ServerConfig

	step            int // 0 NEGOTIATE expected, 1 AUTHENTICATE, 2 done, -1 failed
	negotiate       []byte
	challenge       []byte
	serverChallenge [8]byte
	userName        string
	security
}

// NewServer returns an acceptor waiting for a NEGOTIATE message.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Password == nil {
		return nil, errors.New("ntlm: server: no Password function")
	}
	if cfg.NetBIOSComputer == "" {
		cfg.NetBIOSComputer = "GOPSRP"
	}
	if cfg.NetBIOSDomain == "" {
		cfg.NetBIOSDomain = cfg.NetBIOSComputer
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{cfg: cfg}, nil
}

// Step answers a NEGOTIATE with a CHALLENGE, and verifies the
// AUTHENTICATE that follows; it then returns no token and the context is
// established. A refused AUTHENTICATE ends the context.
func (s *Server) Step(_ context.Context, in []byte) ([]byte, error) {
	switch s.step {
	case 0:
		out, err := s.challengeFor(in)
		if err != nil {
			s.step = -1
			return nil, err
		}
		s.step = 1
		return out, nil
	case 1:
		if err := s.accept(in); err != nil {
			s.step = -1
			return nil, err
		}
		s.step = 2
		return nil, nil
	case 2:
		return nil, fmt.Errorf("ntlm: server: a token after the context was established: %w", gss.ErrBadToken)
	default:
		return nil, fmt.Errorf("ntlm: server: the context failed: %w", gss.ErrAuthFailed)
	}
}

// challengeFor builds the CHALLENGE for a NEGOTIATE (MS-NLMP 3.2.5.1.1).
func (s *Server) challengeFor(in []byte) ([]byte, error) {
	neg, err := parseNegotiate(in)
	if err != nil {
		return nil, fmt.Errorf("ntlm: negotiate: %w", err)
	}
	// Strings are Unicode when the client offers it, else in the OEM code
	// page (MS-NLMP 3.2.5.1.1); older clients such as Python's ntlm-auth
	// offer only OEM.
	charset := flagUnicode
	if neg.flags&flagUnicode == 0 {
		if neg.flags&flagOEM == 0 {
			return nil, fmt.Errorf("ntlm: negotiate: the client offers neither Unicode nor OEM strings: %w", gss.ErrUnsupported)
		}
		charset = flagOEM
	}
	if neg.flags&flagESS == 0 {
		return nil, fmt.Errorf("ntlm: negotiate: the client does not ask for extended session security: %w", gss.ErrUnsupported)
	}
	s.negotiate = append([]byte(nil), in...)
	if _, err := rand.Read(s.serverChallenge[:]); err != nil {
		return nil, fmt.Errorf("ntlm: server: random: %w", err)
	}
	ts := fileTime(s.cfg.Now())
	pairs := []avPair{
		{avNbDomainName, utf16le(s.cfg.NetBIOSDomain)},
		{avNbComputerName, utf16le(s.cfg.NetBIOSComputer)},
	}
	if s.cfg.DNSDomain != "" {
		pairs = append(pairs, avPair{avDNSDomainName, utf16le(s.cfg.DNSDomain)})
	}
	if s.cfg.DNSComputer != "" {
		pairs = append(pairs, avPair{avDNSComputerName, utf16le(s.cfg.DNSComputer)})
	}
	pairs = append(pairs, avPair{avTimestamp, ts[:]})
	flags := charset | flagNTLM | flagESS | flagTargetInfo | flagTargetTypeDomain |
		neg.flags&serverOptionalFlags
	targetName := utf16le(s.cfg.NetBIOSDomain)
	if charset == flagOEM {
		targetName = []byte(s.cfg.NetBIOSDomain)
	}
	chal := &challengeMessage{
		flags:           flags,
		serverChallenge: s.serverChallenge,
		targetName:      targetName,
		targetInfo:      appendAVPairs(nil, pairs),
		version:         defaultVersion,
	}
	s.challenge = chal.marshal()
	return s.challenge, nil
}

// accept verifies an AUTHENTICATE (MS-NLMP 3.2.5.1.2): the NTLMv2
// proof, the MIC and the channel bindings, then derives the keys.
func (s *Server) accept(in []byte) error {
	auth, err := parseAuthenticate(in)
	if err != nil {
		return err
	}
	switch n := len(auth.ntResponse); {
	case n == 0:
		return fmt.Errorf("ntlm: authenticate: anonymous logon refused: %w", gss.ErrAuthFailed)
	case n == 24:
		return fmt.Errorf("ntlm: authenticate: NTLMv1 refused: %w", gss.ErrAuthFailed)
	case n < 16+ntlmv2ClientChallengeHeader:
		return fmt.Errorf("ntlm: authenticate: NT response of %d bytes: %w", n, gss.ErrBadToken)
	}
	proof, temp := auth.ntResponse[:16], auth.ntResponse[16:]
	if temp[0] != 1 || temp[1] != 1 {
		return fmt.Errorf("ntlm: authenticate: NTLMv2 response type %d.%d: %w", temp[0], temp[1], gss.ErrBadToken)
	}
	pairs, err := parseAVPairs(temp[ntlmv2ClientChallengeHeader:])
	if err != nil {
		return fmt.Errorf("ntlm: authenticate: %w", err)
	}
	if auth.flags&flagESS == 0 {
		return fmt.Errorf("ntlm: authenticate: no extended session security: %w", gss.ErrUnsupported)
	}
	user, domain := fromUTF16LE(auth.user), fromUTF16LE(auth.domain)
	if auth.flags&flagUnicode == 0 {
		user, domain = fromOEM(auth.user), fromOEM(auth.domain)
	}
	if user == "" {
		return fmt.Errorf("ntlm: authenticate: anonymous logon refused: %w", gss.ErrAuthFailed)
	}

	password, ok := s.cfg.Password(domain, user)
	if !ok {
		return fmt.Errorf("ntlm: authenticate: unknown user or wrong password: %w", gss.ErrAuthFailed)
	}
	responseKey := ntowfv2(ntowfv1(password), user, domain)
	want := hmacMD5(responseKey, s.serverChallenge[:], temp)
	if subtle.ConstantTimeCompare(want, proof) != 1 {
		return fmt.Errorf("ntlm: authenticate: unknown user or wrong password: %w", gss.ErrAuthFailed)
	}

	sessionBaseKey := hmacMD5(responseKey, proof)
	exportedSessionKey := sessionBaseKey
	if auth.flags&flagKeyExch != 0 {
		if len(auth.encryptedRandomSessionKey) != 16 {
			return fmt.Errorf("ntlm: authenticate: encrypted session key of %d bytes: %w", len(auth.encryptedRandomSessionKey), gss.ErrBadToken)
		}
		exportedSessionKey = rc4K(sessionBaseKey, auth.encryptedRandomSessionKey)
	}

	if v, ok := findAV(pairs, avFlags); ok && len(v) == 4 && binary.LittleEndian.Uint32(v)&avFlagMICPresent != 0 {
		if err := s.verifyAuthMIC(in, exportedSessionKey); err != nil {
			return err
		}
	}
	if err := s.checkChannelBindings(pairs); err != nil {
		return err
	}

	s.userName = user
	if domain != "" {
		s.userName = domain + `\` + user
	}
	s.init(auth.flags, exportedSessionKey, false)
	return nil
}

// verifyAuthMIC checks the MIC over the three messages with the MIC field
// zeroed; it protects the flags and AV pairs against tampering.
func (s *Server) verifyAuthMIC(auth, exportedSessionKey []byte) error {
	mic, err := micOf(auth)
	if err != nil {
		return err
	}
	zeroed := append([]byte(nil), auth...)
	clear(zeroed[authMICOffset:authHeaderWithMIC])
	want := hmacMD5(exportedSessionKey, s.negotiate, s.challenge, zeroed)
	if subtle.ConstantTimeCompare(want, mic) != 1 {
		return fmt.Errorf("ntlm: authenticate: MIC does not match: %w: %w", gss.ErrAuthFailed, gss.ErrIntegrity)
	}
	return nil
}

// checkChannelBindings compares MsvAvChannelBindings with the TLS
// channel. Absent or all-zero bindings pass unless they are required.
func (s *Server) checkChannelBindings(pairs []avPair) error {
	got, ok := findAV(pairs, avChannelBindings)
	if !ok || bytes.Equal(got, make([]byte, len(got))) {
		if s.cfg.RequireChannelBindings {
			return fmt.Errorf("ntlm: authenticate: channel bindings required but missing: %w", gss.ErrChannelBindings)
		}
		return nil
	}
	want := s.cfg.ChannelBindings.Hash()
	if subtle.ConstantTimeCompare(want[:], got) != 1 {
		return fmt.Errorf("ntlm: authenticate: %w", gss.ErrChannelBindings)
	}
	return nil
}

// Established reports whether the client is authenticated.
func (s *Server) Established() bool { return s.established }

// UserName is the authenticated user as DOMAIN\user, or user when the
// client sent no domain (a UPN).
func (s *Server) UserName() string { return s.userName }

// Wrap seals msg for the client.
func (s *Server) Wrap(msg []byte) (header, data []byte, err error) { return s.wrap(msg) }

// Unwrap verifies and opens a message sealed by the client. It decrypts
// data in place and returns it; a message that fails its checks is left
// as it was.
func (s *Server) Unwrap(header, data []byte) ([]byte, error) { return s.unwrap(header, data) }

// MIC signs msg without sealing it (GSS_GetMIC).
func (s *Server) MIC(msg []byte) ([]byte, error) { return s.mic(msg) }

// VerifyMIC verifies the client's signature of msg (GSS_VerifyMIC).
func (s *Server) VerifyMIC(msg, mic []byte) error { return s.verifyMIC(msg, mic) }

// ResetCipherState restarts the RC4 stream of one direction, keeping its
// sequence number, as SPNEGO requires after the mechListMIC.
func (s *Server) ResetCipherState(outgoing bool) { s.resetCipher(outgoing) }

var (
	_ gss.Acceptor       = (*Server)(nil)
	_ gss.MICer          = (*Server)(nil)
	_ gss.CipherResetter = (*Server)(nil)
)

// fromOEM decodes an OEM string. The OEM code page is the server's; the
// emulated server reads it as Latin-1, which covers ASCII names.
func fromOEM(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
