package winrmtransport_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/masterzen/winrm"
	"go.uber.org/goleak"

	"github.com/gopsrp/gopsrp/internal/endpointtest"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/winrmtransport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testUser     = "alice"
	testPassword = "Pa55w.rd-winrmtransport"
)

// authServer starts an emulated endpoint with testUser and the schemes of
// enabled, message encryption required as on Windows.
func authServer(t *testing.T, useTLS bool, enabled sessiontest.AuthConfig, configure func(*sessiontest.Server)) *sessiontest.Server {
	t.Helper()
	return endpointtest.Start(t, useTLS, map[string]string{testUser: testPassword}, enabled, configure)
}

// endpointOf is the masterzen/winrm Endpoint of srv, addressed as host
// ("" keeps 127.0.0.1), trusting srv's certificate over HTTPS.
func endpointOf(t *testing.T, srv *sessiontest.Server, host string) *winrm.Endpoint {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	if host == "" {
		host = u.Hostname()
	}
	ep := &winrm.Endpoint{Host: host, Port: port, HTTPS: u.Scheme == "https", Timeout: 30 * time.Second}
	if ep.HTTPS {
		ep.CACert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	}
	return ep
}

// newClient is a masterzen/winrm client of ep whose transport is tr: the
// one-line change a user makes. It closes tr's connections at the end.
func newClient(t *testing.T, ep *winrm.Endpoint, tr *winrmtransport.Transport, configure func(*winrm.Parameters)) *winrm.Client {
	t.Helper()
	params := winrm.NewParameters("PT60S", "en-US", 153600)
	params.TransportDecorator = func() winrm.Transporter { return tr }
	if configure != nil {
		configure(params)
	}
	// The user name and password are the mechanism's; masterzen/winrm's
	// own are not used.
	c, err := winrm.NewClientWithParameters(ep, "ignored", "ignored", params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return c
}

// testContext is a context that ends with the test, or after 30 s.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wire records what crosses the connections it dials: the bytes each way
// and the number of connections, so tests can check on the wire that
// messages were sealed and that connections stay authenticated.
type wire struct {
	mu             sync.Mutex
	dials          int
	sent, received bytes.Buffer
}

// dialContext dials addr and records the connection.
func (w *wire) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.dials++
	w.mu.Unlock()
	return &recordedConn{Conn: c, w: w}, nil
}

// dial is dialContext in the shape of winrm.Parameters.Dial.
func (w *wire) dial(network, addr string) (net.Conn, error) {
	return w.dialContext(context.Background(), network, addr)
}

// stats returns the number of connections and the bytes sent and received.
func (w *wire) stats() (dials int, sent, received string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dials, w.sent.String(), w.received.String()
}

type recordedConn struct {
	net.Conn
	w *wire
}

func (c *recordedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.mu.Lock()
	c.w.received.Write(p[:n])
	c.w.mu.Unlock()
	return n, err
}

func (c *recordedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.w.mu.Lock()
	c.w.sent.Write(p[:n])
	c.w.mu.Unlock()
	return n, err
}

// requestsWith counts the HTTP requests in sent whose headers hold substr
// (case-insensitively).
func requestsWith(sent, substr string) int {
	n := 0
	for _, part := range strings.Split(sent, "POST /wsman")[1:] {
		head, _, _ := strings.Cut(part, "\r\n\r\n")
		if strings.Contains(strings.ToLower(head), strings.ToLower(substr)) {
			n++
		}
	}
	return n
}

// tlsRecorder is a TLS-terminating proxy in front of srv: it serves cert
// (which srv must serve too, so that channel bindings still match), records
// the plaintext HTTP into w and forwards it to srv over TLS. It returns the
// proxy's port.
func tlsRecorder(t *testing.T, srv *sessiontest.Server, cert tls.Certificate, w *wire) int {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(srv.URL, "https://")
	target, _, _ = strings.Cut(target, "/")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			track(in)
			//nolint:gosec // a loopback hop to the test's own server
			out, err := tls.Dial("tcp", target, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
			if err != nil {
				_ = in.Close()
				continue
			}
			track(out)
			w.mu.Lock()
			w.dials++
			w.mu.Unlock()
			rec := &recordedConn{Conn: out, w: w}
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(rec, in); _ = rec.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(in, rec); _ = in.Close() }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// serverCertificate makes a self-signed certificate for localhost and
// 127.0.0.1, and its PEM form for Endpoint.CACert.
func serverCertificate(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
