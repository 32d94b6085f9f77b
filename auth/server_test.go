package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/sealedbody"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// fakeServer plays WinRM's side with the fake acceptor: per-connection
// security contexts, sealed request and response bodies, and knobs for the
// faults the transport must survive.
type fakeServer struct {
	t      testing.TB
	srv    *httptest.Server
	scheme string
	users  map[string]string
	mutual bool
	cb     *gss.ChannelBindings // expected channel bindings (TLS)
	// newAcceptor makes a server context; nil means the fake mechanism.
	newAcceptor func(cb *gss.ChannelBindings) gss.Acceptor
	// protocol and chunk seal responses; "" means SPNEGO.
	protocol string
	chunk    int

	// Knobs.
	plainResponse    atomic.Bool   // answer sealed requests in plaintext
	acceptPlain      atomic.Bool   // accept plaintext SOAP after authenticating
	tamper           atomic.Bool   // flip a bit of every sealed response
	closeAfterSealed atomic.Bool   // Connection: close on sealed responses
	closeAfterAuth   atomic.Int32  // hang up right after this many handshakes succeed
	deny401          atomic.Int32  // answer this many sealed requests with 401
	block            chan struct{} // when non-nil, sealed requests wait on it
	blocked          chan struct{} // signalled when a request starts waiting

	// Counters.
	conns, probes, authPosts, sealed, plain, handshakes atomic.Int64
	violations                                          atomic.Int64
	mu                                                  sync.Mutex
	violationLog                                        []string
}

type connKey struct{}

// connState is the server's state for one TCP connection.
type connState struct {
	acc         gss.Acceptor
	established bool
}

func newFakeServer(t testing.TB, tls bool, users map[string]string, mutual bool) *fakeServer {
	fs := &fakeServer{t: t, scheme: "Negotiate", users: users, mutual: mutual}
	fs.srv = httptest.NewUnstartedServer(http.HandlerFunc(fs.serve))
	fs.srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		fs.conns.Add(1)
		return context.WithValue(ctx, connKey{}, &connState{})
	}
	if tls {
		fs.srv.StartTLS()
		fs.cb = gss.TLSServerEndPoint(fs.srv.Certificate())
	} else {
		fs.srv.Start()
	}
	t.Cleanup(fs.srv.Close)
	return fs
}

func (fs *fakeServer) violation(format string) {
	fs.violations.Add(1)
	fs.mu.Lock()
	fs.violationLog = append(fs.violationLog, format)
	fs.mu.Unlock()
}

func (fs *fakeServer) check(t testing.TB) {
	t.Helper()
	if n := fs.violations.Load(); n != 0 {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		t.Errorf("server saw %d violations: %q", n, fs.violationLog)
	}
}

func (fs *fakeServer) challenge(w http.ResponseWriter, token []byte) {
	v := fs.scheme
	if token != nil {
		v += " " + b64(token)
	}
	w.Header().Add("WWW-Authenticate", v)
	w.Header().Add("WWW-Authenticate", "Basic realm=\"WSMAN\"")
	w.WriteHeader(http.StatusUnauthorized)
}

func (fs *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	st := r.Context().Value(connKey{}).(*connState)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if authz := r.Header.Get("Authorization"); authz != "" {
		fs.authPosts.Add(1)
		if len(body) != 0 {
			fs.violation("handshake POST with a body")
		}
		scheme, tok, _ := strings.Cut(authz, " ")
		in, err := base64.StdEncoding.DecodeString(tok)
		if !strings.EqualFold(scheme, fs.scheme) || err != nil {
			fs.challenge(w, nil)
			return
		}
		if st.acc == nil || st.established {
			if fs.newAcceptor != nil {
				st.acc = fs.newAcceptor(fs.cb)
			} else {
				st.acc = &fakeAcceptor{users: fs.users, mutual: fs.mutual, cb: fs.cb}
			}
			st.established = false
		}
		out, err := st.acc.Step(r.Context(), in)
		if err != nil {
			fs.t.Logf("server: step: %v", err)
			st.acc = nil
			fs.challenge(w, nil)
			return
		}
		if testing.Verbose() {
			fs.t.Logf("server: in %d out %d established %v", len(in), len(out), st.acc.Established())
		}
		if !st.acc.Established() {
			fs.challenge(w, out)
			return
		}
		st.established = true
		fs.handshakes.Add(1)
		if out != nil {
			w.Header().Set("WWW-Authenticate", fs.scheme+" "+b64(out))
		}
		if fs.closeAfterAuth.Load() > 0 && fs.closeAfterAuth.Add(-1) >= 0 {
			hangUp(w, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	ct := r.Header.Get("Content-Type")
	switch {
	case sealedbody.IsSealed(ct):
		fs.sealed.Add(1)
		if !st.established {
			fs.violation("sealed body on a connection that did not authenticate")
			fs.challenge(w, nil)
			return
		}
		msg, err := sealedbody.Open(st.acc, ct, body, 0)
		if err != nil {
			fs.violation("open: " + err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if fs.deny401.Load() > 0 && fs.deny401.Add(-1) >= 0 {
			st.acc, st.established = nil, false
			fs.challenge(w, nil)
			return
		}
		if fs.block != nil {
			fs.blocked <- struct{}{}
			select { // released by the test, or given up with the request
			case <-fs.block:
			case <-r.Context().Done():
				return
			}
		}
		reply := echo(msg)
		if fs.closeAfterSealed.Load() {
			w.Header().Set("Connection", "close")
		}
		if fs.plainResponse.Load() {
			w.Header().Set("Content-Type", sealedbody.SOAPContentType)
			w.Write(reply)
			return
		}
		proto := fs.protocol
		if proto == "" {
			proto = sealedbody.ProtocolSPNEGO
		}
		rct, out, err := sealedbody.Seal(st.acc, proto, reply, fs.chunk)
		if err != nil {
			fs.violation("seal: " + err.Error())
			return
		}
		if fs.tamper.Load() {
			// The last sealed byte sits just before the closing boundary.
			i := bytes.LastIndex(out, []byte("--"+sealedbody.Boundary+"--"))
			out[i-1] ^= 0x01
		}
		w.Header().Set("Content-Type", rct)
		w.Write(out)
	case len(body) == 0:
		fs.probes.Add(1)
		fs.challenge(w, nil)
	default:
		fs.plain.Add(1)
		if !st.established || !fs.acceptPlain.Load() {
			fs.violation("plaintext SOAP body")
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", sealedbody.SOAPContentType)
		w.Write(echo(body))
	}
}

// hangUp writes a raw response and closes the connection without telling
// the client it will.
func hangUp(w http.ResponseWriter, raw string) {
	c, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	buf.WriteString(raw)
	buf.Flush()
	c.Close()
}

// echo is the fake SOAP service: it answers with the request reversed
// around a marker, so a test sees the answer belongs to its request.
func echo(msg []byte) []byte { return append([]byte("echo:"), msg...) }

type urlURL = url.URL

func mustParseURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
