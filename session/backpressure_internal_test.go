package session

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// A consumer that reads nothing holds the pipeline's queue at the bound:
// the receive loop stops polling (so the server, not the client, buffers
// the rest), and everything arrives once the consumer reads.
func TestBackpressureHoldsTheQueue(t *testing.T) {
	t.Parallel()
	const n = 3 * maxQueued
	p := startFlood(t, n, func(i int) any { return int32(i) })
	queued := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.queue)
	}
	// Wait until the queue stops growing (an empty queue has not started:
	// on a busy machine the first output may take a while).
	last, stableSince := -1, time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Since(stableSince) < 500*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatalf("the queue kept changing (%d records)", queued())
		}
		if q := queued(); q != last || q == 0 {
			last, stableSince = q, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	if last < maxQueued || last >= n {
		t.Errorf("an unread pipeline holds %d records, want the bound (%d, plus at most one Receive's worth) and fewer than the %d written", last, maxQueued, n)
	}
	select {
	case <-p.Done():
		t.Error("the pipeline ended though its consumer read nothing")
	default:
	}
	res, err := p.Wait()
	if err != nil || len(res.Output) != n {
		t.Fatalf("Wait: %d outputs, %v; want %d", len(res.Output), err, n)
	}
}

// Large records are bounded by their size too: a consumer that reads
// nothing holds about maxQueuedBytes of 1 MiB strings, not 4096 of them.
func TestBackpressureBoundsQueuedBytes(t *testing.T) {
	t.Parallel()
	const n, size = 48, 1 << 20
	chunk := strings.Repeat("x", size)
	p := startFlood(t, n, func(int) any { return chunk })
	queued := func() (int, int) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.queue), p.queuedBytes
	}
	// The queue fills to the byte bound (slowly on a loaded machine), then
	// stays there: the receive loop stops polling.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, b := queued(); b >= maxQueuedBytes {
			break
		}
		if time.Now().After(deadline) {
			records, bytes := queued()
			t.Fatalf("the queue never reached the byte bound: %d records of %d bytes", records, bytes)
		}
	}
	time.Sleep(300 * time.Millisecond)
	records, bytes := queued()
	if bytes > maxQueuedBytes+2*size || records >= n {
		t.Errorf("an unread pipeline holds %d records of %d bytes, want about %d bytes and fewer than %d records", records, bytes, maxQueuedBytes, n)
	}
	res, err := p.Wait()
	if err != nil || len(res.Output) != n {
		t.Fatalf("Wait: %d outputs, %v; want %d", len(res.Output), err, n)
	}
}

// startFlood starts a pipeline on a new endpoint whose handler writes n
// outputs, item(i) each, as fast as the client takes them.
func startFlood(t *testing.T, n int, item func(int) any) *Pipeline {
	t.Helper()
	srv := sessiontest.NewServer()
	t.Cleanup(srv.Close)
	srv.Handle("Flood", func(ctx context.Context, c *sessiontest.Call) error {
		for i := range n {
			if err := c.WriteOutput(item(i)); err != nil {
				return err
			}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	s, err := New(ctx, srv.URL, WithHTTPClient(srv.Client()), WithAllowUnencrypted())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	p, err := s.StartScript(ctx, "Flood")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
