package kerberos

import (
	"context"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// fixedKey is a constant AES256 key so that fuzzed inputs are reproducible.
var fixedKey = types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: []byte("0123456789abcdef0123456789abcdef")}

func FuzzUnwrap(f *testing.F) {
	ini, acc := sealerPair(f, fixedKey, true)
	for _, msg := range []string{"", "x", "<s:Envelope/>", string(make([]byte, 100))} {
		h, d, _ := acc.Wrap([]byte(msg))
		f.Add(h, d)
	}
	acc.ec = windowsEC
	h, d, _ := acc.Wrap([]byte("windows layout"))
	f.Add(h, d)
	f.Add([]byte{0x05, 0x04, 0x07, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte{})
	f.Fuzz(func(t *testing.T, header, data []byte) {
		// A fresh receiver per input, expecting sequence 5000.
		recv, err := newSealer(fixedKey, false, true, ini.send.seq, 5000)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := recv.Unwrap(header, data)
		if err == nil && len(plain) > len(header)+len(data) {
			t.Fatalf("plaintext longer than the token")
		}
		_ = recv.VerifyMIC(data, header)
	})
}

// apReqSeed is a well-formed AP-REQ whose ticket no keytab decrypts.
func apReqSeed(f *testing.F) []byte {
	tkt := messages.Ticket{
		TktVNO: 5, Realm: "EXAMPLE.TEST",
		SName:   types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "HTTP/localhost"),
		EncPart: types.EncryptedData{EType: etypeID.AES256_CTS_HMAC_SHA1_96, KVNO: 2, Cipher: make([]byte, 64)},
	}
	auth, _ := types.NewAuthenticator("EXAMPLE.TEST", types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice"))
	auth.Cksum = types.Checksum{CksumType: checksumType, Checksum: (&gssChecksum{Flags: flagMutual}).marshal()}
	req, err := messages.NewAPReq(tkt, fixedKey, auth)
	if err != nil {
		f.Fatal(err)
	}
	b, err := req.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	return marshalToken(tokAPReq, b)
}

func FuzzServerStep(f *testing.F) {
	f.Add(apReqSeed(f))
	f.Add(marshalToken(tokAPReq, []byte{0x6e, 0x03, 0x30, 0x01, 0x00}))
	f.Add([]byte{0x60, 0x84, 0xff, 0xff, 0xff, 0xff})
	kt := keytab.New()
	f.Fuzz(func(t *testing.T, tok []byte) {
		s, err := NewServer(ServerConfig{Keytab: kt})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Step(context.Background(), tok); err == nil {
			t.Fatal("an empty keytab accepted a token")
		}
	})
}

func FuzzClientAPRep(f *testing.F) {
	now := time.Now().UTC().Truncate(time.Second)
	rep, err := marshalAPRep(fixedKey, messages.EncAPRepPart{CTime: now, Cusec: 7, Subkey: fixedKey, SequenceNumber: 99})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(marshalToken(tokAPRep, rep))
	ke := messages.NewKRBError(types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "HTTP/localhost"), "EXAMPLE.TEST", 37, "skew")
	kb, _ := ke.Marshal()
	f.Add(marshalToken(tokKRBError, kb))
	f.Fuzz(func(t *testing.T, tok []byte) {
		c := &Client{state: clientWaitAPRep, sessionKey: fixedKey, subkey: fixedKey, ctime: now, cusec: 7}
		if _, err := c.Step(context.Background(), tok); err == nil && !c.ServerAuthenticated() {
			t.Fatal("established without authenticating the server")
		}
	})
}
