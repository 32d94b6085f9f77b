package sessiontest

import (
	"bufio"
	"bytes"
	"mime"
	"net"
	"net/http"
	"strconv"

	"github.com/gopsrp/gopsrp/internal/sealedbody"
)

// protocolOf returns the sealedbody protocol of an HTTP scheme.
func protocolOf(scheme string) string {
	switch scheme {
	case schemeKerberos:
		return sealedbody.ProtocolKerberos
	case schemeCredSSP:
		return sealedbody.ProtocolCredSSP
	}
	return sealedbody.ProtocolSPNEGO
}

// replyProtocol is the protocol a sealed response uses: the request's, when
// it is one WinRM knows (a Negotiate client may label Kerberos wraps
// either way), else the scheme's.
func replyProtocol(contentType, scheme string) string {
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		switch p := params["protocol"]; p {
		case sealedbody.ProtocolSPNEGO, sealedbody.ProtocolKerberos, sealedbody.ProtocolCredSSP:
			return p
		}
	}
	return protocolOf(scheme)
}

// open unseals a request body with the connection's context.
func (c *connState) open(contentType string, body []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		return nil, errNoMechanism
	}
	return sealedbody.Open(c.ctx, contentType, body, 0)
}

// sealingWriter holds a response back and seals it with the connection's
// context when the handler is done, as Windows answers a sealed request.
type sealingWriter struct {
	http.ResponseWriter
	conn     *connState
	protocol string
	status   int
	buf      bytes.Buffer
	hijacked bool
}

func (sw *sealingWriter) WriteHeader(code int) {
	if sw.status == 0 {
		sw.status = code
	}
}

func (sw *sealingWriter) Write(p []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	return sw.buf.Write(p)
}

// Hijack lets injected faults drop the connection.
func (sw *sealingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	sw.hijacked = true
	return http.NewResponseController(sw.ResponseWriter).Hijack()
}

// finish seals what the handler wrote and sends it. Nothing is sent when
// the handler wrote nothing (a dropped connection).
func (sw *sealingWriter) finish() {
	if sw.hijacked || sw.status == 0 {
		return
	}
	if sw.buf.Len() == 0 {
		sw.ResponseWriter.Header().Set("Content-Length", "0")
		sw.ResponseWriter.WriteHeader(sw.status)
		return
	}
	chunk := 0
	if sw.protocol == sealedbody.ProtocolCredSSP {
		chunk = sealedbody.CredSSPChunkSize
	}
	sw.conn.mu.Lock()
	var (
		ct  string
		out []byte
		err error
	)
	if sw.conn.ctx != nil {
		ct, out, err = sealedbody.Seal(sw.conn.ctx, sw.protocol, sw.buf.Bytes(), chunk)
	} else {
		err = errNoMechanism
	}
	sw.conn.mu.Unlock()
	if err != nil {
		sw.ResponseWriter.Header().Set("Connection", "close")
		sw.ResponseWriter.Header().Set("Content-Length", "0")
		sw.ResponseWriter.WriteHeader(http.StatusInternalServerError)
		return
	}
	h := sw.ResponseWriter.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(out)))
	sw.ResponseWriter.WriteHeader(sw.status)
	_, _ = sw.ResponseWriter.Write(out)
}
