package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// itemTypeNames is the type hierarchy of every Get-Many object; one slice
// shared by all of them, as a PSCustomObject's would be.
var itemTypeNames = []string{"System.Management.Automation.PSCustomObject", "System.Object"}

// startEndpoint starts the in-process emulated host on 127.0.0.1 with
// Basic over plain HTTP (auth "basic") or Negotiate/NTLM with every
// message sealed (auth "ntlm"), and the Get-Many benchmark command.
func startEndpoint(auth, user, password string) (*sessiontest.Server, error) {
	srv := sessiontest.NewUnstartedServer()
	srv.Users = map[string]string{user: password}
	switch auth {
	case "basic":
		srv.Auth = sessiontest.AuthConfig{Basic: true}
		srv.AllowUnencrypted = true
	case "ntlm":
		srv.Auth = sessiontest.AuthConfig{Negotiate: true}
	default:
		return nil, fmt.Errorf("unknown -auth %q (want basic or ntlm)", auth)
	}
	srv.Handle("Get-Many", getMany)
	srv.Start()
	return srv, nil
}

// getMany writes -Count objects of three properties (Index, Name, Even),
// the shape the performance targets are stated in.
func getMany(ctx context.Context, c *sessiontest.Call) error {
	v, ok := c.Arg("Count")
	if !ok {
		return fmt.Errorf("Get-Many: -Count is required")
	}
	n, err := strconv.Atoi(fmt.Sprint(v))
	if err != nil || n < 0 {
		return fmt.Errorf("Get-Many: -Count %v is not a count", v)
	}
	for i := range n {
		obj := &clixml.Object{
			TypeNames: itemTypeNames,
			Members: []clixml.Property{
				{Name: "Index", Value: int32(i)},
				{Name: "Name", Value: "item-" + strconv.Itoa(i)},
				{Name: "Even", Value: i%2 == 0},
			},
		}
		if err := c.WriteOutput(obj); err != nil {
			return err
		}
	}
	return nil
}
