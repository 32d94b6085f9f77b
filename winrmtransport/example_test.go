package winrmtransport_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/masterzen/winrm"

	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/winrmtransport"
)

// A masterzen/winrm program gets NTLM with every message sealed by setting
// Parameters.TransportDecorator; the rest of it is unchanged.
func ExampleNew() {
	// An emulated Windows host requiring NTLM and message encryption.
	srv := sessiontest.NewUnstartedServer()
	srv.Users = map[string]string{"alice": "Pa55w.rd"}
	srv.Auth = sessiontest.AuthConfig{Negotiate: true}
	srv.Start()
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	endpoint := winrm.NewEndpoint(u.Hostname(), port, false, false, nil, nil, nil, 0)

	t := winrmtransport.New(&auth.NTLM{Username: "alice", Password: "Pa55w.rd"},
		winrmtransport.WithTrustedHosts(u.Hostname()))
	defer t.CloseIdleConnections()
	params := winrm.NewParameters("PT60S", "en-US", 153600)
	params.TransportDecorator = func() winrm.Transporter { return t } // the one line

	client, err := winrm.NewClientWithParameters(endpoint, "alice", "Pa55w.rd", params)
	if err != nil {
		fmt.Println(err)
		return
	}
	stdout, _, code, err := client.RunCmdWithContext(context.Background(), "echo hello")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q, exit code %d\n", stdout, code)
	// Output: "hello\r\n", exit code 0
}
