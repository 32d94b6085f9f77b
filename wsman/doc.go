// Package wsman is a typed client of the WS-Management shell resource that
// Windows remoting (WinRM) exposes: Create, Command, Send, Receive, Signal,
// Delete, Disconnect, Reconnect, Connect, Enumerate, Pull and Get, with SOAP
// faults turned into *Fault.
//
// It carries PSRP data as opaque bytes and knows nothing of PSRP messages;
// authentication and encryption live in the *http.Client it is given.
//
// # Envelopes
//
// Requests carry the header PowerShell remoting peers send and Windows
// accepts (MS-WSMV; the order and attributes of pypsrp's captures): a fresh
// MessageID ("uuid:" + uppercase GUID) per request, a SessionId constant for
// the life of the Client (disconnect and reconnect rely on it), and
// MaxEnvelopeSize, OperationTimeout, Locale and DataLocale from the Client's
// fields. Responses must relate to the request (wsa:RelatesTo), or the call
// fails with a *ProtocolError.
//
// # Errors
//
// A SOAP fault becomes a *Fault whatever the HTTP status. Use errors.Is with
// ErrOperationTimeout (a Receive that had nothing to return: re-issue it),
// ErrShellNotFound, ErrAccessDenied and ErrQuotaExceeded. A non-2xx response
// without a fault is an *HTTPError (401 matches ErrAccessDenied); a refused
// redirect is a *RedirectError; a body that is not a usable envelope is a
// *ProtocolError matching ErrMalformedResponse, ErrUnexpectedResponse or
// ErrResponseTooLarge. Transport errors, including context cancellation, are
// wrapped, so errors.Is(err, context.Canceled) works.
//
// # Concurrency
//
// A Client is safe for concurrent use once configured; the only setting that
// may change while calls are in flight is the envelope size
// (SetMaxEnvelopeSize).
package wsman
