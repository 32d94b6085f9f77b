package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/wsman"
)

func newPSServer(t *testing.T) *Server {
	t.Helper()
	s := NewServer()
	t.Cleanup(s.Close)
	return s
}

func TestPipelineOutcomes(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	s.Handle("Test-Fail", func(ctx context.Context, c *Call) error {
		_ = c.WriteOutput("before")
		return errors.New("it broke")
	})
	s.Handle("Test-Throw", func(ctx context.Context, c *Call) error {
		return &TerminatingError{Record: NewErrorRecord("custom", "Custom,Id", CategoryInvalidArgument)}
	})
	s.Handle("Test-NonTerminating", func(ctx context.Context, c *Call) error {
		_ = c.WriteError(NewErrorRecord("soft", "", CategoryNotSpecified))
		return c.WriteOutput(int32(7))
	})
	s.Handle("Test-Panic", func(ctx context.Context, c *Call) error { panic("boom") })
	s.HandleScript("$env:USERPROFILE.ToUpperInvariant()", func(ctx context.Context, c *Call) error {
		return c.WriteOutput(`C:\WINDOWS\SYSTEM32\CONFIG\SYSTEMPROFILE`)
	})
	s.Handle("Get-Args", func(ctx context.Context, c *Call) error {
		v, _ := c.Arg("-Name")
		return c.WriteOutput(c.Name, c.Script, c.IsScript, text(v), len(c.Positional()))
	})
	c := openPool(t, s, psrp.ClientPoolConfig{})

	tests := []struct {
		name    string
		ps      *psrp.PowerShell
		state   psrp.PSInvocationState
		output  []any
		errors  []string
		failMsg string
		failID  string
	}{
		{"script handler", psrp.Script("$env:USERPROFILE.ToUpperInvariant()"), psrp.PipelineCompleted, []any{`C:\WINDOWS\SYSTEM32\CONFIG\SYSTEMPROFILE`}, nil, "", ""},
		{"error fails", psrp.Cmd("Test-Fail"), psrp.PipelineFailed, []any{"before"}, nil, "it broke", "RuntimeException"},
		{"terminating record", psrp.Cmd("test-throw"), psrp.PipelineFailed, nil, nil, "custom", "Custom,Id"},
		{"non-terminating", psrp.Cmd("Test-NonTerminating"), psrp.PipelineCompleted, []any{int32(7)}, []string{"soft"}, "", ""},
		{"panic fails", psrp.Cmd("Test-Panic"), psrp.PipelineFailed, nil, nil, "panicked: boom", "RuntimeException"},
		{"command not found", psrp.Cmd("Get-Nothing"), psrp.PipelineFailed, nil, nil, "The term 'Get-Nothing' is not recognized as the name of a cmdlet", "CommandNotFoundException"},
		{"script not found", psrp.Script("Frob-Thing -X 1 | Out-Null"), psrp.PipelineFailed, nil, nil, "The term 'Frob-Thing' is not recognized", "CommandNotFoundException"},
		{"command args", psrp.Cmd("Get-Args").Param("Name", "n1").Arg("p1").Arg("p2"), psrp.PipelineCompleted, []any{"Get-Args", "Get-Args", false, "n1", int32(2)}, nil, "", ""},
		{"script first word", psrp.Script("Get-Args -Name x"), psrp.PipelineCompleted, []any{"Get-Args", "Get-Args -Name x", true, "x", int32(0)}, nil, "", ""},
		{"echo builtin", psrp.Cmd("echo").Arg("a").Arg("b"), psrp.PipelineCompleted, []any{"a", "b"}, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			res := c.run(invocation{ps: tt.ps})
			assert.Equal(t, tt.state, res.state)
			assert.Equal(t, tt.output, normalize(res.output))
			var errs []string
			for _, e := range res.errors {
				errs = append(errs, e.Exception.Message)
			}
			assert.Equal(t, tt.errors, errs)
			if tt.failMsg != "" {
				require.NotNil(t, res.stateErr)
				assert.Contains(t, res.stateErr.Exception.Message, tt.failMsg)
				assert.Equal(t, tt.failID, res.stateErr.FullyQualifiedErrorID)
			}
		})
	}
	// The command-not-found record matches PowerShell's.
	c.t = t
	res := c.run(invocation{ps: psrp.Cmd("Get-Nothing")})
	require.NotNil(t, res.stateErr)
	assert.Equal(t, CategoryObjectNotFound, res.stateErr.CategoryInfo.Category)
	assert.Equal(t, "Get-Nothing", res.stateErr.CategoryInfo.TargetName)
}

// normalize turns ints into int32 so tables can compare them.
func normalize(vs []any) []any {
	out := make([]any, 0, len(vs))
	for _, v := range vs {
		if n, ok := v.(int); ok {
			v = int32(n)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func TestBuiltinStreams(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	c := openPool(t, s, psrp.ClientPoolConfig{})

	res := c.run(invocation{ps: psrp.Cmd("Write-Warning").Arg("careful")})
	assert.Equal(t, []string{"careful"}, res.warnings)
	res = c.run(invocation{ps: psrp.Cmd("Write-Verbose").Param("Message", "chatty")})
	assert.Equal(t, []string{"chatty"}, res.verbose)
	res = c.run(invocation{ps: psrp.Cmd("Write-Debug").Arg("dbg")})
	assert.Equal(t, []string{"dbg"}, res.debug)
	res = c.run(invocation{ps: psrp.Cmd("Write-Error").Arg("bad thing")})
	require.Len(t, res.errors, 1)
	assert.Equal(t, "bad thing", res.errors[0].Exception.Message)
	assert.Equal(t, psrp.PipelineCompleted, res.state)
	res = c.run(invocation{ps: psrp.Cmd("Write-Host").Arg("hello host")})
	require.Len(t, res.info, 1)
	assert.Equal(t, "hello host", res.info[0].MessageData)
	assert.Equal(t, []string{"PSHOST"}, res.info[0].Tags)
	res = c.run(invocation{ps: psrp.Cmd("Write-Progress").Param("Activity", "copying").Param("PercentComplete", int32(40))})
	require.Len(t, res.progress, 1)
	assert.Equal(t, "copying", res.progress[0].Activity)
	assert.Equal(t, int32(40), res.progress[0].PercentComplete)

	res = c.run(invocation{ps: psrp.Cmd("Get-Date")})
	require.Len(t, res.output, 1)
	obj, ok := res.output[0].(*clixml.Object)
	require.True(t, ok, "%T", res.output[0])
	assert.True(t, obj.IsType("System.DateTime"))
	assert.Contains(t, obj.ToString, ",") // "Monday, January 2, 2006 3:04:05 PM"
	_, isDT := obj.Value.(clixml.DateTime)
	assert.True(t, isDT, "%T", obj.Value)

	res = c.run(invocation{ps: psrp.Script("Get-Date -Format o")})
	require.Len(t, res.output, 1)
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}[+-]\d\d:\d\d$`, res.output[0])

	res = c.run(invocation{ps: psrp.Cmd("Get-Process").Param("Name", "wsmprovhost")})
	require.Len(t, res.output, 1)
	p := res.output[0].(*clixml.Object)
	name, _ := p.Member("Name")
	assert.Equal(t, "wsmprovhost", name)

	res = c.run(invocation{ps: psrp.Script("$PSVersionTable")})
	require.Len(t, res.output, 1)
	assert.Equal(t, clixml.Dictionary, res.output[0].(*clixml.Object).Kind)
}

func TestPipelineInput(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	s.Handle("Sum-Input", func(ctx context.Context, c *Call) error {
		var sum int32
		for v := range c.Input(ctx) {
			n, _ := number(v)
			sum += int32(n)
		}
		return c.WriteOutput(sum)
	})
	c := openPool(t, s, psrp.ClientPoolConfig{})
	res := c.run(invocation{ps: psrp.Cmd("Sum-Input"), input: []any{int32(1), int32(2), "3"}})
	assert.Equal(t, []any{int32(6)}, res.output)
	res = c.run(invocation{ps: psrp.Cmd("Write-Output"), input: []any{"a", int32(2)}})
	assert.Equal(t, []any{"a", int32(2)}, res.output)
}

func TestHostCalls(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	s.Handle("Ask-Choice", func(ctx context.Context, c *Call) error {
		n, err := c.PromptForChoice(ctx, "Pick", "which?", []string{"&Yes", "&No"}, 1)
		if err != nil {
			return err
		}
		return c.WriteOutput(int32(n))
	})
	c := openPool(t, s, psrp.ClientPoolConfig{})
	var methods []psrp.HostMethodID
	var prompts []any
	res := c.run(invocation{ps: psrp.Cmd("Read-Host").Param("Prompt", "Name"), host: func(ev psrp.PipelineHostCallEvent) any {
		methods = append(methods, ev.Method)
		if ev.Method == psrp.HostWrite1 {
			prompts = append(prompts, ev.Params...)
			return nil
		}
		return "typed line"
	}})
	assert.Equal(t, psrp.PipelineCompleted, res.state)
	assert.Equal(t, []any{"typed line"}, res.output)
	assert.Equal(t, []psrp.HostMethodID{psrp.HostWrite1, psrp.HostReadLine}, methods)
	assert.Equal(t, []any{"Name: "}, prompts)

	res = c.run(invocation{ps: psrp.Cmd("Ask-Choice"), host: func(ev psrp.PipelineHostCallEvent) any {
		require.Equal(t, psrp.HostPromptForChoice, ev.Method)
		return int32(0)
	}})
	assert.Equal(t, []any{int32(0)}, res.output)

	// A host that fails the call: the handler sees a *HostError and, by
	// returning it, fails the pipeline.
	s.Handle("Ask-Line", func(ctx context.Context, c *Call) error {
		_, err := c.ReadLine(ctx, "")
		var he *HostError
		if !errors.As(err, &he) {
			return fmt.Errorf("got %v, want a *HostError", err)
		}
		return err
	})
	res = c.run(invocation{ps: psrp.Cmd("Ask-Line"), hostErr: NewErrorRecord("no console", "NoConsole", CategoryInvalidOperation)})
	assert.Equal(t, psrp.PipelineFailed, res.state)
	require.NotNil(t, res.stateErr)
	assert.Contains(t, res.stateErr.Exception.Message, "no console")
}

func TestStopPipeline(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	started := make(chan struct{})
	var once sync.Once
	s.Handle("Wait-Forever", func(ctx context.Context, c *Call) error {
		_ = c.WriteOutput("started")
		once.Do(func() { close(started) })
		<-ctx.Done()
		return ctx.Err()
	})
	c := openPool(t, s, psrp.ClientPoolConfig{})
	stopped := false
	res := c.run(invocation{ps: psrp.Cmd("Wait-Forever"), onLoop: func(r *result) {
		if stopped || len(r.output) == 0 {
			return
		}
		recv(t, started, "the handler's start")
		stopped = true
		require.NoError(t, r.pl.BeginStop())
		rep := c.post(env{action: wsman.ActionSignal, shellID: c.shell,
			body: `<rsp:Signal CommandId="` + strings.ToUpper(r.pl.ID().String()) + `"><rsp:Code>` + wsman.SignalPSCtrlC + `</rsp:Code></rsp:Signal>`})
		require.Equal(t, 200, rep.status, string(rep.body))
	}})
	assert.Equal(t, psrp.PipelineStopped, res.state)
	require.NotNil(t, res.stateErr)
	assert.Equal(t, "PipelineStopped", res.stateErr.FullyQualifiedErrorID)

	// Start-Sleep honours the stop too, and the pool keeps working.
	res = c.run(invocation{ps: psrp.Cmd("Write-Output").Arg("after")})
	assert.Equal(t, []any{"after"}, res.output)
}

func TestSecureStringArgument(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	s.Handle("Use-Secret", func(ctx context.Context, c *Call) error {
		v, _ := c.Arg("Password")
		ss, ok := v.(clixml.SecureString)
		if !ok || !ss.Decrypted {
			return errors.New("password did not arrive decrypted")
		}
		return c.WriteOutput(len(ss.Plaintext) > 0, strings.Contains(string(ss.Plaintext), "s") || strings.Contains(string(ss.Plaintext), "\x00"))
	})
	c := openPool(t, s, psrp.ClientPoolConfig{})
	res := c.run(invocation{ps: psrp.Cmd("Use-Secret").Param("Password", clixml.NewSecureString("s3cret"))})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%v", res.stateErr)
	assert.Equal(t, []any{true, true}, res.output)
}

func TestLargeOutputIsSplit(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	big := strings.Repeat("x", 100*1024)
	s.Handle("Get-Big", func(ctx context.Context, c *Call) error { return c.WriteOutput(big, "tail") })
	c := openPool(t, s, psrp.ClientPoolConfig{})
	c.maxEnv = 16384
	res := c.run(invocation{ps: psrp.Cmd("Get-Big")})
	assert.Equal(t, []any{big, "tail"}, res.output)
}

func TestDisconnectAndConnectPool(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	r := c.post(env{action: wsman.ActionDisconnect, shellID: c.shell, body: `<rsp:Disconnect/>`})
	require.Equal(t, 200, r.status, string(r.body))

	// A second client connects to the disconnected pool.
	c2 := &psClient{t: t, srv: s, hc: s.Client(), maxEnv: 512000, created: map[uuid.UUID]bool{}, shell: c.shell}
	c2.pool = psrp.NewClientPool(psrp.ClientPoolConfig{ID: c.pool.ID()})
	require.NoError(t, c2.pool.Connect())
	var connect []byte
	for {
		p, ok := c2.pool.DataToSend(c2.maxPayload())
		if !ok {
			break
		}
		connect = append(connect, p.Data...)
	}
	r = c2.post(env{action: wsman.ActionConnect, shellID: c.shell, options: map[string]string{"protocolversion": "2.3"},
		body: `<rsp:Connect><connectXml xmlns="http://schemas.microsoft.com/powershell">` + b64(string(connect)) + `</connectXml></rsp:Connect>`})
	require.Equal(t, 200, r.status, string(r.body))
	resp := r.tree.find("Body", "ConnectResponse", "connectResponseXml")
	require.NotNil(t, resp)
	data, err := decodeB64(resp.Text)
	require.NoError(t, err)
	require.NoError(t, c2.pool.Receive(data))
	assert.Equal(t, psrp.RunspacePoolOpened, c2.pool.State())

	res := c2.run(invocation{ps: psrp.Cmd("Write-Output").Arg("still here")})
	assert.Equal(t, []any{"still here"}, res.output)
}

func TestPromptHostCall(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	s.Handle("Ask-Fields", func(ctx context.Context, c *Call) error {
		m, err := c.Prompt(ctx, "Caption", "Fill in", "first", "second")
		if err != nil {
			return err
		}
		return c.WriteOutput(text(m["first"]), text(m["second"]))
	})
	s.Handle("Ask-Cred", func(ctx context.Context, c *Call) error {
		cred, err := c.PromptForCredential(ctx, "Login", "Who?", "bob", "")
		if err != nil {
			return err
		}
		return c.WriteOutput(cred.UserName)
	})
	c := openPool(t, s, psrp.ClientPoolConfig{})
	var fields []string
	res := c.run(invocation{ps: psrp.Cmd("Ask-Fields"), host: func(ev psrp.PipelineHostCallEvent) any {
		require.Equal(t, psrp.HostPrompt, ev.Method)
		require.Len(t, ev.Params, 3)
		list, ok := ev.Params[2].(*clixml.Object)
		require.True(t, ok, "%T", ev.Params[2])
		for _, it := range list.Items {
			name, _ := it.(*clixml.Object).Member("name")
			fields = append(fields, text(name))
		}
		return map[string]any{"first": "one", "second": "two"}
	}})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%v", res.stateErr)
	assert.Equal(t, []string{"first", "second"}, fields)
	assert.Equal(t, []any{"one", "two"}, res.output)

	res = c.run(invocation{ps: psrp.Cmd("Ask-Cred"), host: func(ev psrp.PipelineHostCallEvent) any {
		require.Equal(t, psrp.HostPromptForCredential1, ev.Method)
		// A credential without a password needs no session key.
		return &clixml.Object{TypeNames: []string{"System.Management.Automation.PSCredential", "System.Object"},
			Props: []clixml.Property{{Name: "UserName", Value: "bob"}, {Name: "Password", Value: nil}}}
	}})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%v", res.stateErr)
	assert.Equal(t, []any{"bob"}, res.output)
}

func TestDeleteStopsHandlers(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	running := make(chan struct{})
	ended := make(chan error, 1)
	s.Handle("Block", func(ctx context.Context, c *Call) error {
		close(running)
		<-ctx.Done()
		ended <- ctx.Err()
		return ctx.Err()
	})
	c := openPool(t, s, psrp.ClientPoolConfig{})
	pl, err := c.pool.NewPipeline(psrp.Cmd("Block"), psrp.PipelineOptions{NoInput: true})
	require.NoError(t, err)
	require.NoError(t, pl.Invoke())
	c.flush()
	recv(t, running, "the handler's start")
	r := c.post(env{action: wsman.ActionDelete, shellID: c.shell})
	require.Equal(t, 200, r.status)
	assert.ErrorIs(t, recv(t, ended, "the handler's end"), context.Canceled)
	assert.Empty(t, s.Shells())
}

func TestPipelineOverTLSWithBasic(t *testing.T) {
	t.Parallel()
	s := NewUnstartedServer()
	s.Users = map[string]string{"alice": "pw"}
	s.Configurations = map[string]ConfigurationAccess{"Microsoft.PowerShell": {Users: []string{"alice"}}}
	s.StartTLS()
	defer s.Close()
	c := openPoolAs(t, s, psrp.ClientPoolConfig{}, func(r *http.Request) { r.SetBasicAuth("alice", "pw") })
	res := c.run(invocation{ps: psrp.Script("Write-Output 'over tls'")})
	assert.Equal(t, []any{"over tls"}, res.output)
}

func TestCreatePipelineInSeveralFragments(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	c.maxEnv = 16384
	long := strings.Repeat("y", 40*1024)
	res := c.run(invocation{ps: psrp.Script("Write-Output '" + long + "'")})
	require.Equal(t, psrp.PipelineCompleted, res.state, "%v", res.stateErr)
	assert.GreaterOrEqual(t, c.sends, 3, "the CREATE_PIPELINE continues in Sends")
	assert.Equal(t, []any{long}, res.output)
}
