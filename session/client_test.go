package session_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// One Client opens several sessions on its host, lists them and attaches
// to one of them, all over its one authenticated, sealed transport.
func TestClientSessionsShareOneTransport(t *testing.T) {
	t.Parallel()
	srv := authServer(t, false, sessiontest.AuthConfig{Negotiate: true}, nil)
	ctx := testContext(t)
	c, err := session.NewClient(srv.URL, session.WithNTLM(srv.Credentials()), session.WithTrustedHosts("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := c.New(ctx, session.WithName("a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.New(ctx, session.WithName("b"), session.WithRunspaces(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() == b.ID() || b.MaxRunspaces() != 2 {
		t.Errorf("sessions %v and %v (MaxRunspaces %d)", a.ID(), b.ID(), b.MaxRunspaces())
	}
	infos, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("List names = %v, want [a b]", names)
	}
	// Closing one session leaves the client and the other session working.
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := b.InvokeScript(ctx, "Write-Output still"); err != nil || !slices.Equal(res.Output, []any{"still"}) {
		t.Errorf("Invoke after the other session closed = %v, %v", res, err)
	}
	if err := b.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	b2, err := c.ConnectName(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if b2.ID() != b.ID() || b2.State() != session.StateOpened {
		t.Errorf("ConnectName attached to %v in state %v", b2.ID(), b2.State())
	}
	if _, err := c.Connect(ctx, uuid.New()); !errors.Is(err, session.ErrSessionNotFound) {
		t.Errorf("Connect to an unknown ID = %v, want ErrSessionNotFound", err)
	}
	if err := b2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Errorf("Close of the disconnected original = %v", err)
	}
}

func TestClientRejectsBadOptions(t *testing.T) {
	t.Parallel()
	if _, err := session.NewClient("win01", session.WithPort(0)); err == nil {
		t.Error("NewClient accepted port 0")
	}
	if _, err := session.NewClient("ftp://win01"); !errors.Is(err, session.ErrInvalidTarget) {
		t.Errorf("NewClient(ftp://) = %v, want ErrInvalidTarget", err)
	}
	srv := newServer(t)
	c, err := session.NewClient(srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.New(testContext(t), session.WithRunspaces(3, 1)); err == nil {
		t.Error("Client.New accepted WithRunspaces(3, 1)")
	}
	// Every option of New is either kind, and nothing else.
	for _, o := range []session.Option{session.WithNTLM("u", "p"), session.WithName("n")} {
		switch o.(type) {
		case session.ClientOption, session.SessionOption:
		default:
			t.Errorf("option of type %T", o)
		}
	}
}

// A Client holds how to reach a host; its sessions share its connections.
func ExampleClient() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	ctx := context.Background()

	c, err := session.NewClient(srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	s, err := c.New(ctx, session.WithName("build"), session.WithRunspaces(1, 4))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)
	infos, err := c.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range infos {
		fmt.Println(in.Name, in.State)
	}
	// Output: build Opened
}
