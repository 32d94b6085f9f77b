package sessiontest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/sealedbody"
)

// rawConn is one TCP (or TLS) connection to the server, so that tests know
// exactly which requests share a connection and its security context.
type rawConn struct {
	t   testing.TB
	url string
	c   net.Conn
	br  *bufio.Reader
}

// dial opens a connection to s; certs, when given, are the TLS client
// certificates.
func dial(t testing.TB, s *Server, certs ...tls.Certificate) *rawConn {
	t.Helper()
	addr := strings.TrimPrefix(strings.TrimPrefix(s.URL, "http://"), "https://")
	addr = strings.TrimSuffix(addr, "/wsman")
	var c net.Conn
	var err error
	if s.Certificate() != nil {
		roots := x509.NewCertPool()
		roots.AddCert(s.Certificate())
		c, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: certs})
	} else {
		c, err = net.Dial("tcp", addr)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t: t, url: s.URL, c: c, br: bufio.NewReader(c)}
}

// response is an answer read off a rawConn.
type response struct {
	status int
	header http.Header
	body   []byte
	close  bool // the server closes the connection after it
}

// post sends one POST with the given headers and body and reads the answer.
func (rc *rawConn) post(header http.Header, contentType string, body []byte) *response {
	rc.t.Helper()
	req, err := http.NewRequest(http.MethodPost, rc.url, bytes.NewReader(body))
	require.NoError(rc.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	require.NoError(rc.t, req.Write(rc.c))
	resp, err := http.ReadResponse(rc.br, req)
	require.NoError(rc.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(rc.t, err)
	return &response{status: resp.StatusCode, header: resp.Header, body: b, close: resp.Close}
}

// token returns the base64 token of a "scheme token" WWW-Authenticate.
func (r *response) token(t testing.TB, scheme string) []byte {
	t.Helper()
	for _, v := range r.header.Values("WWW-Authenticate") {
		s, tok, ok := strings.Cut(v, " ")
		if ok && strings.EqualFold(s, scheme) {
			b, err := base64.StdEncoding.DecodeString(tok)
			require.NoError(t, err)
			return b
		}
	}
	return nil
}

// handshake authenticates the connection with ini under scheme, with empty
// POSTs as clients do before sealing. It returns the last response.
func (rc *rawConn) handshake(scheme string, ini gss.Initiator) *response {
	rc.t.Helper()
	var in []byte
	for i := 0; i < 10; i++ {
		out, err := ini.Step(context.Background(), in)
		require.NoError(rc.t, err)
		if len(out) == 0 && ini.Established() {
			rc.t.Fatal("initiator established before the server answered 200")
		}
		r := rc.post(http.Header{"Authorization": {scheme + " " + base64.StdEncoding.EncodeToString(out)}}, "", nil)
		in = r.token(rc.t, scheme)
		if r.status != http.StatusUnauthorized {
			if len(in) > 0 && !ini.Established() {
				_, err := ini.Step(context.Background(), in)
				require.NoError(rc.t, err)
			}
			return r
		}
		if len(in) == 0 && (scheme != "CredSSP" || i == 0 || ini.Established()) {
			return r // refused
		}
		// CredSSP over TLS 1.3: the client's Finished goes alone and the
		// server may answer it with an empty token; the client goes on.
	}
	rc.t.Fatal("handshake does not end")
	return nil
}

// sealed posts a SOAP body sealed with ini under protocol and opens the
// answer, which must be sealed too.
func (rc *rawConn) sealed(ini gss.Sealer, protocol string, body []byte) *reply {
	rc.t.Helper()
	chunk := 0
	if protocol == sealedbody.ProtocolCredSSP {
		chunk = sealedbody.CredSSPChunkSize
	}
	ct, out, err := sealedbody.Seal(ini, protocol, body, chunk)
	require.NoError(rc.t, err)
	r := rc.post(nil, ct, out)
	return rc.openReply(ini, r)
}

func (rc *rawConn) openReply(ini gss.Sealer, r *response) *reply {
	rc.t.Helper()
	ct := r.header.Get("Content-Type")
	require.True(rc.t, sealedbody.IsSealed(ct), "status %d, answer not sealed: %q %q", r.status, ct, r.body)
	plain, err := sealedbody.Open(ini, ct, r.body, 0)
	require.NoError(rc.t, err)
	rep := &reply{status: r.status, body: plain}
	rep.tree, err = parseTree(plain)
	require.NoError(rc.t, err)
	return rep
}

// plain posts an unsealed SOAP body.
func (rc *rawConn) plain(header http.Header, body []byte) *response {
	rc.t.Helper()
	return rc.post(header, "application/soap+xml;charset=UTF-8", body)
}

// dialTLSState returns a TLS connection state as a client of s sees it, to
// compute the bindings the server expects.
func dialTLSState(t testing.TB, s *Server) *tls.ConnectionState {
	t.Helper()
	rc := dial(t, s)
	st := rc.c.(*tls.Conn).ConnectionState()
	return &st
}

func b64bytes(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
