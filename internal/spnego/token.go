package spnego

import (
	"encoding/asn1"
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// OID is the object identifier of SPNEGO (RFC 4178 3), the thisMech of
// the initiator's first token.
var OID = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 2}

// Bounds on what the peer may send. Windows caps a security token at
// 48000 bytes by default (MaxTokenSize, 65535 at most); a Kerberos ticket
// with a large PAC stays under that, so 256 KiB leaves room without letting
// the peer make us parse megabytes. Real mechTypes lists hold 2 to 4 OIDs.
const (
	maxTokenLen  = 256 << 10
	maxMechTypes = 32
)

// negState is the negState ENUMERATED of a NegTokenResp (RFC 4178 4.2.2).
type negState int

const (
	stateAbsent           negState = -1
	stateAcceptCompleted  negState = 0
	stateAcceptIncomplete negState = 1
	stateReject           negState = 2
	stateRequestMIC       negState = 3
)

func (s negState) String() string {
	switch s {
	case stateAbsent:
		return "absent"
	case stateAcceptCompleted:
		return "accept-completed"
	case stateAcceptIncomplete:
		return "accept-incomplete"
	case stateReject:
		return "reject"
	case stateRequestMIC:
		return "request-mic"
	}
	return fmt.Sprintf("negState(%d)", int(s))
}

// negTokenInit is the initiator's first token (RFC 4178 4.2.1). Parsing
// also accepts Microsoft's NegTokenInit2 (MS-SPNG 2.2.1), whose negHints
// take tag [3] and push the mechListMIC to [4]; reqFlags and negHints are
// ignored.
type negTokenInit struct {
	mechTypes []asn1.ObjectIdentifier
	// mechTypesDER is the MechTypeList as it travels: what the mechListMIC
	// of both sides signs.
	mechTypesDER []byte
	mechToken    []byte
	mechListMIC  []byte
}

// negTokenResp is every token after the first (RFC 4178 4.2.2).
type negTokenResp struct {
	state         negState
	supportedMech asn1.ObjectIdentifier
	responseToken []byte
	mechListMIC   []byte
}

// errBadToken wraps gss.ErrBadToken with what was wrong.
func errBadToken(format string, args ...any) error {
	return fmt.Errorf("spnego: %s: %w", fmt.Sprintf(format, args...), gss.ErrBadToken)
}

// marshalMechTypes returns the DER MechTypeList (SEQUENCE OF OBJECT
// IDENTIFIER).
func marshalMechTypes(oids []asn1.ObjectIdentifier) ([]byte, error) {
	b, err := asn1.Marshal(oids)
	if err != nil {
		return nil, fmt.Errorf("spnego: mechTypes: %w", err)
	}
	return b, nil
}

// tlv returns the DER encoding of one element with the given class and tag.
func tlv(class, tag int, compound bool, content []byte) ([]byte, error) {
	b, err := asn1.Marshal(asn1.RawValue{Class: class, Tag: tag, IsCompound: compound, Bytes: content})
	if err != nil {
		return nil, fmt.Errorf("spnego: encode: %w", err)
	}
	return b, nil
}

// explicitField appends the context-specific explicit tag [tag] around the
// DER element inner.
func explicitField(dst []byte, tag int, inner []byte) ([]byte, error) {
	f, err := tlv(asn1.ClassContextSpecific, tag, true, inner)
	if err != nil {
		return nil, err
	}
	return append(dst, f...), nil
}

// octetField appends [tag] OCTET STRING b.
func octetField(dst []byte, tag int, b []byte) ([]byte, error) {
	os, err := tlv(asn1.ClassUniversal, asn1.TagOctetString, false, b)
	if err != nil {
		return nil, err
	}
	return explicitField(dst, tag, os)
}

// marshal returns the token as sent: InitialContextToken framing (RFC 2743
// 3.1, [APPLICATION 0] with the SPNEGO OID) around NegotiationToken [0].
// The mechTypes are taken from mechTypesDER.
func (t *negTokenInit) marshal() ([]byte, error) {
	seq, err := explicitField(nil, 0, t.mechTypesDER)
	if err != nil {
		return nil, err
	}
	choice, err := negotiationToken(0, seq, t.mechToken, t.mechListMIC)
	if err != nil {
		return nil, err
	}
	oid, err := asn1.Marshal(OID)
	if err != nil {
		return nil, fmt.Errorf("spnego: encode: %w", err)
	}
	return tlv(asn1.ClassApplication, 0, true, append(oid, choice...))
}

// marshal returns the token as sent: NegotiationToken [1], no framing.
func (t *negTokenResp) marshal() ([]byte, error) {
	var seq []byte
	if t.state != stateAbsent {
		enum, err := asn1.Marshal(asn1.Enumerated(t.state))
		if err != nil {
			return nil, fmt.Errorf("spnego: encode: %w", err)
		}
		if seq, err = explicitField(seq, 0, enum); err != nil {
			return nil, err
		}
	}
	if len(t.supportedMech) > 0 {
		oid, err := asn1.Marshal(t.supportedMech)
		if err != nil {
			return nil, fmt.Errorf("spnego: encode supportedMech: %w", err)
		}
		if seq, err = explicitField(seq, 1, oid); err != nil {
			return nil, err
		}
	}
	return negotiationToken(1, seq, t.responseToken, t.mechListMIC)
}

// negotiationToken ends a NegTokenInit (choice 0) or a NegTokenResp
// (choice 1), whose first two fields are in seq: it appends the fields the
// two share, the mechanism's token [2] and mechListMIC [3], and returns
// the NegotiationToken [choice] around the SEQUENCE.
func negotiationToken(choice int, seq, mechToken, mechListMIC []byte) ([]byte, error) {
	var err error
	if len(mechToken) > 0 {
		if seq, err = octetField(seq, 2, mechToken); err != nil {
			return nil, err
		}
	}
	if len(mechListMIC) > 0 {
		if seq, err = octetField(seq, 3, mechListMIC); err != nil {
			return nil, err
		}
	}
	body, err := tlv(asn1.ClassUniversal, asn1.TagSequence, true, seq)
	if err != nil {
		return nil, err
	}
	return tlv(asn1.ClassContextSpecific, choice, true, body)
}

// IsToken reports whether b looks like an SPNEGO token: a NegTokenInit in
// the InitialContextToken framing with the SPNEGO OID (0x60 …), or a
// NegTokenResp (0xa1 …). A raw NTLM message ("NTLMSSP\x00") or a raw
// Kerberos token (0x60 with a Kerberos OID) is not. Only the outer framing
// is checked; Step still rejects a malformed body.
func IsToken(b []byte) bool {
	if len(b) == 0 || len(b) > maxTokenLen {
		return false
	}
	var outer asn1.RawValue
	rest, err := asn1.Unmarshal(b, &outer)
	if err != nil || len(rest) != 0 || !outer.IsCompound {
		return false
	}
	switch {
	case outer.Class == asn1.ClassApplication && outer.Tag == 0:
		var mech asn1.ObjectIdentifier
		_, err := asn1.Unmarshal(outer.Bytes, &mech)
		return err == nil && mech.Equal(OID)
	case outer.Class == asn1.ClassContextSpecific && outer.Tag == 1:
		return true
	}
	return false
}

// parseToken parses a NegotiationToken: exactly one of init and resp is
// set when err is nil. Errors wrap gss.ErrBadToken.
func parseToken(b []byte) (init *negTokenInit, resp *negTokenResp, err error) {
	if len(b) == 0 {
		return nil, nil, errBadToken("empty token")
	}
	if len(b) > maxTokenLen {
		return nil, nil, errBadToken("token of %d bytes exceeds %d", len(b), maxTokenLen)
	}
	outer, err := parseOne(b, "NegotiationToken")
	if err != nil {
		return nil, nil, err
	}
	switch {
	case outer.Class == asn1.ClassApplication && outer.Tag == 0 && outer.IsCompound:
		var mech asn1.ObjectIdentifier
		rest, err := asn1.Unmarshal(outer.Bytes, &mech)
		if err != nil {
			return nil, nil, errBadToken("InitialContextToken thisMech: %v", err)
		}
		if !mech.Equal(OID) {
			return nil, nil, errBadToken("InitialContextToken of mechanism %v, not SPNEGO", mech)
		}
		choice, err := parseOne(rest, "innerContextToken")
		if err != nil {
			return nil, nil, err
		}
		if choice.Class != asn1.ClassContextSpecific || choice.Tag != 0 || !choice.IsCompound {
			return nil, nil, errBadToken("innerContextToken is not a NegTokenInit")
		}
		init, err := parseNegTokenInit(choice.Bytes)
		return init, nil, err
	case outer.Class == asn1.ClassContextSpecific && outer.Tag == 1 && outer.IsCompound:
		resp, err := parseNegTokenResp(outer.Bytes)
		return nil, resp, err
	}
	return nil, nil, errBadToken("not a NegTokenInit or NegTokenResp (class %d tag %d)", outer.Class, outer.Tag)
}

// parseOne parses b as exactly one DER element.
func parseOne(b []byte, what string) (asn1.RawValue, error) {
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(b, &v)
	if err != nil {
		return v, errBadToken("%s: %v", what, err)
	}
	if len(rest) != 0 {
		return v, errBadToken("%s: %d trailing bytes", what, len(rest))
	}
	return v, nil
}

// parseFields parses the SEQUENCE in b whose elements are explicitly
// tagged [0]…[n]: it returns the element inside each tag, by tag number.
// Tags must be strictly increasing (DER); tags above maxTag (the
// extensions RFC 4178 allows with "...") are skipped.
func parseFields(b []byte, what string, maxTag int) ([]*asn1.RawValue, error) {
	seq, err := parseOne(b, what)
	if err != nil {
		return nil, err
	}
	if seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return nil, errBadToken("%s is not a SEQUENCE", what)
	}
	fields := make([]*asn1.RawValue, maxTag+1)
	last := -1
	for rest := seq.Bytes; len(rest) > 0; {
		var f asn1.RawValue
		if rest, err = asn1.Unmarshal(rest, &f); err != nil {
			return nil, errBadToken("%s: %v", what, err)
		}
		if f.Class != asn1.ClassContextSpecific || !f.IsCompound {
			return nil, errBadToken("%s: field is not an explicit context tag", what)
		}
		if f.Tag <= last {
			return nil, errBadToken("%s: field [%d] out of order", what, f.Tag)
		}
		last = f.Tag
		if f.Tag > maxTag {
			continue
		}
		inner, err := parseOne(f.Bytes, fmt.Sprintf("%s [%d]", what, f.Tag))
		if err != nil {
			return nil, err
		}
		fields[f.Tag] = &inner
	}
	return fields, nil
}

// octets returns the content of an OCTET STRING element.
func octets(v *asn1.RawValue, what string) ([]byte, error) {
	if v.Class != asn1.ClassUniversal || v.Tag != asn1.TagOctetString || v.IsCompound {
		return nil, errBadToken("%s is not an OCTET STRING", what)
	}
	return v.Bytes, nil
}

func parseNegTokenInit(b []byte) (*negTokenInit, error) {
	f, err := parseFields(b, "NegTokenInit", 4)
	if err != nil {
		return nil, err
	}
	t := &negTokenInit{}
	if f[0] == nil {
		return nil, errBadToken("NegTokenInit without mechTypes")
	}
	if t.mechTypes, err = parseMechTypes(f[0]); err != nil {
		return nil, err
	}
	t.mechTypesDER = f[0].FullBytes
	if f[2] != nil {
		if t.mechToken, err = octets(f[2], "mechToken"); err != nil {
			return nil, err
		}
	}
	micField := f[4]
	if f[3] != nil {
		switch {
		case f[3].Class == asn1.ClassUniversal && f[3].Tag == asn1.TagSequence:
			// negHints of NegTokenInit2: the MIC, if any, is at [4].
		case micField != nil:
			return nil, errBadToken("NegTokenInit with both [3] and [4] mechListMIC")
		default:
			micField = f[3]
		}
	}
	if micField != nil {
		if t.mechListMIC, err = octets(micField, "mechListMIC"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// parseMechTypes parses a MechTypeList, at most maxMechTypes long.
func parseMechTypes(v *asn1.RawValue) ([]asn1.ObjectIdentifier, error) {
	if v.Class != asn1.ClassUniversal || v.Tag != asn1.TagSequence || !v.IsCompound {
		return nil, errBadToken("mechTypes is not a SEQUENCE")
	}
	var oids []asn1.ObjectIdentifier
	for rest := v.Bytes; len(rest) > 0; {
		if len(oids) == maxMechTypes {
			return nil, errBadToken("more than %d mechTypes", maxMechTypes)
		}
		var oid asn1.ObjectIdentifier
		var err error
		if rest, err = asn1.Unmarshal(rest, &oid); err != nil {
			return nil, errBadToken("mechTypes: %v", err)
		}
		oids = append(oids, oid)
	}
	if len(oids) == 0 {
		return nil, errBadToken("empty mechTypes")
	}
	return oids, nil
}

func parseNegTokenResp(b []byte) (*negTokenResp, error) {
	f, err := parseFields(b, "NegTokenResp", 3)
	if err != nil {
		return nil, err
	}
	t := &negTokenResp{state: stateAbsent}
	if f[0] != nil {
		var e asn1.Enumerated
		if _, err := asn1.Unmarshal(f[0].FullBytes, &e); err != nil {
			return nil, errBadToken("negState: %v", err)
		}
		if e < asn1.Enumerated(stateAcceptCompleted) || e > asn1.Enumerated(stateRequestMIC) {
			return nil, errBadToken("negState %d", int(e))
		}
		t.state = negState(e)
	}
	if f[1] != nil {
		if _, err := asn1.Unmarshal(f[1].FullBytes, &t.supportedMech); err != nil {
			return nil, errBadToken("supportedMech: %v", err)
		}
	}
	if f[2] != nil {
		if t.responseToken, err = octets(f[2], "responseToken"); err != nil {
			return nil, err
		}
	}
	if f[3] != nil {
		if t.mechListMIC, err = octets(f[3], "mechListMIC"); err != nil {
			return nil, err
		}
	}
	return t, nil
}
