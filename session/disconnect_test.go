package session_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/wsman"
)

// gate is a handler that writes "before", waits for release, then writes
// "after".
type gate struct {
	started chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{started: make(chan struct{}, 4), release: make(chan struct{})} }

func (g *gate) handle(ctx context.Context, c *sessiontest.Call) error {
	if err := c.WriteOutput("before"); err != nil {
		return err
	}
	g.started <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return c.WriteOutput("after")
}

func TestDisconnectPausesAndReconnectResumes(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	g := newGate()
	srv.Handle("Test-Gate", g.handle)
	s := open(t, srv)
	ctx := testContext(t)
	w := s.Watch(ctx)

	p, err := s.Start(ctx, psrp.Script("Test-Gate"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, g.started, "handler")
	if err := s.Disconnect(ctx, session.WithBufferMode(session.BufferBlock), session.WithDisconnectIdleTimeout(time.Minute)); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	if st := s.State(); st != session.StateDisconnected {
		t.Fatalf("State = %v, want Disconnected", st)
	}
	if a := s.Availability(); a != session.AvailabilityNone {
		t.Errorf("Availability while disconnected = %v, want None", a)
	}
	// While disconnected nothing new starts, and nothing that needs the
	// pool is sent.
	if _, err := s.InvokeScript(ctx, "Write-Output x"); !errors.Is(err, session.ErrDisconnected) {
		t.Errorf("Invoke while disconnected = %v, want ErrDisconnected", err)
	}
	if err := s.SetMaxRunspaces(ctx, 2); !errors.Is(err, session.ErrDisconnected) {
		t.Errorf("SetMaxRunspaces while disconnected = %v, want ErrDisconnected", err)
	}
	if err := s.Disconnect(ctx); !errors.Is(err, session.ErrDisconnected) {
		t.Errorf("second Disconnect = %v, want ErrDisconnected", err)
	}
	// The remote pipeline goes on; the local one pauses instead of failing.
	close(g.release)
	select {
	case <-p.Done():
		res, err := p.Wait()
		t.Fatalf("pipeline ended while disconnected: %+v, %v", res, err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := s.Reconnect(ctx); err != nil {
		t.Fatalf("Reconnect: %v", err)
	}
	if st := s.State(); st != session.StateOpened {
		t.Fatalf("State after Reconnect = %v, want Opened", st)
	}
	res, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait after Reconnect: %v", err)
	}
	if want := []any{"before", "after"}; !slices.Equal(res.Output, want) {
		t.Errorf("Output = %v, want %v", res.Output, want)
	}
	if err := s.Reconnect(ctx); err == nil {
		t.Error("Reconnect of a connected session = nil error")
	}
	// The session works as before, and keeps working over a second cycle.
	for i := range 2 {
		if res, err := s.InvokeScript(ctx, "Write-Output again"); err != nil || !slices.Equal(res.Output, []any{"again"}) {
			t.Fatalf("cycle %d: Invoke after Reconnect = %+v, %v", i, res, err)
		}
		if err := s.Disconnect(ctx); err != nil {
			t.Fatalf("cycle %d: Disconnect: %v", i, err)
		}
		if err := s.Reconnect(ctx); err != nil {
			t.Fatalf("cycle %d: Reconnect: %v", i, err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var states []session.State
	for c := range w {
		if c.From != c.To {
			states = append(states, c.To)
		}
	}
	want := []session.State{session.StateDisconnected, session.StateOpened, session.StateDisconnected, session.StateOpened,
		session.StateDisconnected, session.StateOpened, session.StateClosed}
	if !slices.Equal(states, want) {
		t.Errorf("states = %v, want %v", states, want)
	}
}

func TestCloseWhileDisconnected(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	g := newGate()
	srv.Handle("Test-Gate", g.handle)
	s := open(t, srv)
	ctx := testContext(t)
	p, err := s.Start(ctx, psrp.Script("Test-Gate"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, g.started, "handler")
	if err := s.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("Close while disconnected: %v", err)
	}
	// The paused pipeline ends with the session.
	if _, err := p.Wait(); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Wait = %v, want ErrClosed", err)
	}
	if len(srv.Shells()) != 0 {
		t.Errorf("shells left on the server: %v", srv.Shells())
	}
}

func TestConnectFromAnotherClient(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	g := newGate()
	srv.Handle("Test-Gate", g.handle)
	ctx := testContext(t)
	s1 := open(t, srv, session.WithRunspaces(1, 2), session.WithName("nightly"))
	p1, err := s1.Start(ctx, psrp.Script("Test-Gate"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, g.started, "handler")
	if err := s1.Disconnect(ctx, session.WithBufferMode(session.BufferDrop), session.WithDisconnectIdleTimeout(90*time.Second)); err != nil {
		t.Fatal(err)
	}

	client, err := session.NewClient(srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	infos, err := client.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	i := slices.IndexFunc(infos, func(in session.Info) bool { return in.ID == s1.ID() })
	if i < 0 {
		t.Fatalf("List = %+v, want session %v", infos, s1.ID())
	}
	info := infos[i]
	if info.State != session.StateDisconnected || info.ConfigurationName != session.DefaultConfigurationName ||
		!slices.Contains(info.Commands, p1.ID()) || info.Availability != session.Busy {
		t.Errorf("Info = %+v, want Disconnected, %s, running %v", info, session.DefaultConfigurationName, p1.ID())
	}
	// The Disconnect options reached the server.
	if info.BufferMode != session.BufferDrop || info.IdleTimeout != 90*time.Second {
		t.Errorf("Info BufferMode %q, IdleTimeout %v; want Drop, 1m30s", info.BufferMode, info.IdleTimeout)
	}

	if _, err := client.Connect(ctx, uuid.New()); !errors.Is(err, session.ErrSessionNotFound) {
		t.Errorf("Connect to an unknown ID = %v, want ErrSessionNotFound", err)
	}
	if _, err := client.ConnectName(ctx, "no-such-name"); !errors.Is(err, session.ErrSessionNotFound) {
		t.Errorf("ConnectName with an unknown name = %v, want ErrSessionNotFound", err)
	}
	s2, err := client.Connect(ctx, s1.ID())
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer s2.Close(context.Background())
	if s2.ID() != s1.ID() || s2.State() != session.StateOpened {
		t.Errorf("connected session %v in state %v", s2.ID(), s2.State())
	}
	if got := s2.MaxRunspaces(); got != 2 {
		t.Errorf("MaxRunspaces of the connected pool = %d, want the creator's 2", got)
	}
	ids, err := s2.Pipelines(ctx)
	if err != nil || !slices.Contains(ids, p1.ID()) {
		t.Fatalf("Pipelines = %v, %v; want %v", ids, err, p1.ID())
	}
	p2, err := s2.ConnectPipeline(ctx, p1.ID())
	if err != nil {
		t.Fatalf("ConnectPipeline: %v", err)
	}
	if _, err := s2.ConnectPipeline(ctx, p1.ID()); err == nil {
		t.Error("second ConnectPipeline of the same pipeline = nil error")
	}
	close(g.release)
	res, err := p2.Wait()
	if err != nil {
		t.Fatalf("Wait on the connected pipeline: %v", err)
	}
	// The "before" record was either received by the first client before
	// it disconnected or buffered for the second; "after" comes here.
	if !slices.Contains(res.Output, any("after")) {
		t.Errorf("Output = %v, want it to end with after", res.Output)
	}
	// The connected session runs new pipelines.
	if res, err := s2.InvokeScript(ctx, "Write-Output fresh"); err != nil || !slices.Equal(res.Output, []any{"fresh"}) {
		t.Errorf("Invoke on the connected session = %+v, %v", res, err)
	}
	if err := s2.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestConnectValidatesArguments(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	client, err := session.NewClient(srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.ConnectName(ctx, "  "); err == nil {
		t.Error("ConnectName with an empty name = nil error")
	}
	if _, err := session.NewClient(srv.URL, session.WithHTTPClient(srv.Client())); !errors.Is(err, session.ErrUnencrypted) {
		t.Errorf("NewClient over plain http = %v, want ErrUnencrypted", err)
	}
	if _, err := session.New(ctx, srv.URL, session.WithName(" ")); err == nil {
		t.Error("WithName(\" \") accepted")
	}
}

// bodyTap keeps the bodies of the requests it passes on.
type bodyTap struct {
	base   http.RoundTripper
	mu     sync.Mutex
	bodies []string
}

func (b *bodyTap) RoundTrip(req *http.Request) (*http.Response, error) {
	data, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.bodies = append(b.bodies, string(data))
	b.mu.Unlock()
	req.Body = io.NopCloser(bytes.NewReader(data))
	return b.base.RoundTrip(req)
}

func TestWithNameNamesTheShell(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	tap := &bodyTap{base: srv.Client().Transport}
	open(t, srv, session.WithHTTPClient(&http.Client{Transport: tap}), session.WithName("nightly & co"))
	tap.mu.Lock()
	defer tap.mu.Unlock()
	create := tap.bodies[0]
	if !strings.Contains(create, "transfer/Create") || !strings.Contains(create, `Name="nightly &amp; co"`) {
		t.Errorf("Create does not name the shell: %.600s", create)
	}
}

var (
	commandReceiveRE = regexp.MustCompile(`shell/Receive</wsa:Action>[\s\S]*<rsp:DesiredStream CommandId=`)
	streamDataRE     = regexp.MustCompile(`<rsp:Stream [^>]*CommandId="[^"]+"[^>]*>[^<]+</rsp:Stream>`)
)

// receiveHold is a transport that holds back the responses of pipeline
// Receives that hold says to, until release is closed, as a slow network
// would: the request has been served (the server took the output from its
// buffer) but the client has not read the answer yet. A held request whose
// context ends fails, as it would on the wire.
type receiveHold struct {
	base    http.RoundTripper
	hold    func(body string) bool // called with the response body; guarded by mu
	release <-chan struct{}

	mu                           sync.Mutex
	sent                         int           // pipeline Receives sent
	sentTwo                      chan struct{} // closed when the second pipeline Receive was sent
	held                         chan struct{} // closed when a first response is held
	answered                     chan struct{} // closed when a Disconnect was answered with 200
	heldOnce, sentOnce, discOnce sync.Once
}

func newReceiveHold(base http.RoundTripper, release <-chan struct{}, hold func(string) bool) *receiveHold {
	return &receiveHold{base: base, hold: hold, release: release,
		sentTwo: make(chan struct{}), held: make(chan struct{}), answered: make(chan struct{})}
}

func (h *receiveHold) RoundTrip(req *http.Request) (*http.Response, error) {
	reqBody, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	clone := req.Clone(req.Context())
	clone.Body = io.NopCloser(bytes.NewReader(reqBody))
	clone.ContentLength = int64(len(reqBody))
	isReceive := commandReceiveRE.Match(reqBody)
	if isReceive {
		h.mu.Lock()
		h.sent++
		if h.sent == 2 {
			h.sentOnce.Do(func() { close(h.sentTwo) })
		}
		h.mu.Unlock()
	}
	resp, err := h.base.RoundTrip(clone)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(reqBody, []byte("shell/Disconnect</wsa:Action>")) && resp.StatusCode == http.StatusOK {
		h.discOnce.Do(func() { close(h.answered) })
	}
	if !isReceive {
		return resp, nil
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	h.mu.Lock()
	hold := h.hold(string(data))
	h.mu.Unlock()
	if hold {
		h.heldOnce.Do(func() { close(h.held) })
		select {
		case <-h.release:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	return resp, nil
}

// stateLog collects the session's state changes until the watch ends.
func stateLog(t *testing.T, w <-chan session.StateChange) func() []session.State {
	var states []session.State
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range w {
			if c.From != c.To {
				states = append(states, c.To)
			}
		}
	}()
	return func() []session.State {
		select {
		case <-done:
		case <-time.After(testTimeout):
			t.Fatal("the Watch channel was not closed")
		}
		return states
	}
}

// TestDisconnectKeepsOutputOfReceiveInFlight is the race of Disconnect with
// a Receive whose answer is on its way: the server already took "before"
// from its buffer for that Receive, so if the client abandoned it, the
// output would be gone for good. The transport holds the answer until the
// server has answered the Disconnect.
func TestDisconnectKeepsOutputOfReceiveInFlight(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	g := newGate()
	srv.Handle("Test-Gate", g.handle)
	first := true
	tap := newReceiveHold(srv.Client().Transport, nil, func(body string) bool {
		hold := first && streamDataRE.MatchString(body)
		first = first && !hold
		return hold
	})
	tap.release = tap.answered // the answer arrives after the Disconnect's
	s := open(t, srv, session.WithHTTPClient(&http.Client{Transport: tap}))
	ctx := testContext(t)
	states := stateLog(t, s.Watch(ctx))

	p, err := s.Start(ctx, psrp.Script("Test-Gate"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, g.started, "handler")
	waitFor(t, tap.held, "the Receive carrying the first output")
	if err := s.Disconnect(ctx); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	select {
	case <-tap.answered:
	default:
		t.Fatal("Disconnect returned before the server answered it")
	}
	if st := s.State(); st != session.StateDisconnected {
		t.Fatalf("State = %v, want Disconnected", st)
	}
	close(g.release)
	if err := s.Reconnect(ctx); err != nil {
		t.Fatalf("Reconnect: %v", err)
	}
	res, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if want := []any{"before", "after"}; !slices.Equal(res.Output, want) {
		t.Errorf("Output = %v, want %v (output of the Receive in flight lost)", res.Output, want)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want := []session.State{session.StateDisconnected, session.StateOpened, session.StateClosed}
	if got := states(); !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
}

// TestDisconnectDoesNotWaitForSlowReceive: a pipeline Receive in flight
// whose answer does not come back (a long poll the server does not end, a
// slow network) must not hold Disconnect up; the answer, here the
// disconnected fault, is handled when it comes, and pauses the pipeline
// rather than failing it.
func TestDisconnectDoesNotWaitForSlowReceive(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	g := newGate()
	srv.Handle("Test-Gate", g.handle)
	release := make(chan struct{})
	armed := false
	tap := newReceiveHold(srv.Client().Transport, release, func(string) bool { return armed })
	s := open(t, srv, session.WithHTTPClient(&http.Client{Transport: tap}), session.WithOperationTimeout(time.Minute))
	ctx := testContext(t)
	states := stateLog(t, s.Watch(ctx))

	p, err := s.Start(ctx, psrp.Script("Test-Gate"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, g.started, "handler")
	// The first Receive brought "before"; the second waits on the server.
	waitFor(t, tap.sentTwo, "the second pipeline Receive")
	tap.mu.Lock()
	armed = true
	tap.mu.Unlock()
	// The held answer is released only after Disconnect returned: were
	// Disconnect waiting for it, this would hang.
	if err := s.Disconnect(ctx); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	waitFor(t, tap.held, "the answer to the Receive in flight")
	if st := s.State(); st != session.StateDisconnected {
		t.Fatalf("State = %v, want Disconnected", st)
	}
	tap.mu.Lock()
	armed = false
	tap.mu.Unlock()
	close(release)
	close(g.release)
	if err := s.Reconnect(ctx); err != nil {
		t.Fatalf("Reconnect: %v", err)
	}
	res, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if want := []any{"before", "after"}; !slices.Equal(res.Output, want) {
		t.Errorf("Output = %v, want %v", res.Output, want)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want := []session.State{session.StateDisconnected, session.StateOpened, session.StateClosed}
	if got := states(); !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
}

// TestShellDisconnectedByAnotherClient: the disconnected fault on the
// receive loops, without a Disconnect of ours, means the shell was
// disconnected elsewhere: the session pauses as Disconnected (not Broken)
// and Reconnect resumes it with nothing lost.
func TestShellDisconnectedByAnotherClient(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	g := newGate()
	srv.Handle("Test-Gate", g.handle)
	s := open(t, srv)
	ctx := testContext(t)
	w := s.Watch(ctx)
	p, err := s.Start(ctx, psrp.Script("Test-Gate"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, g.started, "handler")

	other := &wsman.Client{URL: srv.URL, HTTPClient: srv.Client()}
	shell := wsman.ShellRef{ID: strings.ToUpper(s.ID().String()), ResourceURI: wsman.ResourcePowerShell}
	if err := other.Disconnect(ctx, shell, wsman.DisconnectOptions{}); err != nil {
		t.Fatalf("Disconnect from another client: %v", err)
	}
	for c := range w {
		if c.To == session.StateBroken {
			t.Fatalf("session broke: %v", c.Err)
		}
		if c.To == session.StateDisconnected {
			break
		}
	}
	if _, err := s.InvokeScript(ctx, "Write-Output x"); !errors.Is(err, session.ErrDisconnected) {
		t.Errorf("Invoke while disconnected = %v, want ErrDisconnected", err)
	}
	close(g.release)
	if err := s.Reconnect(ctx); err != nil {
		t.Fatalf("Reconnect: %v", err)
	}
	res, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if !slices.Contains(res.Output, any("after")) {
		t.Errorf("Output = %v, want it to end with after", res.Output)
	}
	if res, err := s.InvokeScript(ctx, "Write-Output again"); err != nil || !slices.Equal(res.Output, []any{"again"}) {
		t.Errorf("Invoke after Reconnect = %+v, %v", res, err)
	}
}

// TestDisconnectRefusedKeepsSession: a Disconnect the server refuses leaves
// the session Opened and its pipelines receiving.
func TestDisconnectRefusedKeepsSession(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	g := newGate()
	srv.Handle("Test-Gate", g.handle)
	s := open(t, srv)
	ctx := testContext(t)
	p, err := s.Start(ctx, psrp.Script("Test-Gate"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, g.started, "handler")
	srv.InjectFault(sessiontest.Fault{Action: "Disconnect", Status: http.StatusInternalServerError, Message: "no"})
	err = s.Disconnect(ctx)
	var f *wsman.Fault
	if !errors.As(err, &f) || !strings.HasPrefix(err.Error(), "session: disconnect:") {
		t.Fatalf("Disconnect = %v, want a session: disconnect: error wrapping the fault", err)
	}
	if st := s.State(); st != session.StateOpened {
		t.Fatalf("State = %v, want Opened", st)
	}
	close(g.release)
	res, err := p.Wait()
	if err != nil || !slices.Equal(res.Output, []any{"before", "after"}) {
		t.Fatalf("Wait = %+v, %v; want before, after", res, err)
	}
	if res, err := s.InvokeScript(ctx, "Write-Output again"); err != nil || !slices.Equal(res.Output, []any{"again"}) {
		t.Errorf("Invoke after the refused Disconnect = %+v, %v", res, err)
	}
}

// getHold holds the answer of WS-Man Get requests (Alive's GetShell) until
// release is closed.
type getHold struct {
	base    http.RoundTripper
	held    chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *getHold) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	clone := req.Clone(req.Context())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	clone.ContentLength = int64(len(body))
	resp, err := h.base.RoundTrip(clone)
	if err != nil || !bytes.Contains(body, []byte("transfer/Get</wsa:Action>")) {
		return resp, err
	}
	h.once.Do(func() { close(h.held) })
	select {
	case <-h.release:
		return resp, nil
	case <-req.Context().Done():
		_ = resp.Body.Close()
		return nil, req.Context().Err()
	}
}

// An Alive whose answer ("Disconnected") was overtaken by a Reconnect must
// not take the reconnected session down again.
func TestAliveAnswerOvertakenByReconnect(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	tap := &getHold{base: srv.Client().Transport, held: make(chan struct{}), release: make(chan struct{})}
	s := open(t, srv, session.WithHTTPClient(&http.Client{Transport: tap}))
	ctx := testContext(t)
	if err := s.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	alive := make(chan error, 1)
	go func() { alive <- s.Alive(ctx) }()
	waitFor(t, tap.held, "the Get of Alive")
	if err := s.Reconnect(ctx); err != nil {
		t.Fatalf("Reconnect: %v", err)
	}
	close(tap.release)
	if err := <-alive; err != nil {
		t.Errorf("Alive = %v, want nil: its answer predates the Reconnect", err)
	}
	if st := s.State(); st != session.StateOpened {
		t.Fatalf("State = %v, want Opened", st)
	}
	res, err := s.InvokeScript(ctx, "Write-Output still-here")
	if err != nil || len(res.Output) != 1 {
		t.Fatalf("Invoke after Reconnect = %v, %v", res, err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
