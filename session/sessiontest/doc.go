// Package sessiontest provides an emulated Windows remoting endpoint for
// tests, in the manner of net/http/httptest: a real WS-Management server on
// 127.0.0.1 that speaks the WinRM shell protocol for PowerShell (MS-WSMV)
// as Windows does, with a PSRP server side (psrp.ServerPool) behind it whose
// commands are served by Go handlers that tests register.
//
//	srv := sessiontest.NewTLSServer() // or NewServer, or NewUnstartedServer, configure, StartTLS
//	defer srv.Close()
//	srv.Handle("Get-Thing", func(ctx context.Context, c *sessiontest.Call) error {
//		return c.WriteOutput("thing")
//	})
//	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()))
//
// Client trusts the server's certificate, so over HTTPS that one option is
// all a session needs; over plain HTTP (NewServer) add
// session.WithAllowUnencrypted(), and with Users add the credentials
// (session.WithBasicAuth(srv.Credentials()) over HTTPS). This package
// does not import session, whose own tests use it.
//
// # Handlers
//
// Each command picks its handler: a HandleScript handler for the exact
// script text, else the Handle handler of the command name (for a script,
// its first word: "Get-Date -Format o" runs the Get-Date handler, which
// then sees -Format o as arguments). The commands of a statement form a
// pipeline, as in PowerShell: their handlers run at once, each one's
// output the next one's input (Call.Input), the client's input going to
// the first; Call.Pipeline and Call.Position tell a handler where it
// stands. A script of one statement is split at its top-level pipes, so
// "Get-Thing | Where-Thing -Like x" runs both handlers; a script of
// several statements is served whole by its first word's handler. A
// statement that assigns a literal to a variable ($ProgressPreference =
// 'SilentlyContinue', $n = 1: a quoted string without expansion, a number,
// $true, $false or $null) runs and does nothing visible, since the
// endpoint keeps no variables; a script that starts with such statements
// is served as the rest of it would be (masterzen/winrm's
// RunPSWithContext prefixes every script with one), unless a handler is
// registered for its first word ("$DebugPreference"). A
// statement with a command that has no handler fails the pipeline with
// PowerShell's CommandNotFoundException record before any of it runs, so
// a command is never silently dropped. A command that returns before its
// input ended stops the ones before it, as Select-Object -First does.
// Statements run in turn. Built-in handlers, which Handle replaces:
// Get-Date, Write-Output (echo), Write-Error, Write-Warning,
// Write-Verbose, Write-Debug, Write-Information, Write-Host,
// Write-Progress, Start-Sleep, Read-Host, $PSVersionTable, Get-Host,
// Get-Process, and these, whose output is deterministic, for other
// clients' wrappers and benchmarks:
//   - Invoke-Expression (iex) -Command <script> runs the script: its
//     HandleScript handler if any, else each statement in turn, with the
//     call's input and streams (pypsrp's Client.execute_ps sends
//     Invoke-Expression -Command <script> | Out-String -Stream);
//   - Out-String renders each input object as lines: a string is its
//     lines, a number, bool, DateTime or TimeSpan its invariant text
//     (1.5, True, 1/2/2006 3:04:05 PM, 00:00:07.0269026), an object with a ToString and no properties
//     its ToString, a list its items' lines, a dictionary or an object with
//     properties one "Name : Value" line each (names padded, as
//     Format-List), $null nothing; with -Stream it writes each line as a
//     string, without it one string of every line, each ended by CRLF;
//   - Out-Null reads its input and writes nothing;
//   - Select-Object [-Skip N] [-First N] passes on its input, skipping N,
//     and after -First N objects returns, which stops the commands before
//     it; any other parameter fails;
//   - Get-Process -Count N writes N objects (at most 100,000,000),
//     BenchProcess(0) to BenchProcess(N-1): the Get-Process-like objects
//     of ../shared/bench/gen_procs_clixml.py (Name svchost<i>, Id i and
//     eleven more properties); without -Count, four fixed processes;
//   - a range statement, 1..N (or N..M, counting down when M < N), writes
//     the Int32 values from N to M;
//   - a literal statement writes its value: an integer (Int32, or Int64
//     when it does not fit) or a quoted string without $ or ` in it.
//
// The endpoint does not interpret PowerShell.
//
// # Faults
//
// The endpoint answers faults the way Windows does: w:TimedOut after a
// Receive's OperationTimeout, w:InvalidSelectors for an unknown shell or
// command, w:QuotaLimit over MaxShellsPerUser, w:AccessDenied (code 5) when
// Disabled or for a configuration the user may not use, w:EncodingLimit for
// envelopes over the limits, HTTP 401 for bad credentials. Receive
// output is split so that every response fits the request's
// MaxEnvelopeSize. InjectFault adds delays, dropped connections, truncated
// bodies and arbitrary faults; KillShell and CloseClientConnections
// simulate a host process dying and a network cut.
//
// # Disconnected shells
//
// Disconnect (MS-PSRP 3.1.5.3.16) leaves a shell running in the
// Disconnected state: Enumerate and Get report rsp:State Disconnected, and
// Command, Send, Receive and Signal fault with WinRS code 0x803381C4
// (ERROR_WINRS_SHELL_DISCONNECTED); a second Disconnect faults with
// 0x803381CF. Its optional rsp:IdleTimeOut replaces the shell's idle
// timeout, after which the endpoint deletes the disconnected shell, and
// rsp:BufferMode (Block, the default, or Drop) says what happens to output
// written meanwhile: it is buffered per command, up to
// DisconnectedBufferSize writes; then Block makes the handler's write wait
// and Drop forgets the oldest write. The client whose wsmv:SessionId
// created the shell (or last connected to it) may Reconnect; another gets
// 0x803381C6, and a Reconnect of a connected shell by its own client is
// ignored (MS-WSMV 3.1.4.16). A new client takes a disconnected shell over
// with Connect (connectXml); Connect to a connected shell faults with
// 0x803381CD, and from then on requests of other clients do too. A shell's
// commands stay detached after Reconnect or Connect until each is picked up
// with a Reconnect whose body names it (<rsp:Reconnect><rsp:CommandId>…) or
// a Connect whose rsp:Connect carries its CommandId attribute; their
// Receives fault with 0x803381C4 until then, and then deliver the buffered
// output.
//
// # Authentication and message encryption
//
// With no Users, Keytab or CertificateUsers and a zero Auth, every request
// is served anonymously. Otherwise the endpoint authenticates as a Windows
// host configured by winrm/config/service does: Auth selects the schemes
// (zero means Basic, Negotiate, Kerberos when Keytab is set and
// Certificate when CertificateUsers is set), and a request without
// credentials gets 401 with one WWW-Authenticate per scheme. Users (user →
// password) serves Basic, NTLM and CredSSP; DOMAIN\user and user@domain
// map to user, case-insensitively, and the user name owns shells, counts
// against quotas and is checked against ConfigurationAccess.Users.
// Negotiate takes SPNEGO (NTLM, and Kerberos with a keytab), a raw
// NTLMSSP message (pywinrm) or a raw Kerberos token; Kerberos takes a
// Kerberos token checked with Keytab; CredSSP runs its own TLS inside the
// tokens (so it works over plain HTTP) with the same inner mechanisms, and
// DelegatedCredentials reports the passwords clients delegated. Tokens
// that need an answer come back on a 401, the last one (a Kerberos AP-REP,
// SPNEGO's accept-completed) on the 200.
//
// These three schemes authenticate the TCP connection, whose context then
// seals messages: a multipart/encrypted request is opened with it and
// answered sealed with the same protocol (CredSSP in 16 KiB parts). Over
// plain HTTP with AllowUnencrypted false, a plaintext SOAP request on such
// a connection gets HTTP 500, as Windows answers, and Basic is refused.
// A sealed request on a connection that never authenticated gets 401; one
// that does not open (tampered, replayed, malformed) gets 400, nothing is
// processed, and the connection and its context are dropped.
// CbtHardeningLevel (Relaxed by default) checks the channel bindings of
// clients over HTTPS; Strict refuses a client that sends none.
// Certificate authentication (Authorization: CertificateMutualScheme,
// HTTPS only) maps a client certificate that verifies against ClientCAs
// through CertificateUsers. To enable Negotiate with encryption:
//
//	srv := sessiontest.NewUnstartedServer()
//	srv.Users = map[string]string{"alice": "pw"}
//	srv.Auth = sessiontest.AuthConfig{Negotiate: true}
//	srv.Start()
//
// Close stops every goroutine the server started and waits for handlers to
// return, so tests can check for leaks (go.uber.org/goleak).
package sessiontest
