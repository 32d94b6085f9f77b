package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/internal/sealedbody"
)

var alice = map[string]string{"alice": "s3cr3t-Passw0rd"}

func aliceMech() *fakeMech { return &fakeMech{user: "alice", password: "s3cr3t-Passw0rd"} }

// newTestTransport returns a Transport for fs with m, trusting 127.0.0.1.
func newTestTransport(t testing.TB, fs *fakeServer, m Mechanism) *Transport {
	base := &http.Transport{}
	if fs.srv.TLS != nil {
		base = fs.srv.Client().Transport.(*http.Transport).Clone()
	}
	tr := &Transport{Mechanism: m, Base: base, TrustedHosts: []string{"127.0.0.1"}}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// do posts body through tr and returns the response body.
func do(ctx context.Context, tr http.RoundTripper, url, body string) (string, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/wsman", strings.NewReader(body))
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Content-Type", sealedbody.SOAPContentType)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp, err
}

func mustDo(t testing.TB, tr http.RoundTripper, url, body string) {
	t.Helper()
	got, _, err := do(context.Background(), tr, url, body)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if want := "echo:" + body; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// channels returns the idle channels of tr's only endpoint.
func channels(tr *Transport) []*channel {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []*channel
	for _, p := range tr.pools {
		p.mu.Lock()
		out = append(out, p.idle...)
		p.mu.Unlock()
	}
	return out
}

func TestTransportSealedRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		tls, mutual bool
	}{
		{"http", false, false},
		{"http mutual", false, true},
		{"https", true, false},
		{"https mutual", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := newFakeServer(t, tc.tls, alice, tc.mutual)
			m := aliceMech()
			m.mutual = tc.mutual
			tr := newTestTransport(t, fs, m)
			for i := range 5 {
				got, resp, err := do(context.Background(), tr, fs.srv.URL, fmt.Sprintf("<s:Envelope>%d</s:Envelope>", i))
				if err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprintf("echo:<s:Envelope>%d</s:Envelope>", i); got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
				if ct := resp.Header.Get("Content-Type"); ct != sealedbody.SOAPContentType {
					t.Errorf("Content-Type %q", ct)
				}
				if resp.ContentLength != int64(len(got)) {
					t.Errorf("ContentLength %d, body %d", resp.ContentLength, len(got))
				}
			}
			fs.check(t)
			if fs.sealed.Load() != 5 || fs.plain.Load() != 0 {
				t.Errorf("server saw %d sealed and %d plain bodies, want 5 and 0", fs.sealed.Load(), fs.plain.Load())
			}
			if fs.handshakes.Load() != 1 || fs.conns.Load() != 1 {
				t.Errorf("%d handshakes on %d connections, want 1 on 1", fs.handshakes.Load(), fs.conns.Load())
			}
			// Probe + NEG + AUTH; a mutual proof rides on the final 200.
			if chs := channels(tr); len(chs) != 1 || chs[0].handshake != 3 {
				t.Errorf("channels %d, round trips %d, want 1 and 3", len(chs), chs[0].handshake)
			}
			if cb := m.lastTarget().bindings; tc.tls != (cb != nil) {
				t.Errorf("channel bindings %v over tls=%v", cb, tc.tls)
			} else if tc.tls && cb.Hash() != fs.cb.Hash() {
				t.Error("channel bindings differ from the server certificate's")
			}
			if h := m.lastTarget().host; h != "127.0.0.1" {
				t.Errorf("target host %q", h)
			}
		})
	}
}

func TestTransportConcurrentChannels(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, false, alice, false)
	tr := newTestTransport(t, fs, aliceMech())
	tr.MaxChannels = 4
	const workers, each = 32, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				body := fmt.Sprintf("w%d-i%d-%s", w, i, strings.Repeat("x", (w*i)%3000))
				got, _, err := do(context.Background(), tr, fs.srv.URL, body)
				if err != nil {
					errs <- err
					return
				}
				if got != "echo:"+body {
					errs <- fmt.Errorf("got %.40q for %.40q", got, body)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	fs.check(t)
	if n := fs.sealed.Load(); n != workers*each {
		t.Errorf("server saw %d sealed requests, want %d", n, workers*each)
	}
	if n := fs.conns.Load(); n < 2 || n > 4 {
		t.Errorf("%d connections, want 2..4", n)
	}
	if h, c := fs.handshakes.Load(), fs.conns.Load(); h != c {
		t.Errorf("%d handshakes on %d connections: one per connection expected", h, c)
	}
}

func TestTransportReauthenticatesWhenServerCloses(t *testing.T) {
	t.Parallel()
	t.Run("Connection: close", func(t *testing.T) {
		t.Parallel()
		fs := newFakeServer(t, false, alice, false)
		fs.closeAfterSealed.Store(true)
		tr := newTestTransport(t, fs, aliceMech())
		for i := range 4 {
			mustDo(t, tr, fs.srv.URL, fmt.Sprint("req", i))
		}
		fs.check(t)
		if h := fs.handshakes.Load(); h != 4 {
			t.Errorf("%d handshakes, want 4 (one per connection)", h)
		}
	})
	t.Run("server drops every connection", func(t *testing.T) {
		t.Parallel()
		fs := newFakeServer(t, true, alice, true)
		tr := newTestTransport(t, fs, aliceMech())
		mustDo(t, tr, fs.srv.URL, "one")
		fs.srv.CloseClientConnections()
		mustDo(t, tr, fs.srv.URL, "two")
		fs.check(t)
		if h := fs.handshakes.Load(); h != 2 {
			t.Errorf("%d handshakes, want 2", h)
		}
	})
	t.Run("hang-up right after authenticating", func(t *testing.T) {
		t.Parallel()
		// The connection dies between the handshake and the first sealed
		// request: whether the transport notices the close, or retries
		// silently on a new connection, the sealed body must not go out
		// under the old context.
		fs := newFakeServer(t, false, alice, false)
		fs.closeAfterAuth.Store(1)
		tr := newTestTransport(t, fs, aliceMech())
		mustDo(t, tr, fs.srv.URL, "after hang-up")
		fs.check(t)
		if h := fs.handshakes.Load(); h != 2 {
			t.Errorf("%d handshakes, want 2", h)
		}
	})
}

// TestGuardRefusesOtherConnection covers the guard directly: a sealed
// request that http.Transport puts on another connection than the bound
// one is not sent, and the channel re-authenticates.
func TestGuardRefusesOtherConnection(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, false, alice, false)
	tr := newTestTransport(t, fs, aliceMech())
	mustDo(t, tr, fs.srv.URL, "first")
	chs := channels(tr)
	if len(chs) != 1 {
		t.Fatalf("%d channels", len(chs))
	}
	// Pretend the context belongs to a connection the transport no longer
	// has: the live one is then "another connection".
	chs[0].bound = &trackedConn{}
	mustDo(t, tr, fs.srv.URL, "second")
	fs.check(t)
	if h := fs.handshakes.Load(); h != 2 {
		t.Errorf("%d handshakes, want 2", h)
	}

	// The guard itself: no byte leaves when the traced connection differs.
	var refused atomic.Bool
	tc := &connTrace{}
	tc.conn.Store(&trackedConn{})
	g := &guardedBody{r: bytes.NewReader([]byte("sealed")), trace: tc, bound: &trackedConn{}, refused: &refused}
	n, err := g.Read(make([]byte, 10))
	if n != 0 || !errors.Is(err, errStale) || !refused.Load() {
		t.Errorf("guard read %d, %v, refused %v", n, err, refused.Load())
	}
}

func TestTransportAccessDenied(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, false, alice, false)
	m := &fakeMech{user: "alice", password: "wrong-Passw0rd"}
	tr := newTestTransport(t, fs, m)
	_, _, err := do(context.Background(), tr, fs.srv.URL, "x")
	if !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("err = %v, want ErrAccessDenied", err)
	}
	if strings.Contains(err.Error(), m.password) {
		t.Errorf("error reveals the password: %v", err)
	}
	if want := "auth: negotiate: auth: the server refused the credentials (HTTP 401)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if fs.sealed.Load() != 0 {
		t.Error("a sealed body was sent without a context")
	}
}

func TestTransportSealed401(t *testing.T) {
	t.Parallel()
	t.Run("once: re-authenticate and retry", func(t *testing.T) {
		t.Parallel()
		fs := newFakeServer(t, false, alice, false)
		tr := newTestTransport(t, fs, aliceMech())
		mustDo(t, tr, fs.srv.URL, "a")
		fs.deny401.Store(1)
		mustDo(t, tr, fs.srv.URL, "b")
		fs.check(t)
		if h := fs.handshakes.Load(); h != 2 {
			t.Errorf("%d handshakes, want 2", h)
		}
	})
	t.Run("always: access denied", func(t *testing.T) {
		t.Parallel()
		fs := newFakeServer(t, false, alice, false)
		tr := newTestTransport(t, fs, aliceMech())
		fs.deny401.Store(100)
		_, _, err := do(context.Background(), tr, fs.srv.URL, "a")
		if !errors.Is(err, ErrAccessDenied) {
			t.Fatalf("err = %v", err)
		}
		if s := fs.sealed.Load(); s != 2 {
			t.Errorf("%d sealed attempts, want 2 (one retry)", s)
		}
	})
}

func TestTransportUnsealedResponse(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, false, alice, false)
	fs.plainResponse.Store(true)
	tr := newTestTransport(t, fs, aliceMech())
	_, _, err := do(context.Background(), tr, fs.srv.URL, "x")
	if !errors.Is(err, ErrUnsealedResponse) {
		t.Fatalf("err = %v, want ErrUnsealedResponse", err)
	}
	// The next request starts a new context and works.
	fs.plainResponse.Store(false)
	mustDo(t, tr, fs.srv.URL, "y")
	fs.check(t)
}

func TestTransportAllowUnencrypted(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, false, alice, false)
	fs.acceptPlain.Store(true)
	fs.plainResponse.Store(true)
	tr := newTestTransport(t, fs, aliceMech())
	tr.AllowUnencrypted = true
	if tr.EncryptsMessages() {
		t.Error("EncryptsMessages with AllowUnencrypted")
	}
	mustDo(t, tr, fs.srv.URL, "plain soap")
	mustDo(t, tr, fs.srv.URL, "plain soap 2")
	fs.check(t)
	if fs.plain.Load() != 2 || fs.sealed.Load() != 0 || fs.handshakes.Load() != 1 {
		t.Errorf("plain %d sealed %d handshakes %d", fs.plain.Load(), fs.sealed.Load(), fs.handshakes.Load())
	}
	if !(&Transport{}).EncryptsMessages() {
		t.Error("a default Transport must report EncryptsMessages")
	}
}

func TestTransportTamperedResponse(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, false, alice, false)
	fs.tamper.Store(true)
	tr := newTestTransport(t, fs, aliceMech())
	_, _, err := do(context.Background(), tr, fs.srv.URL, "x")
	if !errors.Is(err, ErrSealedResponse) || !errors.Is(err, ErrTampered) {
		t.Fatalf("err = %v, want ErrSealedResponse and ErrTampered", err)
	}
	fs.tamper.Store(false)
	mustDo(t, tr, fs.srv.URL, "y")
	fs.check(t)
}

func TestTransportUntrustedHost(t *testing.T) {
	t.Parallel()
	t.Run("unauthenticating mechanism refused before any request", func(t *testing.T) {
		t.Parallel()
		fs := newFakeServer(t, false, alice, false)
		tr := newTestTransport(t, fs, aliceMech())
		tr.TrustedHosts = []string{"*.corp.example", "10.0.0.1"}
		_, _, err := do(context.Background(), tr, fs.srv.URL, "x")
		if !errors.Is(err, ErrUntrustedHost) || !strings.Contains(err.Error(), "TrustedHosts") {
			t.Fatalf("err = %v, want ErrUntrustedHost", err)
		}
		if n := fs.probes.Load() + fs.authPosts.Load() + fs.sealed.Load(); n != 0 {
			t.Errorf("the server saw %d requests", n)
		}
		tr.TrustedHosts = []string{"127.0.0.*", "127.0.0.1"}
		mustDo(t, tr, fs.srv.URL, "now trusted")
	})
	t.Run("https needs no trust", func(t *testing.T) {
		t.Parallel()
		fs := newFakeServer(t, true, alice, false)
		tr := newTestTransport(t, fs, aliceMech())
		tr.TrustedHosts = nil
		mustDo(t, tr, fs.srv.URL, "over tls")
	})
	t.Run("negotiate that did not authenticate the server", func(t *testing.T) {
		t.Parallel()
		fs := newFakeServer(t, false, alice, false)
		m := aliceMech()
		m.claimsServer = true // like Negotiate towards a host name
		tr := newTestTransport(t, fs, m)
		tr.TrustedHosts = nil
		_, _, err := do(context.Background(), tr, fs.srv.URL, "x")
		if !errors.Is(err, ErrUntrustedHost) {
			t.Fatalf("err = %v, want ErrUntrustedHost", err)
		}
		if fs.handshakes.Load() != 1 || fs.sealed.Load() != 0 {
			t.Errorf("handshakes %d sealed %d, want 1 and 0", fs.handshakes.Load(), fs.sealed.Load())
		}
	})
	t.Run("mutual authentication needs no trust", func(t *testing.T) {
		t.Parallel()
		fs := newFakeServer(t, false, alice, true)
		m := aliceMech()
		m.claimsServer, m.mutual = true, true
		tr := newTestTransport(t, fs, m)
		tr.TrustedHosts = nil
		mustDo(t, tr, fs.srv.URL, "kerberos-like")
	})
}

func TestTransportUsesBaseDialerAndProxy(t *testing.T) {
	t.Parallel()
	t.Run("dialer", func(t *testing.T) {
		t.Parallel()
		for _, useTLS := range []bool{false, true} {
			fs := newFakeServer(t, useTLS, alice, false)
			tr := newTestTransport(t, fs, aliceMech())
			var dials atomic.Int32
			d := &net.Dialer{}
			tr.Base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return d.DialContext(ctx, network, addr)
			}
			mustDo(t, tr, fs.srv.URL, "a")
			fs.srv.CloseClientConnections()
			mustDo(t, tr, fs.srv.URL, "b")
			// A third dial happens when the transport raced the server's
			// close and tried the request on a fresh connection first.
			if n := dials.Load(); n != 2 && n != 3 {
				t.Errorf("tls=%v: %d dials through Base.DialContext, want 2 or 3", useTLS, n)
			}
			fs.check(t)
		}
	})
	t.Run("proxy", func(t *testing.T) {
		t.Parallel()
		fs := newFakeServer(t, false, alice, false)
		proxy := newRelayProxy(t, fs.srv.Listener.Addr().String())
		tr := newTestTransport(t, fs, aliceMech())
		tr.Base.Proxy = http.ProxyURL(proxy.url())
		// The proxy sees the target's host; ask for a name the server
		// does not resolve, so only the proxy can have carried it.
		tr.TrustedHosts = []string{"winrm.invalid"}
		mustDo(t, tr, "http://winrm.invalid:5985", "via proxy")
		mustDo(t, tr, "http://winrm.invalid:5985", "via proxy again")
		if n := proxy.conns.Load(); n != 1 {
			t.Errorf("proxy carried %d connections, want 1", n)
		}
		fs.check(t)
	})
}

// relayProxy is a forward proxy for http:// URLs that relays each client
// connection to one server connection, as a connection-aware proxy must
// for connection-bound authentication.
type relayProxy struct {
	ln    net.Listener
	conns atomic.Int32
	wg    sync.WaitGroup
}

func newRelayProxy(t testing.TB, target string) *relayProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &relayProxy{ln: ln}
	var mu sync.Mutex
	var open []net.Conn
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			open = append(open, c, s)
			mu.Unlock()
			p.wg.Go(func() { io.Copy(s, c); s.Close() })
			p.wg.Go(func() { io.Copy(c, s); c.Close() })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *relayProxy) url() *urlURL { return mustParseURL("http://" + p.ln.Addr().String()) }

func TestTransportWaitHonoursContext(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, false, alice, false)
	fs.block = make(chan struct{})
	fs.blocked = make(chan struct{}, 1)
	tr := newTestTransport(t, fs, aliceMech())
	tr.MaxChannels = 1
	done := make(chan error, 1)
	go func() {
		_, _, err := do(context.Background(), tr, fs.srv.URL, "slow")
		done <- err
	}()
	select {
	case <-fs.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the first request never reached the server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := do(ctx, tr, fs.srv.URL, "waits")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("waited %v", d)
	}
	close(fs.block)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked request did not end within 10 s")
	}
	if n := fs.conns.Load(); n != 1 {
		t.Errorf("%d connections with MaxChannels 1", n)
	}
}

func TestTransportErrors(t *testing.T) {
	t.Parallel()
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/wsman", strings.NewReader("x"))
	if _, err := (&Transport{}).RoundTrip(req); !errors.Is(err, ErrNoMechanism) {
		t.Errorf("nil mechanism: %v", err)
	}
	req, _ = http.NewRequest(http.MethodPost, "ftp://127.0.0.1/wsman", nil)
	if _, err := (&Transport{Mechanism: aliceMech()}).RoundTrip(req); err == nil {
		t.Error("ftp URL accepted")
	}
}

func TestTransportSchemeNotOffered(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, false, alice, false)
	fs.scheme = "Kerberos"
	tr := newTestTransport(t, fs, aliceMech())
	_, _, err := do(context.Background(), tr, fs.srv.URL, "x")
	if !errors.Is(err, ErrSchemeNotOffered) || !strings.Contains(err.Error(), "Kerberos") {
		t.Fatalf("err = %v", err)
	}
}

func TestTransportResponseTooLarge(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, false, alice, false)
	tr := newTestTransport(t, fs, aliceMech())
	tr.MaxResponseSize = 100
	_, _, err := do(context.Background(), tr, fs.srv.URL, strings.Repeat("x", 200))
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("err = %v", err)
	}
}
