package auth

import (
	"context"
	"sync"
	"testing"
	"time"
)

// twoChannels makes tr open two channels, one after the other: the first
// request is held by the server (block) while the second goes out.
func twoChannels(t *testing.T, fs *fakeServer, tr *Transport) {
	t.Helper()
	fs.block = make(chan struct{})
	fs.blocked = make(chan struct{}, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, _, err := do(ctx, tr, fs.srv.URL, "x"); err != nil {
				t.Error(err)
			}
		})
		select {
		case <-fs.blocked:
		case <-time.After(10 * time.Second):
			t.Fatal("no request reached the server within 10s")
		}
	}
	close(fs.block)
	wg.Wait()
}

// Over plain HTTP, the channels of one endpoint after the first start with
// their first token: the probe's answer (the offered schemes) is known, and
// there is no certificate to bind to.
func TestTransportProbesOncePerEndpointOverHTTP(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, false, alice, false)
	tr := newTestTransport(t, fs, aliceMech())
	twoChannels(t, fs, tr)
	fs.check(t)
	if n := fs.conns.Load(); n < 2 {
		t.Fatalf("%d connections, want 2", n)
	}
	if n := fs.probes.Load(); n != 1 {
		t.Errorf("%d probes for %d connections, want 1", n, fs.conns.Load())
	}
	if h, c := fs.handshakes.Load(), fs.conns.Load(); h != c {
		t.Errorf("%d handshakes on %d connections", h, c)
	}
}

// Over HTTPS every channel probes: the probe's answer carries the
// certificate of the very connection its channel binding must name.
func TestTransportProbesEveryChannelOverHTTPS(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, true, alice, false)
	tr := newTestTransport(t, fs, aliceMech())
	twoChannels(t, fs, tr)
	fs.check(t)
	if p, c := fs.probes.Load(), fs.conns.Load(); p != c || c < 2 {
		t.Errorf("%d probes for %d connections, want one each", p, c)
	}
}
