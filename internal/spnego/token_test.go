package spnego

import (
	"bytes"
	"context"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	oidKerberos   = asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2}
	oidKerberosMS = asn1.ObjectIdentifier{1, 2, 840, 48018, 1, 2, 2}
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// Hand-assembled DER (RFC 4178 4.2, X.690), checked against pyspnego's
// packer:
//
//	60 23                         [APPLICATION 0] InitialContextToken
//	  06 06 2b0601050502          thisMech 1.3.6.1.5.5.2
//	  a0 19                       NegotiationToken [0] negTokenInit
//	    30 17                     NegTokenInit SEQUENCE
//	      a0 0e 30 0c             mechTypes [0] SEQUENCE OF
//	        06 0a 2b06010401823702020a   1.3.6.1.4.1.311.2.2.10 (NTLM)
//	      a2 05 04 03 616263      mechToken [2] OCTET STRING "abc"
const (
	vecInitNTLM = "602306062b0601050502a0193017a00e300c060a2b06010401823702020aa2050403616263"
	// Kerberos (MS), Kerberos, NTLM: Windows' own order.
	vecInitThree = "603906062b0601050502a02f302da024302206092a864882f71201020206092a864886f712010202060a2b06010401823702020aa2050403616263"
	//	a1 1b 30 19
	//	  a0 03 0a 01 01                        negState accept-incomplete
	//	  a1 0c 06 0a 2b06010401823702020a      supportedMech NTLM
	//	  a2 04 04 02 7879                      responseToken "xy"
	vecRespNTLM = "a11b3019a0030a0101a10c060a2b06010401823702020aa20404027879"
	// accept-completed alone: the "oQcwBaADCgEA" Windows sends last.
	vecRespDone = "a1073005a0030a0100"
)

func TestMarshalNegTokenInit(t *testing.T) {
	der, err := marshalMechTypes([]asn1.ObjectIdentifier{ntlmOID})
	require.NoError(t, err)
	assert.Equal(t, "300c060a2b06010401823702020a", hex.EncodeToString(der))
	tok, err := (&negTokenInit{mechTypesDER: der, mechToken: []byte("abc")}).marshal()
	require.NoError(t, err)
	assert.Equal(t, vecInitNTLM, hex.EncodeToString(tok))

	der, err = marshalMechTypes([]asn1.ObjectIdentifier{oidKerberosMS, oidKerberos, ntlmOID})
	require.NoError(t, err)
	tok, err = (&negTokenInit{mechTypesDER: der, mechToken: []byte("abc")}).marshal()
	require.NoError(t, err)
	assert.Equal(t, vecInitThree, hex.EncodeToString(tok))
}

func TestMarshalNegTokenResp(t *testing.T) {
	tok, err := (&negTokenResp{state: stateAcceptIncomplete, supportedMech: ntlmOID, responseToken: []byte("xy")}).marshal()
	require.NoError(t, err)
	assert.Equal(t, vecRespNTLM, hex.EncodeToString(tok))

	tok, err = (&negTokenResp{state: stateAcceptCompleted}).marshal()
	require.NoError(t, err)
	assert.Equal(t, vecRespDone, hex.EncodeToString(tok))
	assert.Equal(t, "oQcwBaADCgEA", base64.StdEncoding.EncodeToString(tok))

	// No negState at all (stateAbsent): an empty SEQUENCE.
	tok, err = (&negTokenResp{state: stateAbsent}).marshal()
	require.NoError(t, err)
	assert.Equal(t, "a1023000", hex.EncodeToString(tok))
}

func TestParseVectors(t *testing.T) {
	init, resp, err := parseToken(unhex(t, vecInitThree))
	require.NoError(t, err)
	require.Nil(t, resp)
	assert.Equal(t, []asn1.ObjectIdentifier{oidKerberosMS, oidKerberos, ntlmOID}, init.mechTypes)
	assert.Equal(t, "abc", string(init.mechToken))
	assert.Equal(t, unhex(t, vecInitThree)[16:16+36], init.mechTypesDER, "the MechTypeList exactly as received")

	_, resp, err = parseToken(unhex(t, vecRespNTLM))
	require.NoError(t, err)
	assert.Equal(t, stateAcceptIncomplete, resp.state)
	assert.True(t, resp.supportedMech.Equal(ntlmOID))
	assert.Equal(t, "xy", string(resp.responseToken))

	// The shape of Windows' final NTLM answer: accept-completed and a
	// 16-byte NTLM signature (version 1) as mechListMIC.
	final := unhex(t, "a11b3019a0030a0100a312041001000000010203040506070800000000")
	_, resp, err = parseToken(final)
	require.NoError(t, err)
	assert.Equal(t, stateAcceptCompleted, resp.state)
	assert.Equal(t, unhex(t, "01000000010203040506070800000000"), resp.mechListMIC)

	// NegTokenInit2 (MS-SPNG 2.2.1): negHints at [3], mechListMIC at [4].
	init2 := "6033" + "06062b0601050502" + "a029" + "3027" +
		"a00e300c060a2b06010401823702020a" +
		"a30f300da00b1b096e6f745f646566696e" + // negHints { hintName "not_defin" }
		"a4040402abcd"
	init, _, err = parseToken(unhex(t, init2))
	require.NoError(t, err)
	assert.Equal(t, []byte{0xab, 0xcd}, init.mechListMIC)
	assert.Empty(t, init.mechToken)

	// A mechListMIC at [3] in a plain NegTokenInit.
	withMIC := "6027" + "06062b0601050502" + "a01d" + "301b" +
		"a00e300c060a2b06010401823702020a" + "a2030401aa" + "a3040402abcd"
	init, _, err = parseToken(unhex(t, withMIC))
	require.NoError(t, err)
	assert.Equal(t, []byte{0xab, 0xcd}, init.mechListMIC)
	assert.Equal(t, []byte{0xaa}, init.mechToken)
}

func TestIsToken(t *testing.T) {
	for name, tc := range map[string]struct {
		tok  string
		want bool
	}{
		"NegTokenInit":   {vecInitNTLM, true},
		"NegTokenResp":   {vecRespNTLM, true},
		"accept-done":    {vecRespDone, true},
		"raw NTLM":       {hex.EncodeToString([]byte("NTLMSSP\x00\x01\x00\x00\x00")), false},
		"raw Kerberos":   {"601006092a864886f71201020201006e00", false},
		"empty":          {"", false},
		"truncated init": {vecInitNTLM[:20], false},
		"trailing bytes": {vecRespDone + "00", false},
		"bare [0]":       {"a0023000", false},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, IsToken(unhex(t, tc.tok)))
		})
	}
}

// replaceOnce substitutes a hex fragment of a vector.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	require.Contains(t, s, old)
	return string(bytes.Replace([]byte(s), []byte(old), []byte(new), 1))
}

func TestMalformedTokens(t *testing.T) {
	many := bytes.Repeat(unhex(t, "060a2b06010401823702020a"), maxMechTypes+1)
	manyTypes, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: many})
	require.NoError(t, err)
	tooMany, err := (&negTokenInit{mechTypesDER: manyTypes}).marshal()
	require.NoError(t, err)

	for name, tok := range map[string][]byte{
		"empty":                 nil,
		"one byte":              {0x60},
		"truncated init":        unhex(t, vecInitNTLM)[:30],
		"truncated resp":        unhex(t, vecRespNTLM)[:10],
		"trailing byte":         append(unhex(t, vecRespNTLM), 0),
		"trailing in framing":   unhex(t, "602406062b0601050502a0193017a00e300c060a2b06010401823702020aa205040361626300"),
		"Kerberos framing":      unhex(t, "601006092a864886f71201020201006e00"),
		"resp in init framing":  unhex(t, replaceOnce(t, vecInitNTLM, "a019", "a119")),
		"bare NegTokenInit":     unhex(t, vecInitNTLM)[10:],
		"not a sequence":        unhex(t, "a1073105a0030a0100"),
		"negState 4":            unhex(t, "a1073005a0030a0104"),
		"negState as INTEGER":   unhex(t, "a1073005a003020101"),
		"negState too long":     unhex(t, "a10b3009a0070a050100000000"),
		"fields out of order":   unhex(t, "a10c300aa2030401aaa0030a0101"),
		"duplicate field":       unhex(t, "a10c300aa0030a0101a0030a0101"),
		"implicit field":        unhex(t, "a10730058003040161"),
		"token not octets":      unhex(t, "a1073005a2030c0161"),
		"supportedMech junk":    unhex(t, "a1073005a103040161"),
		"empty mechTypes":       unhex(t, "601006062b0601050502a0063004a0023000"),
		"mechTypes not OIDs":    unhex(t, replaceOnce(t, vecInitNTLM, "060a2b", "040a2b")),
		"no mechTypes":          unhex(t, "601306062b0601050502a0093007a2050403616263"),
		"mechToken not octets":  unhex(t, replaceOnce(t, vecInitNTLM, "a2050403", "a2050c03")),
		"too many mechTypes":    tooMany,
		"indefinite length":     unhex(t, "a180300080"),
		"non-minimal length":    unhex(t, "a181073005a0030a0100"),
		"field with two values": unhex(t, "a10a3008a0060a01010a0101"),
		"oversized":             append(unhex(t, "a1840004000030840003fffa"), make([]byte, maxTokenLen)...),
		"both [3] and [4] MIC":  unhex(t, "602806062b0601050502a01e301c"+"a00e300c060a2b06010401823702020aa3040402abcda4040402abcd"),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := parseToken(tok)
			require.Error(t, err)
			assert.ErrorIs(t, err, gss.ErrBadToken)

			// The same bytes fail a fresh server (as a first token) and a
			// client waiting for an answer, without a panic.
			s, err := NewServer(acceptMech(ntlmOID, ntlmLike, nil))
			require.NoError(t, err)
			_, err = s.Step(context.Background(), tok)
			assert.ErrorIs(t, err, gss.ErrBadToken)
			assert.False(t, s.Established())

			c, err := NewClient(ClientMech{ntlmOID, newFakeInitiator(ntlmLike)})
			require.NoError(t, err)
			_, err = c.Step(context.Background(), nil)
			require.NoError(t, err)
			_, err = c.Step(context.Background(), tok)
			assert.ErrorIs(t, err, gss.ErrBadToken)
			assert.False(t, c.Established())
		})
	}
}

// Tokens that parse but make no sense at that point of the exchange.
func TestOutOfPlaceTokens(t *testing.T) {
	ctx := context.Background()
	resp := func(r negTokenResp) []byte {
		b, err := r.marshal()
		require.NoError(t, err)
		return b
	}
	started := func(t *testing.T) *Client {
		c, err := NewClient(ClientMech{oidFakeKrb, newFakeInitiator(krbLike)}, ClientMech{oidFakeX, newFakeInitiator(xLike)})
		require.NoError(t, err)
		_, err = c.Step(ctx, nil)
		require.NoError(t, err)
		return c
	}
	for name, tc := range map[string]struct {
		tok  []byte
		want error
	}{
		"NegTokenInit to the client": {unhex(t, vecInitNTLM), gss.ErrBadToken},
		"unoffered supportedMech":    {resp(negTokenResp{state: stateAcceptIncomplete, supportedMech: oidUnknown}), gss.ErrUnsupported},
		"completed without token":    {resp(negTokenResp{state: stateAcceptCompleted, supportedMech: oidFakeKrb}), gss.ErrBadToken},
		"token for unstarted mech":   {resp(negTokenResp{state: stateAcceptIncomplete, supportedMech: oidFakeX, responseToken: []byte("x")}), gss.ErrBadToken},
		"wrong mechanism token":      {resp(negTokenResp{state: stateAcceptCompleted, supportedMech: oidFakeKrb, responseToken: []byte("bogus")}), gss.ErrBadToken},
		"empty answer":               {nil, gss.ErrBadToken},
	} {
		t.Run(name, func(t *testing.T) {
			c := started(t)
			_, err := c.Step(ctx, tc.tok)
			assert.ErrorIs(t, err, tc.want)
			assert.False(t, c.Established())
		})
	}

	t.Run("token before NegTokenInit", func(t *testing.T) {
		c, err := NewClient(ClientMech{oidFakeKrb, newFakeInitiator(krbLike)})
		require.NoError(t, err)
		_, err = c.Step(ctx, unhex(t, vecRespDone))
		assert.ErrorIs(t, err, gss.ErrBadToken)
	})
	t.Run("supportedMech changes", func(t *testing.T) {
		c := started(t)
		_, err := c.Step(ctx, resp(negTokenResp{state: stateRequestMIC, supportedMech: oidFakeX}))
		require.NoError(t, err)
		_, err = c.Step(ctx, resp(negTokenResp{state: stateAcceptIncomplete, supportedMech: oidFakeKrb, responseToken: []byte("x-A0")}))
		assert.ErrorIs(t, err, gss.ErrBadToken)
	})
	t.Run("trailing token after establishment", func(t *testing.T) {
		c, _ := NewClient(ClientMech{oidFakeKrb, newFakeInitiator(krbLike)})
		s, _ := NewServer(acceptMech(oidFakeKrb, krbLike, nil))
		_, err := handshake(t, c, s, nil)
		require.NoError(t, err)
		out, err := c.Step(ctx, unhex(t, vecRespDone))
		require.NoError(t, err, "a bare accept-completed is harmless")
		assert.Empty(t, out)
		_, err = c.Step(ctx, resp(negTokenResp{state: stateAcceptIncomplete, responseToken: []byte("more")}))
		assert.ErrorIs(t, err, gss.ErrBadToken)
		_, err = s.Step(ctx, unhex(t, vecRespDone))
		assert.ErrorIs(t, err, gss.ErrBadToken)
	})
	t.Run("server: NegTokenResp first", func(t *testing.T) {
		s, _ := NewServer(acceptMech(oidFakeKrb, krbLike, nil))
		_, err := s.Step(ctx, unhex(t, vecRespDone))
		assert.ErrorIs(t, err, gss.ErrBadToken)
	})
	t.Run("server: second NegTokenInit", func(t *testing.T) {
		s, _ := NewServer(acceptMech(ntlmOID, ntlmLike, nil))
		_, err := s.Step(ctx, unhex(t, replaceOnce(t, vecInitNTLM, "616263", hex.EncodeToString([]byte("ntl")))))
		assert.ErrorIs(t, err, gss.ErrBadToken, "wrong fake token")
		s, _ = NewServer(acceptMech(oidFakeX, xLike, nil))
		c, _ := NewClient(ClientMech{oidFakeX, newFakeInitiator(xLike)})
		init, err := c.Step(ctx, nil)
		require.NoError(t, err)
		_, err = s.Step(ctx, init)
		require.NoError(t, err)
		_, err = s.Step(ctx, init)
		assert.ErrorIs(t, err, gss.ErrBadToken)
	})
	t.Run("server: initiator reject", func(t *testing.T) {
		s, _ := NewServer(acceptMech(oidFakeX, xLike, nil))
		c, _ := NewClient(ClientMech{oidFakeX, newFakeInitiator(xLike)})
		init, _ := c.Step(ctx, nil)
		_, err := s.Step(ctx, init)
		require.NoError(t, err)
		_, err = s.Step(ctx, resp(negTokenResp{state: stateReject}))
		assert.ErrorIs(t, err, gss.ErrAuthFailed)
	})
	t.Run("server: no token while incomplete", func(t *testing.T) {
		s, _ := NewServer(acceptMech(oidFakeX, xLike, nil))
		c, _ := NewClient(ClientMech{oidFakeX, newFakeInitiator(xLike)})
		init, _ := c.Step(ctx, nil)
		_, err := s.Step(ctx, init)
		require.NoError(t, err)
		_, err = s.Step(ctx, resp(negTokenResp{state: stateAcceptIncomplete}))
		assert.ErrorIs(t, err, gss.ErrBadToken)
	})
	t.Run("server: other supportedMech", func(t *testing.T) {
		s, _ := NewServer(acceptMech(oidFakeX, xLike, nil))
		c, _ := NewClient(ClientMech{oidFakeX, newFakeInitiator(xLike)})
		init, _ := c.Step(ctx, nil)
		_, err := s.Step(ctx, init)
		require.NoError(t, err)
		_, err = s.Step(ctx, resp(negTokenResp{supportedMech: oidUnknown, responseToken: []byte("x-I1")}))
		assert.ErrorIs(t, err, gss.ErrBadToken)
	})
}

// The mechListMIC == responseToken quirk of old acceptors is ignored
// rather than verified (pyspnego does the same).
func TestMICEqualToTokenIgnored(t *testing.T) {
	ctx := context.Background()
	c, err := NewClient(ClientMech{oidFakeKrb, newFakeInitiator(krbLike)})
	require.NoError(t, err)
	_, err = c.Step(ctx, nil)
	require.NoError(t, err)
	tok, err := (&negTokenResp{state: stateAcceptCompleted, supportedMech: oidFakeKrb,
		responseToken: []byte("krb-A0"), mechListMIC: []byte("krb-A0")}).marshal()
	require.NoError(t, err)
	out, err := c.Step(ctx, tok)
	require.NoError(t, err)
	assert.Empty(t, out)
	assert.True(t, c.Established())
}
