package session_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/captures"
	"github.com/gopsrp/gopsrp/internal/replay"
	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// kxTransport collects the PSRP messages the client sends to the pool.
type kxTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	asm  replay.Assembler
	msgs []replay.Message
}

func (rt *kxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if env, err := replay.ParseEnvelope(body); err == nil {
		rt.mu.Lock()
		for _, b := range env.Blobs {
			if m, err := rt.asm.Add(b.Data); err == nil {
				rt.msgs = append(rt.msgs, m...)
			}
		}
		rt.mu.Unlock()
	}
	return rt.next.RoundTrip(r)
}

// publicKeys returns the PUBLIC_KEY blobs sent so far.
func (rt *kxTransport) publicKeys(t *testing.T) [][]byte {
	t.Helper()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out [][]byte
	for _, m := range rt.msgs {
		if m.Type == replay.MsgPublicKey {
			b, err := psrp.DecodeBody(psrp.MessagePublicKey, bytes.TrimPrefix(m.Data, []byte("\xEF\xBB\xBF")), clixml.UnmarshalOptions{})
			require.NoError(t, err)
			out = append(out, b.(*psrp.PublicKey).Key)
		}
	}
	return out
}

// TestExchangeKeys: an explicit exchange before any SecureString sends
// the caller's key (WithExchangeKey), completes, is not repeated, and the
// SecureStrings that follow reach the server decrypted.
func TestExchangeKeys(t *testing.T) {
	t.Parallel()
	kx, err := captures.LoadKeyExchange()
	require.NoError(t, err)
	srv := newServer(t)
	var got []string
	var mu sync.Mutex
	srv.Handle("Set-Secret", func(ctx context.Context, c *sessiontest.Call) error {
		v, _ := c.Arg("Secret")
		ss, ok := v.(clixml.SecureString)
		if !ok || !ss.Decrypted {
			return errors.New("no decrypted SecureString")
		}
		mu.Lock()
		got = append(got, string(ss.Plaintext))
		mu.Unlock()
		return nil
	})
	rt := &kxTransport{next: srv.Client().Transport}
	ctx := testContext(t)
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(&http.Client{Transport: rt}), session.WithAllowUnencrypted(), session.WithExchangeKey(kx.Key))
	require.NoError(t, err)
	defer s.Close(ctx)

	require.NoError(t, s.ExchangeKeys(ctx))
	require.NoError(t, s.ExchangeKeys(ctx), "a second call with the key known")
	keys := rt.publicKeys(t)
	require.Len(t, keys, 1, "one PUBLIC_KEY for two calls")
	assert.Equal(t, kx.PublicKeyBlob, keys[0], "the caller's key went out")

	for _, secret := range []string{"one", "two"} {
		_, err := s.Invoke(ctx, psrp.Cmd("Set-Secret").Param("Secret", clixml.NewSecureString(secret)))
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"one", "two"}, got)
	assert.Len(t, rt.publicKeys(t), 1, "the pipelines needed no new exchange")
}

// TestExchangeKeysConcurrent: callers racing one exchange all return once
// the key arrives, and only one PUBLIC_KEY is sent.
func TestExchangeKeysConcurrent(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	rt := &kxTransport{next: srv.Client().Transport}
	ctx := testContext(t)
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(&http.Client{Transport: rt}), session.WithAllowUnencrypted())
	require.NoError(t, err)
	defer s.Close(ctx)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = s.ExchangeKeys(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "caller %d", i)
	}
	assert.Len(t, rt.publicKeys(t), 1)
}

// TestExchangeKeysBadInput: a key that is not RSA-2048 is refused by New,
// and a closed session refuses the exchange.
func TestExchangeKeysBadInput(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	for name, key := range map[string]*rsa.PrivateKey{"nil": nil, "1024 bits": small} {
		_, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted(), session.WithExchangeKey(key))
		assert.ErrorContains(t, err, "WithExchangeKey", name)
	}
	s := open(t, srv)
	require.NoError(t, s.Close(ctx))
	err = s.ExchangeKeys(ctx)
	assert.ErrorIs(t, err, session.ErrClosed)
}
