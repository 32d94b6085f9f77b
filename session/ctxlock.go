package session

import "context"

// ctxMutex is a mutex whose lock gives up when a context is done, so that no
// caller waits on it beyond its own deadline. The zero value is not usable:
// make it with newCtxMutex.
type ctxMutex struct{ ch chan struct{} }

func newCtxMutex() ctxMutex { return ctxMutex{ch: make(chan struct{}, 1)} }

// lock takes the mutex, or returns ctx's error once ctx is done.
func (m ctxMutex) lock(ctx context.Context) error {
	select {
	case m.ch <- struct{}{}:
		return nil
	default:
	}
	select {
	case m.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unlock releases a mutex taken by lock.
func (m ctxMutex) unlock() { <-m.ch }
