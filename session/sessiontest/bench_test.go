package sessiontest

import (
	"context"
	"testing"

	"github.com/gopsrp/gopsrp/psrp"
)

// BenchmarkInvoke measures one pipeline end to end against the endpoint
// over loopback HTTP: Command, Receive (output, state, CommandState Done)
// and the terminate Signal it leaves to the next run's bookkeeping.
func BenchmarkInvoke(b *testing.B) {
	s := NewServer()
	defer s.Close()
	c := openPool(b, s, psrp.ClientPoolConfig{})
	ps := psrp.Cmd("Write-Output").Arg("hello")
	b.ReportAllocs()
	for b.Loop() {
		res := c.run(invocation{ps: ps})
		if len(res.output) != 1 {
			b.Fatalf("output %v", res.output)
		}
		_ = res.pl.Close()
	}
}

// BenchmarkReceiveLargeOutput measures splitting 1 MiB of output over
// 150 KiB envelopes.
func BenchmarkReceiveLargeOutput(b *testing.B) {
	s := NewServer()
	defer s.Close()
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	s.Handle("Get-Big", func(_ context.Context, c *Call) error { return c.WriteOutput(string(big)) })
	c := openPool(b, s, psrp.ClientPoolConfig{})
	c.maxEnv = 153600
	ps := psrp.Cmd("Get-Big")
	b.SetBytes(int64(len(big)))
	for b.Loop() {
		res := c.run(invocation{ps: ps})
		if len(res.output) != 1 {
			b.Fatalf("output %d objects", len(res.output))
		}
		_ = res.pl.Close()
	}
}
