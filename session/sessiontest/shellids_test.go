package sessiontest_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// shellRequest is one request a client sent: its action and the ShellId
// it named (the selector; for Create, the attribute it proposed).
type shellRequest struct{ action, shellID string }

// recordingTransport notes every request's action and ShellId.
type recordingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []shellRequest
}

var (
	actionRE   = regexp.MustCompile(`<(?:\w+:)?Action[^>]*>[^<]*/([A-Za-z]+)</(?:\w+:)?Action>`)
	selectorRE = regexp.MustCompile(`<(?:\w+:)?Selector Name="ShellId">([^<]*)<`)
	proposalRE = regexp.MustCompile(`<(?:\w+:)?Shell\b[^>]*\bShellId="([^"]*)"`)
)

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req shellRequest
	if m := actionRE.FindSubmatch(body); m != nil {
		req.action = string(m[1])
	}
	if m := selectorRE.FindSubmatch(body); m != nil {
		req.shellID = string(m[1])
	} else if m := proposalRE.FindSubmatch(body); m != nil {
		req.shellID = string(m[1])
	}
	rt.mu.Lock()
	rt.reqs = append(rt.reqs, req)
	rt.mu.Unlock()
	return rt.next.RoundTrip(r)
}

// TestAssignShellIDs: an endpoint that gives each shell an id of its own,
// as older WinRM does (the CreateResponse carries it in the SelectorSet
// only), is followed by the client: every later request of the shell
// (Receive, Command, Send, Signal, Disconnect, Reconnect, Delete) names the
// server's id, not the one the client proposed, while the session's ID
// stays the runspace pool ID the client chose.
func TestAssignShellIDs(t *testing.T) {
	t.Parallel()
	srv := sessiontest.NewUnstartedServer()
	srv.AssignShellIDs = true
	srv.Start()
	t.Cleanup(srv.Close)
	release := make(chan struct{})
	srv.Handle("Test-Wait", func(ctx context.Context, c *sessiontest.Call) error {
		_ = c.WriteOutput("waiting")
		select {
		case <-release:
		case <-ctx.Done():
		}
		return ctx.Err()
	})
	srv.Handle("Test-Echo", func(ctx context.Context, c *sessiontest.Call) error {
		for v, err := range c.Input(ctx) {
			if err != nil {
				return err
			}
			if err := c.WriteOutput(v); err != nil {
				return err
			}
		}
		return nil
	})
	defer close(release)

	rt := &recordingTransport{next: srv.Client().Transport}
	client := &http.Client{Transport: rt}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(client), session.WithAllowUnencrypted())
	require.NoError(t, err)
	shells := srv.Shells()
	require.Len(t, shells, 1)
	serverID := strings.ToUpper(shells[0].String())
	require.NotEqual(t, serverID, strings.ToUpper(s.ID().String()), "the server kept the client's proposal")

	res, err := s.Invoke(ctx, psrp.Script("Test-Echo"), session.WithInput(func(yield func(any) bool) { yield("one") }))
	require.NoError(t, err)
	assert.Equal(t, []any{"one"}, res.Output)

	p, err := s.Start(ctx, psrp.Script("Test-Wait"))
	require.NoError(t, err)
	for r, err := range p.Records() {
		require.NoError(t, err)
		if o, ok := r.(session.Output); ok && o.Value == "waiting" {
			break
		}
	}
	require.NoError(t, p.Stop(ctx))

	require.NoError(t, s.Disconnect(ctx))
	require.NoError(t, s.Reconnect(ctx))
	_, err = s.InvokeScript(ctx, "Write-Output again")
	require.NoError(t, err)
	require.NoError(t, s.Close(ctx))
	assert.Empty(t, srv.Shells(), "the shell was not deleted")

	rt.mu.Lock()
	defer rt.mu.Unlock()
	seen := map[string]bool{}
	for i, r := range rt.reqs {
		seen[r.action] = true
		if r.action == "Create" {
			assert.Equal(t, strings.ToUpper(s.ID().String()), strings.ToUpper(r.shellID), "request %d: Create proposes the pool ID", i)
			continue
		}
		assert.Equal(t, serverID, strings.ToUpper(r.shellID), "request %d (%s) names a ShellId other than the server's", i, r.action)
	}
	for _, a := range []string{"Create", "Receive", "Command", "Send", "Signal", "Disconnect", "Reconnect", "Delete"} {
		assert.True(t, seen[a], "the client sent no %s", a)
	}
}
