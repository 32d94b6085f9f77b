package auth

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// maxPooledResponse bounds the buffers kept for reuse: WinRM envelopes
// stay within a few hundred KB, and a rare larger body is left to the GC
// rather than held by the pool.
const maxPooledResponse = 1 << 20

// responseBuffers holds *[]byte buffers that response bodies were read
// into, for the next response.
var responseBuffers sync.Pool

// responseBufferStep rounds the capacity of new buffers up, so that a
// buffer fits the next bodies of about the same size (consecutive
// envelopes differ by a few bytes) and the pool is not defeated.
const responseBufferStep = 64 << 10

// getResponseBuffer returns a buffer of length n, a pooled one when it is
// large enough.
func getResponseBuffer(n int) *[]byte {
	if p, ok := responseBuffers.Get().(*[]byte); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n, (n+responseBufferStep-1)/responseBufferStep*responseBufferStep)
	return &b
}

// putResponseBuffer hands a buffer nobody reads any more back to the pool.
func putResponseBuffer(p *[]byte) {
	if cap(*p) <= maxPooledResponse {
		responseBuffers.Put(p)
	}
}

// readLimited reads r up to limit bytes; more is ErrResponseTooLarge.
// size is the announced Content-Length (-1 when unknown): a body that
// announces it is read into one buffer of that size, pooled, instead of a
// buffer that grows by doubling. The caller owns the returned buffer and
// puts it back with putResponseBuffer when done.
func readLimited(r io.Reader, size, limit int64) (*[]byte, error) {
	if size > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, limit)
	}
	if size >= 0 {
		// net/http stops the body at Content-Length and reports a short
		// one as io.ErrUnexpectedEOF.
		buf := getResponseBuffer(int(size))
		if _, err := io.ReadFull(r, *buf); err != nil {
			putResponseBuffer(buf)
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return buf, nil
	}
	var b bytes.Buffer
	n, err := b.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, limit)
	}
	data := b.Bytes()
	return &data, nil
}

// responseBody is the body of a response the channel read in full (and
// opened): data, which lies in buf. Close returns buf to the pool, so
// nothing may read the body after closing it, as with any HTTP body.
type responseBody struct {
	r   bytes.Reader
	buf *[]byte
}

func newResponseBody(data []byte, buf *[]byte) *responseBody {
	b := &responseBody{buf: buf}
	b.r.Reset(data)
	return b
}

func (b *responseBody) Read(p []byte) (int, error) { return b.r.Read(p) }

// WriteTo lets io.Copy take the bytes without an intermediate buffer.
func (b *responseBody) WriteTo(w io.Writer) (int64, error) { return b.r.WriteTo(w) }

func (b *responseBody) Close() error {
	if b.buf != nil {
		// A second Close must not put the same buffer in the pool twice.
		b.r.Reset(nil)
		putResponseBuffer(b.buf)
		b.buf = nil
	}
	return nil
}
