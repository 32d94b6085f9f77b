package psrp_test

import (
	"strings"
	"testing"

	"github.com/gopsrp/gopsrp/psrp"
)

// BenchmarkPipelineOutputRoundTrip measures the server encoding 100 output
// strings of 1 KiB and the client decoding them into events, through the
// fragment layer at a 150 KiB envelope's size.
func BenchmarkPipelineOutputRoundTrip(b *testing.B) {
	c := psrp.NewClientPool(psrp.ClientPoolConfig{})
	s := psrp.NewServerPool(psrp.ServerPoolConfig{})
	move := func() {
		for {
			moved := false
			if pl, ok := c.DataToSend(bigChunk); ok {
				if err := s.Receive(pl.Data, pl.Stream, pl.PipelineID); err != nil {
					b.Fatal(err)
				}
				moved = true
			}
			if pl, ok := s.DataToSend(bigChunk); ok {
				if err := c.Receive(pl.Data); err != nil {
					b.Fatal(err)
				}
				moved = true
			}
			if !moved {
				return
			}
		}
	}
	if err := c.Open(); err != nil {
		b.Fatal(err)
	}
	move()
	for {
		if _, ok := c.NextEvent(); !ok {
			break
		}
	}
	cp, err := c.NewPipeline(psrp.Script("1..100"), psrp.PipelineOptions{NoInput: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := cp.Invoke(); err != nil {
		b.Fatal(err)
	}
	move()
	var sp *psrp.ServerPipeline
	for {
		ev, ok := s.NextEvent()
		if !ok {
			break
		}
		if pc, ok := ev.(psrp.PipelineCreated); ok {
			sp = pc.Pipeline
		}
	}
	line := strings.Repeat("x", 1024)
	b.SetBytes(100 * 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for range 100 {
			if err := sp.WriteOutput(line); err != nil {
				b.Fatal(err)
			}
		}
		move()
		n := 0
		for {
			ev, ok := c.NextEvent()
			if !ok {
				break
			}
			if _, ok := ev.(psrp.PipelineOutputEvent); ok {
				n++
			}
		}
		if n != 100 {
			b.Fatalf("got %d outputs", n)
		}
	}
}
