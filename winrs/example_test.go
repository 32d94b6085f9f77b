package winrs_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/winrs"
)

// A cmd shell opened over a session.Client's transport: the same
// authentication and message encryption as PowerShell sessions.
func ExampleOpen() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	ctx := context.Background()

	c, err := session.NewClient(srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	sh, err := winrs.Open(ctx, c.WSMan(), winrs.WithEnv("GREETING=hello"))
	if err != nil {
		log.Fatal(err)
	}
	defer sh.Close(ctx)

	out, err := sh.Command("cmd", "/c", "echo %GREETING% from cmd").Output(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	// Output: hello from cmd
}
