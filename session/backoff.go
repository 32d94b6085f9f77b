package session

import (
	"context"
	"time"
)

// Receive back-off: a Receive that comes back with nothing (the TimedOut
// fault, or an empty response) sooner than half the OperationTimeout means
// the server does not hold Receives as WinRM does; the next one waits,
// starting at minBackoff and doubling up to maxBackoff, so that such a
// server gets a bounded rate of requests instead of a spin. Data, or an
// empty answer that took as long as WinRM takes, resets it.
const (
	minBackoff = 10 * time.Millisecond
	maxBackoff = time.Second
)

// backoff is the delay state of one receive loop.
type backoff struct {
	next time.Duration // 0: no delay due
}

// observe records the outcome of one Receive: whether it carried data and
// how long it took against the operation timeout op.
func (b *backoff) observe(gotData bool, took, op time.Duration) {
	if gotData || took >= op/2 {
		b.next = 0
		return
	}
	switch {
	case b.next == 0:
		b.next = minBackoff
	case b.next < maxBackoff:
		b.next = min(2*b.next, maxBackoff)
	}
}

// wait sleeps for the pending delay, or until ctx or wake is done. It
// reports false if ctx ended the wait.
func (b *backoff) wait(ctx context.Context, wake <-chan struct{}) bool {
	if b.next == 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(b.next)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-wake:
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}
