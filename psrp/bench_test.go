package psrp

import (
	"testing"
)

// benchFragmentSize is the room for fragments in a 512000-byte WS-Man
// envelope (MaxEnvelopeSize 500 KiB): what is left after ~2 KiB of SOAP,
// as base64 (3 bytes per 4 characters).
const benchFragmentSize = (512000 - 2048) / 4 * 3

func benchMessage() []byte {
	msg := make([]byte, 10<<20)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	return msg
}

// BenchmarkFragment10MB cuts a 10 MiB message into envelope-sized payloads.
func BenchmarkFragment10MB(b *testing.B) {
	msg := benchMessage()
	buf := make([]byte, 0, benchFragmentSize)
	var f Fragmenter
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		f.Add(1, msg)
		for f.Pending() {
			buf = f.Pack(buf[:0], benchFragmentSize)
		}
	}
}

// BenchmarkDefragment10MB reassembles the same message from its payloads.
func BenchmarkDefragment10MB(b *testing.B) {
	msg := benchMessage()
	var f Fragmenter
	f.Add(1, msg)
	var payloads [][]byte
	for f.Pending() {
		payloads = append(payloads, f.Pack(nil, benchFragmentSize))
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ReportMetric(float64(len(payloads)), "fragments/op")
	for b.Loop() {
		var d Defragmenter
		for _, p := range payloads {
			if err := d.Write(p); err != nil {
				b.Fatal(err)
			}
		}
		if m, ok := d.Next(); !ok || len(m) != len(msg) {
			b.Fatal("message not reassembled")
		}
	}
}
