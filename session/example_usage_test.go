package session_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"strings"

	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// newAuthServer starts an endpoint set up like a default Windows host:
// plain HTTP, Negotiate, every message sealed, one user.
func newAuthServer(user, password string) *sessiontest.Server {
	srv := sessiontest.NewUnstartedServer()
	srv.Users = map[string]string{user: password}
	srv.Auth = sessiontest.AuthConfig{Negotiate: true}
	srv.Start()
	return srv
}

// getService stands in for Get-Service: the WinRM service, whose Status is
// an enum object (a ToString and a value), as Windows sends it.
func getService(ctx context.Context, c *sessiontest.Call) error {
	type serviceController struct {
		Name        string
		DisplayName string
		Status      *clixml.Object
	}
	return c.WriteOutput(serviceController{
		Name:        "WinRM",
		DisplayName: "Windows Remote Management (WS-Management)",
		Status: &clixml.Object{
			TypeNames: []string{"System.ServiceProcess.ServiceControllerStatus", "System.Enum", "System.ValueType", "System.Object"},
			ToString:  "Running", HasToString: true, Value: int32(4),
		},
	})
}

// The README's "Use" section, run against the emulated endpoint. The only
// differences: the target is the endpoint's URL instead of
// "win01.corp.example", and NTLM over plain http:// needs the host in
// WithTrustedHosts (over https, as the README's target, it does not).
func Example() {
	srv := newAuthServer("alice", "Sup3r-Secret!pw")
	defer srv.Close()
	srv.Handle("Get-Service", getService)

	use := func(ctx context.Context, target, password string) error {
		s, err := session.New(ctx, target, // https://win01.corp.example:5986/wsman
			session.WithNegotiate(`CORP\alice`, password), // Kerberos, else NTLM, like PowerShell
			session.WithTrustedHosts("127.0.0.1"))
		if err != nil {
			return err // errors.Is(err, auth.ErrAccessDenied) for refused credentials
		}
		defer s.Close(context.Background())

		res, err := s.Invoke(ctx, session.Cmd("Get-Service").Param("Name", "WinRM"))
		if err != nil {
			return err // a *session.PipelineError carries the terminating ErrorRecord
		}
		type service struct{ Name, Status string } // an enum decodes as its name
		services, err := session.Collect[service](res)
		if err != nil {
			return err
		}
		for _, svc := range services {
			fmt.Println(svc.Name, svc.Status)
		}
		return nil
	}
	if err := use(context.Background(), srv.URL, "Sup3r-Secret!pw"); err != nil {
		log.Fatal(err)
	}
	// Output: WinRM Running
}

// A default Windows host (http://host:5985/wsman, Negotiate, encryption
// required) is reached with an authentication option: every message is then
// sealed with the security context, so plain http:// is allowed without
// WithAllowUnencrypted. NTLM cannot prove who the server is, so an http://
// host must be trusted explicitly, as WinRM's TrustedHosts; Kerberos (a
// host name and a KDC) or https needs no entry.
func ExampleNew_negotiate() {
	srv := newAuthServer("alice", "Sup3r-Secret!pw")
	defer srv.Close()

	ctx := context.Background()
	s, err := session.New(ctx, srv.URL,
		session.WithNegotiate(`CORP\alice`, "Sup3r-Secret!pw"),
		session.WithTrustedHosts("127.0.0.1"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)
	res, err := s.InvokeScript(ctx, "Write-Output 'sealed hello'")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Output...)

	// Refused credentials are classified without importing auth or wsman.
	_, err = session.New(ctx, srv.URL,
		session.WithNegotiate(`CORP\alice`, "wrong password"),
		session.WithTrustedHosts("127.0.0.1"))
	fmt.Println(errors.Is(err, session.ErrAccessDenied))
	// Output:
	// sealed hello
	// true
}

// Output objects go into Go structs without being encoded again: fields
// match properties by name (or `clixml:"Name"` tag); an enum fills a string
// with its name and an integer with its value.
func ExampleCollect() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	srv.Handle("Get-Service", getService)

	ctx := context.Background()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)

	res, err := s.InvokeScript(ctx, "Get-Service WinRM")
	if err != nil {
		log.Fatal(err)
	}
	type service struct {
		Name       string
		Status     string
		StatusCode int32 `clixml:"Status"`
	}
	services, err := session.Collect[service](res)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", services[0])

	// One object at a time, while streaming:
	p, err := s.StartScript(ctx, "Get-Service WinRM")
	if err != nil {
		log.Fatal(err)
	}
	for rec, err := range p.Records() {
		if err != nil {
			log.Fatal(err)
		}
		if out, ok := rec.(session.Output); ok {
			var svc struct{ Name, DisplayName string }
			if err := out.Decode(&svc); err != nil {
				log.Fatal(err)
			}
			fmt.Println(svc.DisplayName)
		}
	}
	// Output:
	// {Name:WinRM Status: StatusCode:4}
	// Windows Remote Management (WS-Management)
}

// A pipeline's input: WithInput feeds a sequence and ends the input;
// WithOpenInput leaves it to Send and CloseInput.
func ExamplePipeline_Send() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	srv.Handle("ConvertTo-Upper", func(ctx context.Context, c *sessiontest.Call) error {
		for {
			v, ok, err := c.NextInput(ctx)
			if err != nil || !ok {
				return err
			}
			if err := c.WriteOutput(strings.ToUpper(fmt.Sprint(v))); err != nil {
				return err
			}
		}
	})

	ctx := context.Background()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)

	// From a sequence:
	res, err := s.InvokeScript(ctx, "ConvertTo-Upper", session.WithInput(slices.Values([]string{"a", "b"})))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Output...)

	// Value by value:
	p, err := s.StartScript(ctx, "ConvertTo-Upper", session.WithOpenInput())
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx) // stops the pipeline if a return below comes first
	for _, v := range []string{"c", "d"} {
		if err := p.Send(ctx, v); err != nil {
			log.Fatal(err)
		}
	}
	if err := p.CloseInput(ctx); err != nil {
		log.Fatal(err)
	}
	res, err = p.Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Output...)
	// Output:
	// A B
	// C D
}

// answeringHost answers Read-Host and shows Write-Host; DefaultHost
// provides every other Host method (refusing interactive calls), so the
// type keeps compiling when Host grows.
type answeringHost struct {
	session.DefaultHost
	answer string
}

func (h answeringHost) ReadLine(ctx context.Context) (string, error) { return h.answer, nil }

func (h answeringHost) Write(ctx context.Context, w session.HostWrite) error {
	fmt.Println("host:", strings.TrimSpace(w.Text))
	return nil
}

func ExampleWithHost() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	srv.Handle("Get-Name", func(ctx context.Context, c *sessiontest.Call) error {
		name, err := c.ReadLine(ctx, "Your name") // Read-Host -Prompt 'Your name'
		if err != nil {
			return err
		}
		return c.WriteOutput("Hello, " + name)
	})

	ctx := context.Background()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted(),
		session.WithHost(answeringHost{answer: "Ada"}))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)
	res, err := s.InvokeScript(ctx, "Get-Name")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Output...)
	// Output:
	// host: Your name:
	// Hello, Ada
}

// Telling outcomes apart: a pipeline that failed (a *PipelineError with
// the terminating ErrorRecord), one that was stopped (ErrStopped; with the
// context's error too when its context ended), non-terminating errors
// (Result.HadErrors, no error), refused credentials (ErrAccessDenied).
func Example_errors() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	srv.Handle("Get-Item", func(ctx context.Context, c *sessiontest.Call) error {
		return &sessiontest.TerminatingError{Record: sessiontest.NewErrorRecord(
			"Cannot find path 'C:\\nope' because it does not exist.", "PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand", sessiontest.CategoryObjectNotFound)}
	})
	srv.Handle("Wait-Forever", func(ctx context.Context, c *sessiontest.Call) error {
		<-ctx.Done()
		return ctx.Err()
	})

	ctx := context.Background()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)

	_, err = s.InvokeScript(ctx, `Get-Item C:\nope`)
	var pe *session.PipelineError
	if errors.As(err, &pe) {
		fmt.Println(pe.State, pe.Record.FullyQualifiedErrorID)
	}
	var rec *clixml.ErrorRecord // the same record, found through the chain
	if errors.As(err, &rec) {
		fmt.Println(rec.CategoryInfo.Category, rec)
	}

	res, err := s.InvokeScript(ctx, "Write-Error 'not fatal'")
	fmt.Println(err, res.HadErrors, res.Errors[0])

	stop, cancel := context.WithCancel(ctx)
	p, err := s.StartScript(stop, "Wait-Forever")
	if err != nil {
		log.Fatal(err)
	}
	cancel()
	res, err = p.Wait() // waits for the server to confirm the stop
	fmt.Println(errors.Is(err, context.Canceled), errors.Is(err, session.ErrStopped), res.State)
	// Output:
	// Failed PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand
	// ObjectNotFound Cannot find path 'C:\nope' because it does not exist.
	// <nil> true not fatal
	// true true Stopped
}
