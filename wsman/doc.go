// Package wsman is a typed client of the WS-Management shell resource that
// Windows remoting (WinRM) exposes: Create, Command, Send, Receive, Signal,
// Delete, Disconnect, Reconnect, Connect, Enumerate, Pull and Get, with SOAP
// faults turned into *Fault.
//
// It carries PSRP data as opaque bytes and knows nothing of PSRP messages;
// authentication and encryption live in the *http.Client it is given.
package wsman
