package session_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/wsman"
)

var soakFull = flag.Bool("soak.full", false, "run the robust-connection soak test at full size (100,000 objects, 20 cuts)")

// handleCount registers Test-Count: it writes the numbers 0..n-1 (n its
// first argument), after gate is closed when gate is not nil.
func handleCount(srv *sessiontest.Server, gate <-chan struct{}) {
	srv.Handle("Test-Count", func(ctx context.Context, c *sessiontest.Call) error {
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		n := 0
		if v := c.Positional(); len(v) > 0 {
			n = toInt(v[0])
		}
		for i := range n {
			if err := c.WriteOutput(i); err != nil {
				return err
			}
		}
		return nil
	})
}

func toInt(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case int32:
		return int(x)
	case int64:
		return int(x)
	case string:
		var n int
		_, _ = fmt.Sscan(x, &n)
		return n
	}
	return -1
}

// checkSequence fails unless out is exactly 0..n-1 in order.
func checkSequence(t *testing.T, out []any, n int) {
	t.Helper()
	if len(out) != n {
		t.Fatalf("got %d objects, want %d", len(out), n)
	}
	for i, v := range out {
		if got := toInt(v); got != i {
			t.Fatalf("object %d is %v, want %d", i, v, i)
		}
	}
}

// watchRobust collects the state changes of s until the test ends.
type robustStates struct {
	mu      sync.Mutex
	changes []session.StateChange
	wake    chan struct{}
}

func watchRobust(t *testing.T, s *session.Session) *robustStates {
	ctx, cancel := context.WithCancel(context.Background())
	l := &robustStates{wake: make(chan struct{}, 1)}
	ch := s.Watch(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range ch {
			if c.From == c.To {
				continue
			}
			l.mu.Lock()
			l.changes = append(l.changes, c)
			l.mu.Unlock()
			select {
			case l.wake <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("the watcher did not end")
		}
	})
	return l
}

// waitFor waits until a change to st was seen and returns it.
func (l *robustStates) waitFor(t *testing.T, st session.State, within time.Duration) session.StateChange {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for _, c := range l.changes {
			if c.To == st {
				l.mu.Unlock()
				return c
			}
		}
		l.mu.Unlock()
		select {
		case <-l.wake:
		case <-deadline.C:
			t.Fatalf("no change to %v within %v (saw %v)", st, within, l.path())
		}
	}
}

func (l *robustStates) path() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for i, c := range l.changes {
		if i == 0 {
			b.WriteString(c.From.String())
		}
		b.WriteString("→" + c.To.String())
	}
	return b.String()
}

// waitOpenedAgain waits for Opened→Disconnected→Opened and checks the
// Disconnected change carries the network error.
func (l *robustStates) waitOpenedAgain(t *testing.T) {
	t.Helper()
	d := l.waitFor(t, session.StateDisconnected, 10*time.Second)
	if d.From != session.StateOpened || d.Err == nil {
		t.Errorf("change to Disconnected: from %v, err %v; want from Opened with the network error", d.From, d.Err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if p := l.path(); strings.HasSuffix(p, "Disconnected→Opened") || strings.Contains(p, "Disconnected→Opened") {
			return
		}
		select {
		case <-l.wake:
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("the session did not come back: %v", l.path())
}

func invokeCount(t *testing.T, s *session.Session, n int) []any {
	t.Helper()
	res, err := s.InvokeScript(testContext(t), fmt.Sprintf("Test-Count %d", n))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	return res.Output
}

func TestRobustResetMidReceive(t *testing.T) {
	srv := newServer(t)
	handleCount(srv, nil)
	s := open(t, srv)
	states := watchRobust(t, s)
	// The answers to these Receives are cut half way: the output they
	// took must come again with the repeated Receive.
	srv.InjectFault(sessiontest.Fault{Action: "Receive", TruncateBody: true, Count: 2})
	checkSequence(t, invokeCount(t, s, 500), 500)
	states.waitOpenedAgain(t)
	if st := s.RobustStats(); st.Outages == 0 || st.Retries == 0 {
		t.Errorf("stats %+v: want an outage and retries", st)
	}
}

func TestRobustDropMidRequest(t *testing.T) {
	srv := newServer(t)
	handleCount(srv, nil)
	s := open(t, srv)
	states := watchRobust(t, s)
	srv.InjectFault(sessiontest.Fault{Action: "Receive", DropConnection: true, Count: 2})
	checkSequence(t, invokeCount(t, s, 300), 300)
	states.waitOpenedAgain(t)
}

func TestRobustStalledAnswer(t *testing.T) {
	srv := newServer(t)
	handleCount(srv, nil)
	// A 500 ms OperationTimeout makes the request deadline 1 s; the
	// server holds the Receive for longer.
	s := open(t, srv, session.WithOperationTimeout(500*time.Millisecond))
	states := watchRobust(t, s)
	srv.InjectFault(sessiontest.Fault{Action: "Receive", Delay: 20 * time.Second})
	checkSequence(t, invokeCount(t, s, 200), 200)
	states.waitOpenedAgain(t)
}

func TestRobustRefusedThenBack(t *testing.T) {
	srv := newServer(t)
	gate := make(chan struct{})
	handleCount(srv, gate)
	s := open(t, srv)
	states := watchRobust(t, s)
	p, err := s.StartScript(testContext(t), "Test-Count 100")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.PauseListener(); err != nil {
		t.Fatal(err)
	}
	states.waitFor(t, session.StateDisconnected, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // refused for a while
	if err := srv.ResumeListener(); err != nil {
		t.Fatal(err)
	}
	states.waitOpenedAgain(t)
	close(gate)
	res, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	checkSequence(t, res.Output, 100)
}

func TestRobustListenerRestart(t *testing.T) {
	srv := newServer(t)
	gate := make(chan struct{})
	handleCount(srv, gate)
	s := open(t, srv)
	states := watchRobust(t, s)
	p, err := s.StartScript(testContext(t), "Test-Count 2000")
	if err != nil {
		t.Fatal(err)
	}
	close(gate)
	if err := srv.RestartListener(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	checkSequence(t, res.Output, 2000)
	states.waitOpenedAgain(t)
}

func TestRobustPastWindowBreaks(t *testing.T) {
	srv := newServer(t)
	gate := make(chan struct{})
	defer close(gate)
	handleCount(srv, gate)
	s := open(t, srv, session.WithReconnectWindow(300*time.Millisecond))
	states := watchRobust(t, s)
	p, err := s.StartScript(testContext(t), "Test-Count 1")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.PauseListener(); err != nil {
		t.Fatal(err)
	}
	b := states.waitFor(t, session.StateBroken, 10*time.Second)
	if b.Err == nil || !strings.Contains(b.Err.Error(), "reconnect window") {
		t.Errorf("Broken with %v, want the reconnect window's reason", b.Err)
	}
	if _, err := p.Wait(); !errors.Is(err, session.ErrBroken) {
		t.Errorf("Wait: %v, want ErrBroken", err)
	}
	if err := srv.ResumeListener(); err != nil {
		t.Fatal(err)
	}
}

func TestRobustShellDroppedBreaks(t *testing.T) {
	srv := newServer(t)
	gate := make(chan struct{})
	defer close(gate)
	handleCount(srv, gate)
	s := open(t, srv)
	states := watchRobust(t, s)
	if err := srv.PauseListener(); err != nil {
		t.Fatal(err)
	}
	states.waitFor(t, session.StateDisconnected, 10*time.Second)
	srv.KillShell(s.ID())
	if err := srv.ResumeListener(); err != nil {
		t.Fatal(err)
	}
	b := states.waitFor(t, session.StateBroken, 10*time.Second)
	if !errors.Is(b.Err, wsman.ErrShellNotFound) {
		t.Errorf("Broken with %v, want the server's shell-not-found fault", b.Err)
	}
	if _, err := s.InvokeScript(testContext(t), "Test-Count 1"); !errors.Is(err, session.ErrBroken) {
		t.Errorf("Invoke after: %v, want ErrBroken", err)
	}
}

func TestRobustOffBreaksAtOnce(t *testing.T) {
	srv := newServer(t)
	handleCount(srv, nil)
	s := open(t, srv, session.WithReconnectWindow(0))
	srv.InjectFault(sessiontest.Fault{Action: "Receive", TruncateBody: true})
	if _, err := s.InvokeScript(testContext(t), "Test-Count 10"); err == nil {
		t.Fatal("Invoke survived a cut with the robust connection off")
	}
}

func TestRobustInputAcrossCutArrivesOnce(t *testing.T) {
	srv := newServer(t)
	checkSequence(t, inputAcrossCuts(t, srv, open(t, srv)), 20)
}

// TestRobustInputOnceByOperationID is TestRobustInputAcrossCutArrivesOnce
// against an endpoint that does not drop repeated PSRP fragments: only the
// Send's OperationID, retransmitted after the cut, keeps the endpoint from
// taking the input twice.
func TestRobustInputOnceByOperationID(t *testing.T) {
	srv := sessiontest.NewUnstartedServer()
	srv.DisableInputDeduplication = true
	srv.Start()
	t.Cleanup(srv.Close)
	rec, ops := recordOperationIDsOf(srv, wsman.ActionSend)
	checkSequence(t, inputAcrossCuts(t, srv, open(t, srv, rec)), 20)
	n, repeat := ops.retransmissions()
	if n == 0 || !repeat {
		t.Errorf("%d Sends retransmitted (all of an earlier OperationID: %v); want the cut Sends sent again", n, repeat)
	}
	ops.mu.Lock()
	sent := len(ops.sent)
	ops.mu.Unlock()
	if sent < 20+n {
		t.Errorf("%d Sends carried an OperationID; want every one of the 20 inputs' and %d retransmissions", sent, n)
	}
}

// TestRobustInputTwiceWithoutOperationID is the case the OperationID is
// for: an endpoint without robust connection support that does not drop
// repeated PSRP fragments either (as older WinRM may) takes the input of
// a Send whose answer was cut twice. The session still rides the cuts out.
func TestRobustInputTwiceWithoutOperationID(t *testing.T) {
	srv := sessiontest.NewUnstartedServer()
	srv.DisableInputDeduplication = true
	srv.DisableRobustConnections = true
	srv.Start()
	t.Cleanup(srv.Close)
	if out := inputAcrossCuts(t, srv, open(t, srv)); len(out) <= 20 {
		t.Fatalf("got %d objects from 20 inputs; want the input of the cut Sends repeated, or this test proves nothing", len(out))
	}
}

// inputAcrossCuts sends 20 inputs to a pipeline of s while the answers to
// the first two Sends are cut, and returns the pipeline's output (its
// input echoed).
func inputAcrossCuts(t *testing.T, srv *sessiontest.Server, s *session.Session) []any {
	t.Helper()
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
	states := watchRobust(t, s)
	ctx := testContext(t)
	p, err := s.StartScript(ctx, "Test-Echo", session.WithOpenInput())
	if err != nil {
		t.Fatal(err)
	}
	// The server takes these Sends but their answers are cut: the client
	// sends them again, and the server must take each input once.
	srv.InjectFault(sessiontest.Fault{Action: "Send", TruncateBody: true, Count: 2})
	for i := range 20 {
		if err := p.Send(ctx, i); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if err := p.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	states.waitOpenedAgain(t)
	return res.Output
}

// TestRobustSoak cuts the connection at random points of a long pipeline
// and checks that the output arrives exactly once, in order. CI runs it at
// 10,000 objects; -soak.full runs 100,000.
func TestRobustSoak(t *testing.T) {
	n, cuts := 10_000, 20
	if *soakFull {
		n = 100_000
	}
	if testing.Short() {
		n = 2_000
	}
	srv := newServer(t)
	handleCount(srv, nil)
	// Small envelopes: a few hundred Receives, so that cuts fall between
	// and inside many of them.
	s := open(t, srv, session.WithOperationTimeout(time.Second), session.WithMaxEnvelopeSize(16<<10))
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0x50a4))
	at := make([]int, cuts)
	for i := range at {
		at[i] = rng.IntN(n)
	}
	slices.Sort(at)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	p, err := s.StartScript(ctx, fmt.Sprintf("Test-Count %d", n))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	next, got := 0, 0
	for r, err := range p.Records() {
		if err != nil {
			t.Fatalf("after %d objects: %v (seed %d)", got, err, seed)
		}
		o, ok := r.(session.Output)
		if !ok {
			continue
		}
		if v := toInt(o.Value); v != got {
			t.Fatalf("object %d is %v (seed %d)", got, o.Value, seed)
		}
		got++
		for next < len(at) && got > at[next] {
			next++
			before := s.RobustStats().Outages
			kind := rng.IntN(4)
			switch kind {
			case 0:
				kinds["reset"]++
				srv.CloseClientConnections()
			case 1:
				kinds["cut response"]++
				srv.InjectFault(sessiontest.Fault{Action: "Receive", TruncateBody: true})
			case 2:
				kinds["drop request"]++
				srv.InjectFault(sessiontest.Fault{Action: "Receive", DropConnection: true})
			case 3:
				kinds["listener restart"]++
				if err := srv.RestartListener(time.Duration(rng.IntN(5)+1) * 20 * time.Millisecond); err != nil {
					t.Fatal(err)
				}
			}
			// Each cut is one outage, ridden out before the next; but a
			// reset or a restart may find no request on the wire (net/http
			// then opens a new connection unseen), and cost nothing.
			if !waitRecovered(t, s, before, kind == 0 || kind == 3) {
				kinds["reset or restart with no request on the wire"]++
			}
		}
	}
	if _, err := p.Wait(); err != nil {
		t.Fatalf("Wait: %v (seed %d)", err, seed)
	}
	if got != n {
		t.Fatalf("got %d objects, want %d (seed %d)", got, n, seed)
	}
	st := s.RobustStats()
	t.Logf("soak: %d objects 0..%d in order, %d cuts %v, %d outages, %d repeated requests, %d probes, in %v (seed %d)",
		n, n-1, next, kinds, st.Outages, st.Retries, st.Probes, time.Since(start).Round(time.Millisecond), seed)
}

// waitRecovered waits until s has been through an outage more than before
// and is Opened again. With mayPass, no outage within a second is fine (it
// reports false).
func waitRecovered(t *testing.T, s *session.Session, before int64, mayPass bool) bool {
	t.Helper()
	start := time.Now()
	for s.RobustStats().Outages <= before || s.State() != session.StateOpened {
		switch {
		case mayPass && time.Since(start) > time.Second && s.RobustStats().Outages <= before:
			return false
		case time.Since(start) > 10*time.Second:
			t.Fatalf("no outage ridden out within 10 s of a cut (state %v, stats %+v)", s.State(), s.RobustStats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// operationIDs is an http.RoundTripper that records the wsmv:OperationID
// headers of the Receives a client sends.
type operationIDs struct {
	base   http.RoundTripper
	action string // the requests recorded: wsman.ActionReceive or ActionSend
	mu     sync.Mutex
	sent   []string // "first <id>" or "again <id>"
}

var operationIDRE = regexp.MustCompile(`<wsmv:OperationID s:mustUnderstand="(true|false)">([^<]*)</wsmv:OperationID>`)

func (o *operationIDs) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	if m := operationIDRE.FindSubmatch(body); m != nil && bytes.Contains(body, []byte(o.action+"<")) {
		kind := "first "
		if string(m[1]) == "true" {
			kind = "again "
		}
		o.mu.Lock()
		o.sent = append(o.sent, kind+string(m[2]))
		o.mu.Unlock()
	}
	clone := req.Clone(req.Context())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	clone.ContentLength = int64(len(body))
	return o.base.RoundTrip(clone)
}

// retransmissions returns how many requests were sent again, and whether
// each repeated the OperationID of a Receive sent before.
func (o *operationIDs) retransmissions() (n int, allRepeat bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := map[string]bool{}
	allRepeat = true
	for _, s := range o.sent {
		kind, id, _ := strings.Cut(s, " ")
		if kind == "again" {
			n++
			allRepeat = allRepeat && seen[id]
		}
		seen[id] = true
	}
	return n, allRepeat
}

// recordOperationIDs records the OperationIDs of the Receives sent to srv.
func recordOperationIDs(srv *sessiontest.Server) (session.Option, *operationIDs) {
	return recordOperationIDsOf(srv, wsman.ActionReceive)
}

// recordOperationIDsOf records the OperationIDs of the requests with the
// given action sent to srv.
func recordOperationIDsOf(srv *sessiontest.Server, action string) (session.Option, *operationIDs) {
	o := &operationIDs{base: srv.Client().Transport, action: action}
	return session.WithHTTPClient(&http.Client{Transport: o}), o
}

// TestRobustRetransmitsReceive checks the wire side of a lost Receive
// answer: the Receive goes again with the same OperationID marked as a
// retransmission, and the output arrives once.
func TestRobustRetransmitsReceive(t *testing.T) {
	srv := newServer(t)
	handleCount(srv, nil)
	rec, ops := recordOperationIDs(srv)
	s := open(t, srv, rec)
	states := watchRobust(t, s)
	srv.InjectFault(sessiontest.Fault{Action: "Receive", TruncateBody: true})
	checkSequence(t, invokeCount(t, s, 300), 300)
	states.waitOpenedAgain(t)
	n, repeat := ops.retransmissions()
	if n == 0 || !repeat {
		t.Errorf("%d retransmissions (all of an earlier OperationID: %v); want the cut Receive sent again", n, repeat)
	}
	if st := s.RobustStats(); st.LostAnswers != 0 {
		t.Errorf("stats %+v: no answer may be lost against a server with robust connection support", st)
	}
}

// TestRobustServerWithoutSupport runs against a server without robust
// connection support (it echoes no OperationID, as older WinRM): after a
// cut the session still comes back to Opened and runs pipelines, but it
// never marks a Receive as a retransmission (such a server could refuse a
// header it must understand), and the output of the lost answer is gone,
// as RobustStats.LostAnswers and the pipeline's error say.
func TestRobustServerWithoutSupport(t *testing.T) {
	srv := sessiontest.NewUnstartedServer()
	srv.DisableRobustConnections = true
	srv.Start()
	t.Cleanup(srv.Close)
	handleCount(srv, nil)
	rec, ops := recordOperationIDs(srv)
	s := open(t, srv, rec)
	states := watchRobust(t, s)
	srv.InjectFault(sessiontest.Fault{Action: "Receive", TruncateBody: true})
	res, err := s.InvokeScript(testContext(t), "Test-Count 300")
	switch {
	case err != nil:
		t.Logf("the pipeline whose answer was lost: %v (ErrOutputLost: %v)", err, errors.Is(err, session.ErrOutputLost))
	case len(res.Output) == 300:
		t.Fatal("all the output arrived although an answer carrying it was cut and cannot be repeated")
	default:
		t.Logf("the pipeline whose answer was lost got %d of 300 objects", len(res.Output))
	}
	states.waitOpenedAgain(t)
	checkSequence(t, invokeCount(t, s, 100), 100)
	if s.State() != session.StateOpened {
		t.Errorf("state %v after the cut, want Opened", s.State())
	}
	if st := s.RobustStats(); st.Outages == 0 || st.LostAnswers == 0 {
		t.Errorf("stats %+v: want an outage and a lost answer", st)
	}
	if n, _ := ops.retransmissions(); n != 0 {
		t.Errorf("%d Receives marked as retransmissions to a server that never echoed an OperationID", n)
	}
}

// createAnswerLost runs requests through base but loses the answer to the
// first Create, as a connection cut after the server acted would.
type createAnswerLost struct {
	base http.RoundTripper
	once sync.Once
}

func (c *createAnswerLost) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	res, err := c.base.RoundTrip(req)
	if err != nil || !bytes.Contains(body, []byte(wsman.ActionCreate+"<")) {
		return res, err
	}
	lost := false
	c.once.Do(func() { lost = true })
	if !lost {
		return res, nil
	}
	_ = res.Body.Close()
	return nil, io.ErrUnexpectedEOF
}

// A New whose Create answer is lost deletes the shell it asked for: none is
// left behind on the server.
func TestNewLeavesNoShellWhenCreateAnswerIsLost(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	client := &http.Client{Transport: &createAnswerLost{base: srv.Client().Transport}}
	_, err := session.New(testContext(t), srv.URL, session.WithHTTPClient(client), session.WithAllowUnencrypted())
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("New = %v, want the lost answer's error", err)
	}
	if n := len(srv.Shells()); n != 0 {
		t.Errorf("%d shells left on the server after a failed New", n)
	}
}
