package auth

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gopsrp/gopsrp/internal/sealedbody"
)

// benchRoundTrips sends body through tr to fs b.N times.
func benchRoundTrips(b *testing.B, tr http.RoundTripper, url string, size int) {
	body := strings.Repeat("x", size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url+"/wsman", strings.NewReader(body))
		req.Header.Set("Content-Type", sealedbody.SOAPContentType)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkRoundTrip compares a sealed NTLM round trip through the
// Transport with a plain one through http.Transport, against the same
// local server.
func BenchmarkRoundTrip(b *testing.B) {
	for _, size := range []int{1 << 10, 512 << 10} {
		name := "1KB"
		if size > 1<<10 {
			name = "512KB"
		}
		b.Run("sealed-ntlm-"+name, func(b *testing.B) {
			fs := newFakeServer(b, false, alice, false)
			fs.newAcceptor = ntlmAcceptor(b)
			tr := newTestTransport(b, fs, &NTLM{Username: "alice", Password: alice["alice"]})
			benchRoundTrips(b, tr, fs.srv.URL, size)
		})
		b.Run("plain-"+name, func(b *testing.B) {
			fs := newFakeServer(b, false, alice, false)
			fs.acceptPlain.Store(true)
			fs.plainResponse.Store(true)
			tr := newTestTransport(b, fs, aliceMech())
			tr.AllowUnencrypted = true // authenticate once, then plain bodies
			benchRoundTrips(b, tr, fs.srv.URL, size)
		})
	}
}
