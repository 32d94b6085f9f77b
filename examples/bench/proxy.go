package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// wireCounter is a TCP relay in front of the endpoint that counts what
// the client puts on the wire: bytes both ways (headers included) and the
// HTTP requests in the client-to-server stream. A relay rather than an
// HTTP proxy keeps each client connection on its own server connection,
// which connection-based authentication (NTLM) needs.
type wireCounter struct {
	ln       net.Listener
	target   string
	bytes    atomic.Int64
	requests atomic.Int64
	wg       sync.WaitGroup
}

// counts is a snapshot of a wireCounter.
type counts struct{ requests, bytes int64 }

func (c counts) sub(o counts) counts { return counts{c.requests - o.requests, c.bytes - o.bytes} }

func newWireCounter(target string) (*wireCounter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &wireCounter{ln: ln, target: target}
	w.wg.Add(1)
	go w.accept()
	return w, nil
}

func (w *wireCounter) addr() string { return w.ln.Addr().String() }

func (w *wireCounter) snapshot() counts {
	return counts{w.requests.Load(), w.bytes.Load()}
}

func (w *wireCounter) close() {
	_ = w.ln.Close()
	w.wg.Wait()
}

func (w *wireCounter) accept() {
	defer w.wg.Done()
	for {
		conn, err := w.ln.Accept()
		if err != nil {
			return
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.relay(conn)
		}()
	}
}

func (w *wireCounter) relay(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", w.target)
	if err != nil {
		return
	}
	defer server.Close()
	// The requests are counted by parsing a copy of the client's stream.
	pr, pw := io.Pipe()
	parsed := make(chan struct{})
	go func() {
		defer close(parsed)
		w.countRequests(pr)
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.copy(server, client, pw)
		_ = pw.Close()
		if tc, ok := server.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	w.copy(client, server, nil)
	_ = client.Close()
	_ = server.Close()
	<-done
	<-parsed
}

// copy relays src to dst, counting the bytes and teeing them to tee.
func (w *wireCounter) copy(dst io.Writer, src io.Reader, tee io.Writer) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			w.bytes.Add(int64(n))
			if tee != nil {
				_, _ = tee.Write(buf[:n])
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (w *wireCounter) countRequests(r io.Reader) {
	br := bufio.NewReader(r)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			_, _ = io.Copy(io.Discard, br) // keep the relay flowing
			return
		}
		w.requests.Add(1)
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
}
