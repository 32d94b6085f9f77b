package sessiontest

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/wsman"
)

// psClient is a minimal PSRP client over raw WS-Man for the tests: a
// psrp.ClientPool driven by hand-made SOAP requests.
type psClient struct {
	t      testing.TB
	srv    *Server
	hc     *http.Client
	pool   *psrp.ClientPool
	shell  string
	maxEnv int
	// setup is applied to every HTTP request (credentials).
	setup func(*http.Request)
	// created holds the pipelines whose Command was sent.
	created map[uuid.UUID]bool
	// sends counts the Send requests made.
	sends int
	// sessionID is sent as wsmv:SessionId when set.
	sessionID string
}

func (c *psClient) post(e env) *reply {
	c.t.Helper()
	e.maxEnv = c.maxEnv
	if e.sessionID == "" {
		e.sessionID = c.sessionID
	}
	r, err := postErr(c.hc, c.srv.URL, e.bytes(), c.setup)
	require.NoError(c.t, err)
	return r
}

// maxPayload is how much fragment data fits one Send/Command under maxEnv.
func (c *psClient) maxPayload() int { return (c.maxEnv - 2048) / 4 * 3 }

func openPool(t testing.TB, srv *Server, cfg psrp.ClientPoolConfig) *psClient {
	t.Helper()
	return openPoolAs(t, srv, cfg, nil)
}

// openPoolAs opens a pool with setup applied to every request.
func openPoolAs(t testing.TB, srv *Server, cfg psrp.ClientPoolConfig, setup func(*http.Request)) *psClient {
	t.Helper()
	c := &psClient{t: t, srv: srv, hc: srv.Client(), maxEnv: 512000, created: map[uuid.UUID]bool{}, setup: setup}
	c.pool = psrp.NewClientPool(cfg)
	require.NoError(t, c.pool.Open())
	var creation []byte
	for {
		p, ok := c.pool.DataToSend(c.maxPayload())
		if !ok {
			break
		}
		creation = append(creation, p.Data...)
	}
	c.shell = strings.ToUpper(c.pool.ID().String())
	r := c.post(env{action: wsman.ActionCreate, options: map[string]string{"protocolversion": "2.3"},
		body: `<rsp:Shell ShellId="` + c.shell + `"><rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams>` +
			`<creationXml xmlns="http://schemas.microsoft.com/powershell">` + base64.StdEncoding.EncodeToString(creation) + `</creationXml></rsp:Shell>`})
	require.Equal(t, 200, r.status, string(r.body))
	for c.pool.State() != psrp.RunspacePoolOpened {
		c.receive(uuid.Nil)
		for {
			if _, ok := c.pool.NextEvent(); !ok {
				break
			}
		}
	}
	return c
}

// flush sends everything the client pool has queued.
func (c *psClient) flush() {
	c.t.Helper()
	for {
		p, ok := c.pool.DataToSend(c.maxPayload())
		if !ok {
			return
		}
		data := base64.StdEncoding.EncodeToString(p.Data)
		cmd := ""
		if p.PipelineID != uuid.Nil {
			cmd = strings.ToUpper(p.PipelineID.String())
		}
		var r *reply
		if p.Create {
			c.created[p.PipelineID] = true
			r = c.post(env{action: wsman.ActionCommand, shellID: c.shell,
				body: `<rsp:CommandLine CommandId="` + cmd + `"><rsp:Command /><rsp:Arguments>` + data + `</rsp:Arguments></rsp:CommandLine>`})
		} else {
			c.sends++
			attr := ""
			if cmd != "" {
				attr = ` CommandId="` + cmd + `"`
			}
			r = c.post(env{action: wsman.ActionSend, shellID: c.shell,
				body: `<rsp:Send><rsp:Stream Name="` + p.Stream.Name() + `"` + attr + `>` + data + `</rsp:Stream></rsp:Send>`})
		}
		require.Equal(c.t, 200, r.status, string(r.body))
	}
}

// receive does one Receive for the pool or a command and feeds the pool.
// It reports whether the command is done; a timeout is not an error.
func (c *psClient) receive(cmd uuid.UUID) (done bool) {
	c.t.Helper()
	id := ""
	if cmd != uuid.Nil {
		id = strings.ToUpper(cmd.String())
	}
	r := c.post(env{action: wsman.ActionReceive, shellID: c.shell, timeout: "PT5S", body: receiveBody(id)})
	if r.status == 500 && r.subcode() == "w:TimedOut" {
		return false
	}
	require.Equal(c.t, 200, r.status, string(r.body))
	for _, data := range r.streams(c.t) {
		require.NoError(c.t, c.pool.Receive(data))
	}
	return r.done()
}

// result is everything a pipeline produced.
type result struct {
	output   []any
	errors   []*clixml.ErrorRecord
	warnings []string
	verbose  []string
	debug    []string
	info     []*clixml.InformationRecord
	progress []*clixml.ProgressRecord
	state    psrp.PSInvocationState
	stateErr *clixml.ErrorRecord
	pl       *psrp.ClientPipeline
}

// invocation describes one pipeline run for psClient.run.
type invocation struct {
	ps    *psrp.PowerShell
	input []any // nil: NoInput
	host  func(ev psrp.PipelineHostCallEvent) any
	// hostErr, when set, answers host calls with an error record instead.
	hostErr *clixml.ErrorRecord
	onLoop  func(r *result) // called after each Receive (e.g. to stop)
}

func (c *psClient) run(inv invocation) *result {
	c.t.Helper()
	pl, err := c.pool.NewPipeline(inv.ps, psrp.PipelineOptions{NoInput: inv.input == nil})
	require.NoError(c.t, err)
	require.NoError(c.t, pl.Invoke())
	for _, v := range inv.input {
		require.NoError(c.t, pl.Send(v))
	}
	if inv.input != nil {
		require.NoError(c.t, pl.CloseInput())
	}
	res := &result{pl: pl}
	c.flush()
	for i := 0; ; i++ {
		require.Less(c.t, i, 200, "pipeline did not finish")
		var done bool
		if !c.created[pl.ID()] {
			// The pipeline waits for the session key: it arrives on the pool.
			c.receive(uuid.Nil)
		} else {
			done = c.receive(pl.ID())
		}
		c.collect(res, inv)
		c.flush()
		if inv.onLoop != nil {
			inv.onLoop(res)
		}
		if done {
			break
		}
	}
	require.True(c.t, res.state.Terminal(), "state %v", res.state)
	// Close the command as PowerShell and pypsrp do (capture
	// test_psrp_multiple_invocations).
	if c.created[pl.ID()] {
		r := c.post(env{action: wsman.ActionSignal, shellID: c.shell,
			body: `<rsp:Signal CommandId="` + strings.ToUpper(pl.ID().String()) + `"><rsp:Code>` + wsman.SignalTerminate + `</rsp:Code></rsp:Signal>`})
		require.Equal(c.t, 200, r.status, string(r.body))
	}
	return res
}

func (c *psClient) collect(res *result, inv invocation) {
	for {
		ev, ok := c.pool.NextEvent()
		if !ok {
			return
		}
		switch e := ev.(type) {
		case psrp.PipelineOutputEvent:
			res.output = append(res.output, e.Value)
		case psrp.PipelineErrorEvent:
			res.errors = append(res.errors, e.Record)
		case psrp.PipelineWarningEvent:
			res.warnings = append(res.warnings, e.Record.Message)
		case psrp.PipelineVerboseEvent:
			res.verbose = append(res.verbose, e.Record.Message)
		case psrp.PipelineDebugEvent:
			res.debug = append(res.debug, e.Record.Message)
		case psrp.PipelineInformationEvent:
			res.info = append(res.info, e.Record)
		case psrp.PipelineProgressEvent:
			res.progress = append(res.progress, e.Record)
		case psrp.PipelineStateChanged:
			res.state, res.stateErr = e.State, e.Err
		case psrp.PipelineHostCallEvent:
			var answer any
			if inv.host != nil {
				answer = inv.host(e)
			}
			if inv.hostErr != nil {
				answer = nil
			}
			if e.Method.IsVoid() {
				continue // void methods get no response
			}
			require.NoError(c.t, res.pl.HostResponse(e.CallID, answer, inv.hostErr))
		}
	}
}
