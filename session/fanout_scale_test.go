package session_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// Scale: many concurrent sessions against emulated endpoints on loopback.
// CI runs 100 sessions; GOPSRP_FANOUT_SESSIONS=1000 runs the full size:
//
//	GOPSRP_FANOUT_SESSIONS=1000 go test ./session -run FanoutScale -v
const fanoutSessionsEnv = "GOPSRP_FANOUT_SESSIONS"

// fanoutEndpointEnv makes this test binary, started as a child, serve one
// endpoint instead of running tests, so that the client's heap is measured
// alone. On stdin the child takes "stats" (it answers with its own heap and
// goroutines on stdout) and stops at EOF.
const fanoutEndpointEnv = "GOPSRP_FANOUT_ENDPOINT"

func init() {
	if os.Getenv(fanoutEndpointEnv) == "" {
		return
	}
	srv := sessiontest.NewUnstartedServer()
	srv.MaxShellsPerUser = -1
	srv.Start()
	fmt.Println(srv.URL)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "stats" {
			m := measure()
			fmt.Println(m.heap, m.stack, m.goroutines)
		}
	}
	srv.Close()
	os.Exit(0)
}

// fanoutHeapProfileEnv names a file that receives the client's heap profile
// while the sessions are idle (go tool pprof -sample_index=inuse_space).
const fanoutHeapProfileEnv = "GOPSRP_FANOUT_HEAPPROFILE"

func writeHeapProfile(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}

func fanoutSessions(tb testing.TB) int {
	n := 100
	if v := os.Getenv(fanoutSessionsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			tb.Fatalf("%s=%q: want a positive count", fanoutSessionsEnv, v)
		}
	}
	return n
}

// memSample is the live heap after a full collection, the goroutine stacks
// and the number of goroutines.
type memSample struct {
	heap, stack uint64
	goroutines  int
}

func measure() memSample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapAlloc, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// per formats the growth from a to b, per n units.
func per(a, b memSample, n int) string {
	kib := func(x, y uint64) float64 { return (float64(y) - float64(x)) / float64(n) / 1024 }
	return fmt.Sprintf("heap %.1f KiB, goroutines %.2f (stacks %.1f KiB)",
		kib(a.heap, b.heap), float64(b.goroutines-a.goroutines)/float64(n), kib(a.stack, b.stack))
}

// childEndpoint is an endpoint served by a child process.
type childEndpoint struct {
	URL   string
	stdin io.WriteCloser
	out   *bufio.Scanner
	cmd   *exec.Cmd
}

func startChildEndpoint(tb testing.TB) *childEndpoint {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fanoutEndpointEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &childEndpoint{stdin: stdin, out: bufio.NewScanner(stdout), cmd: cmd}
	tb.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := c.line()
	if err != nil {
		tb.Fatalf("child endpoint: %v", err)
	}
	c.URL = line
	return c
}

// line reads one line of the child's output, within a bound.
func (c *childEndpoint) line() (string, error) {
	got := make(chan bool, 1)
	go func() { got <- c.out.Scan() }()
	select {
	case ok := <-got:
		if !ok {
			return "", fmt.Errorf("no output (%v)", c.out.Err())
		}
		return c.out.Text(), nil
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-got
		return "", fmt.Errorf("no answer in 30 s")
	}
}

// stats asks the child for its measure.
func (c *childEndpoint) stats(tb testing.TB) (m memSample) {
	tb.Helper()
	if _, err := io.WriteString(c.stdin, "stats\n"); err != nil {
		tb.Fatal(err)
	}
	line, err := c.line()
	if err != nil {
		tb.Fatalf("child stats: %v", err)
	}
	if _, err := fmt.Sscan(line, &m.heap, &m.stack, &m.goroutines); err != nil {
		tb.Fatalf("child stats %q: %v", line, err)
	}
	return m
}

// scaleClient is one HTTP client for every session: connections are the
// only per-host state a real fan-out would not share.
func scaleClient(n int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 2 * n, // every session's connections stay for reuse
		IdleConnTimeout:     time.Minute,
	}}
}

// TestFanoutScale opens n concurrent sessions against an endpoint in a
// child process and reports the client's heap and goroutines per idle
// session and per running pipeline, the server's alongside, and the time of
// n hosts × one small script through Fanout. It is not parallel, so that
// no other test's memory counts.
func TestFanoutScale(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test skipped in -short mode")
	}
	n := fanoutSessions(t)
	ep := startChildEndpoint(t)
	client := scaleClient(n)
	defer client.CloseIdleConnections()
	opts := []session.Option{session.WithHTTPClient(client), session.WithAllowUnencrypted()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	c0, s0 := measure(), ep.stats(t)

	// n idle sessions, opened 64 at a time.
	sessions := make([]*session.Session, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	slots := make(chan struct{}, 64)
	start := time.Now()
	for i := range sessions {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s, err := session.New(ctx, ep.URL, opts...)
			if err != nil {
				errs <- err
				return
			}
			sessions[i] = s
		}()
	}
	wg.Wait()
	openTime := time.Since(start)
	closeAll := func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i, s := range sessions {
			if s != nil {
				_ = s.Close(cctx)
				sessions[i] = nil
			}
		}
	}
	defer closeAll()
	select {
	case err := <-errs:
		t.Fatalf("opening %d sessions: %v", n, err)
	default:
	}
	// Idle: past the delay after which an open session keeps the pool's
	// Receive outstanding (2 s).
	time.Sleep(3 * time.Second)
	c1, s1 := measure(), ep.stats(t)
	if path := os.Getenv(fanoutHeapProfileEnv); path != "" {
		writeHeapProfile(t, path)
	}

	// One running pipeline on each.
	pipes := make([]*session.Pipeline, n)
	for i, s := range sessions {
		p, err := s.StartScript(ctx, "Start-Sleep -Seconds 120")
		if err != nil {
			t.Fatalf("Start on session %d: %v", i, err)
		}
		pipes[i] = p
	}
	// Let every pipeline's Receive reach the server.
	time.Sleep(time.Second)
	c2, s2 := measure(), ep.stats(t)
	for i, p := range pipes {
		if err := p.Close(ctx); err != nil {
			t.Errorf("pipeline %d Close: %v", i, err)
		}
		if _, err := p.Wait(); !errors.Is(err, session.ErrStopped) {
			t.Errorf("pipeline %d: %v, want stopped", i, err)
		}
	}
	t.Logf("%d sessions opened in %v (64 at a time)", n, openTime.Round(time.Millisecond))
	t.Logf("client, per idle session:     %s", per(c0, c1, n))
	t.Logf("client, per running pipeline: %s", per(c1, c2, n))
	t.Logf("server, per idle session:     %s", per(s0, s1, n))
	t.Logf("server, per running pipeline: %s", per(s1, s2, n))

	// The sessions still work after that.
	for i, s := range sessions[:min(n, 10)] {
		res, err := s.InvokeScript(ctx, "Write-Output again")
		if err != nil || len(res.Output) != 1 {
			t.Fatalf("session %d after the pipelines: %v %v", i, res, err)
		}
	}

	// Closing the sessions ends everything on the endpoint, once the idle
	// connections are gone too.
	closeAll()
	client.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for ep.stats(t).goroutines > s0.goroutines+5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := ep.stats(t).goroutines; got > s0.goroutines+5 {
		t.Errorf("the endpoint runs %d goroutines after every session closed, %d before", got, s0.goroutines)
	}

	// n hosts × one small script through the fan-out, at the default
	// throttle and with every host at once.
	targets := make([]string, n)
	for i := range targets {
		targets[i] = ep.URL
	}
	for _, limit := range []int{0, n} {
		f := session.Fanout{ThrottleLimit: limit, Options: opts}
		start := time.Now()
		results, err := f.Invoke(ctx, targets, psrp.Script("Write-Output hi"))
		took := time.Since(start)
		if err != nil {
			t.Fatalf("fan-out to %d hosts (throttle %d): %v", n, limit, err)
		}
		for i, r := range results {
			if len(r.Result.Output) != 1 || r.Result.Output[0] != "hi" {
				t.Fatalf("host %d: %+v", i, r.Result)
			}
		}
		t.Logf("fan-out, %d hosts × one small script, throttle %d: %v (%.0f hosts/s)",
			n, max(limit, session.DefaultThrottleLimit), took.Round(time.Millisecond), float64(n)/took.Seconds())
	}
}

// TestFanoutScaleInProcess runs the fan-out across several endpoints in this
// process, n hosts in all, every host at once: the sessions, the servers'
// shells and their connections all live together.
func TestFanoutScaleInProcess(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("scale test skipped in -short mode")
	}
	n := fanoutSessions(t)
	const servers = 4
	var urls []string
	for range servers {
		srv := sessiontest.NewUnstartedServer()
		srv.MaxShellsPerUser = -1
		srv.Start()
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	targets := make([]string, n)
	for i := range targets {
		targets[i] = urls[i%servers]
	}
	client := scaleClient(n)
	defer client.CloseIdleConnections()
	f := session.Fanout{ThrottleLimit: n, Options: []session.Option{session.WithHTTPClient(client), session.WithAllowUnencrypted()}}
	start := time.Now()
	got := 0
	for rec, err := range f.Records(testContext(t), targets, psrp.Script("Write-Output hi")) {
		if err != nil {
			t.Fatal(err)
		}
		if out, ok := rec.Record.(session.Output); !ok || out.Value != "hi" {
			t.Fatalf("record %+v", rec)
		}
		got++
	}
	if got != n {
		t.Fatalf("%d records from %d hosts", got, n)
	}
	t.Logf("in-process fan-out, %d hosts on %d endpoints, all at once: %v", n, servers, time.Since(start).Round(time.Millisecond))
}

// BenchmarkFanout runs one small script on n hosts (GOPSRP_FANOUT_SESSIONS,
// default 100) through Fanout.Invoke, against an endpoint in a child
// process: one op is the whole fan-out (open, run, close on every host).
func BenchmarkFanout(b *testing.B) {
	n := fanoutSessions(b)
	ep := startChildEndpoint(b)
	client := scaleClient(n)
	defer client.CloseIdleConnections()
	targets := make([]string, n)
	for i := range targets {
		targets[i] = ep.URL
	}
	ps := psrp.Script("Write-Output hi")
	for _, limit := range []int{session.DefaultThrottleLimit, n} {
		b.Run(fmt.Sprintf("hosts=%d/throttle=%d", n, limit), func(b *testing.B) {
			f := session.Fanout{ThrottleLimit: limit, Options: []session.Option{session.WithHTTPClient(client), session.WithAllowUnencrypted()}}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Invoke(ctx, targets, ps); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "hosts/s")
		})
	}
}
