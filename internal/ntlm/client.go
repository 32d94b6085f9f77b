package ntlm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// ClientConfig holds the initiator's credentials.
type ClientConfig struct {
	// Username is "user", `DOMAIN\user` or a UPN "user@domain.example".
	// A UPN is sent whole as the user name with an empty domain, as
	// Windows does.
	Username string
	// Password is the user's password; ignored when NTHash is set.
	Password string
	// NTHash, when set, is the 16-byte NT hash (MD4 of the UTF-16LE
	// password) used instead of Password.
	NTHash []byte
	// Workstation is the client's NetBIOS name, optional.
	Workstation string
	// ChannelBindings are the TLS channel's bindings, sent as
	// MsvAvChannelBindings; nil over plain HTTP.
	ChannelBindings *gss.ChannelBindings
}

// clientHooks replace the client's randomness and version in the tests
// that reproduce MS-NLMP 4.2.4 byte for byte.
type clientHooks struct {
	clientChallenge  *[8]byte
	randomSessionKey *[16]byte
	timestamp        *[8]byte
	version          *version
}

// Client is the initiator side of an NTLM context. It implements
// gss.Initiator, gss.MICer and gss.CipherResetter. A Client is used by
// one goroutine at a time.
type Client struct {
	user, domain, workstation string
	ntHash                    []byte
	channelBindings           *gss.ChannelBindings
	hooks                     clientHooks

	negotiate []byte // sent, for the MIC
	step      int
	security
}

// NewClient returns a client that has not sent anything yet.
func NewClient(cfg ClientConfig) (*Client, error) {
	c := &Client{workstation: cfg.Workstation, channelBindings: cfg.ChannelBindings}
	switch {
	case cfg.Username == "":
		return nil, errors.New("ntlm: client: no user name")
	case strings.Contains(cfg.Username, `\`):
		c.domain, c.user, _ = strings.Cut(cfg.Username, `\`)
	default: // a plain name, or a UPN sent whole
		c.user = cfg.Username
	}
	if c.user == "" {
		return nil, errors.New("ntlm: client: no user name")
	}
	if cfg.NTHash != nil {
		if len(cfg.NTHash) != 16 {
			return nil, fmt.Errorf("ntlm: client: NT hash of %d bytes, want 16", len(cfg.NTHash))
		}
		c.ntHash = append([]byte(nil), cfg.NTHash...)
	} else {
		c.ntHash = ntowfv1(cfg.Password)
	}
	return c, nil
}

// Step returns the NEGOTIATE message when in is empty on the first call,
// and the AUTHENTICATE message for the server's CHALLENGE; the context is
// then established.
func (c *Client) Step(_ context.Context, in []byte) ([]byte, error) {
	switch c.step {
	case 0:
		if len(in) != 0 {
			return nil, fmt.Errorf("ntlm: client: a token before NEGOTIATE: %w", gss.ErrBadToken)
		}
		v := defaultVersion
		if c.hooks.version != nil {
			v = *c.hooks.version
		}
		c.negotiate = (&negotiateMessage{flags: clientFlags, version: v}).marshal()
		c.step = 1
		return c.negotiate, nil
	case 1:
		out, err := c.authenticate(in)
		if err != nil {
			return nil, err
		}
		c.step = 2
		return out, nil
	default:
		if len(in) != 0 {
			return nil, fmt.Errorf("ntlm: client: a token after the context was established: %w", gss.ErrBadToken)
		}
		return nil, nil
	}
}

// authenticate answers the CHALLENGE (MS-NLMP 3.1.5.1.2).
func (c *Client) authenticate(challenge []byte) ([]byte, error) {
	challenge = append([]byte(nil), challenge...) // kept for the MIC
	chal, err := parseChallenge(challenge)
	if err != nil {
		return nil, err
	}
	if chal.flags&flagUnicode == 0 {
		return nil, fmt.Errorf("ntlm: challenge: the server does not offer Unicode: %w", gss.ErrUnsupported)
	}
	if chal.flags&flagESS == 0 {
		return nil, fmt.Errorf("ntlm: challenge: the server does not offer extended session security: %w", gss.ErrUnsupported)
	}
	flags := clientFlags & (chal.flags | flagRequestTarget)
	pairs, err := parseAVPairs(chal.targetInfo)
	if err != nil {
		return nil, fmt.Errorf("ntlm: challenge: %w", err)
	}

	// A server that sends a timestamp wants a MIC and a zero LM response
	// (MS-NLMP 3.1.5.1.2); its timestamp is used instead of ours.
	var timestamp [8]byte
	serverTime, withMIC := findAV(pairs, avTimestamp)
	switch {
	case withMIC && len(serverTime) == 8:
		copy(timestamp[:], serverTime)
	case c.hooks.timestamp != nil:
		timestamp = *c.hooks.timestamp
	default:
		timestamp = fileTime(time.Now())
	}
	targetInfo := chal.targetInfo
	if withMIC || c.channelBindings != nil || len(targetInfo) == 0 {
		targetInfo = c.clientTargetInfo(pairs, withMIC)
	}

	var clientChallenge [8]byte
	var hook []byte
	if c.hooks.clientChallenge != nil {
		hook = c.hooks.clientChallenge[:]
	}
	if err := c.random(clientChallenge[:], hook); err != nil {
		return nil, err
	}
	responseKey := ntowfv2(c.ntHash, c.user, c.domain)
	temp := ntlmv2Temp(timestamp, clientChallenge, targetInfo)
	nt, lm, sessionBaseKey := ntlmv2Response(responseKey, chal.serverChallenge, clientChallenge, temp)
	if withMIC {
		lm = make([]byte, 24)
	}

	v := defaultVersion
	if c.hooks.version != nil {
		v = *c.hooks.version
	}
	auth := &authenticateMessage{
		lmResponse:  lm,
		ntResponse:  nt,
		domain:      utf16le(c.domain),
		user:        utf16le(c.user),
		workstation: utf16le(c.workstation),
		flags:       flags,
		version:     v,
		hasMIC:      withMIC,
	}
	// With NTLMv2 the key exchange key is the session base key.
	exportedSessionKey := sessionBaseKey
	if flags&flagKeyExch != 0 {
		randomKey := make([]byte, 16)
		hook = nil
		if c.hooks.randomSessionKey != nil {
			hook = c.hooks.randomSessionKey[:]
		}
		if err := c.random(randomKey, hook); err != nil {
			return nil, err
		}
		auth.encryptedRandomSessionKey = rc4K(sessionBaseKey, randomKey)
		exportedSessionKey = randomKey
	}
	out := auth.marshal()
	if withMIC {
		copy(out[authMICOffset:], hmacMD5(exportedSessionKey, c.negotiate, challenge, out))
	}
	c.init(flags, exportedSessionKey, true)
	return out, nil
}

// clientTargetInfo is the server's AV pairs with MsvAvFlags (MIC present)
// and MsvAvChannelBindings added; a nil ChannelBindings hashes to zeros,
// which is what Windows sends without TLS.
func (c *Client) clientTargetInfo(pairs []avPair, withMIC bool) []byte {
	out := make([]avPair, 0, len(pairs)+2)
	var avFlagsValue uint32
	for _, p := range pairs {
		switch p.id {
		case avFlags:
			if len(p.value) == 4 {
				avFlagsValue = uint32(p.value[0]) | uint32(p.value[1])<<8 | uint32(p.value[2])<<16 | uint32(p.value[3])<<24
			}
		case avChannelBindings:
		default:
			out = append(out, p)
		}
	}
	if withMIC {
		avFlagsValue |= avFlagMICPresent
	}
	if avFlagsValue != 0 {
		v := []byte{byte(avFlagsValue), byte(avFlagsValue >> 8), byte(avFlagsValue >> 16), byte(avFlagsValue >> 24)}
		out = append(out, avPair{id: avFlags, value: v})
	}
	cb := c.channelBindings.Hash()
	out = append(out, avPair{id: avChannelBindings, value: cb[:]})
	return appendAVPairs(nil, out)
}

// random fills b from crypto/rand, or from the test hook when set.
func (c *Client) random(b, hook []byte) error {
	if hook != nil {
		copy(b, hook)
		return nil
	}
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("ntlm: client: random: %w", err)
	}
	return nil
}

// Established reports whether the AUTHENTICATE message was produced.
func (c *Client) Established() bool { return c.established }

// Wrap seals msg for the server: it returns the 16-byte signature and the
// sealed data.
func (c *Client) Wrap(msg []byte) (header, data []byte, err error) { return c.wrap(msg) }

// Unwrap verifies and opens a message sealed by the server. It decrypts
// data in place and returns it; a message that fails its checks is left
// as it was.
func (c *Client) Unwrap(header, data []byte) ([]byte, error) { return c.unwrap(header, data) }

// MIC signs msg without sealing it (GSS_GetMIC); it consumes a sequence
// number.
func (c *Client) MIC(msg []byte) ([]byte, error) { return c.mic(msg) }

// VerifyMIC verifies the server's signature of msg (GSS_VerifyMIC).
func (c *Client) VerifyMIC(msg, mic []byte) error { return c.verifyMIC(msg, mic) }

// ResetCipherState restarts the RC4 stream of one direction, keeping
// its sequence number, as SPNEGO requires after the mechListMIC.
func (c *Client) ResetCipherState(outgoing bool) { c.resetCipher(outgoing) }

var (
	_ gss.Initiator      = (*Client)(nil)
	_ gss.MICer          = (*Client)(nil)
	_ gss.CipherResetter = (*Client)(nil)
)
