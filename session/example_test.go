package session_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// The emulated endpoint stands in for a Windows host; against a real one,
// pass its name and an authenticating client (WithHTTPClient, WithBasicAuth
// over https).
func ExampleSession_Invoke() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	srv.Handle("Get-Greeting", func(ctx context.Context, c *sessiontest.Call) error {
		name, _ := c.Arg("Name")
		if err := c.WriteWarning("greeting in English"); err != nil {
			return err
		}
		return c.WriteOutput(fmt.Sprintf("Hello, %v!", name))
	})

	ctx := context.Background()
	s, err := session.New(ctx, srv.URL,
		session.WithHTTPClient(srv.Client()),
		session.WithAllowUnencrypted()) // the test endpoint speaks plain http
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)

	res, err := s.Invoke(ctx, psrp.Cmd("Get-Greeting").Param("Name", "World"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Output...)
	fmt.Println("warning:", res.Warnings[0].Message)
	fmt.Println(res.State)
	// Output:
	// Hello, World!
	// warning: greeting in English
	// Completed
}

func ExamplePipeline_Records() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	srv.Handle("Get-Numbers", func(ctx context.Context, c *sessiontest.Call) error {
		for i := range int32(3) {
			if err := c.WriteOutput(i); err != nil {
				return err
			}
		}
		return c.WriteVerbose("done counting")
	})

	ctx := context.Background()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)

	p, err := s.StartScript(ctx, "Get-Numbers")
	if err != nil {
		log.Fatal(err)
	}
	for rec, err := range p.Records() {
		if err != nil {
			log.Fatal(err)
		}
		switch r := rec.(type) {
		case session.Output:
			fmt.Println("output:", r.Value)
		case session.Verbose:
			fmt.Println("verbose:", r.Message)
		}
	}
	// Output:
	// output: 0
	// output: 1
	// output: 2
	// verbose: done counting
}
