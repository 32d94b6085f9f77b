// Package gopsrp is a Go SDK for PowerShell remoting: the PowerShell Remoting
// Protocol (MS-PSRP) carried over WS-Management (WinRM).
//
// The module is layered; each layer is its own package and can be used and
// tested alone:
//
//   - [github.com/gopsrp/gopsrp/psrp/clixml] serializes Go values to CLIXML
//     and back, with a lossless PSObject model and a convenient
//     Marshal/Unmarshal path like encoding/json.
//   - [github.com/gopsrp/gopsrp/psrp] is the sans-IO protocol core: fragments,
//     messages, and the runspace pool and pipeline state machines of both the
//     client and the server side. It does no I/O.
//   - [github.com/gopsrp/gopsrp/wsman] is a typed client of the WinRM shell
//     resource over an *http.Client, with typed SOAP faults.
//   - [github.com/gopsrp/gopsrp/session] is what most programs use: open a
//     runspace pool on a host, run pipelines, stream their output, close.
//   - [github.com/gopsrp/gopsrp/session/sessiontest] is an emulated Windows
//     remoting endpoint on loopback for tests, in the manner of net/http/httptest.
//
// The examples/psrun command runs a script on a host and prints its output as
// PowerShell does; with no host it runs against the emulated endpoint.
package gopsrp
