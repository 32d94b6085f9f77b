package session_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// remoteService is what the endpoint writes: a Get-Service-like object
// whose Status is an enum (an object with a ToString and an I32).
type remoteService struct {
	Name   string
	Status *clixml.Object
}

func serviceStatus(name string, v int32) *clixml.Object {
	return &clixml.Object{
		TypeNames:   []string{"System.ServiceProcess.ServiceControllerStatus", "System.Enum", "System.ValueType", "System.Object"},
		ToString:    name,
		HasToString: true,
		Value:       v,
	}
}

func handleServices(ctx context.Context, c *sessiontest.Call) error {
	return c.WriteOutput(
		remoteService{Name: "WinRM", Status: serviceStatus("Running", 4)},
		remoteService{Name: "Spooler", Status: serviceStatus("Stopped", 1)},
	)
}

func TestCollectDecodesOutputIntoStructs(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Get-Service", handleServices)
	s := open(t, srv)
	ctx := testContext(t)

	res, err := s.InvokeScript(ctx, "Get-Service")
	if err != nil {
		t.Fatal(err)
	}
	type byName struct {
		Name   string
		Status string
	}
	got, err := session.Collect[byName](res)
	if err != nil || len(got) != 2 || got[0] != (byName{"WinRM", "Running"}) || got[1] != (byName{"Spooler", "Stopped"}) {
		t.Errorf("Collect = %+v, %v", got, err)
	}
	type byCode struct {
		Name   string
		Status int32
	}
	codes, err := session.Collect[byCode](res)
	if err != nil || len(codes) != 2 || codes[0].Status != 4 || codes[1].Status != 1 {
		t.Errorf("Collect of the enum values = %+v, %v", codes, err)
	}
	// What PowerShell prints for the Status member is its ToString.
	status, _ := res.Output[0].(*clixml.Object).Member("Status")
	if got := status.(*clixml.Object).String(); got != "Running" {
		t.Errorf("Status prints %q", got)
	}

	// A value that does not fit: decoded as far as it goes, the first
	// error names the object.
	_, err = session.Collect[map[string]bool](res)
	var te *clixml.UnmarshalTypeError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "output 0") {
		t.Errorf("Collect into a misfit = %v, want an *UnmarshalTypeError naming output 0", err)
	}
	if none, err := session.Collect[remoteService](nil); none != nil || err != nil {
		t.Errorf("Collect(nil) = %v, %v", none, err)
	}

	// Output.Decode while streaming.
	p, err := s.StartScript(ctx, "Get-Service")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rec, err := range p.Records() {
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := rec.(session.Output); ok {
			var svc byName
			if err := o.Decode(&svc); err != nil {
				t.Fatal(err)
			}
			names = append(names, svc.Name+"="+svc.Status)
		}
	}
	if strings.Join(names, ",") != "WinRM=Running,Spooler=Stopped" {
		t.Errorf("decoded while streaming: %v", names)
	}
}

// HadErrors is PowerShell's: error records (also those read through
// Records) or a failure; a clean pipeline has none.
func TestResultHadErrors(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Test-Fail", func(ctx context.Context, c *sessiontest.Call) error {
		return &sessiontest.TerminatingError{Record: sessiontest.NewErrorRecord("it failed", "Failed", sessiontest.CategoryInvalidOperation)}
	})
	s := open(t, srv)
	ctx := testContext(t)

	res, err := s.InvokeScript(ctx, "Write-Output fine")
	if err != nil || res.HadErrors {
		t.Errorf("clean pipeline: HadErrors %v, %v", res.HadErrors, err)
	}
	res, err = s.InvokeScript(ctx, "Write-Error 'not fatal'")
	if err != nil || !res.HadErrors || len(res.Errors) != 1 {
		t.Errorf("Write-Error: HadErrors %v, %d records, %v", res.HadErrors, len(res.Errors), err)
	}
	p, err := s.StartScript(ctx, "Write-Error 'read by Records'")
	if err != nil {
		t.Fatal(err)
	}
	var seen []error
	for rec := range p.Records() {
		if e, ok := rec.(*session.ErrorRecord); ok {
			seen = append(seen, e) // a record is an error
		}
	}
	res, err = p.Wait()
	if err != nil || !res.HadErrors || len(res.Errors) != 0 || len(seen) != 1 || !strings.Contains(seen[0].Error(), "read by Records") {
		t.Errorf("records read through Records: HadErrors %v, Errors %v, seen %v, %v", res.HadErrors, res.Errors, seen, err)
	}
	res, err = s.InvokeScript(ctx, "Test-Fail")
	if err == nil || !res.HadErrors || res.State != psrp.PipelineFailed {
		t.Errorf("failed pipeline: HadErrors %v, state %v, %v", res.HadErrors, res.State, err)
	}
}

// A failed pipeline's error carries the terminating record, which
// errors.As finds; its text is the record's, ErrorDetails first.
func TestPipelineErrorCarriesTheRecord(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Test-Fail", func(ctx context.Context, c *sessiontest.Call) error {
		rec := sessiontest.NewErrorRecord("exception text", "Broken,Test", sessiontest.CategoryInvalidOperation)
		rec.ErrorDetails = &clixml.ErrorDetails{Message: "details text"}
		return &sessiontest.TerminatingError{Record: rec}
	})
	s := open(t, srv)
	_, err := s.InvokeScript(testContext(t), "Test-Fail")
	var rec *clixml.ErrorRecord
	if !errors.As(err, &rec) || rec.FullyQualifiedErrorID != "Broken,Test" {
		t.Fatalf("errors.As(*clixml.ErrorRecord) on %v: %+v", err, rec)
	}
	if err.Error() != "session: pipeline Failed: details text" {
		t.Errorf("text %q, want the ErrorDetails message first, as .NET", err.Error())
	}
}
