package psrp_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/captures"
	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// kxWindows loads the vector of a real key exchange with Windows
// (key-exchange-windows.md): pypsrp's fixed RSA key and what both sides
// sent with it.
func kxWindows(tb testing.TB) *captures.KeyExchange {
	tb.Helper()
	kx, err := captures.LoadKeyExchange()
	require.NoError(tb, err)
	return kx
}

// TestKeyExchangeWindowsVector checks the key exchange against what a real
// Windows host sent, not against our own other half: a byte-order mistake
// shared by the encoder and decoder of a blob passes a round trip but not
// this. The client's PUBLIC_KEY from the fixed key must be the recorded
// blob byte for byte; the recorded ENCRYPTED_SESSION_KEY message (its body
// starting with the UTF-8 BOM Windows writes) must decode and decrypt to
// the recorded session key; and the SecureStrings both ways must match
// under that key.
func TestKeyExchangeWindowsVector(t *testing.T) {
	t.Parallel()
	kx := kxWindows(t)

	blob, err := psrp.EncodePublicKeyBlob(&kx.Key.PublicKey)
	require.NoError(t, err)
	require.Equal(t, kx.PublicKeyBlob, blob, "PUBLIC_KEY blob of the fixed key")
	pub, err := psrp.DecodePublicKeyBlob(kx.PublicKeyBlob)
	require.NoError(t, err)
	require.Zero(t, pub.N.Cmp(kx.Key.N), "modulus of the recorded PUBLIC_KEY")

	// The message as Windows sent it: header, BOM, CLIXML.
	body := "\ufeff" + `<Obj RefId="0"><MS><S N="EncryptedSessionKey">` + base64.StdEncoding.EncodeToString(kx.EncryptedSessionKey) + `</S></MS></Obj>`
	wire := psrp.Message{Destination: psrp.DestinationClient, Type: psrp.MessageEncryptedSessionKey, RunspacePoolID: uuid.New(), Data: []byte(body)}.Append(nil)
	require.True(t, bytes.Contains(wire, []byte("\xEF\xBB\xBF<Obj")), "the test message carries the BOM")
	m, err := psrp.DecodeMessage(wire)
	require.NoError(t, err)
	b, err := psrp.DecodeBody(m.Type, m.Data, clixml.UnmarshalOptions{})
	require.NoError(t, err)
	esk, ok := b.(*psrp.EncryptedSessionKey)
	require.True(t, ok, "decoded %T", b)
	require.Equal(t, kx.EncryptedSessionKey, esk.Key)

	key, err := psrp.DecryptSessionKey(kx.Key, esk.Key)
	require.NoError(t, err)
	require.Equal(t, kx.SessionKey, key, "the session key Windows sent")

	c, err := psrp.NewSecureStringCipher(key)
	require.NoError(t, err)
	require.NotEmpty(t, kx.SecureStrings)
	for _, ss := range kx.SecureStrings {
		pt, err := c.Decrypt(ss.Ciphertext)
		require.NoError(t, err, "%q", ss.Plaintext)
		require.Equal(t, utf16le(ss.Plaintext), pt, "decrypt %q", ss.Plaintext)
		// Through CLIXML, as a pipeline argument or output carries it.
		var v any
		require.NoError(t, clixml.UnmarshalOptions{Cipher: c}.Unmarshal([]byte("<SS>"+base64.StdEncoding.EncodeToString(ss.Ciphertext)+"</SS>"), &v))
		require.Equal(t, ss.Plaintext, string(v.(clixml.SecureString).Plaintext))
		if !ss.FromServer {
			// Our encryption of the client's text is what pypsrp sent
			// (zero IV, PKCS#7): deterministic under one key.
			ct, err := c.Encrypt(utf16le(ss.Plaintext))
			require.NoError(t, err)
			require.Equal(t, ss.Ciphertext, ct, "encrypt %q", ss.Plaintext)
		}
	}
}

// TestKeyExchangeWindowsWrongKey: the real blob does not decrypt under
// another key, and a blob reversed the other way round (the byte-order
// mistake) does not decrypt under the right one; both are typed errors.
func TestKeyExchangeWindowsWrongKey(t *testing.T) {
	t.Parallel()
	kx := kxWindows(t)
	var ke *psrp.KeyExchangeError
	_, err := psrp.DecryptSessionKey(kxTestKey(t), kx.EncryptedSessionKey)
	require.ErrorAs(t, err, &ke)
	swapped := bytes.Clone(kx.EncryptedSessionKey)
	ct := swapped[12:]
	for i, j := 0, len(ct)-1; i < j; i, j = i+1, j-1 {
		ct[i], ct[j] = ct[j], ct[i]
	}
	_, err = psrp.DecryptSessionKey(kx.Key, swapped)
	require.ErrorAs(t, err, &ke)
	require.NotContains(t, err.Error(), "6d4a21e2", "a key in an error string")
}

// kxServerMessage frames one server message to the client as one fragment.
func kxServerMessage(pool uuid.UUID, t psrp.MessageType, body string) []byte {
	m := psrp.Message{Destination: psrp.DestinationClient, Type: t, RunspacePoolID: pool, Data: []byte(body)}.Append(nil)
	return psrp.Fragment{ObjectID: 1 << 20, Start: true, End: true, Data: m}.Append(nil)
}

// TestSetExchangeKeyReproducesWindowsExchange: a pool given pypsrp's fixed
// key sends the recorded PUBLIC_KEY, takes the recorded Windows answer
// (BOM and all), and then encrypts a SecureString argument exactly as the
// recorded client did.
func TestSetExchangeKeyReproducesWindowsExchange(t *testing.T) {
	t.Parallel()
	kx := kxWindows(t)
	p := newPair(t, bigChunk, psrp.ClientPoolConfig{}, psrp.ServerPoolConfig{})
	require.NoError(t, p.c.SetExchangeKey(kx.Key))
	p.open()
	require.False(t, p.c.HasSessionKey())
	require.NoError(t, p.c.ExchangeKey())
	pl, ok := p.c.DataToSend(bigChunk)
	require.True(t, ok)
	frag, n, err := psrp.DecodeFragment(pl.Data)
	require.NoError(t, err)
	require.Equal(t, len(pl.Data), n, "PUBLIC_KEY is one fragment")
	m, err := psrp.DecodeMessage(frag.Data)
	require.NoError(t, err)
	require.Equal(t, psrp.MessagePublicKey, m.Type)
	b, err := psrp.DecodeBody(m.Type, m.Data, clixml.UnmarshalOptions{})
	require.NoError(t, err)
	require.Equal(t, kx.PublicKeyBlob, b.(*psrp.PublicKey).Key, "PUBLIC_KEY of the fixed key is the recorded one")
	require.ErrorAs(t, p.c.SetExchangeKey(kx.Key), new(*psrp.KeyExchangeError), "the key cannot change during an exchange")

	// Windows' answer, as recorded, instead of our server's.
	body := "\ufeff" + `<Obj RefId="0"><MS><S N="EncryptedSessionKey">` + base64.StdEncoding.EncodeToString(kx.EncryptedSessionKey) + `</S></MS></Obj>`
	require.NoError(t, p.c.Receive(kxServerMessage(p.c.ID(), psrp.MessageEncryptedSessionKey, body)))
	require.Contains(t, p.clientEvents(), psrp.Event(psrp.SessionKeyReceived{}))
	require.True(t, p.c.HasSessionKey())

	var sent *captures.SecureStringVector
	for i := range kx.SecureStrings {
		if !kx.SecureStrings[i].FromServer {
			sent = &kx.SecureStrings[i]
		}
	}
	require.NotNil(t, sent)
	cp, err := p.c.NewPipeline(psrp.Cmd("Write-Output").Arg(clixml.NewSecureString(sent.Plaintext)), psrp.PipelineOptions{NoInput: true})
	require.NoError(t, err)
	require.NoError(t, cp.Invoke())
	pl, ok = p.c.DataToSend(bigChunk)
	require.True(t, ok)
	require.Equal(t, cp.ID(), pl.PipelineID)
	require.Contains(t, string(pl.Data), `<SS N="V">`+base64.StdEncoding.EncodeToString(sent.Ciphertext)+"</SS>", "the recorded client's SecureString")
}

func TestSetExchangeKeyErrors(t *testing.T) {
	t.Parallel()
	c := psrp.NewClientPool(psrp.ClientPoolConfig{})
	var ke *psrp.KeyExchangeError
	require.ErrorAs(t, c.SetExchangeKey(nil), &ke)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	require.ErrorAs(t, c.SetExchangeKey(small), &ke)
}
