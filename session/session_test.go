package session_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/wsman"
)

// handleStreams writes one record to every stream.
func handleStreams(ctx context.Context, c *sessiontest.Call) error {
	steps := []func() error{
		func() error { return c.WriteOutput(int32(1), "two") },
		func() error {
			return c.WriteError(sessiontest.NewErrorRecord("bad thing", "BadThing", sessiontest.CategoryInvalidOperation))
		},
		func() error { return c.WriteWarning("careful") },
		func() error { return c.WriteVerbose("chatty") },
		func() error { return c.WriteDebug("bug?") },
		func() error {
			return c.WriteProgress(clixml.ProgressRecord{Activity: "copying", StatusDescription: "half", PercentComplete: 50, SecondsRemaining: -1})
		},
		func() error { return c.WriteInformation("fyi", "tag1") },
		func() error { return c.WriteOutput("three") },
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

func TestInvokeCollectsEveryStream(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Test-Streams", handleStreams)
	s := open(t, srv)
	res, err := s.Invoke(testContext(t), psrp.Script("Test-Streams"))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if res.State != psrp.PipelineCompleted {
		t.Errorf("State = %v, want Completed", res.State)
	}
	if want := []any{int32(1), "two", "three"}; !slices.Equal(res.Output, want) {
		t.Errorf("Output = %#v, want %#v", res.Output, want)
	}
	if len(res.Errors) != 1 || res.Errors[0].Exception.Message != "bad thing" || res.Errors[0].FullyQualifiedErrorID != "BadThing" {
		t.Errorf("Errors = %+v", res.Errors)
	}
	if len(res.Warnings) != 1 || res.Warnings[0].Message != "careful" {
		t.Errorf("Warnings = %+v", res.Warnings)
	}
	if len(res.Verbose) != 1 || res.Verbose[0].Message != "chatty" {
		t.Errorf("Verbose = %+v", res.Verbose)
	}
	if len(res.Debug) != 1 || res.Debug[0].Message != "bug?" {
		t.Errorf("Debug = %+v", res.Debug)
	}
	if len(res.Progress) != 1 || res.Progress[0].Activity != "copying" || res.Progress[0].PercentComplete != 50 {
		t.Errorf("Progress = %+v", res.Progress)
	}
	if len(res.Information) != 1 || res.Information[0].MessageData != "fyi" || !slices.Equal(res.Information[0].Tags, []string{"tag1"}) {
		t.Errorf("Information = %+v", res.Information)
	}
}

func TestInvokeFailedPipeline(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Test-Fail", func(ctx context.Context, c *sessiontest.Call) error {
		if err := c.WriteOutput("before"); err != nil {
			return err
		}
		return &sessiontest.TerminatingError{Record: sessiontest.NewErrorRecord("it broke", "Broke", sessiontest.CategoryInvalidOperation)}
	})
	s := open(t, srv)
	res, err := s.InvokeScript(testContext(t), "Test-Fail")
	var pe *session.PipelineError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *PipelineError", err, err)
	}
	if pe.State != psrp.PipelineFailed || pe.Record == nil || pe.Record.Exception.Message != "it broke" {
		t.Errorf("PipelineError = %+v", pe)
	}
	if !strings.Contains(err.Error(), "it broke") {
		t.Errorf("error text %q lacks the record's message", err)
	}
	if errors.Is(err, session.ErrStopped) {
		t.Error("a failed pipeline must not match ErrStopped")
	}
	if res == nil || !slices.Equal(res.Output, []any{"before"}) || res.State != psrp.PipelineFailed {
		t.Errorf("Result = %+v, want the output before the failure", res)
	}
	// The session stays usable after a failed pipeline.
	if _, err := s.InvokeScript(testContext(t), "Write-Output ok"); err != nil {
		t.Errorf("Invoke after failure: %v", err)
	}
}

func TestUnknownCommandFails(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	s := open(t, srv)
	_, err := s.InvokeScript(testContext(t), "Get-NoSuchThing")
	var pe *session.PipelineError
	if !errors.As(err, &pe) || pe.Record == nil || !strings.Contains(pe.Record.FullyQualifiedErrorID, "CommandNotFoundException") {
		t.Fatalf("err = %v, want CommandNotFoundException", err)
	}
}

func TestRecordsStreamInOrder(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Test-Order", func(ctx context.Context, c *sessiontest.Call) error {
		for i := range 5 {
			if err := c.WriteOutput(int32(i)); err != nil {
				return err
			}
			if err := c.WriteWarning(fmt.Sprint("w", i)); err != nil {
				return err
			}
		}
		return nil
	})
	s := open(t, srv)
	p, err := s.Start(testContext(t), psrp.Script("Test-Order"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for r, err := range p.Records() {
		if err != nil {
			t.Fatalf("Records: %v", err)
		}
		switch v := r.(type) {
		case session.Output:
			got = append(got, fmt.Sprint("o", v.Value))
		case session.Warning:
			got = append(got, v.Message)
		default:
			t.Errorf("unexpected record %T", r)
		}
	}
	want := []string{"o0", "w0", "o1", "w1", "o2", "w2", "o3", "w3", "o4", "w4"}
	if !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
	res, err := p.Wait()
	if err != nil || res.State != psrp.PipelineCompleted || len(res.Output) != 0 {
		t.Errorf("Wait after Records = %+v, %v; want Completed with nothing left", res, err)
	}
	if p.State() != psrp.PipelineCompleted {
		t.Errorf("State = %v", p.State())
	}
}

// handleEcho doubles every input number.
func handleEcho(ctx context.Context, c *sessiontest.Call) error {
	for v := range c.Input(ctx) {
		n, _ := v.(int32)
		if err := c.WriteOutput(n * 2); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func TestInputFromIterator(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Test-Double", handleEcho)
	client, rec := recordingClient(srv)
	s := open(t, srv, session.WithHTTPClient(client))
	seq := func(yield func(any) bool) {
		for i := range int32(50) {
			if !yield(i) {
				return
			}
		}
	}
	res, err := s.InvokeScript(testContext(t), "Test-Double", session.WithInput(seq))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) != 50 {
		t.Fatalf("got %d outputs, want 50", len(res.Output))
	}
	for i, v := range res.Output {
		if v != int32(2*i) {
			t.Fatalf("Output[%d] = %v, want %d", i, v, 2*i)
		}
	}
	sends := 0
	for _, c := range rec.calls() {
		if c.Action == "Send" {
			sends++
		}
	}
	if sends == 0 || sends > 3 {
		t.Errorf("50 input values took %d WS-Man Sends, want them batched", sends)
	}
}

func TestSendAndCloseInput(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Test-Double", handleEcho)
	s := open(t, srv)
	ctx := testContext(t)
	p, err := s.Start(ctx, psrp.Script("Test-Double"), session.WithOpenInput())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int32{3, 4} {
		if err := p.Send(ctx, v); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if err := p.CloseInput(ctx); err != nil {
		t.Fatalf("CloseInput: %v", err)
	}
	res, err := p.Wait()
	if err != nil || !slices.Equal(res.Output, []any{int32(6), int32(8)}) {
		t.Errorf("Wait = %+v, %v", res, err)
	}
	// A pipeline without input refuses Send.
	p2, err := s.Start(ctx, psrp.Script("Write-Output x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Send(ctx, 1); !errors.Is(err, session.ErrNoInput) {
		t.Errorf("Send without WithOpenInput = %v, want ErrNoInput", err)
	}
	if _, err := p2.Wait(); err != nil {
		t.Error(err)
	}
}

// blocker is a handler that blocks until its context is cancelled and
// reports that it was.
type blocker struct {
	started   chan struct{}
	cancelled chan struct{}
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}, 16), cancelled: make(chan struct{}, 16)}
}

func (b *blocker) handle(ctx context.Context, c *sessiontest.Call) error {
	if err := c.WriteOutput("started"); err != nil {
		return err
	}
	b.started <- struct{}{}
	<-ctx.Done()
	b.cancelled <- struct{}{}
	return ctx.Err()
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	b := newBlocker()
	srv.Handle("Test-Block", b.handle)
	s := open(t, srv)
	ctx := testContext(t)
	p, err := s.Start(ctx, psrp.Script("Test-Block"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, b.started, "the handler to start")
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitFor(t, b.cancelled, "the handler's context to be cancelled")
	res, err := p.Wait()
	if !errors.Is(err, session.ErrStopped) {
		t.Errorf("Wait err = %v, want ErrStopped", err)
	}
	var pe *session.PipelineError
	if !errors.As(err, &pe) || pe.State != psrp.PipelineStopped {
		t.Errorf("err = %#v, want *PipelineError Stopped", err)
	}
	if res.State != psrp.PipelineStopped || !slices.Equal(res.Output, []any{"started"}) {
		t.Errorf("Result = %+v", res)
	}
	if err := p.Stop(ctx); err != nil {
		t.Errorf("second Stop = %v, want nil", err)
	}
	if _, err := s.InvokeScript(ctx, "Write-Output again"); err != nil {
		t.Errorf("Invoke after Stop: %v", err)
	}
}

func TestContextCancelStopsRemotePipeline(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	b := newBlocker()
	srv.Handle("Test-Block", b.handle)
	s := open(t, srv)
	ctx, cancel := context.WithCancel(testContext(t))
	errc := make(chan error, 1)
	go func() {
		_, err := s.InvokeScript(ctx, "Test-Block")
		errc <- err
	}()
	waitFor(t, b.started, "the handler to start")
	start := time.Now()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Invoke err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Invoke did not return after cancel")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Invoke took %v to return after cancel", d)
	}
	waitFor(t, b.cancelled, "the remote pipeline to be stopped")
	if a := s.Availability(); a != session.Available {
		t.Errorf("Availability after cancel = %v, want Available", a)
	}
}

func TestConcurrentPipelinesUpToMaxRunspaces(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	b := newBlocker()
	srv.Handle("Test-Block", b.handle)
	s := open(t, srv, session.WithRunspaces(1, 2))
	ctx := testContext(t)
	if a := s.Availability(); a != session.Available {
		t.Fatalf("Availability = %v, want Available", a)
	}
	p1, err := s.Start(ctx, psrp.Script("Test-Block"))
	if err != nil {
		t.Fatal(err)
	}
	if a := s.Availability(); a != session.Available {
		t.Errorf("Availability with 1 of 2 busy = %v, want Available", a)
	}
	p2, err := s.Start(ctx, psrp.Script("Test-Block"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, b.started, "first handler")
	waitFor(t, b.started, "second handler")
	if a := s.Availability(); a != session.Busy {
		t.Errorf("Availability with 2 of 2 busy = %v, want Busy", a)
	}
	// A third Start waits for a runspace; a short context gives up.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = s.Start(short, psrp.Script("Write-Output x"))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Start while Busy = %v, want DeadlineExceeded", err)
	}
	// It proceeds as soon as one finishes.
	done := make(chan error, 1)
	go func() {
		_, err := s.InvokeScript(ctx, "Write-Output third")
		done <- err
	}()
	if err := p1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("third pipeline: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("third pipeline never ran")
	}
	if err := p2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if a := s.Availability(); a != session.Available {
		t.Errorf("Availability after all ended = %v, want Available", a)
	}
}

// readLineHost answers ReadLine with a fixed line.
type readLineHost struct {
	session.DefaultHost
	line  string
	calls atomic.Int32
}

func (h *readLineHost) ReadLine(ctx context.Context) (string, error) {
	h.calls.Add(1)
	return h.line, nil
}

func TestHostReadLine(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Test-Ask", func(ctx context.Context, c *sessiontest.Call) error {
		line, err := c.ReadLine(ctx, "Name?")
		if err != nil {
			return err
		}
		return c.WriteOutput("hello " + line)
	})
	h := &readLineHost{line: "alice"}
	s := open(t, srv, session.WithHost(h))
	res, err := s.InvokeScript(testContext(t), "Test-Ask")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Output, []any{"hello alice"}) {
		t.Errorf("Output = %v", res.Output)
	}
	if h.calls.Load() != 1 {
		t.Errorf("ReadLine called %d times, want 1", h.calls.Load())
	}
}

func TestDefaultHostRefusesInteractiveCalls(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Test-Ask", func(ctx context.Context, c *sessiontest.Call) error {
		_, err := c.ReadLine(ctx, "")
		if err == nil {
			return errors.New("ReadLine unexpectedly succeeded")
		}
		return c.WriteOutput("host said: " + err.Error())
	})
	s := open(t, srv)
	res, err := s.InvokeScript(testContext(t), "Test-Ask")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) != 1 || !strings.Contains(fmt.Sprint(res.Output[0]), "not supported by this host") {
		t.Errorf("Output = %v, want the host's refusal", res.Output)
	}
}

func TestSecureStringArgumentArrivesDecrypted(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Test-Secret", func(ctx context.Context, c *sessiontest.Call) error {
		v, ok := c.Arg("Password")
		if !ok {
			return errors.New("no Password argument")
		}
		ss, ok := v.(clixml.SecureString)
		if !ok {
			return fmt.Errorf("Password is %T, want SecureString", v)
		}
		return c.WriteOutput("got " + string(ss.Plaintext))
	})
	s := open(t, srv)
	ps := &psrp.PowerShell{Statements: [][]psrp.Command{{{
		Cmd:  "Test-Secret",
		Args: []psrp.Argument{{Name: "Password", Value: clixml.NewSecureString("s3cr3t")}},
	}}}}
	res, err := s.Invoke(testContext(t), ps)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Output, []any{"got s3cr3t"}) {
		t.Errorf("Output = %v", res.Output)
	}
}

func TestWatchSequence(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	s := open(t, srv)
	if s.State() != session.StateOpened {
		t.Fatalf("State after New = %v, want Opened", s.State())
	}
	w := s.Watch(testContext(t))
	if _, err := s.InvokeScript(testContext(t), "Write-Output x"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	// The Watch channel saw the availability go Busy and back, then Closed,
	// and was closed.
	var states []session.State
	var avail []session.Availability
	var last session.StateChange
	for c := range w {
		if c.From != c.To {
			states = append(states, c.To)
		}
		avail = append(avail, c.Availability)
		last = c
	}
	if want := []session.State{session.StateClosed}; !slices.Equal(states, want) {
		t.Errorf("state sequence = %v, want %v", states, want)
	}
	if last.To != session.StateClosed || last.Availability != session.AvailabilityNone {
		t.Errorf("last change = %+v, want Closed/None", last)
	}
	if !slices.Contains(avail, session.Busy) || !slices.Contains(avail, session.Available) {
		t.Errorf("availability changes = %v, want Busy and Available", avail)
	}
	if s.State() != session.StateClosed {
		t.Errorf("State = %v", s.State())
	}
	if _, err := s.InvokeScript(testContext(t), "Write-Output x"); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Invoke after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(testContext(t)); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestBrokenWhenServerDropsShell(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	s := open(t, srv, session.WithOperationTimeout(time.Second))
	w := s.Watch(testContext(t))
	srv.InjectFault(sessiontest.Fault{Action: "Receive", Status: http.StatusInternalServerError,
		Code: wsman.CodeUnexpectedSelectors, Subcode: "w:InvalidSelectors", Message: "The request for the Windows Remote Shell with ShellId xxxx failed because the shell was not found on the server."})
	var got session.StateChange
	for c := range w {
		if c.To == session.StateBroken {
			got = c
			break
		}
	}
	if got.To != session.StateBroken || !errors.Is(got.Err, wsman.ErrShellNotFound) {
		t.Fatalf("change = %+v, want Broken with ErrShellNotFound", got)
	}
	_, err := s.InvokeScript(testContext(t), "Write-Output x")
	if !errors.Is(err, session.ErrBroken) || !errors.Is(err, wsman.ErrShellNotFound) {
		t.Errorf("Invoke on a broken session = %v, want ErrBroken wrapping ErrShellNotFound", err)
	}
	if s.Availability() != session.AvailabilityNone {
		t.Errorf("Availability = %v, want None", s.Availability())
	}
}

func TestBasicAuthOverHTTP(t *testing.T) {
	t.Parallel()
	srv := sessiontest.NewUnstartedServer()
	srv.Users = map[string]string{"alice": "Passw0rd!"}
	srv.AllowUnencrypted = true
	srv.Start()
	t.Cleanup(srv.Close)
	ctx := testContext(t)

	_, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithBasicAuth("alice", "Passw0rd!"))
	if !errors.Is(err, session.ErrUnencrypted) {
		t.Fatalf("Basic over http without opt-in = %v, want ErrUnencrypted", err)
	}
	// Any plain-http traffic is refused, with or without credentials.
	_, err = session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()))
	if !errors.Is(err, session.ErrUnencrypted) {
		t.Fatalf("plain http without opt-in = %v, want ErrUnencrypted", err)
	}

	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithBasicAuth("alice", "Passw0rd!"), session.WithAllowUnencrypted(), session.WithTrustedHosts("127.0.0.1"))
	if err != nil {
		t.Fatalf("Basic with opt-in: %v", err)
	}
	if _, err := s.InvokeScript(ctx, "Write-Output ok"); err != nil {
		t.Error(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Error(err)
	}

	_, err = session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithBasicAuth("alice", "WrongPassw0rd"), session.WithAllowUnencrypted(), session.WithTrustedHosts("127.0.0.1"))
	if !errors.Is(err, wsman.ErrAccessDenied) {
		t.Fatalf("wrong password = %v, want ErrAccessDenied", err)
	}
	if strings.Contains(err.Error(), "WrongPassw0rd") || strings.Contains(err.Error(), "Passw0rd!") {
		t.Errorf("error reveals a password: %v", err)
	}
}

// sealingTransport claims to encrypt messages, as a future NTLM/Kerberos
// transport will.
type sealingTransport struct{ http.RoundTripper }

func (sealingTransport) EncryptsMessages() bool { return true }

func TestEncryptingTransportAllowedOverHTTP(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	client := &http.Client{Transport: sealingTransport{srv.Client().Transport}}
	s, err := session.New(testContext(t), srv.URL, session.WithHTTPClient(client))
	if err != nil {
		t.Fatalf("New with an encrypting transport: %v", err)
	}
	if err := s.Close(testContext(t)); err != nil {
		t.Error(err)
	}
}

func TestTLSVerifiedByDefault(t *testing.T) {
	t.Parallel()
	srv := sessiontest.NewUnstartedServer()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ctx := testContext(t)
	// Our own transport does not trust the self-signed test certificate.
	_, err := session.New(ctx, srv.URL)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("New against an untrusted certificate = %v, want a certificate error", err)
	}
	// The caller's TLS config decides.
	tlsCfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	s, err := session.New(ctx, srv.URL, session.WithTLSConfig(tlsCfg))
	if err != nil {
		t.Fatalf("New with the server's CA: %v", err)
	}
	if _, err := s.InvokeScript(ctx, "Write-Output tls"); err != nil {
		t.Error(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Error(err)
	}
}

func TestEnvelopeSizeRaisedAfterOpen(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	client, rec := recordingClient(srv)
	s := open(t, srv, session.WithHTTPClient(client))
	if got := s.MaxEnvelopeSize(); got != 512000 {
		t.Errorf("MaxEnvelopeSize after open = %d, want 512000", got)
	}
	if v := s.ProtocolVersion(); v.Major != 2 || v.Minor != 3 {
		t.Errorf("ProtocolVersion = %+v, want 2.3", v)
	}
	if apd := s.ApplicationPrivateData(); apd == nil {
		t.Error("no ApplicationPrivateData")
	} else if len(apd.Entries) == 0 || apd.Entries[0].Key != "PSVersionTable" {
		t.Errorf("ApplicationPrivateData lacks PSVersionTable: %+v", apd)
	}
	if _, err := s.InvokeScript(testContext(t), "Write-Output x"); err != nil {
		t.Fatal(err)
	}
	calls := rec.calls()
	if calls[0].Action != "Create" || calls[0].MaxEnvelope != "153600" {
		t.Errorf("first call = %+v, want Create with 153600", calls[0])
	}
	for _, c := range calls {
		if c.Action == "Command" && c.MaxEnvelope != "512000" {
			t.Errorf("Command sent MaxEnvelopeSize %s, want 512000", c.MaxEnvelope)
		}
	}

	// An old server (protocol 2.1) keeps 150 KiB; an explicit size is kept.
	old := sessiontest.NewUnstartedServer()
	old.ProtocolVersion = "2.1"
	old.Start()
	t.Cleanup(old.Close)
	s2 := open(t, old)
	if v := s2.ProtocolVersion(); v.Major != 2 || v.Minor != 1 {
		t.Errorf("ProtocolVersion = %+v, want 2.1", v)
	}
	if got := s2.MaxEnvelopeSize(); got != 153600 {
		t.Errorf("MaxEnvelopeSize with protocol 2.1 = %d, want 153600", got)
	}
	s3 := open(t, srv, session.WithMaxEnvelopeSize(256000))
	if got := s3.MaxEnvelopeSize(); got != 256000 {
		t.Errorf("explicit MaxEnvelopeSize = %d, want 256000", got)
	}
}

func TestOpenInvokeCloseRoundTrips(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	client, rec := recordingClient(srv)
	ctx := testContext(t)
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(client), session.WithAllowUnencrypted())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.InvokeScript(ctx, "Write-Output x"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	calls := rec.calls()
	var actions []string
	for _, c := range calls {
		actions = append(actions, c.Action)
	}
	t.Logf("WS-Man calls: %v", actions)
	if len(calls) > 6 {
		t.Errorf("open+invoke+close took %d WS-Man calls, want at most 6: %v", len(calls), actions)
	}
	if actions[0] != "Create" || actions[len(actions)-1] != "Delete" || !slices.Contains(actions, "Command") {
		t.Errorf("unexpected call sequence %v", actions)
	}
	if len(srv.Shells()) != 0 {
		t.Errorf("server still has shells %v after Close", srv.Shells())
	}
}

func TestNewFailures(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := testContext(t)
	tests := []struct {
		name   string
		target string
		opts   []session.Option
		want   error
	}{
		{"bad scheme", "ftp://host/wsman", nil, session.ErrInvalidTarget},
		{"empty", "", nil, session.ErrInvalidTarget},
		{"unknown configuration", srv.URL, []session.Option{session.WithConfigurationName("NoSuchEndpoint")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]session.Option{session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted()}, tc.opts...)
			s, err := session.New(ctx, tc.target, opts...)
			if err == nil {
				_ = s.Close(ctx)
				t.Fatal("New succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := session.New(ctx, srv.URL, session.WithRunspaces(3, 2)); err == nil {
		t.Error("WithRunspaces(3, 2) accepted")
	}
}

func TestNewHonoursContext(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.InjectFault(sessiontest.Fault{Action: "Create", Delay: 5 * time.Second})
	ctx, cancel := context.WithTimeout(testContext(t), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("New took %v after its deadline", d)
	}
}

func TestCloseStopsRunningPipelines(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	b := newBlocker()
	srv.Handle("Test-Block", b.handle)
	s := open(t, srv)
	ctx := testContext(t)
	p, err := s.Start(ctx, psrp.Script("Test-Block"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, b.started, "the handler")
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Wait after Close = %v, want ErrClosed", err)
	}
	waitFor(t, b.cancelled, "the remote pipeline to end")
}

func TestInputFromChannel(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Test-Double", handleEcho)
	s := open(t, srv)
	ch := make(chan any)
	go func() {
		defer close(ch)
		for _, v := range []int32{1, 2, 3} {
			ch <- v
		}
	}()
	res, err := s.InvokeScript(testContext(t), "Test-Double", session.WithInputChannel(ch))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Output, []any{int32(2), int32(4), int32(6)}) {
		t.Errorf("Output = %v", res.Output)
	}
}

// TestLargeOutput pulls output that needs many Receive envelopes, and
// checks that a reader slower than the server loses nothing.
func TestLargeOutput(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	const n = 30000
	srv.Handle("Get-Many", func(ctx context.Context, c *sessiontest.Call) error {
		for i := range int32(n) {
			if err := c.WriteOutput(i); err != nil {
				return err
			}
		}
		return nil
	})
	client, rec := recordingClient(srv)
	s := open(t, srv, session.WithHTTPClient(client))
	p, err := s.StartScript(testContext(t), "Get-Many")
	if err != nil {
		t.Fatal(err)
	}
	next := int32(0)
	for r, err := range p.Records() {
		if err != nil {
			t.Fatal(err)
		}
		if v := r.(session.Output).Value; v != next {
			t.Fatalf("object %d = %v", next, v)
		}
		next++
		if next%5000 == 0 {
			time.Sleep(20 * time.Millisecond) // a slow reader
		}
	}
	if next != n {
		t.Errorf("got %d objects, want %d", next, n)
	}
	receives := 0
	for _, c := range rec.calls() {
		if c.Action == "Receive" {
			receives++
		}
	}
	if receives < 3 {
		t.Errorf("only %d Receives: the output did not span several envelopes", receives)
	}
}

// promptHost answers the interactive prompts.
type promptHost struct {
	session.DefaultHost
	choices []session.ChoiceDescription
	cred    []string
	writes  []session.HostWrite
}

func (h *promptHost) Write(_ context.Context, w session.HostWrite) error {
	h.writes = append(h.writes, w)
	return nil
}

func (h *promptHost) ReadLineAsSecureString(context.Context) (clixml.SecureString, error) {
	return clixml.NewSecureString("hunter2"), nil
}

func (h *promptHost) PromptForChoice(_ context.Context, caption, message string, c []session.ChoiceDescription, def int) (int, error) {
	h.choices = c
	return 1, nil
}

func (h *promptHost) PromptForCredential(_ context.Context, caption, message, user, target string) (clixml.PSCredential, error) {
	h.cred = []string{caption, message, user, target}
	return clixml.PSCredential{UserName: `CORP\` + user, Password: clixml.NewSecureString("pw")}, nil
}

func TestHostPrompts(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Test-Prompts", func(ctx context.Context, c *sessiontest.Call) error {
		n, err := c.PromptForChoice(ctx, "Continue?", "Really?", []string{"&Yes", "&No"}, 0)
		if err != nil {
			return err
		}
		cred, err := c.PromptForCredential(ctx, "Login", "Enter credentials", "alice", "srv01")
		if err != nil {
			return err
		}
		if _, err := c.HostCall(ctx, psrp.HostWriteLine2, "hello host"); err != nil {
			return err
		}
		secret, err := c.HostCall(ctx, psrp.HostReadLineAsSecureString)
		if err != nil {
			return err
		}
		ss, ok := secret.(clixml.SecureString)
		if !ok {
			return fmt.Errorf("ReadLineAsSecureString returned %T", secret)
		}
		return c.WriteOutput(int32(n), cred.UserName, string(cred.Password.Plaintext), string(ss.Plaintext))
	})
	h := &promptHost{}
	s := open(t, srv, session.WithHost(h))
	res, err := s.InvokeScript(testContext(t), "Test-Prompts")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Output, []any{int32(1), `CORP\alice`, "pw", "hunter2"}) {
		t.Errorf("Output = %v", res.Output)
	}
	if len(h.choices) != 2 || h.choices[0].Label != "&Yes" || h.choices[1].Label != "&No" {
		t.Errorf("choices = %+v", h.choices)
	}
	if len(h.writes) != 1 || h.writes[0] != (session.HostWrite{Kind: session.HostWriteLine, Text: "hello host"}) {
		t.Errorf("host writes = %+v", h.writes)
	}
	if !slices.Equal(h.cred, []string{"Login", "Enter credentials", "alice", "srv01"}) {
		t.Errorf("credential prompt = %v", h.cred)
	}
}

func TestBasicAuthOverHTTPSNeverLeaksPassword(t *testing.T) {
	t.Parallel()
	srv := sessiontest.NewUnstartedServer()
	srv.Users = map[string]string{"alice": "Sup3rSecret"}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ctx := testContext(t)
	tlsCfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))

	s, err := session.New(ctx, srv.URL, session.WithTLSConfig(tlsCfg), session.WithBasicAuth("alice", "Sup3rSecret"), session.WithLogger(logger))
	if err != nil {
		t.Fatalf("Basic over https: %v", err)
	}
	if _, err := s.InvokeScript(ctx, "Write-Output ok"); err != nil {
		t.Error(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Error(err)
	}

	_, err = session.New(ctx, srv.URL, session.WithTLSConfig(tlsCfg), session.WithBasicAuth("alice", "Wr0ngSecret"), session.WithLogger(logger))
	if !errors.Is(err, wsman.ErrAccessDenied) {
		t.Fatalf("wrong password = %v, want ErrAccessDenied", err)
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	for _, secret := range []string{"Sup3rSecret", "Wr0ngSecret", "YWxpY2U6"} { // the last: base64 of "alice:"
		if strings.Contains(err.Error(), secret) || strings.Contains(out, secret) {
			t.Errorf("%q leaked into the error or the logs", secret)
		}
	}
	if !strings.Contains(out, "Create") && !strings.Contains(out, "session state") {
		t.Errorf("the logger saw nothing: %q", out)
	}
}

// lockedWriter serialises writes from the session's goroutines.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestLargeArgumentIsFragmented sends an argument several envelopes long: the
// CREATE_PIPELINE is split into fragments that each fit the server's
// MaxEnvelopeSize (Command, then Sends), and arrives whole.
func TestLargeArgumentIsFragmented(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Measure-Text", func(ctx context.Context, c *sessiontest.Call) error {
		v, _ := c.Arg("Text")
		s, _ := v.(string)
		return c.WriteOutput(int32(len(s)), strings.Count(s, "x") == len(s))
	})
	client, rec := recordingClient(srv)
	s := open(t, srv, session.WithHTTPClient(client))
	const size = 1_500_000
	res, err := s.Invoke(testContext(t), psrp.Cmd("Measure-Text").Param("Text", strings.Repeat("x", size)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Output, []any{int32(size), true}) {
		t.Errorf("Output = %v", res.Output)
	}
	sends := 0
	for _, c := range rec.calls() {
		if c.BytesOut > 512000 {
			t.Errorf("%s request of %d bytes exceeds the envelope", c.Action, c.BytesOut)
		}
		if c.Action == "Send" {
			sends++
		}
	}
	if sends < 2 {
		t.Errorf("%d Sends: the argument was not fragmented", sends)
	}
	largest := int64(0)
	for _, c := range rec.calls() {
		largest = max(largest, c.BytesOut)
	}
	if largest < 500000 {
		t.Errorf("largest request %d bytes: fragments waste the 512000-byte envelope", largest)
	}
}
