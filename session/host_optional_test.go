package session_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// lineOnlyHost implements Write and ReadLine and nothing else: no
// DefaultHost embedded. It records which pipeline each call came from.
type lineOnlyHost struct {
	mu     sync.Mutex
	askers []uuid.UUID
	writes []string
}

func (h *lineOnlyHost) Write(ctx context.Context, w session.HostWrite) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes = append(h.writes, w.Text)
	return nil
}

func (h *lineOnlyHost) ReadLine(ctx context.Context) (string, error) {
	p, ok := session.CallingPipeline(ctx)
	if !ok {
		return "", fmt.Errorf("a host call without its pipeline")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.askers = append(h.askers, p.ID())
	return "answer " + p.ID().String()[:8], nil
}

// A Host implements only the calls it answers; the others are answered as
// DefaultHost does, and every call says which pipeline made it.
func TestHostOptionalInterfaces(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Test-Ask", func(ctx context.Context, c *sessiontest.Call) error {
		line, err := c.ReadLine(ctx, "Name?")
		if err != nil {
			return err
		}
		return c.WriteOutput(line)
	})
	srv.Handle("Test-Key", func(ctx context.Context, c *sessiontest.Call) error {
		_, err := c.ReadLine(ctx, "") // answered
		if err != nil {
			return err
		}
		_, err = c.PromptForChoice(ctx, "c", "m", []string{"&Yes", "&No"}, 0) // not implemented by the host
		if err == nil {
			return fmt.Errorf("PromptForChoice unexpectedly succeeded")
		}
		return c.WriteOutput("refused: " + err.Error())
	})
	h := &lineOnlyHost{}
	s := open(t, srv, session.WithHost(h), session.WithRunspaces(1, 2))
	ctx := testContext(t)
	p1, err := s.StartScript(ctx, "Test-Ask")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := s.StartScript(ctx, "Test-Key")
	if err != nil {
		t.Fatal(err)
	}
	r1, err := p1.Wait()
	if err != nil {
		t.Fatal(err)
	}
	r2, err := p2.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if want := "answer " + p1.ID().String()[:8]; !slices.Equal(r1.Output, []any{want}) {
		t.Errorf("Test-Ask output = %v, want %q: the host saw the wrong pipeline", r1.Output, want)
	}
	if len(r2.Output) != 1 || !strings.Contains(fmt.Sprint(r2.Output[0]), "not supported by this host") {
		t.Errorf("Test-Key output = %v, want DefaultHost's refusal of PromptForChoice", r2.Output)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Contains(h.askers, p1.ID()) || !slices.Contains(h.askers, p2.ID()) {
		t.Errorf("ReadLine callers = %v, want %v and %v", h.askers, p1.ID(), p2.ID())
	}
	if _, ok := session.CallingPipeline(ctx); ok {
		t.Error("CallingPipeline of an ordinary context = ok")
	}
}
