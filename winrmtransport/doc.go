// Package winrmtransport lets programs built on github.com/masterzen/winrm
// (Packer, Terraform provisioners, many tools) authenticate with gopsrp's
// auth layer: NTLM, Kerberos, Negotiate and CredSSP, with every message
// sealed (MS-WSMV 2.2.9.1 message-level encryption) and one handshake per
// connection rather than one per message.
//
// A Transport implements winrm.Transporter; it plugs into the
// Parameters.TransportDecorator seam, so an existing program changes one
// line:
//
//	t := winrmtransport.New(&auth.Negotiate{Username: user, Password: pw},
//		winrmtransport.WithTrustedHosts(host))
//	defer t.CloseIdleConnections()
//	params := winrm.NewParameters("PT60S", "en-US", 153600)
//	params.TransportDecorator = func() winrm.Transporter { return t }
//	client, err := winrm.NewClientWithParameters(endpoint, user, pw, params)
//
// The mechanism carries the credentials: the user name and password given to
// winrm.NewClientWithParameters are not used.
//
// # Endpoint settings
//
// The winrm.Endpoint decides the URL (HTTPS, Host, Port) and the TLS
// settings: Insecure, CACert, Cert and Key (a client certificate presented
// when the server asks for one), TLSServerName and Timeout (how long to wait
// for a response's headers, as masterzen/winrm's own transports do). Proxies
// come from the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) unless
// WithProxy says otherwise; connections are dialled with WithDialContext,
// else the Parameters.Dial of the first client, else net.Dialer.
//
// Over http://, NTLM and CredSSP cannot prove the server's identity, so the
// auth layer offers them only to hosts listed with WithTrustedHosts, as
// Windows' WinRM client does with its TrustedHosts setting; another host gets
// an error matching auth.ErrUntrustedHost that names the option. Kerberos
// (and Negotiate when it picks Kerberos) proves the server's identity and
// needs no entry.
//
// # Errors
//
// Errors read as masterzen/winrm's own transports write them, so that its
// client and the programs built on it keep working: a response other than
// 200 is an *HTTPError whose message is "http error <status>: <body>" (a SOAP
// fault's text, which is where masterzen/winrm looks for "OperationTimeout"),
// and a response that did not arrive within Endpoint.Timeout is a *url.Error
// whose Timeout method reports true. On top of that they are typed: an
// *HTTPError unwraps to the *wsman.Fault it carried, so errors.Is works
// with wsman.ErrOperationTimeout, wsman.ErrAccessDenied and the other
// sentinels, and refused credentials match auth.ErrAccessDenied (or
// auth.ErrLogonFailed when the KDC refused a Kerberos password).
package winrmtransport
