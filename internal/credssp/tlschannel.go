package credssp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// maxToken bounds an incoming token: a TSRequest of maxMessage bytes plus
// the TLS record overhead, or a handshake flight.
const maxToken = maxMessage + 4096

// tlsChannel is the TLS session of a CredSSP context, run over Step calls.
type tlsChannel struct {
	conn    *memConn
	tls     *tls.Conn
	hsDone  chan error
	started bool
	ready   bool // handshake complete
}

func newTLSChannel(client bool, cfg *tls.Config) *tlsChannel {
	conn := newMemConn()
	t := &tlsChannel{conn: conn, hsDone: make(chan error, 1)}
	if client {
		t.tls = tls.Client(conn, cfg)
	} else {
		t.tls = tls.Server(conn, cfg)
	}
	return t
}

// runHandshake is the handshake goroutine. It holds only the TLS
// connection and the result channel (never the Client or Server), so an
// abandoned context can still be collected and its cleanup can close conn.
func runHandshake(c *tls.Conn, done chan<- error) {
	done <- c.Handshake()
}

// handshake supplies in to the handshake and returns what TLS wrote until
// it waits for the peer (done false) or finishes (done true).
func (t *tlsChannel) handshake(ctx context.Context, in []byte) (out []byte, done bool, err error) {
	if len(in) > maxToken {
		return nil, false, fmt.Errorf("credssp: TLS handshake token of %d bytes exceeds the limit: %w", len(in), gss.ErrBadToken)
	}
	if !t.started {
		t.started = true
		t.conn.supply(in)
		go runHandshake(t.tls, t.hsDone)
	} else {
		// The handshake goroutine is waiting in Read (the last step saw
		// it blocked): hand it the token.
		select {
		case t.conn.feed <- in:
		case <-t.conn.closeCh:
			return nil, false, fmt.Errorf("credssp: TLS handshake: %w", net.ErrClosed)
		}
	}
	select {
	case <-t.conn.blocked:
		return t.conn.take(0), false, nil
	case err := <-t.hsDone:
		t.conn.setNonBlocking()
		out := t.conn.take(0)
		if err != nil {
			return out, false, tlsError("TLS handshake", err)
		}
		t.ready = true
		return out, true, nil
	case <-ctx.Done():
		return nil, false, fmt.Errorf("credssp: TLS handshake: %w", ctx.Err())
	}
}

// tlsError classifies a crypto/tls error.
func tlsError(op string, err error) error {
	var cv *tls.CertificateVerificationError
	switch {
	case errors.As(err, &cv):
		return fmt.Errorf("credssp: %s: %w (%w)", op, gss.ErrAuthFailed, err)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("credssp: %s: peer closed the TLS session: %w", op, gss.ErrBadToken)
	case strings.Contains(err.Error(), "bad record MAC"), strings.Contains(err.Error(), "decrypt"):
		return fmt.Errorf("credssp: %s: %w (%w)", op, gss.ErrIntegrity, err)
	default:
		return fmt.Errorf("credssp: %s: %w (%w)", op, gss.ErrBadToken, err)
	}
}

// seal writes msg as application data and returns the TLS records.
func (t *tlsChannel) seal(msg []byte) ([]byte, error) {
	// Anything TLS wrote on its own since (a KeyUpdate answer) goes first.
	prior := t.conn.take(len(msg) + (len(msg)/16384+1)*64)
	if _, err := t.tls.Write(msg); err != nil {
		t.conn.take(0)
		return nil, fmt.Errorf("credssp: seal: %w", err)
	}
	out := t.conn.take(0)
	if len(prior) > 0 {
		out = append(prior, out...)
	}
	return out, nil
}

// open feeds complete TLS records (split anywhere between the buffers) to
// the session and returns the application data they carry.
func (t *tlsChannel) open(bufs ...[]byte) ([]byte, error) {
	total, err := checkRecords(bufs...)
	if err != nil {
		return nil, err
	}
	t.conn.supply(bufs...)
	out := make([]byte, total)
	n := 0
	for {
		if n == len(out) {
			// Room for at least one more record's worth, in case TLS
			// still buffers some (it cannot: plaintext < ciphertext).
			out = append(out, make([]byte, 512)...)
		}
		m, err := t.tls.Read(out[n:])
		n += m
		if err != nil {
			if isWouldBlock(err) {
				break
			}
			t.conn.discardInput()
			t.conn.take(0) // an alert TLS wanted to send
			return nil, tlsError("open", err)
		}
	}
	return out[:n], nil
}

// checkRecords checks that the concatenated buffers are whole TLS records
// and returns their total length.
func checkRecords(bufs ...[]byte) (int, error) {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	at := func(i int) byte {
		for _, b := range bufs {
			if i < len(b) {
				return b[i]
			}
			i -= len(b)
		}
		return 0
	}
	for pos := 0; pos < total; {
		if total-pos < 5 {
			return 0, fmt.Errorf("credssp: truncated TLS record header: %w", gss.ErrBadToken)
		}
		n := int(at(pos+3))<<8 | int(at(pos+4))
		pos += 5 + n
		if pos > total {
			return 0, fmt.Errorf("credssp: truncated TLS record: %w", gss.ErrBadToken)
		}
	}
	return total, nil
}

// close ends the session and the handshake goroutine, if still running.
func (t *tlsChannel) close() {
	t.conn.Close()
}

// trailerLen is the length of the "header" of a sealed WinRM message of
// dataLen plaintext bytes: the split Windows' SChannel reports as the
// stream trailer (pyspnego _tls_trailer_length). Only the 4-byte length
// prefix of the multipart body depends on it; peers concatenate header and
// data before decrypting.
func (t *tlsChannel) trailerLen(dataLen int) int {
	st := t.tls.ConnectionState()
	if st.Version == tls.VersionTLS13 {
		return 17
	}
	name := tls.CipherSuiteName(st.CipherSuite)
	if strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20") {
		return 16
	}
	mac := 0
	switch {
	case strings.HasSuffix(name, "_SHA384"):
		mac = 48
	case strings.HasSuffix(name, "_SHA256"):
		mac = 32
	case strings.HasSuffix(name, "_SHA"):
		mac = 20
	case strings.HasSuffix(name, "_MD5"):
		mac = 16
	}
	pre := dataLen + mac
	pad := 0
	switch {
	case strings.Contains(name, "RC4"):
	case strings.Contains(name, "3DES"):
		pad = 8 - pre%8
	default:
		pad = 16 - pre%16
	}
	return mac + pad
}

// splitSealed splits sealed records into the WinRM header and data.
func splitSealed(rec []byte, trailer int) (header, data []byte) {
	trailer = min(trailer, len(rec))
	return rec[:trailer:trailer], rec[trailer:]
}
