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
// # What the client tolerates
//
// A ClientPool decides each kind of bad input deliberately, from what
// Windows can send and from what PowerShell's own client does; Receive
// reports every case as a *ProtocolError whose Effect says which rule
// applied (tests: hostile_server_test.go).
//
//   - Dropped, nothing else changes (Effect EffectDropped, errors.Is
//     ErrMessageDropped): a message type this package does not know (no
//     Windows version sends one, but PowerShell ignores unknown types, so a
//     newer server may add some); a message for a pipeline the pool does
//     not know (PowerShell discards these too; ErrUnknownPipeline) or
//     closed recently (silently); a message whose RunspacePoolId is another
//     pool's, or zero outside the session messages SESSION_CAPABILITY and
//     the key exchange, which Windows sends with a zero ID
//     (ErrForeignRunspacePool: PowerShell refuses these; they are not ours
//     to apply, and nothing of ours is lost by ignoring them); a message
//     addressed to the server, a pipeline message without a pipeline ID,
//     and anything for a pipeline not started or already finished, such as
//     output after Completed (ErrUnexpectedMessage: Windows sends
//     PIPELINE_STATE last, so later data cannot belong to the result
//     already reported); a repeated PUBLIC_KEY_REQUEST while an answer is
//     outstanding (silently); fragments of an object the defragmenter gave
//     up on (silently, after the first error).
//   - The pipeline fails, the pool goes on (EffectPipelineFailed; the
//     pipeline's PipelineStateChanged carries the error as Cause): a
//     message for it that does not decode or was lost to a confined
//     fragment error (out of order, too large); a PIPELINE_STATE with a
//     state value MS-PSRP does not define (*UnknownStateError); more
//     unanswered host calls than the bound. Its result would otherwise be
//     silently incomplete, or it would wait for ever.
//   - The pool breaks (EffectPoolBroken; PoolStateChanged to Broken carries
//     the error as Cause, unfinished pipelines fail with it, and later
//     input is ignored): a fatal fragment error, after which no fragment
//     boundary can be found (ErrStreamCorrupt); a SESSION_CAPABILITY with a
//     protocol version the client cannot speak or cannot read
//     (*VersionError, ErrUnsupportedProtocolVersion; see
//     SupportedServerVersion); a RUNSPACEPOOL_STATE with an unknown state;
//     any other pool message that does not decode or was lost, except
//     USER_EVENT, since the pool cannot know what it missed; a session key
//     that cannot be used, since what waits for it would wait for ever.
//
// Errors are bounded: one Receive reports the first few in full and
// counts the rest.
//
// Byte order follows the wire: fragment headers are big-endian, message
// headers little-endian, and GUIDs are in .NET Guid.ToByteArray order.
package psrp
