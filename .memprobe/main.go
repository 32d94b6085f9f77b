package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

func main() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	const n = 1_000_000
	srv.Handle("Get-Many", func(ctx context.Context, c *sessiontest.Call) error {
		for i := range n {
			if err := c.WriteOutput(fmt.Sprintf("object number %d with some text", i)); err != nil {
				return err
			}
		}
		return nil
	})
	ctx := context.Background()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		panic(err)
	}
	defer s.Close(ctx)
	p, err := s.StartScript(ctx, "Get-Many")
	if err != nil {
		panic(err)
	}
	var peak uint64
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak {
				peak = ms.HeapInuse
				if f, err := os.Create("/tmp/probe.heap"); err == nil {
					pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
		}
	}()
	count := 0
	for _, err := range p.Records() {
		if err != nil {
			panic(err)
		}
		count++
		if count%200000 == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	close(done)
	fmt.Printf("%d records, peak HeapInuse %d MiB\n", count, peak>>20)
}
