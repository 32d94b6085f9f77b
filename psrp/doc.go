// Package psrp is the sans-IO core of the PowerShell Remoting Protocol
// (MS-PSRP): fragments, messages, message bodies, and the runspace pool and
// pipeline state machines of both the client and the server side.
//
// The package does no I/O, starts no goroutines and reads no clocks. A
// transport (WS-Management in package wsman, or any other) drives it in a
// loop:
//
//	pool.Open()                      // actions only queue messages
//	for {
//		p, ok := pool.DataToSend(max) // fragments sized for the transport
//		... send p.Data on p.Stream for p.PipelineID ...
//		pool.Receive(data)           // bytes the peer sent
//		for ev, ok := pool.NextEvent(); ok; ev, ok = pool.NextEvent() {
//			... typed events: output, records, state changes, host calls ...
//		}
//	}
//
// The layers, bottom up:
//
//   - Fragments (MS-PSRP 2.2.4): Fragment, DecodeFragment, and the
//     Fragmenter/Defragmenter pair that cut messages to the transport's
//     size and put them back together, bounded by a maximum message size
//     and resuming on input cut at any byte.
//   - Messages (MS-PSRP 2.2.1): Message with its 40-byte header,
//     DecodeMessage and Message.Append; MessageType names every type.
//   - Bodies (MS-PSRP 2.2.2): one struct per message type implementing
//     Body (SessionCapability, InitRunspacePool, CreatePipeline,
//     PipelineOutput, ...), encoded with EncodeBody and decoded with
//     DecodeBody on top of package clixml. Bodies the client sends have a
//     ClientMessage method, bodies the server sends a ServerMessage method.
//   - State machines: the client and server runspace pools and pipelines,
//     built on the layers above.
//
// Byte order follows the wire: fragment headers are big-endian, message
// headers little-endian, and GUIDs are in .NET Guid.ToByteArray order.
package psrp
