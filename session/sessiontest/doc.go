// Package sessiontest provides an emulated Windows remoting endpoint for
// tests, in the manner of net/http/httptest: a real WS-Management server on
// 127.0.0.1 that speaks the WinRM shell protocol for PowerShell (MS-WSMV)
// as Windows does, with a PSRP server side behind it whose commands are
// served by Go handlers that tests register.
//
//	srv := sessiontest.NewServer()
//	defer srv.Close()
//	srv.Handle("Get-Thing", func(ctx context.Context, c *sessiontest.Call) error {
//		return c.WriteOutput("thing")
//	})
//	// point a client at srv.URL using srv.Client()
//
// The endpoint answers faults the way Windows does (operation timeout on an
// idle Receive, invalid selectors for an unknown shell or command, quota,
// access denied, envelope limits), and can inject faults on demand with
// InjectFault. Close stops every goroutine the server started.
package sessiontest
