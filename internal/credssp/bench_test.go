package credssp

import (
	"crypto/tls"
	"testing"
)

func benchmarkPair(b *testing.B) pair {
	b.Helper()
	s, err := NewServer(ServerConfig{NewInner: newNTLMAcceptor})
	if err != nil {
		b.Fatal(err)
	}
	c, err := NewClient(ClientConfig{
		Username: "alice", Password: "Passw0rd!",
		Inner:     mustNTLMClient(b),
		TLSConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS13},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); s.Close() })
	if err := runExchange(c, s); err != nil {
		b.Fatal(err)
	}
	return pair{c, s}
}

// The Wrap sub-benchmark advances only the client's TLS sequence, so each
// sub-benchmark has its own pair.
func benchmarkWrapUnwrap(b *testing.B, size int) {
	msg := make([]byte, size)
	b.Run("Wrap", func(b *testing.B) {
		p := benchmarkPair(b)
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := p.c.Wrap(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("WrapUnwrap", func(b *testing.B) {
		p := benchmarkPair(b)
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			h, d, err := p.c.Wrap(msg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.s.Unwrap(h, d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSeal1KB(b *testing.B)   { benchmarkWrapUnwrap(b, 1<<10) }
func BenchmarkSeal512KB(b *testing.B) { benchmarkWrapUnwrap(b, 512<<10) }
