package session_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/wsman"
	"go.uber.org/goleak"
)

// The hostile-server suite: one test per class of misbehaviour of issue 7,
// each run through the corrupting proxy of hostile_test.go. Timeouts are
// short (a 300 ms OperationTimeout, so a 600 ms default request deadline)
// to keep the suite fast.

const shortOp = 300 * time.Millisecond

// timedOutFault is the w:TimedOut fault Windows answers an idle Receive with.
func timedOutFault(r seenRequest) (int, []byte) {
	return 500, soapEnvelope(wsman.NsAddressing+"/fault", r.MessageID,
		`<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode></s:Code>`+
			`<s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot complete the operation within the time specified in OperationTimeout.</s:Text></s:Reason>`+
			`<s:Detail><f:WSManFault xmlns:f="`+wsman.NsWSManFault+`" Code="2150858793" Machine="hostile"><f:Message>timed out</f:Message></f:WSManFault></s:Detail></s:Fault>`)
}

// waitFor polls cond for at most d.
func pollUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// injectOnPool answers the next pool Receive with the given messages.
func injectOnPool(t testing.TB, h *hostile, s *session.Session, bodies ...psrp.Body) *rule {
	t.Helper()
	data := fragments(t, 1<<40, s.ID(), uuid.Nil, bodies...)
	return h.add(&rule{match: isPoolReceive, times: 1, answer: func(r seenRequest) (int, []byte) {
		return 200, receiveResponse(r, "", data)
	}})
}

// Deadlines hold: a pool-level host call whose answer (a Send) the server
// withholds must not hold up InvokeScript past its context, and nothing
// waits for ever when the caller passed context.Background().
func TestHostileDeadlines(t *testing.T) {
	t.Parallel()
	t.Run("HostCallAnswerWithheld", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t)
		h := newHostile(t, srv)
		// The injection answers the pool's next Receive; a Receive
		// already in flight when the rule is added (a busy machine) comes
		// back within the OperationTimeout, well inside the poll below.
		// The held answer keeps the send lock for 2 s, far longer than
		// InvokeScript's context.
		s := openVia(t, h, session.WithOperationTimeout(time.Second))
		h.add(&rule{match: isPoolSend, hold: true})
		injectOnPool(t, h, s, &psrp.RunspacePoolHostCall{CallID: 7, Method: psrp.HostGetName, Params: []any{}})
		pollUntil(t, 5*time.Second, "the host call's answer", func() bool { return h.count(time.Time{}, isPoolSend) > 0 })
		const limit = 300 * time.Millisecond
		var err error
		took := within(t, 5*time.Second, "InvokeScript", func() {
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			_, err = s.InvokeScript(ctx, "Get-Date")
		})
		t.Logf("InvokeScript with a %v context returned after %v: %v", limit, took, err)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if took > limit+time.Second {
			t.Errorf("InvokeScript took %v with a %v context", took, limit)
		}
	})
	t.Run("CommandWithheld", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t)
		h := newHostile(t, srv)
		s := openVia(t, h, session.WithOperationTimeout(shortOp))
		h.add(&rule{match: isAction("Command"), hold: true})
		var err error
		took := within(t, 5*time.Second, "Invoke(context.Background())", func() {
			_, err = s.InvokeScript(context.Background(), "Get-Date")
		})
		t.Logf("Invoke with no deadline against a withheld Command: %v after %v", err, took)
		if err == nil {
			t.Error("Invoke succeeded against a withheld Command")
		}
	})
	t.Run("DeleteWithheld", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t)
		h := newHostile(t, srv)
		s := openVia(t, h, session.WithOperationTimeout(shortOp))
		h.add(&rule{match: isAction("Delete"), hold: true})
		var err error
		took := within(t, 5*time.Second, "Close(context.Background())", func() {
			err = s.Close(context.Background())
		})
		t.Logf("Close with no deadline against a withheld Delete: %v after %v", err, took)
		if err == nil {
			t.Error("Close reported success though the Delete was never answered")
		}
		if s.State() != session.StateClosed {
			t.Errorf("State = %v after Close, want Closed", s.State())
		}
	})
}

// After the server loses the shell, the next Invoke fails with ErrBroken and
// the session says Broken.
func TestHostileShellLost(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	h := newHostile(t, srv)
	s := openVia(t, h, session.WithOperationTimeout(shortOp))
	// Hold the pool's Receives so that only the Invoke can notice.
	hold := h.add(&rule{match: isPoolReceive, hold: true})
	pollUntil(t, 5*time.Second, "a held pool Receive", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return hold.used > 0
	})
	if !srv.KillShell(s.ID()) {
		t.Fatal("KillShell: no such shell")
	}
	_, err := s.InvokeScript(testContext(t), "Get-Date")
	if !errors.Is(err, session.ErrBroken) || !errors.Is(err, wsman.ErrShellNotFound) {
		t.Errorf("Invoke after the shell was lost: %v, want ErrBroken wrapping wsman.ErrShellNotFound", err)
	}
	if st := s.State(); st != session.StateBroken {
		t.Errorf("State = %v, want Broken", st)
	}
	_, err = s.InvokeScript(testContext(t), "Get-Date")
	if !errors.Is(err, session.ErrBroken) {
		t.Errorf("second Invoke: %v, want ErrBroken", err)
	}
}

var protocolVersionRE = regexp.MustCompile(`<Version N="protocolversion">2\.3</Version>`)

// rewriteStreams applies f to the decoded data of every stdout stream of a
// ReceiveResponse; f must keep the length (fragments carry lengths).
func rewriteStreams(body []byte, f func([]byte) []byte) []byte {
	re := regexp.MustCompile(`(<rsp:Stream [^>]*>)([^<]*)(</rsp:Stream>)`)
	return re.ReplaceAllFunc(body, func(m []byte) []byte {
		sm := re.FindSubmatch(m)
		data, err := base64.StdEncoding.DecodeString(string(sm[2]))
		if err != nil {
			return m
		}
		data = f(data)
		return []byte(string(sm[1]) + base64.StdEncoding.EncodeToString(data) + string(sm[3]))
	})
}

// A poisoned session says so.
func TestHostilePoisonedSession(t *testing.T) {
	t.Parallel()
	t.Run("Protocol3", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t)
		h := newHostile(t, srv)
		h.add(&rule{match: isPoolReceive, rewrite: func(_ seenRequest, status int, body []byte) (int, []byte) {
			return status, rewriteStreams(body, func(d []byte) []byte {
				return protocolVersionRE.ReplaceAll(d, []byte(`<Version N="protocolversion">3.0</Version>`))
			})
		}})
		s, err := session.New(testContext(t), h.URL, session.WithAllowUnencrypted())
		if err == nil {
			defer s.Close(context.Background())
			t.Fatalf("New against a protocol 3.0 server succeeded (state %v)", s.State())
		}
		if !errors.Is(err, psrp.ErrUnsupportedProtocolVersion) {
			t.Errorf("New: %v, want an error matching psrp.ErrUnsupportedProtocolVersion", err)
		}
	})
	t.Run("FragmentErrorBreaksSession", func(t *testing.T) {
		t.Parallel()
		h, s, p := waitingPipeline(t)
		// A fragment header with reserved flag bits set: the next
		// fragment cannot be found, nothing after it can be trusted.
		bad := psrp.Fragment{ObjectID: 99, Start: true, End: true, Data: []byte("junk")}.Append(nil)
		bad[16] |= 0xF0
		cmd := strings.ToUpper(p.ID().String())
		h.add(&rule{match: isPipelineReceive, times: 1, answer: func(r seenRequest) (int, []byte) {
			return 200, receiveResponse(r, cmd, bad)
		}})
		var err error
		within(t, 5*time.Second, "Wait", func() { _, err = p.Wait() })
		if err == nil {
			t.Fatal("pipeline succeeded after a bad fragment")
		}
		pollUntil(t, 5*time.Second, "state Broken", func() bool { return s.State() == session.StateBroken })
		_, err = s.InvokeScript(testContext(t), "Get-Date")
		if !errors.Is(err, session.ErrBroken) || !errors.Is(err, psrp.ErrBadFragment) {
			t.Errorf("Invoke after a bad fragment: %v, want ErrBroken wrapping psrp.ErrBadFragment", err)
		}
	})
	t.Run("OutOfOrderFragmentFailsOnlyItsPipeline", func(t *testing.T) {
		t.Parallel()
		h, s, p := waitingPipeline(t)
		cmd := strings.ToUpper(p.ID().String())
		msg := psrp.Message{Destination: psrp.DestinationClient, Type: psrp.MessagePipelineOutput,
			RunspacePoolID: s.ID(), PipelineID: p.ID(), Data: []byte("<S>half a message</S>")}.Append(nil)
		// The message's first fragment, then one that skips ahead.
		data := psrp.Fragment{ObjectID: 1 << 40, Start: true, Data: msg[:50]}.Append(nil)
		data = psrp.Fragment{ObjectID: 1 << 40, FragmentID: 5, End: true, Data: msg[50:]}.Append(data)
		h.add(&rule{match: isPipelineReceive, times: 1, answer: func(r seenRequest) (int, []byte) {
			return 200, receiveResponse(r, cmd, data)
		}})
		var werr error
		within(t, 5*time.Second, "Wait", func() { _, werr = p.Wait() })
		if !errors.Is(werr, psrp.ErrFragmentOutOfOrder) {
			t.Errorf("pipeline error %v, want one matching psrp.ErrFragmentOutOfOrder", werr)
		}
		if st := s.State(); st != session.StateOpened {
			t.Errorf("State = %v after a lost message, want Opened", st)
		}
		res, err := s.InvokeScript(testContext(t), "Write-Output ok")
		if err != nil || len(res.Output) != 1 {
			t.Errorf("next Invoke: %v, %v; want one output", res, err)
		}
	})
	t.Run("BadMessageFailsOnlyItsPipeline", func(t *testing.T) {
		t.Parallel()
		h, s, p := waitingPipeline(t)
		cmd := strings.ToUpper(p.ID().String())
		msg := psrp.Message{Destination: psrp.DestinationClient, Type: psrp.MessagePipelineOutput,
			RunspacePoolID: s.ID(), PipelineID: p.ID(), Data: []byte("<Obj><not clixml")}.Append(nil)
		data := psrp.Fragment{ObjectID: 1 << 40, Start: true, End: true, Data: msg}.Append(nil)
		h.add(&rule{match: isPipelineReceive, times: 1, answer: func(r seenRequest) (int, []byte) {
			return 200, receiveResponse(r, cmd, data)
		}})
		var werr error
		within(t, 5*time.Second, "Wait", func() { _, werr = p.Wait() })
		if werr == nil {
			t.Fatal("pipeline succeeded after a message it could not decode")
		}
		if st := s.State(); st != session.StateOpened {
			t.Errorf("State = %v after one bad message, want Opened", st)
		}
		res, err := s.InvokeScript(testContext(t), "Write-Output ok")
		if err != nil || len(res.Output) != 1 {
			t.Errorf("next Invoke: %v, %v; want one output", res, err)
		}
	})
}

// Errors are bounded: a run of bad messages is reported by its first few
// and a count.
func TestHostileErrorsBounded(t *testing.T) {
	t.Parallel()
	h, s, p := waitingPipeline(t)
	const n = 2000
	cmd := strings.ToUpper(p.ID().String())
	var data []byte
	for i := range n {
		msg := psrp.Message{Destination: psrp.DestinationClient, Type: psrp.MessagePipelineOutput,
			RunspacePoolID: s.ID(), PipelineID: p.ID(), Data: []byte("<bad")}.Append(nil)
		data = psrp.Fragment{ObjectID: 1<<40 + uint64(i), Start: true, End: true, Data: msg}.Append(data)
	}
	h.add(&rule{match: isPipelineReceive, times: 1, answer: func(r seenRequest) (int, []byte) {
		return 200, receiveResponse(r, cmd, data)
	}})
	var err error
	within(t, 5*time.Second, "Wait", func() { _, err = p.Wait() })
	if err == nil {
		t.Fatal("pipeline succeeded after bad messages")
	}
	msg := err.Error()
	t.Logf("error of %d bad messages: %d bytes", n, len(msg))
	if len(msg) > 4096 {
		t.Errorf("error of %d bad messages is %d bytes long", n, len(msg))
	}
	if !strings.Contains(msg, "more") {
		t.Errorf("error does not count the rest: %.300s", msg)
	}
	var pe *psrp.ProtocolError
	if !errors.As(err, &pe) {
		t.Errorf("error %T is not errors.As-able to *psrp.ProtocolError", err)
	}
}

// PUBLIC_KEY_REQUEST is answered at once, once.
func TestHostilePublicKeyRequest(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	h := newHostile(t, srv)
	s := openVia(t, h, session.WithOperationTimeout(shortOp))
	before := time.Now()
	injectOnPool(t, h, s, &psrp.PublicKeyRequest{}, &psrp.PublicKeyRequest{}, &psrp.PublicKeyRequest{})
	pollUntil(t, 2*time.Second, "the PUBLIC_KEY answer", func() bool { return h.count(before, isPoolSend) > 0 })
	t.Logf("PUBLIC_KEY sent %v after the request was injected", time.Since(before))
	time.Sleep(500 * time.Millisecond)
	if n := h.count(before, isPoolSend); n != 1 {
		t.Errorf("%d Sends answered three PUBLIC_KEY_REQUESTs in one Receive, want 1", n)
	}
	if _, err := s.InvokeScript(testContext(t), "Get-Date"); err != nil {
		t.Errorf("Invoke after the key exchange: %v", err)
	}
}

// No spinning: a server that answers Receive at once with nothing gets a
// bounded rate of Receives, on the pool and on a pipeline.
func TestHostileNoSpinning(t *testing.T) {
	t.Parallel()
	answers := map[string]func(seenRequest) (int, []byte){
		"TimedOut": timedOutFault,
		"Empty":    func(r seenRequest) (int, []byte) { return 200, receiveResponse(r, r.CommandID, nil) },
	}
	for name, answer := range answers {
		for _, where := range []string{"Pool", "Pipeline"} {
			t.Run(name+where, func(t *testing.T) {
				t.Parallel()
				srv := newServer(t)
				srv.Handle("Wait-Forever", func(ctx context.Context, c *sessiontest.Call) error {
					<-ctx.Done()
					return ctx.Err()
				})
				h := newHostile(t, srv)
				s := openVia(t, h)
				match := isPoolReceive
				if where == "Pipeline" {
					match = isPipelineReceive
					if _, err := s.StartScript(testContext(t), "Wait-Forever"); err != nil {
						t.Fatal(err)
					}
				}
				h.add(&rule{match: match, answer: answer})
				time.Sleep(300 * time.Millisecond) // warm-up
				from := time.Now()
				const window = 1500 * time.Millisecond
				time.Sleep(window)
				n := h.count(from, match)
				rate := float64(n) / window.Seconds()
				t.Logf("%s Receives per second against an instant %s answer: %.1f", where, name, rate)
				if rate >= 50 {
					t.Errorf("%.0f %s Receives per second", rate, where)
				}
			})
		}
	}
}

// Cancelling a pipeline's context after its first output stops it the
// PowerShell way: the crtl_c signal before terminate, and the runspace is
// free afterwards. The signal URIs are spelled out as Windows expects them,
// not taken from package wsman.
func TestCancelAfterFirstOutputStopsRemotely(t *testing.T) {
	t.Parallel()
	const (
		ctrlC     = "powershell/signal/crtl_c"
		terminate = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
	)
	srv := newServer(t)
	srv.Handle("Emit-Then-Wait", func(ctx context.Context, c *sessiontest.Call) error {
		if err := c.WriteOutput("first"); err != nil {
			return err
		}
		<-ctx.Done()
		return ctx.Err()
	})
	h := newHostile(t, srv)
	s := openVia(t, h, session.WithOperationTimeout(shortOp))
	ctx, cancel := context.WithCancel(testContext(t))
	p, err := s.StartScript(ctx, "Emit-Then-Wait")
	if err != nil {
		t.Fatal(err)
	}
	cmd := strings.ToUpper(p.ID().String())
	var werr error
	within(t, 5*time.Second, "the first output and Wait", func() {
		for r, err := range p.Records() {
			if err != nil {
				werr = err
				break
			}
			if _, ok := r.(session.Output); ok {
				cancel()
			}
		}
	})
	if !errors.Is(werr, context.Canceled) || !errors.Is(werr, session.ErrStopped) {
		t.Errorf("pipeline error %v, want context.Canceled and ErrStopped", werr)
	}
	if st := p.State(); st != psrp.PipelineStopped {
		t.Errorf("State after the cancel = %v, want Stopped (confirmed by the server)", st)
	}
	if a := s.Availability(); a != session.Available {
		t.Errorf("Availability = %v after the cancelled pipeline ended, want Available", a)
	}
	res, err := s.InvokeScript(testContext(t), "Write-Output ok")
	if err != nil || len(res.Output) != 1 {
		t.Errorf("next Invoke: %v, %v", res, err)
	}
	// The stopped command is released like every finished one: terminate
	// goes out in the background when the next pipeline starts.
	var signals []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		signals = signals[:0]
		for _, r := range h.requests() {
			if r.Action == "Signal" && r.CommandID == cmd {
				signals = append(signals, r.Signal)
			}
		}
		if len(signals) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(signals) < 2 || signals[0] != ctrlC || signals[1] != terminate {
		t.Errorf("signals for the cancelled command: %q, want crtl_c then terminate", signals)
	}
}

// blockingHost answers ReadLine only when its context is cancelled.
type blockingHost struct {
	session.DefaultHost
	called chan struct{}
}

func (h *blockingHost) ReadLine(ctx context.Context) (string, error) {
	select {
	case h.called <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return "", ctx.Err()
}

// Close returns only when every goroutine of the session has ended, also
// with a pipeline and a host call in flight: checked right after Close,
// not at the end of the package. Not parallel: the goroutine count must be
// the session's alone.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	srv := newServer(t)
	srv.Handle("Ask", func(ctx context.Context, c *sessiontest.Call) error {
		_, err := c.ReadLine(ctx, "name")
		return err
	})
	host := &blockingHost{called: make(chan struct{}, 1)}
	before := goleak.IgnoreCurrent()
	s, err := session.New(testContext(t), srv.URL, session.WithHTTPClient(srv.Client()),
		session.WithAllowUnencrypted(), session.WithHost(host))
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.StartScript(testContext(t), "Ask")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-host.called:
	case <-time.After(5 * time.Second):
		t.Fatal("the host call did not arrive")
	}
	within(t, 10*time.Second, "Close", func() {
		if err := s.Close(testContext(t)); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	// Right after Close: no goroutine may run code of package session.
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, g := range strings.Split(stacks, "\n\n") {
		if sessionFrame.MatchString(g) {
			t.Errorf("goroutine of the session still running after Close:\n%s", g)
		}
	}
	within(t, 10*time.Second, "the pipeline's end", func() { <-p.Done() })
	srv.Close()
	goleak.VerifyNone(t, before)
}

// sessionFrame matches a stack frame of a method or unexported function
// of package session itself: not session_test, not sessiontest, and not
// the package's own paused Test functions.
var sessionFrame = regexp.MustCompile(`github\.com/gopsrp/gopsrp/session\.(\(\*?[A-Za-z]+\)|[a-z])`)

// A server that reports the command Done without the pipeline's final PSRP
// state: the pipeline ends with ErrNoFinalState, which says so, and the
// session goes on.
func TestHostileDoneWithoutFinalState(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	h := newHostile(t, srv)
	s := openVia(t, h, session.WithOperationTimeout(shortOp))
	h.add(&rule{match: isPipelineReceive, times: 1, answer: func(r seenRequest) (int, []byte) {
		done := `<rsp:ReceiveResponse><rsp:CommandState CommandId="` + r.CommandID +
			`" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>`
		return http.StatusOK, soapEnvelope(wsman.NsShell+"/ReceiveResponse", r.MessageID, done)
	}})
	_, err := s.InvokeScript(testContext(t), "Write-Output x")
	if !errors.Is(err, session.ErrNoFinalState) || !strings.Contains(err.Error(), "final state") {
		t.Fatalf("Invoke = %v, want ErrNoFinalState", err)
	}
	if res, err := s.InvokeScript(testContext(t), "Write-Output y"); err != nil || len(res.Output) != 1 {
		t.Errorf("the next Invoke: %v, %v", res, err)
	}
}

// waitingPipeline opens a session through a hostile proxy (short operation
// timeout) and starts a pipeline that runs until it is stopped.
func waitingPipeline(t *testing.T) (*hostile, *session.Session, *session.Pipeline) {
	t.Helper()
	srv := newServer(t)
	srv.Handle("Wait-Forever", func(ctx context.Context, c *sessiontest.Call) error {
		<-ctx.Done()
		return ctx.Err()
	})
	h := newHostile(t, srv)
	s := openVia(t, h, session.WithOperationTimeout(shortOp))
	p, err := s.StartScript(testContext(t), "Wait-Forever")
	if err != nil {
		t.Fatal(err)
	}
	return h, s, p
}
