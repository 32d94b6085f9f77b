package session_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// A long job survives the client: start it, disconnect, and later pick up
// its output from another client (another process, another day), as with
// Disconnect-PSSession, Get-PSSession, Connect-PSSession and
// Receive-PSSession.
func ExampleSession_Disconnect() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	release := make(chan struct{})
	srv.Handle("Invoke-Nightly", func(ctx context.Context, c *sessiontest.Call) error {
		select {
		case <-release: // the job runs on while nobody is connected
		case <-ctx.Done():
			return ctx.Err()
		}
		return c.WriteOutput("report ready")
	})
	ctx := context.Background()
	dial := func() *session.Client {
		c, err := session.NewClient(srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
		if err != nil {
			log.Fatal(err)
		}
		return c
	}

	// First client: start the job and disconnect.
	c1 := dial()
	defer c1.Close()
	s, err := c1.New(ctx, session.WithName("nightly"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx) // a disconnected session still holds its paused pipelines
	job, err := s.StartScript(ctx, "Invoke-Nightly")
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Disconnect(ctx, session.WithBufferMode(session.BufferBlock)); err != nil {
		log.Fatal(err)
	}
	fmt.Println("first client:", s.State())
	close(release)

	// Second client: find the session, connect, receive the job's output.
	c2 := dial()
	defer c2.Close()
	infos, err := c2.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range infos {
		fmt.Println("found:", in.State, len(in.Commands), "pipeline(s)")
	}
	s2, err := c2.Connect(ctx, infos[0].ID)
	if err != nil {
		log.Fatal(err)
	}
	defer s2.Close(ctx)
	p, err := s2.ConnectPipeline(ctx, job.ID())
	if err != nil {
		log.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("second client:", s2.State(), res.Output)
	// Output:
	// first client: Disconnected
	// found: Disconnected 1 pipeline(s)
	// second client: Opened [report ready]
}

// The same client can disconnect and come back: its pipelines pause while
// disconnected and resume with what the server buffered.
func ExampleSession_Reconnect() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)
	p, err := s.StartScript(ctx, "Write-Output 'still here'")
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Disconnect(ctx); err != nil {
		log.Fatal(err)
	}
	if err := s.Reconnect(ctx); err != nil {
		log.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.State(), res.Output)
	// Output:
	// Opened [still here]
}
