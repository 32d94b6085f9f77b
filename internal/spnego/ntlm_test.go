package spnego

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/ntlm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testUser     = `EXAMPLE\alice`
	testPassword = "Secret-1"
)

func ntlmServerMech(t testing.TB) AcceptMech {
	return AcceptMech{OID: ntlm.OID, New: func() (gss.Acceptor, error) {
		return ntlm.NewServer(ntlm.ServerConfig{Password: func(domain, user string) (string, bool) {
			if domain == "EXAMPLE" && user == "alice" {
				return testPassword, true
			}
			return "", false
		}})
	}}
}

func ntlmClientMech(t testing.TB, password string) ClientMech {
	c, err := ntlm.NewClient(ntlm.ClientConfig{Username: testUser, Password: password})
	require.NoError(t, err)
	return ClientMech{OID: ntlm.OID, Initiator: c}
}

// seqNum is the sequence number of an NTLM signature (its last 4 bytes).
func seqNum(t *testing.T, header []byte) uint32 {
	t.Helper()
	require.Len(t, header, 16)
	require.Equal(t, []byte{1, 0, 0, 0}, header[:4], "NTLM signature version")
	return binary.LittleEndian.Uint32(header[12:])
}

func TestNTLMInSPNEGO(t *testing.T) {
	c, err := NewClient(ntlmClientMech(t, testPassword))
	require.NoError(t, err)
	s, err := NewServer(ntlmServerMech(t))
	require.NoError(t, err)

	ex, err := handshake(t, c, s, nil)
	require.NoError(t, err)

	// NEGOTIATE optimistic, CHALLENGE, AUTHENTICATE with the client's MIC,
	// accept-completed with the server's: two round trips, like Windows.
	require.Len(t, ex.toServer, 2)
	init := mustInit(t, ex.toServer[0])
	assert.True(t, bytes.HasPrefix(init.mechToken, []byte("NTLMSSP\x00\x01\x00\x00\x00")))
	challenge := mustResp(t, ex.toClient[0])
	assert.Equal(t, stateAcceptIncomplete, challenge.state)
	assert.True(t, challenge.supportedMech.Equal(ntlm.OID))
	assert.True(t, bytes.HasPrefix(challenge.responseToken, []byte("NTLMSSP\x00\x02\x00\x00\x00")))
	auth := mustResp(t, ex.toServer[1])
	assert.True(t, bytes.HasPrefix(auth.responseToken, []byte("NTLMSSP\x00\x03\x00\x00\x00")))
	require.Len(t, auth.mechListMIC, 16)
	assert.Zero(t, seqNum(t, auth.mechListMIC), "the mechListMIC takes SeqNum 0")
	final := mustResp(t, ex.toClient[1])
	assert.Equal(t, stateAcceptCompleted, final.state)
	assert.Empty(t, final.responseToken)
	require.Len(t, final.mechListMIC, 16)
	assert.Zero(t, seqNum(t, final.mechListMIC))

	assert.Equal(t, testUser, s.UserName())
	assert.True(t, c.Mech().Equal(ntlm.OID))
	assert.True(t, s.Mech().Equal(ntlm.OID))
	assert.False(t, c.ServerAuthenticated(), "NTLM never authenticates the server")

	// The first WinRM message of each direction is SeqNum 1, from an RC4
	// stream reset after the MIC: the peer can open it only if both sides
	// reset at the same point.
	for i := range 5 {
		msg := bytes.Repeat([]byte(fmt.Sprintf("<s:Envelope %d/>", i)), 40*i+1)
		h, d, err := c.Wrap(msg)
		require.NoError(t, err)
		assert.Equal(t, uint32(i+1), seqNum(t, h))
		got, err := s.Unwrap(h, d)
		require.NoError(t, err, "client→server %d", i)
		assert.Equal(t, msg, got)

		h, d, err = s.Wrap(msg)
		require.NoError(t, err)
		assert.Equal(t, uint32(i+1), seqNum(t, h))
		got, err = c.Unwrap(h, d)
		require.NoError(t, err, "server→client %d", i)
		assert.Equal(t, msg, got)
	}

	// A tampered message is refused through SPNEGO too.
	h, d, err := c.Wrap([]byte("payload"))
	require.NoError(t, err)
	d[0] ^= 1
	_, err = s.Unwrap(h, d)
	assert.ErrorIs(t, err, gss.ErrIntegrity)
}

// noReset hides ResetCipherState: the RC4 state of one side then runs on
// after the MIC while the peer's is reset, and the first message fails.
type noReset struct{ c *ntlm.Client }

func (n noReset) Step(ctx context.Context, in []byte) ([]byte, error) { return n.c.Step(ctx, in) }
func (n noReset) Established() bool                                   { return n.c.Established() }
func (n noReset) Wrap(msg []byte) ([]byte, []byte, error)             { return n.c.Wrap(msg) }
func (n noReset) Unwrap(h, d []byte) ([]byte, error)                  { return n.c.Unwrap(h, d) }
func (n noReset) MIC(msg []byte) ([]byte, error)                      { return n.c.MIC(msg) }
func (n noReset) VerifyMIC(msg, mic []byte) error                     { return n.c.VerifyMIC(msg, mic) }

func TestNTLMResetRuleMatters(t *testing.T) {
	nc, err := ntlm.NewClient(ntlm.ClientConfig{Username: testUser, Password: testPassword})
	require.NoError(t, err)
	var _ gss.MICer = noReset{nc}
	_, isResetter := any(noReset{nc}).(gss.CipherResetter)
	require.False(t, isResetter)
	c, err := NewClient(ClientMech{OID: ntlm.OID, Initiator: noReset{nc}})
	require.NoError(t, err)
	s, err := NewServer(ntlmServerMech(t))
	require.NoError(t, err)
	_, err = handshake(t, c, s, nil)
	require.NoError(t, err, "the handshake itself does not notice")

	h, d, err := c.Wrap([]byte("first request"))
	require.NoError(t, err)
	_, err = s.Unwrap(h, d)
	assert.ErrorIs(t, err, gss.ErrIntegrity, "without the reset the server cannot open the first message")
}

func TestNTLMInSPNEGOWrongPassword(t *testing.T) {
	c, err := NewClient(ntlmClientMech(t, "Hunter2-bad"))
	require.NoError(t, err)
	s, err := NewServer(ntlmServerMech(t))
	require.NoError(t, err)
	_, err = handshake(t, c, s, nil)
	assert.ErrorIs(t, err, gss.ErrAuthFailed)
	assert.NotContains(t, err.Error(), "Hunter2-bad")
	assert.NotContains(t, err.Error(), testPassword)
	assert.False(t, s.Established())
}

// Windows' order: Kerberos cannot start (no KDC, an IP address), so the
// client falls back to NTLM; the server offers both and picks NTLM.
func TestKerberosFallbackToNTLM(t *testing.T) {
	krb := newFakeInitiator(fakeOpts{name: "krb", rounds: 1, mutual: true, failStart: errNoKDC})
	c, err := NewClient(ClientMech{OID: oidKerberosMS, Initiator: krb}, ntlmClientMech(t, testPassword))
	require.NoError(t, err)
	s, err := NewServer(acceptMech(oidKerberos, krbLike, nil), acceptMech(oidKerberosMS, krbLike, nil), ntlmServerMech(t))
	require.NoError(t, err)
	ex, err := handshake(t, c, s, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, krb.steps)
	init := mustInit(t, ex.toServer[0])
	assert.Len(t, init.mechTypes, 1)
	assert.True(t, s.Mech().Equal(ntlm.OID))
	checkWrap(t, c, s)
}

// The server prefers nothing: an initiator listing Kerberos first with an
// optimistic token gets NTLM with request-mic, and starts NTLM afresh.
func TestNTLMChosenAfterRefusedOptimisticToken(t *testing.T) {
	c, err := NewClient(ClientMech{OID: oidKerberos, Initiator: newFakeInitiator(krbLike)}, ntlmClientMech(t, testPassword))
	require.NoError(t, err)
	s, err := NewServer(ntlmServerMech(t))
	require.NoError(t, err)
	ex, err := handshake(t, c, s, nil)
	require.NoError(t, err)
	first := mustResp(t, ex.toClient[0])
	assert.Equal(t, stateRequestMIC, first.state)
	assert.Empty(t, first.responseToken)
	assert.True(t, bytes.HasPrefix(mustResp(t, ex.toServer[1]).responseToken, []byte("NTLMSSP\x00\x01")))
	checkWrap(t, c, s)
}

func benchmarkWrap(b *testing.B, size int) {
	c, err := NewClient(ntlmClientMech(b, testPassword))
	require.NoError(b, err)
	s, err := NewServer(ntlmServerMech(b))
	require.NoError(b, err)
	if _, err := handshake(b, c, s, nil); err != nil {
		b.Fatal(err)
	}
	msg := bytes.Repeat([]byte{'x'}, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		h, d, err := c.Wrap(msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Unwrap(h, d); err != nil {
			b.Fatal(err)
		}
	}
}

// The SPNEGO layer adds nothing to NTLM's Wrap and Unwrap but a branch.
func BenchmarkNTLMWrapUnwrap1K(b *testing.B)   { benchmarkWrap(b, 1<<10) }
func BenchmarkNTLMWrapUnwrap512K(b *testing.B) { benchmarkWrap(b, 512<<10) }

// CredSSP seals pubKeyAuth in the same message as the NTLM AUTHENTICATE,
// before the acceptor's final token: the client may Wrap once its side is
// complete and its mechListMIC signed, and the acceptor opens the message
// after taking that token. Unwrap still waits for the acceptor's MIC.
func TestWrapBeforeAcceptorsFinalToken(t *testing.T) {
	ctx := context.Background()
	c, err := NewClient(ntlmClientMech(t, testPassword))
	require.NoError(t, err)
	s, err := NewServer(ntlmServerMech(t))
	require.NoError(t, err)
	_, _, err = c.Wrap([]byte("too early"))
	require.ErrorIs(t, err, gss.ErrNotEstablished)

	tok, err := c.Step(ctx, nil) // NegTokenInit with NEGOTIATE
	require.NoError(t, err)
	tok, err = s.Step(ctx, tok) // CHALLENGE
	require.NoError(t, err)
	_, _, err = c.Wrap([]byte("still early"))
	require.ErrorIs(t, err, gss.ErrNotEstablished, "before AUTHENTICATE")
	tok, err = c.Step(ctx, tok) // AUTHENTICATE + our MIC
	require.NoError(t, err)
	require.False(t, c.Established())
	h, d, err := c.Wrap([]byte("pubKeyAuth"))
	require.NoError(t, err, "wrap with the AUTHENTICATE")
	_, err = c.Unwrap(h, d)
	require.ErrorIs(t, err, gss.ErrNotEstablished, "unwrap waits for the acceptor's MIC")

	final, err := s.Step(ctx, tok)
	require.NoError(t, err)
	plain, err := s.Unwrap(h, d)
	require.NoError(t, err)
	assert.Equal(t, "pubKeyAuth", string(plain))
	sh, sd, err := s.Wrap([]byte("answer"))
	require.NoError(t, err)
	_, err = c.Step(ctx, final)
	require.NoError(t, err)
	require.True(t, c.Established())
	plain, err = c.Unwrap(sh, sd)
	require.NoError(t, err)
	assert.Equal(t, "answer", string(plain))
}
