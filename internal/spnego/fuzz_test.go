package spnego

import (
	"bytes"
	"context"
	"encoding/hex"
	"testing"
)

func fuzzSeeds(f *testing.F) {
	for _, h := range []string{vecInitNTLM, vecInitThree, vecRespNTLM, vecRespDone,
		"a11b3019a0030a0100a312041001000000010203040506070800000000",
		"603306062b0601050502a0293027a00e300c060a2b06010401823702020aa30f300da00b1b096e6f745f646566696ea4040402abcd",
	} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Add([]byte("NTLMSSP\x00\x01\x00\x00\x00"))
}

// FuzzParseToken: whatever parses re-encodes to a token that parses to
// the same fields.
func FuzzParseToken(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		init, resp, err := parseToken(b)
		if err != nil {
			return
		}
		if !IsToken(b) {
			t.Fatalf("parses but IsToken is false: %x", b)
		}
		switch {
		case init != nil:
			out, err := init.marshal()
			if err != nil {
				t.Fatal(err)
			}
			again, _, err := parseToken(out)
			if err != nil {
				t.Fatalf("re-encoded NegTokenInit does not parse: %v", err)
			}
			if !bytes.Equal(again.mechTypesDER, init.mechTypesDER) || !bytes.Equal(again.mechToken, init.mechToken) ||
				!bytes.Equal(again.mechListMIC, init.mechListMIC) || len(again.mechTypes) != len(init.mechTypes) {
				t.Fatalf("NegTokenInit round trip differs: %+v vs %+v", again, init)
			}
		case resp != nil:
			out, err := resp.marshal()
			if err != nil {
				t.Fatal(err)
			}
			_, again, err := parseToken(out)
			if err != nil {
				t.Fatalf("re-encoded NegTokenResp does not parse: %v", err)
			}
			if again.state != resp.state || !again.supportedMech.Equal(resp.supportedMech) ||
				!bytes.Equal(again.responseToken, resp.responseToken) || !bytes.Equal(again.mechListMIC, resp.mechListMIC) {
				t.Fatalf("NegTokenResp round trip differs: %+v vs %+v", again, resp)
			}
		default:
			t.Fatal("no error and no token")
		}
	})
}

// FuzzServerStep feeds arbitrary first tokens to an acceptor.
func FuzzServerStep(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := NewServer(acceptMech(oidFakeKrb, krbLike, nil), acceptMech(ntlmOID, ntlmLike, nil))
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Step(context.Background(), b)
		if err != nil {
			if s.Established() {
				t.Fatal("established after an error")
			}
			return
		}
		if _, resp, err := parseToken(out); err != nil || resp == nil {
			t.Fatalf("server answered with an unparsable token %x: %v", out, err)
		}
	})
}

// FuzzClientStep feeds arbitrary answers to an initiator that sent its
// NegTokenInit.
func FuzzClientStep(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := NewClient(ClientMech{oidFakeKrb, newFakeInitiator(krbLike)}, ClientMech{ntlmOID, newFakeInitiator(ntlmLike)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Step(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		out, err := c.Step(context.Background(), b)
		if err != nil {
			if c.Established() {
				t.Fatal("established after an error")
			}
			return
		}
		if len(out) > 0 {
			if _, resp, err := parseToken(out); err != nil || resp == nil {
				t.Fatalf("client answered with an unparsable token %x: %v", out, err)
			}
		}
	})
}
