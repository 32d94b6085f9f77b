package psrp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// The session-key exchange of MS-PSRP 3.1.5.4.3 / 3.2.5.4.4: the client sends
// its RSA public key as a CryptoAPI PUBLICKEYBLOB (PUBLIC_KEY, 2.2.2.3), the
// server answers with a random AES-256 key encrypted to it as a SIMPLEBLOB
// (ENCRYPTED_SESSION_KEY, 2.2.2.4), and SecureString values are then
// AES-256-CBC encrypted with that key (2.2.5.1.24).

const (
	// SessionKeySize is the size in bytes of the AES-256 session key.
	SessionKeySize = 32
	// PublicKeyBlobSize is the size of the PUBLIC_KEY blob for RSA-2048.
	PublicKeyBlobSize = 276
	// EncryptedSessionKeyBlobSize is the size of the ENCRYPTED_SESSION_KEY blob.
	EncryptedSessionKeyBlobSize = 268

	rsaKeyBits        = 2048
	rsaModulusSize    = rsaKeyBits / 8
	publicKeyHdrSize  = 20 // PUBLICKEYSTRUC(8) + RSAPUBKEY magic, bitlen, pubexp (12)
	simpleBlobHdrSize = 12 // PUBLICKEYSTRUC(8) + ALG_ID of the wrapping key (4)
)

// publicKeyBlobHeader is PUBLICKEYSTRUC{PUBLICKEYBLOB, CUR_BLOB_VERSION, 0,
// CALG_RSA_KEYX} followed by "RSA1" and the bit length 2048 (little-endian).
var publicKeyBlobHeader = [16]byte{0x06, 0x02, 0x00, 0x00, 0x00, 0xA4, 0x00, 0x00, 'R', 'S', 'A', '1', 0x00, 0x08, 0x00, 0x00}

// simpleBlobHeader is PUBLICKEYSTRUC{SIMPLEBLOB, CUR_BLOB_VERSION, 0,
// CALG_AES_256} followed by ALG_ID CALG_RSA_KEYX.
var simpleBlobHeader = [simpleBlobHdrSize]byte{0x01, 0x02, 0x00, 0x00, 0x10, 0x66, 0x00, 0x00, 0x00, 0xA4, 0x00, 0x00}

// KeyExchangeError reports a malformed or unusable key-exchange blob or key.
type KeyExchangeError struct {
	// Op names the step that failed, e.g. "decode public key blob".
	Op string
	// Msg says what was wrong.
	Msg string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error.
func (e *KeyExchangeError) Error() string {
	s := "psrp: " + e.Op + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *KeyExchangeError) Unwrap() error { return e.Err }

// ErrSecureStringCiphertext is wrapped by the errors SessionKeyCipher.Decrypt
// returns for ciphertext that is not a whole number of blocks, has bad
// padding or is not valid UTF-16LE.
var ErrSecureStringCiphertext = errors.New("psrp: invalid SecureString ciphertext")

// GenerateExchangeKey creates the RSA-2048 key pair a client sends in
// PUBLIC_KEY. Since Go 1.26 crypto/rsa ignores random unless
// GODEBUG=cryptocustomrand=1; tests wanting determinism use
// testing/cryptotest.SetGlobalRandom. A nil random means crypto/rand.
func GenerateExchangeKey(random io.Reader) (*rsa.PrivateKey, error) {
	if random == nil {
		random = rand.Reader
	}
	k, err := rsa.GenerateKey(random, rsaKeyBits)
	if err != nil {
		return nil, &KeyExchangeError{Op: "generate exchange key", Msg: "RSA key generation failed", Err: err}
	}
	return k, nil
}

// EncodePublicKeyBlob encodes pub as the 276-byte PUBLIC_KEY blob
// (MS-PSRP 2.2.2.3): header, public exponent and modulus, little-endian.
func EncodePublicKeyBlob(pub *rsa.PublicKey) ([]byte, error) {
	const op = "encode public key blob"
	if pub == nil || pub.N == nil {
		return nil, &KeyExchangeError{Op: op, Msg: "nil key"}
	}
	if pub.N.BitLen() != rsaKeyBits {
		return nil, &KeyExchangeError{Op: op, Msg: fmt.Sprintf("modulus is %d bits, want %d", pub.N.BitLen(), rsaKeyBits)}
	}
	if pub.E <= 0 || uint64(pub.E) > 0xFFFFFFFF {
		return nil, &KeyExchangeError{Op: op, Msg: "public exponent out of range"}
	}
	b := make([]byte, PublicKeyBlobSize)
	copy(b, publicKeyBlobHeader[:])
	binary.LittleEndian.PutUint32(b[16:20], uint32(pub.E))
	mod := b[publicKeyHdrSize:]
	pub.N.FillBytes(mod)
	reverseBytes(mod)
	return b, nil
}

// DecodePublicKeyBlob parses a PUBLIC_KEY blob (MS-PSRP 2.2.2.3) as the
// server side does.
func DecodePublicKeyBlob(blob []byte) (*rsa.PublicKey, error) {
	const op = "decode public key blob"
	if len(blob) != PublicKeyBlobSize {
		return nil, &KeyExchangeError{Op: op, Msg: fmt.Sprintf("blob is %d bytes, want %d", len(blob), PublicKeyBlobSize)}
	}
	if !bytes.Equal(blob[:16], publicKeyBlobHeader[:]) {
		return nil, &KeyExchangeError{Op: op, Msg: "not an RSA-2048 PUBLICKEYBLOB header"}
	}
	e := binary.LittleEndian.Uint32(blob[16:20])
	if e < 3 || e%2 == 0 || e > 1<<31-1 {
		return nil, &KeyExchangeError{Op: op, Msg: fmt.Sprintf("unusable public exponent %d", e)}
	}
	mod := bytes.Clone(blob[publicKeyHdrSize:])
	reverseBytes(mod)
	n := new(big.Int).SetBytes(mod)
	if n.BitLen() != rsaKeyBits {
		return nil, &KeyExchangeError{Op: op, Msg: fmt.Sprintf("modulus is %d bits, want %d", n.BitLen(), rsaKeyBits)}
	}
	return &rsa.PublicKey{N: n, E: int(e)}, nil
}

// EncryptSessionKey encrypts the AES session key to pub and returns the
// 268-byte ENCRYPTED_SESSION_KEY blob (MS-PSRP 2.2.2.4), as a server does.
func EncryptSessionKey(pub *rsa.PublicKey, sessionKey []byte) ([]byte, error) {
	const op = "encrypt session key"
	if len(sessionKey) != SessionKeySize {
		return nil, &KeyExchangeError{Op: op, Msg: fmt.Sprintf("session key is %d bytes, want %d", len(sessionKey), SessionKeySize)}
	}
	if pub == nil || pub.N == nil || pub.N.BitLen() != rsaKeyBits {
		return nil, &KeyExchangeError{Op: op, Msg: "public key is not RSA-2048"}
	}
	// PKCS#1 v1.5 is what the protocol mandates (CryptoAPI CALG_RSA_KEYX).
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, sessionKey) //lint:ignore SA1019 MS-PSRP 2.2.2.4 requires RSAES-PKCS1-v1_5
	if err != nil {
		return nil, &KeyExchangeError{Op: op, Msg: "RSA encryption failed", Err: err}
	}
	b := make([]byte, 0, EncryptedSessionKeyBlobSize)
	b = append(b, simpleBlobHeader[:]...)
	b = append(b, ct...)
	reverseBytes(b[simpleBlobHdrSize:])
	return b, nil
}

// DecryptSessionKey decrypts an ENCRYPTED_SESSION_KEY blob with the client's
// private key and returns the 32-byte AES session key.
func DecryptSessionKey(priv *rsa.PrivateKey, blob []byte) ([]byte, error) {
	const op = "decrypt session key"
	if priv == nil {
		return nil, &KeyExchangeError{Op: op, Msg: "no private key"}
	}
	if len(blob) != EncryptedSessionKeyBlobSize {
		return nil, &KeyExchangeError{Op: op, Msg: fmt.Sprintf("blob is %d bytes, want %d", len(blob), EncryptedSessionKeyBlobSize)}
	}
	if !bytes.Equal(blob[:simpleBlobHdrSize], simpleBlobHeader[:]) {
		return nil, &KeyExchangeError{Op: op, Msg: "not an AES-256 SIMPLEBLOB header"}
	}
	ct := bytes.Clone(blob[simpleBlobHdrSize:])
	reverseBytes(ct)
	key, err := rsa.DecryptPKCS1v15(nil, priv, ct) //lint:ignore SA1019 MS-PSRP 2.2.2.4 requires RSAES-PKCS1-v1_5
	if err != nil {
		return nil, &KeyExchangeError{Op: op, Msg: "RSA decryption failed", Err: err}
	}
	if len(key) != SessionKeySize {
		return nil, &KeyExchangeError{Op: op, Msg: fmt.Sprintf("session key is %d bytes, want %d", len(key), SessionKeySize)}
	}
	return key, nil
}

// NewSessionKey returns a random AES-256 session key read from random
// (crypto/rand when nil).
func NewSessionKey(random io.Reader) ([]byte, error) {
	if random == nil {
		random = rand.Reader
	}
	k := make([]byte, SessionKeySize)
	if _, err := io.ReadFull(random, k); err != nil {
		return nil, &KeyExchangeError{Op: "generate session key", Msg: "reading random bytes failed", Err: err}
	}
	return k, nil
}

func reverseBytes(b []byte) {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
}

// SessionKeyCipher encrypts and decrypts SecureString values with a runspace
// pool's session key (MS-PSRP 2.2.5.1.24): AES-256-CBC with a zero IV and
// PKCS#7 padding. It implements clixml.Cipher, which hands it the UTF-16LE
// bytes of the text, and is safe for concurrent use.
type SessionKeyCipher struct {
	block cipher.Block
}

// NewSecureStringCipher returns a SessionKeyCipher for a 32-byte session key.
func NewSecureStringCipher(key []byte) (*SessionKeyCipher, error) {
	if len(key) != SessionKeySize {
		return nil, &KeyExchangeError{Op: "new SecureString cipher", Msg: fmt.Sprintf("key is %d bytes, want %d", len(key), SessionKeySize)}
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, &KeyExchangeError{Op: "new SecureString cipher", Msg: "AES setup failed", Err: err}
	}
	return &SessionKeyCipher{block: b}, nil
}

// Encrypt pads and encrypts plaintext (the UTF-16LE text of a SecureString).
func (c *SessionKeyCipher) Encrypt(plaintext []byte) ([]byte, error) {
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	out := make([]byte, len(plaintext), len(plaintext)+pad)
	copy(out, plaintext)
	for range pad {
		out = append(out, byte(pad))
	}
	var iv [aes.BlockSize]byte
	cipher.NewCBCEncrypter(c.block, iv[:]).CryptBlocks(out, out)
	return out, nil
}

// Decrypt decrypts a SecureString and returns its UTF-16LE text. Malformed
// ciphertext gives an error wrapping ErrSecureStringCiphertext.
func (c *SessionKeyCipher) Decrypt(ciphertext []byte) ([]byte, error) {
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: length %d is not a positive multiple of %d", ErrSecureStringCiphertext, len(ciphertext), aes.BlockSize)
	}
	p := make([]byte, len(ciphertext))
	var iv [aes.BlockSize]byte
	cipher.NewCBCDecrypter(c.block, iv[:]).CryptBlocks(p, ciphertext)
	pad := int(p[len(p)-1])
	if pad == 0 || pad > aes.BlockSize {
		clear(p)
		return nil, fmt.Errorf("%w: bad padding", ErrSecureStringCiphertext)
	}
	for _, b := range p[len(p)-pad:] {
		if int(b) != pad {
			clear(p)
			return nil, fmt.Errorf("%w: bad padding", ErrSecureStringCiphertext)
		}
	}
	p = p[:len(p)-pad]
	if len(p)%2 != 0 {
		clear(p)
		return nil, fmt.Errorf("%w: odd UTF-16 length", ErrSecureStringCiphertext)
	}
	return p, nil
}

// SetExchangeKey makes the pool send key's public half in PUBLIC_KEY
// instead of a key it generates, and decrypt ENCRYPTED_SESSION_KEY with it.
// It is for reproducing a recorded exchange (pypsrp's tests fix their key,
// so its recordings can be replayed byte for byte) and for callers that
// manage their own keys; without it the pool generates a fresh RSA-2048
// key on first use. key must be RSA-2048. It fails once an exchange has
// started or finished.
func (p *ClientPool) SetExchangeKey(key *rsa.PrivateKey) error {
	const op = "set exchange key"
	if key == nil || key.N == nil || key.N.BitLen() != rsaKeyBits {
		return &KeyExchangeError{Op: op, Msg: fmt.Sprintf("key must be RSA-%d", rsaKeyBits)}
	}
	if p.keyPending || p.cipher != nil {
		return &KeyExchangeError{Op: op, Msg: "the session key exchange has already started"}
	}
	p.exchangeKey = key
	return nil
}

// HasSessionKey reports whether SecureStrings can be sent and read: the
// session key has arrived, or both peers are at protocol 2.4 or later.
func (p *ClientPool) HasSessionKey() bool { return p.cipher != nil }
