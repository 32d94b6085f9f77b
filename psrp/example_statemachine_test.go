package psrp_test

import (
	"fmt"

	"github.com/gopsrp/gopsrp/psrp"
)

// A client and a server pool wired together in memory: the transport's job
// is only to move DataToSend payloads to the peer's Receive.
func ExampleClientPool() {
	client := psrp.NewClientPool(psrp.ClientPoolConfig{})
	server := psrp.NewServerPool(psrp.ServerPoolConfig{})

	pump := func() {
		for {
			moved := false
			if p, ok := client.DataToSend(32 << 10); ok {
				_ = server.Receive(p.Data, p.Stream, p.PipelineID)
				moved = true
			}
			if p, ok := server.DataToSend(32 << 10); ok {
				_ = client.Receive(p.Data)
				moved = true
			}
			if !moved {
				return
			}
		}
	}
	// The endpoint runs each new pipeline.
	serve := func() {
		for {
			ev, ok := server.NextEvent()
			if !ok {
				return
			}
			if pc, ok := ev.(psrp.PipelineCreated); ok {
				_ = pc.Pipeline.WriteOutput("hello from " + pc.Pipeline.Commands()[0][0].Cmd)
				_ = pc.Pipeline.Complete()
			}
		}
	}

	_ = client.Open()
	pump()
	fmt.Println("pool:", client.State())

	pl, _ := client.NewPipeline(psrp.Cmd("Get-Greeting").Param("Name", "gopher"), psrp.PipelineOptions{NoInput: true})
	_ = pl.Invoke()
	pump()
	serve()
	pump()
	for {
		ev, ok := client.NextEvent()
		if !ok {
			break
		}
		switch e := ev.(type) {
		case psrp.PipelineOutputEvent:
			fmt.Println("output:", e.Value)
		case psrp.PipelineStateChanged:
			fmt.Println("pipeline:", e.State)
		}
	}
	// Output:
	// pool: Opened
	// pipeline: Running
	// output: hello from Get-Greeting
	// pipeline: Completed
}
