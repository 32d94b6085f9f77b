package spnego

import (
	"encoding/asn1"
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// ntlmOID is NTLMSSP (MS-NLMP). SPNEGO treats it specially: Windows puts a
// MIC in every AUTHENTICATE (its CHALLENGE always carries a timestamp) and
// then insists on the mechListMIC even when NTLM was the initiator's
// preferred mechanism (MS-SPNG 3.3.5.1; pyspnego's _negotiate.py does the
// same on both sides). The OID is spelled out here so that SPNEGO stays
// independent of internal/ntlm.
var ntlmOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}

// alwaysNeedsMIC reports whether the mechanism oid obliges both sides to
// exchange the mechListMIC whatever the negotiation looked like.
func alwaysNeedsMIC(oid asn1.ObjectIdentifier) bool {
	return oid.Equal(ntlmOID)
}

// signMechList computes the mechListMIC over the DER MechTypeList with the
// established mechanism mech, then resets its outgoing cipher state when it
// is a gss.CipherResetter (NTLM), as MS-SPNG 3.3.5.1 wants: the first
// sealed message after SPNEGO then starts a fresh RC4 stream while the
// sequence number carries on.
func signMechList(mech any, oid asn1.ObjectIdentifier, mechTypes []byte) ([]byte, error) {
	m, ok := mech.(gss.MICer)
	if !ok {
		return nil, fmt.Errorf("spnego: mechanism %v cannot sign the mechListMIC: %w", oid, gss.ErrUnsupported)
	}
	mic, err := m.MIC(mechTypes)
	if err != nil {
		return nil, fmt.Errorf("spnego: sign mechListMIC with %v: %w", oid, err)
	}
	if r, ok := mech.(gss.CipherResetter); ok {
		r.ResetCipherState(true)
	}
	return mic, nil
}

// verifyMechList checks the peer's mechListMIC over the DER MechTypeList,
// then resets the incoming cipher state of a gss.CipherResetter. Any
// failure wraps gss.ErrIntegrity: a MIC that does not verify means the
// mechanism list may have been tampered with (a downgrade).
func verifyMechList(mech any, oid asn1.ObjectIdentifier, mechTypes, mic []byte) error {
	m, ok := mech.(gss.MICer)
	if !ok {
		return fmt.Errorf("spnego: mechanism %v cannot verify the mechListMIC: %w", oid, gss.ErrIntegrity)
	}
	if err := m.VerifyMIC(mechTypes, mic); err != nil {
		return fmt.Errorf("spnego: mechListMIC does not verify with %v: %w: %w", oid, gss.ErrIntegrity, err)
	}
	if r, ok := mech.(gss.CipherResetter); ok {
		r.ResetCipherState(false)
	}
	return nil
}
