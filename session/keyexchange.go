package session

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"sync"
)

// The session key exchange (MS-PSRP 3.1.4.3): SecureStrings travel
// encrypted with an AES key the server sends, encrypted to an RSA key the
// client sent. The session starts it by itself the first time a pipeline
// argument or a host answer holds a SecureString; ExchangeKeys starts it
// ahead of time, and WithExchangeKey chooses the RSA key.

// WithExchangeKey makes the session send key's public half in the key
// exchange instead of an RSA-2048 key it generates. It exists to reproduce
// a recorded exchange byte for byte (pypsrp's tests fix their key, so a
// replay of their recordings can decrypt what Windows sent) and for
// callers that manage their own keys; production code leaves it out. key
// must be an RSA-2048 private key; it is not copied or modified.
func WithExchangeKey(key *rsa.PrivateKey) SessionOption {
	return func(c *poolConfig) {
		if key == nil || key.N == nil || key.N.BitLen() != 2048 {
			c.fail("WithExchangeKey: key must be RSA-2048")
			return
		}
		c.exchangeKey = key
	}
}

// useExchangeKey hands WithExchangeKey's key to the new pool; the option
// checked it, so it cannot be refused.
func (s *Session) useExchangeKey() {
	if s.cfg.exchangeKey != nil {
		_ = s.pool.SetExchangeKey(s.cfg.exchangeKey)
	}
}

// ErrKeyExchange is wrapped by ExchangeKeys' errors when the exchange did
// not complete (the server's answer never came in time, or the session
// broke or closed while waiting).
var ErrKeyExchange = errors.New("session: key exchange did not complete")

// ExchangeKeys runs the session key exchange now, as pypsrp's
// exchange_keys does, and returns once the server's session key has
// arrived: useful before a batch of SecureStrings, so that the first one
// does not pay for the round trip. It returns nil at once when the key is
// known already, or when both peers speak protocol 2.4 or later (no
// exchange then). An exchange already under way (started by a pipeline
// with a SecureString) is waited for, not repeated. When ctx ends first
// the error wraps ErrKeyExchange and ctx's error; the exchange stays
// pending, and a later call waits for the same answer.
func (s *Session) ExchangeKeys(ctx context.Context) error {
	s.mu.Lock()
	if err := s.usableLocked(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("session: exchange keys: %w", err)
	}
	if s.pool.HasSessionKey() {
		s.mu.Unlock()
		return nil
	}
	if err := s.pool.ExchangeKey(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("session: exchange keys: %w", err)
	}
	if s.pool.HasSessionKey() { // both peers at 2.4+: nothing to exchange
		s.mu.Unlock()
		return nil
	}
	// Taken under mu, before PUBLIC_KEY can leave, so the answer cannot
	// arrive unseen.
	arrived := s.keyWait.wait()
	s.mu.Unlock()

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changes := s.Watch(wctx)
	if err := s.flush(ctx); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("session: exchange keys: %w: %w", ErrKeyExchange, err)
	}
	for {
		select {
		case <-arrived:
			return nil
		case ch, ok := <-changes:
			if !ok {
				continue // ctx ended: reported below
			}
			switch ch.To {
			case StateBroken, StateClosed:
				err := ch.Err
				if err == nil {
					err = ErrClosed
				}
				return fmt.Errorf("session: exchange keys: %w: %w", ErrKeyExchange, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("session: exchange keys: %w: %w", ErrKeyExchange, ctx.Err())
		case <-s.bgCtx.Done():
			return fmt.Errorf("session: exchange keys: %w: %w", ErrKeyExchange, ErrClosed)
		}
	}
}

// keyWait wakes ExchangeKeys callers when the session key arrives. Its
// zero value is ready to use.
type keyWait struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed when the next session key arrives.
func (k *keyWait) wait() <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ch == nil {
		k.ch = make(chan struct{})
	}
	return k.ch
}

// arrived wakes every waiter.
func (k *keyWait) arrived() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ch != nil {
		close(k.ch)
		k.ch = nil
	}
}
