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
// fields. A Receive or Send may also carry the robust-connection headers of
// MS-WSMV 3.1.4.1.39 (wsmv:OperationID and wsmv:SequenceId: ReceiveOptions,
// SendOptions), with which a request whose answer was lost is retransmitted
// and answered from the server's cache. Responses must relate to the
// request (wsa:RelatesTo), or the call fails with a *ProtocolError.
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
// wrapped, so errors.Is(err, context.Canceled) works. Text taken from the
// server (fault messages, body excerpts) is sanitised and bounded: an error
// never grows with the response nor carries line breaks or bidirectional
// controls.
//
// # Hostile servers
//
// What a response may cost is decided by the client, not the server. A body
// is bounded by Client.maxResponseSize (by default a small multiple
// of the MaxEnvelopeSize the client sends), and it is parsed by a streaming,
// bounded scanner (nesting depth, attributes, tokens) that allocates at most
// twice the body's size whatever it holds (see the memory budget in
// response.go). Redirects are refused unless Client.AllowRedirects is set,
// and then followed within the same origin only, unless
// Client.AllowCrossOriginRedirects is set too, since the credentials would
// go to the other host.
//
// # Concurrency
//
// A Client is safe for concurrent use once configured; the only setting that
// may change while calls are in flight is the envelope size
// (SetMaxEnvelopeSize).
package wsman
