package kerberos

import (
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/types"
)

// marshalApp encodes v as DER inside [APPLICATION tag], the framing of
// every Kerberos message and encrypted part (RFC 4120 5.1).
func marshalApp(v any, tag int) ([]byte, error) {
	b, err := asn1.Marshal(v)
	if err != nil {
		return nil, err
	}
	return asn1tools.AddASNAppTag(b, tag), nil
}

// encryptPart encodes part as [APPLICATION tag] and encrypts it with key
// under usage: the enc-part of the messages gokrb5 can only decode
// (AP-REP, KRB-CRED).
func encryptPart(part any, tag int, key types.EncryptionKey, usage uint32) (types.EncryptedData, error) {
	b, err := marshalApp(part, tag)
	if err != nil {
		return types.EncryptedData{}, err
	}
	return crypto.GetEncryptedData(b, key, usage, 0)
}
