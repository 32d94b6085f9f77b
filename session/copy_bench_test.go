package session_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// Copies to and from the endpoint over HTTP with NTLM sealing (a default
// Windows host) and over HTTPS with Basic, reporting MB/s and the peak
// heap of the process (client and endpoint together):
//
//	go test ./session -run '^$' -bench 'Copy' -benchtime 1x
func BenchmarkCopyTo1MB(b *testing.B)     { benchCopy(b, 1<<20, false) }
func BenchmarkCopyTo256MB(b *testing.B)   { benchCopy(b, 256<<20, false) }
func BenchmarkCopyFrom1MB(b *testing.B)   { benchCopy(b, 1<<20, true) }
func BenchmarkCopyFrom256MB(b *testing.B) { benchCopy(b, 256<<20, true) }

func benchCopy(b *testing.B, size int64, from bool) {
	for _, transport := range []string{"http-ntlm-sealed", "https-basic"} {
		b.Run(transport, func(b *testing.B) {
			srv := sessiontest.NewUnstartedServer()
			srv.Users = map[string]string{authUser: authPassword}
			opts := []session.Option{}
			if strings.HasPrefix(transport, "https") {
				srv.Auth = sessiontest.AuthConfig{Basic: true}
				srv.StartTLS()
				opts = append(opts, session.WithHTTPClient(srv.Client()), session.WithBasicAuth(authUser, authPassword))
			} else {
				srv.Auth = sessiontest.AuthConfig{Negotiate: true}
				srv.Start()
				opts = append(opts, session.WithHTTPClient(&http.Client{Transport: srv.Client().Transport}),
					session.WithNTLM(authUser, authPassword), session.WithTrustedHosts("127.0.0.1"))
			}
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			s, err := session.New(ctx, srv.URL, opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(context.Background())
			dir, _ := srv.Files().LocalPath(`C:\bench`)
			os.MkdirAll(dir, 0o777)
			if from {
				if err := s.Upload(ctx, io.LimitReader(&patternReader{}, size), `C:\bench\f`); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			var ms runtime.MemStats
			peak := uint64(0)
			stop := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for {
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
			}()
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				if from {
					err = s.Download(ctx, `C:\bench\f`, io.Discard)
				} else {
					err = s.Upload(ctx, io.LimitReader(&patternReader{}, size), `C:\bench\f`)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			close(stop)
			select {
			case <-sampled:
			case <-time.After(10 * time.Second):
				b.Fatal("the heap sampler did not stop")
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}
