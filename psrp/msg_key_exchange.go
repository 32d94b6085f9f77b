package psrp

import (
	"encoding/base64"
	"fmt"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// maxKeyBlob bounds the decoded size of key blobs; real ones are 276
// (PUBLIC_KEY) and 268 (ENCRYPTED_SESSION_KEY) bytes.
const maxKeyBlob = 16 << 10

// PublicKey is PUBLIC_KEY (MS-PSRP 2.2.2.3): the client's RSA public key as
// a 276-byte PUBLICKEYBLOB, base64 in <S N="PublicKey"> on the wire.
type PublicKey struct {
	Key []byte
}

// MessageType implements Body.
func (PublicKey) MessageType() MessageType { return MessagePublicKey }

// ClientMessage marks a client-to-server body.
func (PublicKey) ClientMessage() {}

func (b PublicKey) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return marshalModel(b.MessageType(), opts,
		msObject(prop("PublicKey", base64.StdEncoding.EncodeToString(b.Key))))
}

func (b *PublicKey) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	key, err := decodeKeyBlob(MessagePublicKey, "PublicKey", data, opts)
	b.Key = key
	return err
}

// EncryptedSessionKey is ENCRYPTED_SESSION_KEY (MS-PSRP 2.2.2.4): the
// session key encrypted to the client's public key, a 268-byte SIMPLEBLOB,
// base64 in <S N="EncryptedSessionKey">.
type EncryptedSessionKey struct {
	Key []byte
}

// MessageType implements Body.
func (EncryptedSessionKey) MessageType() MessageType { return MessageEncryptedSessionKey }

// ServerMessage marks a server-to-client body.
func (EncryptedSessionKey) ServerMessage() {}

func (b EncryptedSessionKey) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return marshalModel(b.MessageType(), opts,
		msObject(prop("EncryptedSessionKey", base64.StdEncoding.EncodeToString(b.Key))))
}

func (b *EncryptedSessionKey) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	key, err := decodeKeyBlob(MessageEncryptedSessionKey, "EncryptedSessionKey", data, opts)
	b.Key = key
	return err
}

func decodeKeyBlob(t MessageType, name string, data []byte, opts clixml.UnmarshalOptions) ([]byte, error) {
	r, err := newObjReader(t, data, opts)
	if err != nil {
		return nil, err
	}
	s := r.str(name)
	if r.err != nil {
		return nil, r.err
	}
	if base64.StdEncoding.DecodedLen(len(s)) > maxKeyBlob {
		return nil, &BodyError{Type: t, Property: name,
			Err: fmt.Errorf("%w: key blob of %d base64 characters", ErrPropertyType, len(s))}
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, &BodyError{Type: t, Property: name, Err: fmt.Errorf("%w: %v", ErrPropertyType, err)}
	}
	return key, nil
}

// sEmpty is the body "<S />" that PUBLIC_KEY_REQUEST and the default
// CONNECT_RUNSPACEPOOL carry, written literally as real peers do.
const sEmpty = "<S />"

// PublicKeyRequest is PUBLIC_KEY_REQUEST (MS-PSRP 2.2.2.5): the server asks
// the client for its public key. The body is an empty string.
type PublicKeyRequest struct{}

// MessageType implements Body.
func (PublicKeyRequest) MessageType() MessageType { return MessagePublicKeyRequest }

// ServerMessage marks a server-to-client body.
func (PublicKeyRequest) ServerMessage() {}

func (PublicKeyRequest) encodeBody(clixml.MarshalOptions) ([]byte, error) {
	return []byte(sEmpty), nil
}

func (b *PublicKeyRequest) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	// The content does not matter; it must still be CLIXML.
	_, err := decodeModel(MessagePublicKeyRequest, data, opts)
	return err
}
