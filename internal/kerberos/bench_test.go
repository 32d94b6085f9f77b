package kerberos

import (
	"crypto/aes"
	"fmt"
	"testing"
)

func BenchmarkWrapUnwrapAES256(b *testing.B) {
	for _, size := range []int{1 << 10, 512 << 10} {
		msg := make([]byte, size)
		b.Run(fmt.Sprintf("Wrap/%dKB", size>>10), func(b *testing.B) {
			ini, _ := sealerPair(b, fixedKey, true)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := ini.Wrap(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Unwrap/%dKB", size>>10), func(b *testing.B) {
			ini, acc := sealerPair(b, fixedKey, true)
			h, d, _ := ini.Wrap(msg)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				acc.recv.seq = ini.send.seq - 1 // replay the same token
				if _, err := acc.Unwrap(h, d); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The raw cipher: AES-CBC with ciphertext stealing, no MAC.
		b.Run(fmt.Sprintf("RawAESCTS/%dKB", size>>10), func(b *testing.B) {
			blk, _ := aes.NewCipher(fixedKey.KeyValue)
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				ctsEncrypt(blk, buf)
			}
		})
	}
}
