package session_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// GetCommand lists remote commands and their parameters, as Get-Command
// does; here the emulated endpoint describes one handler.
func ExampleSession_GetCommand() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	srv.HandleCommand("Get-Widget", sessiontest.CommandDescription{
		Module:     "Widgets",
		Parameters: []sessiontest.Parameter{{Name: "Name", Type: "System.String"}, {Name: "Force", Switch: true}},
	}, func(ctx context.Context, c *sessiontest.Call) error { return nil })

	ctx := context.Background()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)

	cmds, err := s.GetCommand(ctx, "Get-W*")
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range cmds {
		fmt.Println(c.Name, c.Type, c.Module)
		for _, name := range []string{"Name", "Force"} {
			p, _ := c.Parameter(name)
			fmt.Printf("  -%s %s\n", p.Name, p.Type)
		}
	}
	// Output:
	// Get-Widget Cmdlet Widgets
	//   -Name System.String
	//   -Force System.Management.Automation.SwitchParameter
}
