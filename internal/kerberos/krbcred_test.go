package kerberos

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// tgtKey is the forwarded TGT's session key in these tests; it differs
// from fixedKey, the key the KRB-CRED is encrypted with.
var tgtKey = types.EncryptionKey{KeyType: etypeID.AES128_CTS_HMAC_SHA1_96, KeyValue: []byte("fedcba9876543210")}

var alice = types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice")

// krbCredSeed is a KRB-CRED for alice's forwarded TGT, encrypted with
// fixedKey; the ticket's own encryption is filler.
func krbCredSeed(tb testing.TB, client types.PrincipalName, key types.EncryptionKey) []byte {
	tb.Helper()
	tkt := messages.Ticket{
		TktVNO: 5, Realm: "EXAMPLE.TEST",
		SName:   types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/EXAMPLE.TEST"),
		EncPart: types.EncryptedData{EType: etypeID.AES256_CTS_HMAC_SHA1_96, KVNO: 1, Cipher: make([]byte, 48)},
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fl := types.NewKrbFlags()
	types.SetFlag(&fl, flags.Forwardable)
	types.SetFlag(&fl, flags.Forwarded)
	info := messages.EncKDCRepPart{Key: tgtKey, Flags: fl, AuthTime: now, StartTime: now, EndTime: now.Add(time.Hour)}
	b, err := marshalKRBCred(tkt, info, "EXAMPLE.TEST", client, key)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestKRBCredRoundTrip(t *testing.T) {
	auth := types.Authenticator{CName: alice, CRealm: "EXAMPLE.TEST"}
	b := krbCredSeed(t, alice, fixedKey)
	// Decrypted with the session key, or with the subkey when the first
	// key given does not fit.
	for _, keys := range [][]types.EncryptionKey{{fixedKey}, {tgtKey, fixedKey}} {
		d, err := parseKRBCred(b, keys...)
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsTGT() || !d.Forwarded() || d.ClientRealm != "EXAMPLE.TEST" || d.Client.PrincipalNameString() != "alice" {
			t.Fatalf("parsed %v", d)
		}
		if string(d.SessionKey.KeyValue) != string(tgtKey.KeyValue) || d.SessionKey.KeyType != tgtKey.KeyType {
			t.Fatal("session key not carried")
		}
		if !d.EndTime.Equal(time.Date(2026, 1, 2, 4, 4, 5, 0, time.UTC)) || !d.RenewTill.IsZero() {
			t.Fatalf("times %v %v", d.EndTime, d.RenewTill)
		}
		s := fmt.Sprintf("%v %+v %#v %s %v %+v %#v", d, d, d, d, *d, *d, *d)
		if strings.Contains(s, string(tgtKey.KeyValue)) || strings.Contains(s, fmt.Sprint(tgtKey.KeyValue)) {
			t.Fatalf("formatting shows the key: %s", s)
		}
	}
	if _, err := acceptDelegation(b, fixedKey, auth); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		in   []byte
		key  types.EncryptionKey
		auth types.Authenticator
		want error
	}{
		{"wrong key", b, tgtKey, auth, gss.ErrIntegrity},
		{"someone else's TGT", krbCredSeed(t, types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "bob"), fixedKey), fixedKey, auth, gss.ErrAuthFailed},
		{"empty", nil, fixedKey, auth, gss.ErrBadToken},
		{"truncated", b[:len(b)-1], fixedKey, auth, gss.ErrBadToken},
		{"trailing bytes", append(append([]byte{}, b...), 0), fixedKey, auth, gss.ErrBadToken},
		{"not a KRB-CRED", apReqBytes(t), fixedKey, auth, gss.ErrBadToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := acceptDelegation(tc.in, tc.key, tc.auth); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func apReqBytes(t *testing.T) []byte {
	auth, _ := types.NewAuthenticator("EXAMPLE.TEST", alice)
	req, err := messages.NewAPReq(messages.Ticket{TktVNO: 5, Realm: "EXAMPLE.TEST", SName: alice, EncPart: types.EncryptedData{EType: 18, Cipher: []byte{1}}}, fixedKey, auth)
	if err != nil {
		t.Fatal(err)
	}
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestChecksumDelegationField(t *testing.T) {
	cred := []byte{0x76, 0x01, 0x00}
	c := gssChecksum{Flags: flagDeleg | flagMutual, Deleg: cred}
	b := c.marshal()
	if len(b) != 28+len(cred) || b[24] != 1 || b[25] != 0 || b[26] != byte(len(cred)) || b[27] != 0 {
		t.Fatalf("checksum % x", b)
	}
	got, err := parseGSSChecksum(b)
	if err != nil || string(got.Deleg) != string(cred) || got.Flags != c.Flags {
		t.Fatalf("parsed %+v, %v", got, err)
	}
	b[24] = 2 // DlgOpt other than KRB-CRED
	if _, err := parseGSSChecksum(b); !errors.Is(err, gss.ErrBadToken) {
		t.Fatalf("DlgOpt 2: %v", err)
	}
	b[24] = 1
	if _, err := parseGSSChecksum(b[:len(b)-1]); !errors.Is(err, gss.ErrBadToken) {
		t.Fatalf("truncated Deleg: %v", err)
	}
}

func FuzzKRBCred(f *testing.F) {
	f.Add(krbCredSeed(f, alice, fixedKey))
	f.Add(krbCredSeed(f, alice, tgtKey))
	f.Add([]byte{0x76, 0x80})
	f.Add([]byte{0x76, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x30})
	auth := types.Authenticator{CName: alice, CRealm: "EXAMPLE.TEST", SubKey: tgtKey}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := acceptDelegation(b, fixedKey, auth)
		if err != nil {
			return
		}
		if d == nil || len(d.Ticket.SName.NameString) == 0 || len(d.SessionKey.KeyValue) == 0 {
			t.Fatalf("accepted an incomplete credential: %v", d)
		}
	})
}

// FuzzEncKrbCredPart reaches the decoder of the decrypted part, which
// FuzzKRBCred cannot get past the integrity check to.
func FuzzEncKrbCredPart(f *testing.F) {
	var cred krbCred
	if _, err := asn1.UnmarshalWithParams(krbCredSeed(f, alice, fixedKey), &cred, "application,explicit,tag:22"); err != nil {
		f.Fatal(err)
	}
	plain, err := crypto.DecryptEncPart(cred.EncPart, fixedKey, keyusage.KRB_CRED_ENCPART)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain, 1)
	f.Add(plain[:len(plain)/2], 1)
	f.Add([]byte{0x7d, 0x03, 0x30, 0x01, 0x00}, 1)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 1 || n > maxDelegatedTickets {
			n = 1
		}
		info, err := parseEncKrbCredPart(b, n)
		if err == nil && len(info.Key.KeyValue) == 0 {
			t.Fatal("accepted a ticket info without a key")
		}
	})
}
