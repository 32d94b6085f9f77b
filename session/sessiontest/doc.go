// Package sessiontest provides an emulated Windows remoting endpoint for
// tests, in the manner of net/http/httptest: a real WS-Management server on
// 127.0.0.1 that speaks the WinRM shell protocol for PowerShell (MS-WSMV)
// as Windows does, with a PSRP server side (psrp.ServerPool) behind it whose
// commands are served by Go handlers that tests register.
//
//	srv := sessiontest.NewServer() // or NewUnstartedServer, configure, StartTLS
//	defer srv.Close()
//	srv.Handle("Get-Thing", func(ctx context.Context, c *sessiontest.Call) error {
//		return c.WriteOutput("thing")
//	})
//	// point a client at srv.URL using srv.Client()
//
// # Handlers
//
// A pipeline's first command picks its handler: a HandleScript handler for
// the exact script text, else the Handle handler of the command name (for a
// script, its first word: "Get-Date -Format o" runs the Get-Date handler,
// which then sees -Format o as arguments). A command with no handler fails
// the pipeline with PowerShell's CommandNotFoundException record. Each
// statement of a pipeline runs its first command's handler in turn; later
// commands of a statement are not run. Built-in handlers, which Handle
// replaces: Get-Date, Write-Output (echo), Write-Error, Write-Warning,
// Write-Verbose, Write-Debug, Write-Information, Write-Host,
// Write-Progress, Start-Sleep, Read-Host, $PSVersionTable, Get-Host and
// Get-Process. The endpoint does not interpret PowerShell.
//
// # Faults
//
// The endpoint answers faults the way Windows does: w:TimedOut after a
// Receive's OperationTimeout, w:InvalidSelectors for an unknown shell or
// command, w:QuotaLimit over MaxShellsPerUser, w:AccessDenied (code 5) when
// Disabled or for a configuration the user may not use, w:EncodingLimit for
// envelopes over the limits, HTTP 401 for bad Basic credentials. Receive
// output is split so that every response fits the request's
// MaxEnvelopeSize. InjectFault adds delays, dropped connections, truncated
// bodies and arbitrary faults; KillShell and CloseClientConnections
// simulate a host process dying and a network cut.
//
// Close stops every goroutine the server started and waits for handlers to
// return, so tests can check for leaks (go.uber.org/goleak).
package sessiontest
