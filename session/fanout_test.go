package session_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// fanoutHosts is a set of emulated hosts for fan-out tests, each answering
// Get-Name with its own name, and the options that reach each of them.
type fanoutHosts struct {
	targets []string
	names   map[string]string // target → the name its Get-Name writes
	opts    map[string][]session.Option
	servers []*sessiontest.Server
}

func (h *fanoutHosts) hostOptions(target string) []session.Option { return h.opts[target] }

// add registers srv as a host named name, reached with opts.
func (h *fanoutHosts) add(t *testing.T, name string, srv *sessiontest.Server, opts ...session.Option) {
	t.Helper()
	t.Cleanup(srv.Close)
	srv.Handle("Get-Name", func(ctx context.Context, c *sessiontest.Call) error {
		return c.WriteOutput(name, name+"-2")
	})
	if h.names == nil {
		h.names = map[string]string{}
		h.opts = map[string][]session.Option{}
	}
	h.targets = append(h.targets, srv.URL)
	h.names[srv.URL] = name
	h.opts[srv.URL] = append([]session.Option{session.WithHTTPClient(srv.Client())}, opts...)
	h.servers = append(h.servers, srv)
}

// closedPort returns a loopback URL nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/wsman"
}

// mixedHosts builds: two healthy hosts (HTTP and HTTPS), an unreachable
// one, one that refuses the password, one whose script fails, in that order.
func mixedHosts(t *testing.T) *fanoutHosts {
	h := &fanoutHosts{}
	h.add(t, "plain", sessiontest.NewServer())
	h.add(t, "tls", sessiontest.NewTLSServer())

	unreachable := closedPort(t)
	h.targets = append(h.targets, unreachable)

	denied := sessiontest.NewUnstartedServer()
	denied.Users = map[string]string{"alice": "right-password"}
	denied.StartTLS()
	h.add(t, "denied", denied, session.WithBasicAuth("alice", "wrong-password"))

	failing := sessiontest.NewServer()
	h.add(t, "failing", failing)
	failing.Handle("Get-Name", func(ctx context.Context, c *sessiontest.Call) error {
		if err := c.WriteOutput("before the failure"); err != nil {
			return err
		}
		return errors.New("the thing is broken")
	})
	return h
}

// The collected form: every host's outcome in target order, each failure
// reported for its host without stopping the others.
func TestFanoutInvoke(t *testing.T) {
	t.Parallel()
	h := mixedHosts(t)
	f := session.Fanout{Options: []session.Option{session.WithAllowUnencrypted()}, HostOptions: h.hostOptions}
	results, err := f.Invoke(testContext(t), h.targets, psrp.Script("Get-Name"))

	if len(results) != len(h.targets) {
		t.Fatalf("got %d results for %d targets", len(results), len(h.targets))
	}
	for i, r := range results {
		if r.Target != h.targets[i] {
			t.Errorf("result %d is for %q, want %q (target order)", i, r.Target, h.targets[i])
		}
	}
	for _, i := range []int{0, 1} {
		r := results[i]
		name := h.names[r.Target]
		if r.Err != nil || r.Result == nil || len(r.Result.Output) != 2 || r.Result.Output[0] != name {
			t.Errorf("%s: got %+v, want output [%s %s-2]", name, r, name, name)
		}
	}
	hostErr := func(i int) *session.TargetError {
		t.Helper()
		var he *session.TargetError
		if !errors.As(results[i].Err, &he) || he.Target != h.targets[i] {
			t.Fatalf("result %d: Err = %v, want a *TargetError for %s", i, results[i].Err, h.targets[i])
		}
		return he
	}
	if he := hostErr(2); errors.Is(he, session.ErrAccessDenied) || results[2].Result != nil {
		t.Errorf("unreachable host: %v, result %v", he, results[2].Result)
	}
	if he := hostErr(3); !errors.Is(he, session.ErrAccessDenied) || strings.Contains(he.Error(), "wrong-password") {
		t.Errorf("denied host: %v, want ErrAccessDenied without the password", he)
	}
	var pe *session.PipelineError
	if he := hostErr(4); !errors.As(he, &pe) || pe.State != psrp.PipelineFailed || !strings.Contains(he.Error(), "the thing is broken") {
		t.Errorf("failing host: %v, want a Failed *PipelineError", he)
	}
	if r := results[4].Result; r == nil || len(r.Output) != 1 || r.Output[0] != "before the failure" {
		t.Errorf("failing host's result = %+v, want its output before the failure", r)
	}

	// The aggregate lists the three failures in target order.
	var fe *session.FanoutError
	if !errors.As(err, &fe) || fe.Total != 5 || len(fe.Failed) != 3 {
		t.Fatalf("err = %v, want a *FanoutError of 3 hosts out of 5", err)
	}
	for k, i := range []int{2, 3, 4} {
		if fe.Failed[k].Target != h.targets[i] {
			t.Errorf("FanoutError.Failed[%d] = %s, want %s", k, fe.Failed[k].Target, h.targets[i])
		}
	}
	if !errors.Is(err, session.ErrAccessDenied) || !errors.As(err, &pe) {
		t.Errorf("errors.Is/As do not see into the aggregate: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "session: 3 of 5 hosts failed\n") {
		t.Errorf("aggregate text = %q", err)
	}
	for _, srv := range h.servers {
		if n := len(srv.Shells()); n != 0 {
			t.Errorf("%d shells left open on %s", n, srv.URL)
		}
	}
}

// All hosts well: no error, and the shorthand InvokeAll works with shared
// options only.
func TestInvokeAll(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	targets := []string{srv.URL, srv.URL, srv.URL}
	results, err := session.InvokeAll(testContext(t), targets, psrp.Script("Write-Output hi"),
		session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil || len(r.Result.Output) != 1 || r.Result.Output[0] != "hi" {
			t.Errorf("host %d: %+v", i, r)
		}
	}
	results, err = session.InvokeAll(testContext(t), nil, psrp.Script("Write-Output hi"))
	if err != nil || len(results) != 0 {
		t.Errorf("no targets: %v, %v", results, err)
	}
}

// The streaming form: every record tagged with the host that wrote it, in
// that host's order, and one error pair per failed host.
func TestFanoutRecords(t *testing.T) {
	t.Parallel()
	h := mixedHosts(t)
	f := session.Fanout{Options: []session.Option{session.WithAllowUnencrypted()}, HostOptions: h.hostOptions}
	got := map[string][]any{}
	failed := map[string]error{}
	for rec, err := range f.Records(testContext(t), h.targets, psrp.Script("Get-Name")) {
		if err != nil {
			var he *session.TargetError
			if !errors.As(err, &he) || he.Target != rec.Target || rec.Record != nil {
				t.Fatalf("error pair (%+v, %v) is not a *TargetError for its host", rec, err)
			}
			if _, dup := failed[rec.Target]; dup {
				t.Errorf("%s failed twice", rec.Target)
			}
			failed[rec.Target] = err
			continue
		}
		out, ok := rec.Record.(session.Output)
		if !ok {
			t.Fatalf("unexpected record %T from %s", rec.Record, rec.Target)
		}
		got[rec.Target] = append(got[rec.Target], out.Value)
	}
	for _, i := range []int{0, 1} {
		target := h.targets[i]
		name := h.names[target]
		if g := got[target]; len(g) != 2 || g[0] != name || g[1] != name+"-2" {
			t.Errorf("records tagged %s = %v, want [%s %s-2]", target, g, name, name)
		}
		if failed[target] != nil {
			t.Errorf("%s failed: %v", name, failed[target])
		}
	}
	if g := got[h.targets[4]]; len(g) != 1 || g[0] != "before the failure" {
		t.Errorf("failing host's records = %v", g)
	}
	if len(failed) != 3 || !errors.Is(failed[h.targets[3]], session.ErrAccessDenied) {
		t.Errorf("failures = %v, want the unreachable, denied and failing hosts", failed)
	}
	var pe *session.PipelineError
	if !errors.As(failed[h.targets[4]], &pe) {
		t.Errorf("failing host: %v, want a *PipelineError", failed[h.targets[4]])
	}
	for _, srv := range h.servers {
		if n := len(srv.Shells()); n != 0 {
			t.Errorf("%d shells left open on %s", n, srv.URL)
		}
	}
}

// concurrency counts the handlers that run at once.
type concurrency struct {
	mu          sync.Mutex
	now, max    int
	reached     chan struct{} // closed when now first reaches want
	want        int
	reachedOnce sync.Once
}

func newConcurrency(want int) *concurrency {
	return &concurrency{want: want, reached: make(chan struct{})}
}

// handler runs until want handlers run at once (or a bound passes), so
// that a throttle above want would show as more than want at once.
func (c *concurrency) handler(ctx context.Context, call *sessiontest.Call) error {
	c.mu.Lock()
	c.now++
	c.max = max(c.max, c.now)
	if c.now >= c.want {
		c.reachedOnce.Do(func() { close(c.reached) })
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.now--
		c.mu.Unlock()
	}()
	select {
	case <-c.reached:
		// Stay a little, so that a host past the throttle would overlap.
		time.Sleep(20 * time.Millisecond)
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	return call.WriteOutput("ok")
}

func (c *concurrency) maxSeen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max
}

// The throttle bounds how many hosts run at once, and the default is 32.
func TestFanoutThrottle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		limit, hosts, want int
	}{
		{limit: 3, hosts: 10, want: 3},
		{limit: 0, hosts: 40, want: session.DefaultThrottleLimit},
	} {
		srv := sessiontest.NewUnstartedServer()
		srv.MaxShellsPerUser = -1
		srv.Start()
		t.Cleanup(srv.Close)
		c := newConcurrency(tc.want)
		srv.Handle("Get-Slow", c.handler)
		targets := make([]string, tc.hosts)
		for i := range targets {
			targets[i] = srv.URL
		}
		var maxOpen atomic.Int32
		f := session.Fanout{
			ThrottleLimit: tc.limit,
			Options:       []session.Option{session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted()},
			Progress: func(p session.FanoutProgress) {
				if n := int32(p.Started - p.Done); n > maxOpen.Load() {
					maxOpen.Store(n)
				}
			},
		}
		if _, err := f.Invoke(testContext(t), targets, psrp.Script("Get-Slow")); err != nil {
			t.Fatalf("limit %d: %v", tc.limit, err)
		}
		if got := c.maxSeen(); got != tc.want {
			t.Errorf("limit %d: %d pipelines ran at once, want %d", tc.limit, got, tc.want)
		}
		if got := int(maxOpen.Load()); got > tc.want {
			t.Errorf("limit %d: %d hosts in progress at once, want at most %d", tc.limit, got, tc.want)
		}
	}
}

// Progress reports each host's events in order with consistent counts.
func TestFanoutProgress(t *testing.T) {
	t.Parallel()
	h := mixedHosts(t)
	var events []session.FanoutProgress
	f := session.Fanout{
		ThrottleLimit: 2,
		Options:       []session.Option{session.WithAllowUnencrypted()},
		HostOptions:   h.hostOptions,
		Progress:      func(p session.FanoutProgress) { events = append(events, p) }, // serialized
	}
	_, _ = f.Invoke(testContext(t), h.targets, psrp.Script("Get-Name"))

	seq := map[int][]session.FanoutEvent{}
	for k, p := range events {
		if p.Target != h.targets[p.Index] || p.Total != 5 {
			t.Errorf("event %d: %+v", k, p)
		}
		if p.Started-p.Done > 2 || p.Done > p.Started || p.Failed > p.Done {
			t.Errorf("event %d: counts %+v break the throttle or each other", k, p)
		}
		if (p.Err != nil) != (p.Event == session.TargetDone && p.Index >= 2) {
			t.Errorf("event %d: Err = %v for %s of host %d", k, p.Err, p.Event, p.Index)
		}
		seq[p.Index] = append(seq[p.Index], p.Event)
	}
	for i := range h.targets {
		want := "[Opening Running Done]"
		if i == 2 || i == 3 { // never got a pipeline running
			want = "[Opening Done]"
		}
		if got := fmtEvents(seq[i]); got != want {
			t.Errorf("host %d events %s, want %s", i, got, want)
		}
	}
	last := events[len(events)-1]
	if last.Started != 5 || last.Done != 5 || last.Failed != 3 {
		t.Errorf("last progress %+v, want 5 started, 5 done, 3 failed", last)
	}
}

func fmtEvents(evs []session.FanoutEvent) string {
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = e.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// Cancelling the context stops every running pipeline, fails the hosts not
// begun without contacting them, and closes every session.
func TestFanoutCancel(t *testing.T) {
	t.Parallel()
	srv := sessiontest.NewServer()
	t.Cleanup(srv.Close)
	var stopped, begun atomic.Int32
	srv.Handle("Get-Forever", func(ctx context.Context, c *sessiontest.Call) error {
		begun.Add(1)
		<-ctx.Done() // ends when the client stops the pipeline or the server closes
		stopped.Add(1)
		return ctx.Err()
	})
	targets := []string{srv.URL, srv.URL, srv.URL, srv.URL, srv.URL}
	var cancel context.CancelFunc // of the current form's run
	f := session.Fanout{
		ThrottleLimit: 2,
		Options:       []session.Option{session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted()},
		Progress: func(p session.FanoutProgress) {
			if p.Event == session.TargetRunning && p.Started-p.Done == 2 {
				cancel() // both slots run
			}
		},
	}
	for _, form := range []string{"Invoke", "Records"} {
		var ctx context.Context
		ctx, cancel = context.WithCancel(testContext(t))
		t.Cleanup(cancel)
		begun.Store(0)
		stopped.Store(0)
		var errs []error
		switch form {
		case "Invoke":
			results, err := f.Invoke(ctx, targets, psrp.Script("Get-Forever"))
			if fe := (*session.FanoutError)(nil); !errors.As(err, &fe) || len(fe.Failed) != 5 {
				t.Fatalf("Invoke after cancel: %v, want all 5 hosts failed", err)
			}
			for _, r := range results {
				errs = append(errs, r.Err)
			}
		case "Records":
			for rec, err := range f.Records(ctx, targets, psrp.Script("Get-Forever")) {
				if err == nil {
					t.Fatalf("unexpected record %+v", rec)
				}
				errs = append(errs, err)
			}
		}
		if len(errs) != 5 {
			t.Fatalf("%s: %d host errors, want 5", form, len(errs))
		}
		for i, err := range errs {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: host %d: %v, want context.Canceled", form, i, err)
			}
		}
		if b, s := begun.Load(), stopped.Load(); b > 2 || s != b {
			t.Errorf("%s: %d pipelines began, %d stopped; want at most 2, all stopped", form, b, s)
		}
		if n := len(srv.Shells()); n != 0 {
			t.Errorf("%s: %d shells left open", form, n)
		}
	}
}

// Leaving the stream early stops every pipeline and closes every session
// before the loop statement returns.
func TestFanoutRecordsEarlyExit(t *testing.T) {
	t.Parallel()
	srv := sessiontest.NewServer()
	t.Cleanup(srv.Close)
	var running atomic.Int32
	srv.Handle("Get-Endless", func(ctx context.Context, c *sessiontest.Call) error {
		running.Add(1)
		defer running.Add(-1)
		for i := 0; ; i++ {
			if err := c.WriteOutput(int32(i)); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	})
	targets := []string{srv.URL, srv.URL, srv.URL, srv.URL}
	f := session.Fanout{Options: []session.Option{session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted()}}
	seen := map[string]int32{}
	n := 0
	for rec, err := range f.Records(testContext(t), targets, psrp.Script("Get-Endless")) {
		if err != nil {
			t.Fatalf("host error before the exit: %v", err)
		}
		n++
		if n == 50 {
			break
		}
		_ = rec.Record.(session.Output)
		seen[rec.Target]++
	}
	if got := len(srv.Shells()); got != 0 {
		t.Errorf("%d shells open after the loop returned", got)
	}
	// Handlers end once the server saw the stop or the Delete; Server.Close
	// at cleanup would wait for them, so check they are already gone.
	deadline := time.Now().Add(5 * time.Second)
	for running.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if r := running.Load(); r != 0 {
		t.Errorf("%d handlers still running after the loop returned", r)
	}
}

// A panic in the loop body closes everything too, and propagates.
func TestFanoutRecordsPanic(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	f := session.Fanout{Options: []session.Option{session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted()}}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the loop's panic", r)
			}
		}()
		for range f.Records(testContext(t), []string{srv.URL, srv.URL}, psrp.Script("1..100000")) {
			panic("boom")
		}
	}()
	if n := len(srv.Shells()); n != 0 {
		t.Errorf("%d shells open after the panic", n)
	}
}

// The aggregate's text is bounded however many hosts fail.
func TestFanoutErrorText(t *testing.T) {
	fe := &session.FanoutError{Total: 100}
	for i := range 40 {
		fe.Failed = append(fe.Failed, &session.TargetError{Target: "h" + string(rune('a'+i%26)), Err: errors.New("refused")})
	}
	msg := fe.Error()
	if lines := strings.Count(msg, "\n"); lines != 6 || !strings.HasSuffix(msg, "… and 35 more") {
		t.Errorf("text = %q", msg)
	}
	if !strings.HasPrefix(msg, "session: 40 of 100 hosts failed\nsession: host ha: refused") {
		t.Errorf("text = %q", msg)
	}
	rec := sessiontest.NewErrorRecord("nope", "Nope", clixml.ErrorCategory(0))
	he := &session.TargetError{Target: "x", Err: &session.PipelineError{Record: rec, State: psrp.PipelineFailed}}
	var got *clixml.ErrorRecord
	if !errors.As(he, &got) || got != rec {
		t.Errorf("errors.As through TargetError to the record failed")
	}
}

// Invoke-Command -Session: the pipelines run on sessions the caller opened,
// which stay open and usable afterwards.
func TestFanoutOnOpenSessions(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	var sessions []*session.Session
	for range 3 {
		srv := newServer(t)
		sessions = append(sessions, open(t, srv))
	}
	var f session.Fanout
	results, err := f.InvokeSessions(ctx, sessions, session.Script("Write-Output hi"))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Target != sessions[i].URL() || len(r.Result.Output) != 1 || r.Result.Output[0] != "hi" {
			t.Errorf("result %d = %+v", i, r)
		}
	}
	n := 0
	for rec, err := range f.RecordsSessions(ctx, sessions, session.Script("Write-Output again")) {
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := rec.Record.(session.Output); !ok || o.Value != "again" {
			t.Errorf("record %+v", rec)
		}
		n++
	}
	if n != 3 {
		t.Errorf("%d records, want 3", n)
	}
	for i, s := range sessions {
		if s.State() != session.StateOpened {
			t.Errorf("session %d is %v after the fan-out, want Opened", i, s.State())
		}
	}
	// A nil session fails alone.
	results, err = f.InvokeSessions(ctx, []*session.Session{sessions[0], nil}, session.Script("Write-Output hi"))
	var fe *session.FanoutError
	if !errors.As(err, &fe) || len(fe.Failed) != 1 || results[0].Err != nil {
		t.Errorf("with a nil session: %v, %+v", err, results)
	}
}
