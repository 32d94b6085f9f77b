package kerberos

import (
	"fmt"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// DelegatedCredential is a ticket the initiator forwarded in its AP-REQ
// (GSS_C_DELEG_FLAG): normally a forwarded TGT (krbtgt/REALM) of the user,
// with which the acceptor can get service tickets in the user's name. Its
// String and GoString never show the session key.
type DelegatedCredential struct {
	// Ticket is the forwarded ticket, encrypted for its service (the KDC).
	Ticket messages.Ticket
	// SessionKey is the ticket's session key. It is a secret.
	SessionKey types.EncryptionKey
	// Client and ClientRealm name the user the ticket was issued to.
	Client      types.PrincipalName
	ClientRealm string
	// Flags are the ticket's flags (RFC 4120 TicketFlags), as the
	// initiator reported them.
	Flags asn1.BitString
	// AuthTime, StartTime, EndTime and RenewTill are the ticket's times
	// as reported; zero when absent.
	AuthTime, StartTime, EndTime, RenewTill time.Time
}

// IsTGT reports whether the ticket is a ticket-granting ticket.
func (d DelegatedCredential) IsTGT() bool {
	return len(d.Ticket.SName.NameString) == 2 && d.Ticket.SName.NameString[0] == "krbtgt"
}

// Forwarded reports whether the KDC marked the ticket FORWARDED.
func (d DelegatedCredential) Forwarded() bool {
	return types.IsFlagSet(&d.Flags, flags.Forwarded)
}

// String describes the credential without its key.
func (d DelegatedCredential) String() string {
	return fmt.Sprintf("delegated ticket for %s@%s, service %s@%s, ends %s",
		strings.Join(d.Client.NameString, "/"), d.ClientRealm,
		strings.Join(d.Ticket.SName.NameString, "/"), d.Ticket.Realm,
		d.EndTime.Format(time.RFC3339))
}

// GoString is String, so that %#v shows no key either.
func (d DelegatedCredential) GoString() string { return d.String() }

// krbCred is KRB-CRED (RFC 4120 5.8.1) for both directions. The tickets
// ([2] SEQUENCE OF Ticket) stay raw: encoding/asn1 cannot decode a SEQUENCE
// OF application-tagged elements, and it takes and writes a RawValue as
// the whole element, ignoring tags given in the field's asn1 tag, so the
// [2] wrapper is part of the raw value and ticketSequence checks it.
type krbCred struct {
	PVNO    int `asn1:"explicit,tag:0"`
	MsgType int `asn1:"explicit,tag:1"`
	Tickets asn1.RawValue
	EncPart types.EncryptedData `asn1:"explicit,tag:3"`
}

// encKrbCredPart is EncKrbCredPart (RFC 4120 5.8.1).
type encKrbCredPart struct {
	TicketInfo []krbCredInfo     `asn1:"explicit,tag:0"`
	Nonce      int64             `asn1:"optional,explicit,tag:1"`
	Timestamp  time.Time         `asn1:"generalized,optional,explicit,tag:2"`
	Usec       int               `asn1:"optional,explicit,tag:3"`
	SAddress   types.HostAddress `asn1:"optional,explicit,tag:4"`
	RAddress   types.HostAddress `asn1:"optional,explicit,tag:5"`
}

// krbCredInfo is KrbCredInfo with the realms as GeneralString, which
// gokrb5's own type gets wrong for srealm (MIT checks the tag).
type krbCredInfo struct {
	Key       types.EncryptionKey `asn1:"explicit,tag:0"`
	PRealm    string              `asn1:"generalstring,optional,explicit,tag:1"`
	PName     types.PrincipalName `asn1:"optional,explicit,tag:2"`
	Flags     asn1.BitString      `asn1:"optional,explicit,tag:3"`
	AuthTime  time.Time           `asn1:"generalized,optional,explicit,tag:4"`
	StartTime time.Time           `asn1:"generalized,optional,explicit,tag:5"`
	EndTime   time.Time           `asn1:"generalized,optional,explicit,tag:6"`
	RenewTill time.Time           `asn1:"generalized,optional,explicit,tag:7"`
	SRealm    string              `asn1:"generalstring,optional,explicit,tag:8"`
	SName     types.PrincipalName `asn1:"optional,explicit,tag:9"`
	CAddr     types.HostAddresses `asn1:"optional,explicit,tag:10"`
}

// maxDelegatedTickets bounds the tickets of one KRB-CRED; GSS-API
// delegation sends one.
const maxDelegatedTickets = 4

// marshalKRBCred encodes a KRB-CRED carrying one ticket and its key, its
// EncKrbCredPart encrypted with key under key usage 14. Like MIT and
// Windows, the part has no timestamp or nonce: the AP-REQ's authenticator
// already protects against replay.
func marshalKRBCred(tkt messages.Ticket, info messages.EncKDCRepPart, crealm string, cname types.PrincipalName, key types.EncryptionKey) ([]byte, error) {
	tb, err := tkt.Marshal()
	if err != nil {
		return nil, fmt.Errorf("kerberos: KRB-CRED ticket: %w", err)
	}
	part := encKrbCredPart{TicketInfo: []krbCredInfo{{
		Key:       info.Key,
		PRealm:    crealm,
		PName:     cname,
		Flags:     info.Flags,
		AuthTime:  info.AuthTime.UTC(),
		StartTime: info.StartTime.UTC(),
		EndTime:   info.EndTime.UTC(),
		RenewTill: info.RenewTill.UTC(),
		SRealm:    tkt.Realm,
		SName:     tkt.SName,
	}}}
	ed, err := encryptPart(part, asnAppTag.EncKrbCredPart, key, keyusage.KRB_CRED_ENCPART)
	if err != nil {
		return nil, fmt.Errorf("kerberos: KRB-CRED: %w", err)
	}
	seq, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: tb})
	if err != nil {
		return nil, fmt.Errorf("kerberos: KRB-CRED: %w", err)
	}
	cred := krbCred{
		PVNO:    iana.PVNO,
		MsgType: msgtype.KRB_CRED,
		Tickets: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, IsCompound: true, Bytes: seq},
		EncPart: ed,
	}
	b, err := marshalApp(cred, asnAppTag.KRBCred)
	if err != nil {
		return nil, fmt.Errorf("kerberos: KRB-CRED: %w", err)
	}
	return b, nil
}

// parseKRBCred decodes a KRB-CRED from the authenticator checksum and
// decrypts it with the first of keys that works (the ticket's session key,
// as MIT and Windows encrypt it, then the initiator's subkey). The first
// ticket is the delegated credential.
func parseKRBCred(b []byte, keys ...types.EncryptionKey) (*DelegatedCredential, error) {
	var cred krbCred
	rest, err := asn1.UnmarshalWithParams(b, &cred, fmt.Sprintf("application,explicit,tag:%d", asnAppTag.KRBCred))
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("kerberos: accept: delegated KRB-CRED malformed: %w", gss.ErrBadToken)
	}
	if cred.PVNO != iana.PVNO || cred.MsgType != msgtype.KRB_CRED {
		return nil, fmt.Errorf("kerberos: accept: delegated credentials are not a KRB-CRED (pvno %d, msg-type %d): %w", cred.PVNO, cred.MsgType, gss.ErrBadToken)
	}
	tickets, err := ticketSequence(cred.Tickets)
	if err != nil {
		return nil, err
	}
	var tkt messages.Ticket
	if err := tkt.Unmarshal(tickets[0]); err != nil || len(tkt.SName.NameString) == 0 {
		return nil, fmt.Errorf("kerberos: accept: delegated KRB-CRED ticket malformed: %w", gss.ErrBadToken)
	}
	if !sealedLongEnough(cred.EncPart) {
		return nil, fmt.Errorf("kerberos: accept: delegated KRB-CRED encrypted part too short: %w", gss.ErrBadToken)
	}
	var plain []byte
	for _, k := range keys {
		if k.KeyType == 0 {
			continue
		}
		if plain, err = crypto.DecryptEncPart(cred.EncPart, k, keyusage.KRB_CRED_ENCPART); err == nil {
			break
		}
	}
	if plain == nil {
		return nil, fmt.Errorf("kerberos: accept: delegated KRB-CRED does not decrypt with the session key or subkey: %w", gss.ErrIntegrity)
	}
	info, err := parseEncKrbCredPart(plain, len(tickets))
	if err != nil {
		return nil, err
	}
	return &DelegatedCredential{
		Ticket:      tkt,
		SessionKey:  info.Key,
		Client:      info.PName,
		ClientRealm: info.PRealm,
		Flags:       info.Flags,
		AuthTime:    info.AuthTime,
		StartTime:   info.StartTime,
		EndTime:     info.EndTime,
		RenewTill:   info.RenewTill,
	}, nil
}

// parseEncKrbCredPart decodes the decrypted part of a KRB-CRED carrying
// ntickets tickets and returns the first ticket's information.
func parseEncKrbCredPart(plain []byte, ntickets int) (krbCredInfo, error) {
	var part encKrbCredPart
	rest, err := asn1.UnmarshalWithParams(plain, &part, fmt.Sprintf("application,explicit,tag:%d", asnAppTag.EncKrbCredPart))
	if err != nil || len(rest) != 0 {
		return krbCredInfo{}, fmt.Errorf("kerberos: accept: delegated KRB-CRED encrypted part malformed: %w", gss.ErrBadToken)
	}
	if len(part.TicketInfo) != ntickets {
		return krbCredInfo{}, fmt.Errorf("kerberos: accept: delegated KRB-CRED has %d tickets but %d ticket infos: %w", ntickets, len(part.TicketInfo), gss.ErrBadToken)
	}
	info := part.TicketInfo[0]
	if _, err := crypto.GetEtype(info.Key.KeyType); err != nil || len(info.Key.KeyValue) == 0 {
		return krbCredInfo{}, fmt.Errorf("kerberos: accept: delegated ticket's key type %d: %w", info.Key.KeyType, gss.ErrUnsupported)
	}
	return info, nil
}

// ticketSequence splits the tickets field, [2] SEQUENCE OF Ticket, into
// the tickets' encodings: between 1 and maxDelegatedTickets of them.
func ticketSequence(field asn1.RawValue) ([][]byte, error) {
	var seq asn1.RawValue
	if field.Class != asn1.ClassContextSpecific || field.Tag != 2 || !field.IsCompound {
		return nil, fmt.Errorf("kerberos: accept: delegated KRB-CRED has no tickets field: %w", gss.ErrBadToken)
	}
	if rest, err := asn1.Unmarshal(field.Bytes, &seq); err != nil || len(rest) != 0 ||
		seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return nil, fmt.Errorf("kerberos: accept: delegated KRB-CRED tickets are not a SEQUENCE: %w", gss.ErrBadToken)
	}
	var out [][]byte
	for rest := seq.Bytes; len(rest) > 0; {
		if len(out) == maxDelegatedTickets {
			return nil, fmt.Errorf("kerberos: accept: delegated KRB-CRED has more than %d tickets: %w", maxDelegatedTickets, gss.ErrBadToken)
		}
		var raw asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &raw); err != nil || raw.Class != asn1.ClassApplication || raw.Tag != asnAppTag.Ticket {
			return nil, fmt.Errorf("kerberos: accept: delegated KRB-CRED ticket malformed: %w", gss.ErrBadToken)
		}
		out = append(out, raw.FullBytes)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("kerberos: accept: delegated KRB-CRED has no ticket: %w", gss.ErrBadToken)
	}
	return out, nil
}

// minSealedLen is the largest confounder plus checksum of the etypes gokrb5
// decrypts (aes256-cts-hmac-sha384-192: 16 + 24). gokrb5 slices shorter
// ciphertexts out of range and panics; every real ticket, authenticator
// and KRB-CRED part is far longer.
const minSealedLen = 40

// sealedLongEnough reports whether ed may be handed to gokrb5's decryption.
func sealedLongEnough(ed types.EncryptedData) bool { return len(ed.Cipher) >= minSealedLen }
