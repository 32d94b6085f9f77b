package captures

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// KeyExchangeVectorFile is the vector of a real session key exchange with
// Windows, in [VectorsDir].
const KeyExchangeVectorFile = "key-exchange-windows.md"

// KeyExchange is the content of [KeyExchangeVectorFile]: the RSA key
// pypsrp's tests fix (so its recordings are reproducible), what a client
// sent and Windows answered with it, and SecureStrings under the session
// key.
type KeyExchange struct {
	// Key is the recorded client's RSA exchange key.
	Key *rsa.PrivateKey
	// PublicKeyBlob is the PUBLIC_KEY blob the client sent (MS-PSRP
	// 2.2.2.3), decoded from its base64.
	PublicKeyBlob []byte
	// EncryptedSessionKey is the ENCRYPTED_SESSION_KEY blob Windows
	// answered (2.2.2.4), decoded.
	EncryptedSessionKey []byte
	// SessionKey is the AES-256 key the blob carries.
	SessionKey []byte
	// SecureStrings are ciphertexts under SessionKey and their text.
	SecureStrings []SecureStringVector
}

// SecureStringVector is one SecureString of the vector.
type SecureStringVector struct {
	// FromServer is true for what Windows sent, false for the client's.
	FromServer bool
	// Ciphertext is the decoded <SS> content; Plaintext its text.
	Ciphertext []byte
	Plaintext  string
}

// maxKeyDigits bounds a decimal number of the key (RSA-8192 needs 2467),
// so that a hostile file cannot make validation take for ever.
const maxKeyDigits = 2500

var (
	kxNumberRE = regexp.MustCompile(`^(e|n|d|p|q) = ([0-9]+)$`)
	kxSecureRE = regexp.MustCompile(`^- sent by (the client|Windows)[^:]*: ([A-Za-z0-9+/=]+) = "([^"]*)"$`)
	kxBase64RE = regexp.MustCompile(`^[A-Za-z0-9+/]+=*$`)
	kxHexRE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// LoadKeyExchange reads and parses [KeyExchangeVectorFile] of [VectorsDir].
func LoadKeyExchange() (*KeyExchange, error) {
	b, err := ReadVector(KeyExchangeVectorFile)
	if err != nil {
		return nil, err
	}
	return ParseKeyExchange(b)
}

// ParseKeyExchange parses the text of a key-exchange vector. It checks
// that the key is consistent (Validate), not that the blobs match it:
// that is what the tests using it check.
func ParseKeyExchange(text []byte) (*KeyExchange, error) {
	kx, nums, err := parseKeyExchangeText(text)
	if err != nil {
		return nil, err
	}
	if err := kx.buildKey(nums); err != nil {
		return nil, err
	}
	return kx, nil
}

// parseKeyExchangeText reads the fields of the vector's text: the blobs,
// the session key, the SecureStrings and the numbers of the RSA key, which
// buildKey checks. It does no cryptography, so that fuzzing it is cheap.
func parseKeyExchangeText(text []byte) (*KeyExchange, map[string]*big.Int, error) {
	const label = KeyExchangeVectorFile
	kx := &KeyExchange{}
	nums := map[string]*big.Int{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "## "):
			section = line
			continue
		}
		if m := kxNumberRE.FindStringSubmatch(line); m != nil {
			if len(m[2]) > maxKeyDigits {
				return nil, nil, fmt.Errorf("%w: %s: %s has more than %d digits", ErrMalformed, label, m[1], maxKeyDigits)
			}
			n, ok := new(big.Int).SetString(m[2], 10)
			if !ok {
				return nil, nil, fmt.Errorf("%w: %s: bad number %s", ErrMalformed, label, m[1])
			}
			nums[m[1]] = n
			continue
		}
		if m := kxSecureRE.FindStringSubmatch(line); m != nil {
			ct, err := base64.StdEncoding.DecodeString(m[2])
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %s: SecureString: %v", ErrMalformed, label, err)
			}
			kx.SecureStrings = append(kx.SecureStrings, SecureStringVector{FromServer: m[1] == "Windows", Ciphertext: ct, Plaintext: m[3]})
			continue
		}
		var dst *[]byte
		switch {
		case strings.Contains(section, "PUBLIC_KEY (0x00010005)"):
			dst = &kx.PublicKeyBlob
		case strings.Contains(section, "ENCRYPTED_SESSION_KEY (0x00010006)"):
			dst = &kx.EncryptedSessionKey
		case strings.Contains(section, "session key it carries") && kxHexRE.MatchString(line) && kx.SessionKey == nil:
			k, err := hex.DecodeString(line)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %s: session key: %v", ErrMalformed, label, err)
			}
			kx.SessionKey = k
			continue
		}
		if dst != nil && *dst == nil && kxBase64RE.MatchString(line) {
			b, err := base64.StdEncoding.DecodeString(line)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %s: %s: %v", ErrMalformed, label, section, err)
			}
			*dst = b
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrMalformed, label, err)
	}
	switch {
	case kx.PublicKeyBlob == nil:
		return nil, nil, fmt.Errorf("%w: %s: no PUBLIC_KEY blob", ErrMalformed, label)
	case kx.EncryptedSessionKey == nil:
		return nil, nil, fmt.Errorf("%w: %s: no ENCRYPTED_SESSION_KEY blob", ErrMalformed, label)
	case kx.SessionKey == nil:
		return nil, nil, fmt.Errorf("%w: %s: no session key", ErrMalformed, label)
	}
	for _, k := range []string{"e", "n", "d", "p", "q"} {
		if nums[k] == nil {
			return nil, nil, fmt.Errorf("%w: %s: no %s of the RSA key", ErrMalformed, label, k)
		}
	}
	if !nums["e"].IsInt64() || nums["e"].Int64() > 1<<31-1 {
		return nil, nil, fmt.Errorf("%w: %s: public exponent out of range", ErrMalformed, label)
	}
	return kx, nums, nil
}

// buildKey makes and validates the RSA key of the vector from its numbers.
func (kx *KeyExchange) buildKey(nums map[string]*big.Int) error {
	const label = KeyExchangeVectorFile
	kx.Key = &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: nums["n"], E: int(nums["e"].Int64())},
		D:         nums["d"],
		Primes:    []*big.Int{nums["p"], nums["q"]},
	}
	if err := kx.Key.Validate(); err != nil {
		kx.Key = nil
		return fmt.Errorf("%w: %s: RSA key: %v", ErrMalformed, label, err)
	}
	kx.Key.Precompute()
	return nil
}
