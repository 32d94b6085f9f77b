package ntlm

import (
	"crypto/rc4"
	"fmt"
	"testing"
)

var benchSizes = []int{1 << 10, 512 << 10}

func BenchmarkWrap(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("%dKB", n>>10), func(b *testing.B) {
			client, _ := vectorContexts(0xE2888235)
			msg := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := client.wrap(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnwrap(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("%dKB", n>>10), func(b *testing.B) {
			msg := make([]byte, n)
			// Wrap outside the timer; each iteration opens the next
			// message of the sequence.
			const batch = 8
			client, server := vectorContexts(0xE2888235)
			type sealed struct{ h, d []byte }
			var msgs []sealed
			refill := func() {
				msgs = msgs[:0]
				for range batch {
					h, d, _ := client.wrap(msg)
					msgs = append(msgs, sealed{h, d})
				}
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			i := batch
			for b.Loop() {
				if i == batch {
					b.StopTimer()
					refill()
					i = 0
					b.StartTimer()
				}
				if _, err := server.unwrap(msgs[i].h, msgs[i].d); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkRC4 is the raw cipher over 512 KB, the floor under Wrap and
// Unwrap.
func BenchmarkRC4(b *testing.B) {
	c, _ := rc4.NewCipher(make([]byte, 16))
	buf := make([]byte, 512<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		c.XORKeyStream(buf, buf)
	}
}
