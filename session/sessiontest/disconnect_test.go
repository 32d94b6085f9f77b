package sessiontest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/wsman"
)

// TestReceiveSizingAcrossTargets reproduces a sizing bug: a pool Receive
// that drains a pipeline's output on its way packed it for the pool's
// room, which is ~80 bytes more than a Receive carrying a CommandId has,
// so the pipeline's Receive then failed with w:EncodingLimit.
func TestReceiveSizingAcrossTargets(t *testing.T) {
	t.Parallel()
	for _, maxEnv := range []int{512000, 8192} {
		t.Run(strconv.Itoa(maxEnv), func(t *testing.T) {
			t.Parallel()
			s := newPSServer(t)
			const n = 12
			chunk := strings.Repeat("y", maxEnv/3)
			written := make(chan struct{})
			s.Handle("Get-Lots", func(ctx context.Context, c *Call) error {
				for i := range n {
					if err := c.WriteOutput(fmt.Sprint(i, chunk)); err != nil {
						return err
					}
				}
				close(written)
				return nil
			})
			c := openPool(t, s, psrp.ClientPoolConfig{})
			c.maxEnv = maxEnv
			pl, err := c.pool.NewPipeline(psrp.Cmd("Get-Lots"), psrp.PipelineOptions{NoInput: true})
			require.NoError(t, err)
			require.NoError(t, pl.Invoke())
			c.flush()
			recv(t, written, "write of the handler")

			// The pool has nothing of its own: this Receive only drains the
			// pipeline's output, and then times out.
			r := c.post(env{action: wsman.ActionReceive, shellID: c.shell, timeout: "PT0.5S", body: receiveBody("")})
			require.Equal(t, "w:TimedOut", r.subcode(), string(r.body))

			res := &result{pl: pl}
			cmd := strings.ToUpper(pl.ID().String())
			for i := 0; ; i++ {
				require.Less(t, i, 5000, "pipeline did not finish")
				r := c.post(env{action: wsman.ActionReceive, shellID: c.shell, body: receiveBody(cmd)})
				require.Equal(t, 200, r.status, string(r.body))
				require.LessOrEqual(t, len(r.body), maxEnv)
				for _, data := range r.streams(t) {
					require.NoError(t, c.pool.Receive(data))
				}
				c.collect(res, invocation{})
				if r.done() {
					break
				}
			}
			assert.Equal(t, psrp.PipelineCompleted, res.state)
			require.Len(t, res.output, n)
			for i, v := range res.output {
				assert.Equal(t, fmt.Sprint(i, chunk), v)
			}
		})
	}
}

// The fault codes Windows sends for disconnected shells, as numbers from
// wsmerror.h, not the endpoint's own constants: a wrong code in the
// endpoint must fail these tests.
const (
	wantShellDisconnected          uint32 = 0x803381C4 // ERROR_WINRS_SHELL_DISCONNECTED
	wantClientSessionMismatch      uint32 = 0x803381C6 // ERROR_WINRS_SHELL_CLIENTSESSIONID_MISMATCH
	wantConnectedToDifferentClient uint32 = 0x803381CD // ERROR_WINRS_SHELL_CONNECTED_TO_DIFFERENT_CLIENT
	wantDisconnectNotValid         uint32 = 0x803381CF // ERROR_WINRS_SHELL_DISCONNECT_OPERATION_NOT_VALID
	wantCommandReconnectNotValid   uint32 = 0x803381D3 // ERROR_WINRS_SHELLCOMMAND_RECONNECT_OPERATION_NOT_VALID
)

// code returns the WSManFault code of a reply as a number, 0 if none.
func code(r *reply) uint32 {
	n, _ := strconv.ParseUint(r.faultCode(), 10, 32)
	return uint32(n)
}

func TestDisconnectedShellFaults(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, nil)
	hc := s.Client()
	const a, b = "uuid:AAAAAAAA-0000-0000-0000-000000000001", "uuid:BBBBBBBB-0000-0000-0000-000000000002"
	shell := strings.ToUpper(uuid.NewString())
	do := func(e env) *reply {
		t.Helper()
		e.shellID = shell
		return post(t, hc, s.URL, e.bytes())
	}
	r := do(env{action: wsman.ActionCreate, sessionID: a, body: createBody(shell, "pool")})
	require.Equal(t, 200, r.status, string(r.body))
	cmd := strings.ToUpper(uuid.NewString())
	r = do(env{action: wsman.ActionCommand, sessionID: a, body: `<rsp:CommandLine CommandId="` + cmd + `"><rsp:Command/><rsp:Arguments>` + b64("x") + `</rsp:Arguments></rsp:CommandLine>`})
	require.Equal(t, 200, r.status, string(r.body))

	// Bad Disconnect bodies are refused before anything changes.
	for _, body := range []string{
		`<rsp:Disconnect><rsp:BufferMode>Sometimes</rsp:BufferMode></rsp:Disconnect>`,
		`<rsp:Disconnect><rsp:IdleTimeOut>soon</rsp:IdleTimeOut></rsp:Disconnect>`,
		`<rsp:Disconnect><rsp:IdleTimeOut>PT0.1S</rsp:IdleTimeOut></rsp:Disconnect>`,
	} {
		r = do(env{action: wsman.ActionDisconnect, sessionID: a, body: body})
		assert.Equal(t, "w:InvalidParameter", r.subcode(), body)
	}
	r = do(env{action: wsman.ActionDisconnect, sessionID: a, body: `<rsp:Disconnect><rsp:BufferMode>Drop</rsp:BufferMode><rsp:IdleTimeOut>PT120S</rsp:IdleTimeOut></rsp:Disconnect>`})
	require.Equal(t, 200, r.status, string(r.body))
	r = do(env{action: wsman.ActionGet, resourceURI: wsman.ResourceShell})
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "Disconnected", r.tree.find("Body", "Shell", "State").Text)
	assert.Equal(t, "Drop", r.tree.find("Body", "Shell", "BufferMode").Text)
	assert.Equal(t, "PT120.000S", r.tree.find("Body", "Shell", "IdleTimeOut").Text)

	steps := []struct {
		name string
		e    env
		code uint32
	}{
		{"receive pool", env{action: wsman.ActionReceive, sessionID: a, body: receiveBody("")}, wantShellDisconnected},
		{"receive command", env{action: wsman.ActionReceive, sessionID: a, body: receiveBody(cmd)}, wantShellDisconnected},
		{"send", env{action: wsman.ActionSend, sessionID: a, body: `<rsp:Send><rsp:Stream Name="stdin">` + b64("x") + `</rsp:Stream></rsp:Send>`}, wantShellDisconnected},
		{"command", env{action: wsman.ActionCommand, sessionID: a, body: `<rsp:CommandLine><rsp:Command/><rsp:Arguments>` + b64("x") + `</rsp:Arguments></rsp:CommandLine>`}, wantShellDisconnected},
		{"signal", env{action: wsman.ActionSignal, sessionID: a, body: `<rsp:Signal CommandId="` + cmd + `"><rsp:Code>` + wsman.SignalTerminate + `</rsp:Code></rsp:Signal>`}, wantShellDisconnected},
		{"disconnect twice", env{action: wsman.ActionDisconnect, sessionID: a, body: `<rsp:Disconnect/>`}, wantDisconnectNotValid},
		{"reconnect from another client", env{action: wsman.ActionReconnect, sessionID: b}, wantClientSessionMismatch},
		{"command reconnect before the shell's", env{action: wsman.ActionReconnect, sessionID: a, body: `<rsp:Reconnect><rsp:CommandId>` + cmd + `</rsp:CommandId></rsp:Reconnect>`}, wantCommandReconnectNotValid},
		{"reconnect", env{action: wsman.ActionReconnect, sessionID: a}, 0},
		{"reconnect twice is ignored", env{action: wsman.ActionReconnect, sessionID: a}, 0},
		{"receive detached command", env{action: wsman.ActionReceive, sessionID: a, body: receiveBody(cmd)}, wantShellDisconnected},
		{"connect while connected", env{action: wsman.ActionConnect, sessionID: b, body: `<rsp:Connect><connectXml xmlns="http://schemas.microsoft.com/powershell">` + b64("c") + `</connectXml></rsp:Connect>`}, wantConnectedToDifferentClient},
		{"command reconnect", env{action: wsman.ActionReconnect, sessionID: a, body: `<rsp:Reconnect><rsp:CommandId>` + cmd + `</rsp:CommandId></rsp:Reconnect>`}, 0},
		{"command reconnect twice is ignored", env{action: wsman.ActionReconnect, sessionID: a, body: `<rsp:Reconnect CommandId="` + cmd + `"/>`}, 0},
		{"disconnect again", env{action: wsman.ActionDisconnect, sessionID: a, body: `<rsp:Disconnect/>`}, 0},
		{"connect from a new client", env{action: wsman.ActionConnect, sessionID: b, body: `<rsp:Connect><connectXml xmlns="http://schemas.microsoft.com/powershell">` + b64("c") + `</connectXml></rsp:Connect>`}, 0},
		{"old client receives", env{action: wsman.ActionReceive, sessionID: a, body: receiveBody("")}, wantConnectedToDifferentClient},
		{"old client reconnects", env{action: wsman.ActionReconnect, sessionID: a}, wantConnectedToDifferentClient},
		{"old client disconnects", env{action: wsman.ActionDisconnect, sessionID: a, body: `<rsp:Disconnect/>`}, wantConnectedToDifferentClient},
		{"new client connects to the command", env{action: wsman.ActionConnect, sessionID: b, body: `<rsp:Connect CommandId="` + cmd + `"/>`}, 0},
		{"and again", env{action: wsman.ActionConnect, sessionID: b, body: `<rsp:Connect CommandId="` + cmd + `"/>`}, wantConnectedToDifferentClient},
		{"new client signals", env{action: wsman.ActionSignal, sessionID: b, body: `<rsp:Signal CommandId="` + cmd + `"><rsp:Code>` + wsman.SignalTerminate + `</rsp:Code></rsp:Signal>`}, 0},
	}
	for _, st := range steps {
		r := do(st.e)
		if st.code == 0 {
			require.Equal(t, 200, r.status, "%s: %s", st.name, r.body)
			continue
		}
		require.Equal(t, 500, r.status, "%s: %s", st.name, r.body)
		assert.Equal(t, st.code, code(r), "%s: %s", st.name, r.faultMessage())
	}

	// Connect to a shell that does not exist: the invalid-selectors fault.
	r = post(t, hc, s.URL, env{action: wsman.ActionConnect, shellID: strings.ToUpper(uuid.NewString()), sessionID: b,
		body: `<rsp:Connect><connectXml xmlns="http://schemas.microsoft.com/powershell">` + b64("c") + `</connectXml></rsp:Connect>`}.bytes())
	assert.Equal(t, "w:InvalidSelectors", r.subcode())
	assert.Equal(t, wsman.CodeUnexpectedSelectors, code(r))
}

func TestDisconnectedShellExpires(t *testing.T) {
	t.Parallel()
	s, backends := newFakeServer(t, nil)
	hc := s.Client()
	short, long := createShell(t, s, hc), createShell(t, s, hc)
	for id, d := range map[string]string{short: "PT1S", long: "PT600S"} {
		r := post(t, hc, s.URL, env{action: wsman.ActionDisconnect, shellID: id, body: `<rsp:Disconnect><rsp:IdleTimeOut>` + d + `</rsp:IdleTimeOut></rsp:Disconnect>`}.bytes())
		require.Equal(t, 200, r.status, string(r.body))
	}
	// No request arrives meanwhile: the endpoint deletes the shell itself.
	require.Eventually(t, func() bool { return len(s.Shells()) == 1 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, []uuid.UUID{uuid.MustParse(long)}, s.Shells())
	r := post(t, hc, s.URL, env{action: wsman.ActionConnect, shellID: short,
		body: `<rsp:Connect><connectXml xmlns="http://schemas.microsoft.com/powershell">` + b64("c") + `</connectXml></rsp:Connect>`}.bytes())
	assert.Equal(t, "w:InvalidSelectors", r.subcode())
	closed := 0
	for _, be := range *backends {
		if be.isClosed() {
			closed++
		}
	}
	assert.Equal(t, 1, closed, "the expired shell's backend is closed")

	// A reconnected shell no longer expires on the disconnected timer.
	r = post(t, hc, s.URL, env{action: wsman.ActionReconnect, shellID: long}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
}

// emitter registers Emit, which waits for gate and then writes the int32s
// 0..n-1, reporting each write that returned on wrote.
func emitter(s *Server, n int) (gate chan struct{}, wrote chan int) {
	gate, wrote = make(chan struct{}), make(chan int, n)
	s.Handle("Emit", func(ctx context.Context, c *Call) error {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		for i := range n {
			if err := c.WriteOutput(int32(i)); err != nil {
				return err
			}
			wrote <- i
		}
		return nil
	})
	return gate, wrote
}

// startPipeline creates a pipeline on the server without receiving.
func (c *psClient) startPipeline(ps *psrp.PowerShell) *psrp.ClientPipeline {
	c.t.Helper()
	pl, err := c.pool.NewPipeline(ps, psrp.PipelineOptions{NoInput: true})
	require.NoError(c.t, err)
	require.NoError(c.t, pl.Invoke())
	c.flush()
	require.True(c.t, c.created[pl.ID()])
	return pl
}

// drain receives a command's output until it is done.
func (c *psClient) drain(pl *psrp.ClientPipeline) *result {
	c.t.Helper()
	res := &result{pl: pl}
	for i := 0; !c.receive(pl.ID()); i++ {
		require.Less(c.t, i, 200, "pipeline did not finish")
		c.collect(res, invocation{})
	}
	c.collect(res, invocation{})
	return res
}

func ints(n ...int) []any {
	out := make([]any, len(n))
	for i, v := range n {
		out[i] = int32(v)
	}
	return out
}

func TestDisconnectBuffersOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode string
		want []any
	}{
		// Block keeps everything: the handler waits for the client.
		{wsman.BufferModeBlock, ints(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)},
		// Drop keeps the newest writes.
		{wsman.BufferModeDrop, ints(7, 8, 9)},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			s := NewUnstartedServer()
			s.DisconnectedBufferSize = 3
			s.Start()
			t.Cleanup(s.Close)
			gate, wrote := emitter(s, 10)
			c := openPool(t, s, psrp.ClientPoolConfig{})
			pl := c.startPipeline(psrp.Cmd("Emit"))
			cmd := strings.ToUpper(pl.ID().String())

			r := c.post(env{action: wsman.ActionDisconnect, shellID: c.shell,
				body: `<rsp:Disconnect><rsp:BufferMode>` + tc.mode + `</rsp:BufferMode></rsp:Disconnect>`})
			require.Equal(t, 200, r.status, string(r.body))
			close(gate)
			next := func() int {
				t.Helper()
				select {
				case i := <-wrote:
					return i
				case <-time.After(5 * time.Second):
					t.Fatalf("%s: a write the buffer has room for did not return", tc.mode)
					return -1
				}
			}
			if tc.mode == wsman.BufferModeBlock {
				for range 3 {
					next()
				}
				select {
				case i := <-wrote:
					t.Fatalf("write %d returned while the buffer was full", i)
				case <-time.After(100 * time.Millisecond):
				}
			} else {
				for range 10 {
					next()
				}
			}

			r = c.post(env{action: wsman.ActionReconnect, shellID: c.shell})
			require.Equal(t, 200, r.status, string(r.body))
			// The command stays detached until it is reconnected itself.
			r = c.post(env{action: wsman.ActionReceive, shellID: c.shell, body: receiveBody(cmd)})
			assert.Equal(t, wantShellDisconnected, code(r), string(r.body))
			r = c.post(env{action: wsman.ActionReconnect, shellID: c.shell,
				body: `<rsp:Reconnect><rsp:CommandId>` + cmd + `</rsp:CommandId></rsp:Reconnect>`})
			require.Equal(t, 200, r.status, string(r.body))

			res := c.drain(pl)
			assert.Equal(t, psrp.PipelineCompleted, res.state, "%v", res.stateErr)
			assert.Equal(t, tc.want, res.output)
		})
	}
}

// TestConnectPicksUpRunningPipeline: a second client connects to the
// disconnected shell and then to its running command, and receives the
// output produced meanwhile; the first client is shut out.
func TestConnectPicksUpRunningPipeline(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	gate, wrote := emitter(s, 10)
	c := openPool(t, s, psrp.ClientPoolConfig{})
	c.sessionID = "uuid:" + strings.ToUpper(uuid.NewString())
	pl := c.startPipeline(psrp.Cmd("Emit"))
	cmd := strings.ToUpper(pl.ID().String())
	r := c.post(env{action: wsman.ActionDisconnect, shellID: c.shell, body: `<rsp:Disconnect/>`})
	require.Equal(t, 200, r.status, string(r.body))
	close(gate)
	for range 10 {
		select {
		case <-wrote:
		case <-time.After(5 * time.Second):
			t.Fatal("the disconnected command's writes did not return")
		}
	}

	c2 := &psClient{t: t, srv: s, hc: s.Client(), maxEnv: 512000, created: map[uuid.UUID]bool{}, shell: c.shell,
		sessionID: "uuid:" + strings.ToUpper(uuid.NewString())}
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

	r = c.post(env{action: wsman.ActionReceive, shellID: c.shell, body: receiveBody(cmd)})
	assert.Equal(t, wantConnectedToDifferentClient, code(r), "the first client is shut out")
	r = c2.post(env{action: wsman.ActionReceive, shellID: c.shell, body: receiveBody(cmd)})
	assert.Equal(t, wantShellDisconnected, code(r), "the command is not connected yet")
	r = c2.post(env{action: wsman.ActionConnect, shellID: c.shell, body: `<rsp:Connect CommandId="` + cmd + `"/>`})
	require.Equal(t, 200, r.status, string(r.body))

	// The new client knows nothing of the pipeline: decode its messages
	// by hand.
	var d psrp.Defragmenter
	var out []any
	var state psrp.PSInvocationState
	for i := 0; ; i++ {
		require.Less(t, i, 200)
		r := c2.post(env{action: wsman.ActionReceive, shellID: c.shell, body: receiveBody(cmd)})
		require.Equal(t, 200, r.status, string(r.body))
		for _, data := range r.streams(t) {
			require.NoError(t, d.Write(data))
		}
		for {
			raw, ok := d.Next()
			if !ok {
				break
			}
			m, err := psrp.DecodeMessage(raw)
			require.NoError(t, err)
			body, err := psrp.DecodeBody(m.Type, m.Data, clixml.UnmarshalOptions{})
			require.NoError(t, err)
			switch b := body.(type) {
			case *psrp.PipelineOutput:
				out = append(out, b.Value)
			case *psrp.PipelineState:
				state = b.State
			}
		}
		if r.done() {
			break
		}
	}
	assert.Equal(t, ints(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), out)
	assert.Equal(t, psrp.PipelineCompleted, state)
}

func TestEnumerateListsOwnShells(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, func(s *Server) {
		s.Users = map[string]string{"alice": "a-pass", "bob": "b-pass"}
		s.AllowUnencrypted = true
	})
	hc := s.Client()
	as := func(user, pass string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(user, pass) }
	}
	alice, bob := as("alice", "a-pass"), as("bob", "b-pass")
	create := func(who func(*http.Request)) string {
		id := strings.ToUpper(uuid.NewString())
		r, err := postErr(hc, s.URL, env{action: wsman.ActionCreate, body: createBody(id, "pool")}.bytes(), who)
		require.NoError(t, err)
		require.Equal(t, 200, r.status, string(r.body))
		return id
	}
	a1, a2, b1 := create(alice), create(alice), create(bob)
	enumerate := func(who func(*http.Request)) map[string]string {
		r, err := postErr(hc, s.URL, env{action: wsman.ActionEnumerate, resourceURI: wsman.ResourceShell,
			body: `<wsen:Enumerate><wsman:OptimizeEnumeration/><wsman:MaxElements>32000</wsman:MaxElements></wsen:Enumerate>`}.bytes(), who)
		require.NoError(t, err)
		require.Equal(t, 200, r.status, string(r.body))
		owners := map[string]string{}
		for _, sh := range r.tree.all("Shell") {
			owners[sh.find("ShellId").Text] = sh.find("Owner").Text
		}
		return owners
	}
	assert.Equal(t, map[string]string{a1: "alice", a2: "alice"}, enumerate(alice))
	assert.Equal(t, map[string]string{b1: "bob"}, enumerate(bob))

	// Another user's shell does not exist for Get, Disconnect or Connect.
	for _, e := range []env{
		{action: wsman.ActionGet, resourceURI: wsman.ResourceShell, shellID: b1},
		{action: wsman.ActionDisconnect, shellID: b1, body: `<rsp:Disconnect/>`},
		{action: wsman.ActionConnect, shellID: b1, body: `<rsp:Connect><connectXml xmlns="http://schemas.microsoft.com/powershell">` + b64("c") + `</connectXml></rsp:Connect>`},
	} {
		r, err := postErr(hc, s.URL, e.bytes(), alice)
		require.NoError(t, err)
		assert.Equal(t, "w:InvalidSelectors", r.subcode(), e.action)
	}
}

// TestIsAlive checks wsman.Client.GetShell, the is-alive probe, against
// the states the captures test_psrp_is_alive_* show.
func TestIsAlive(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, nil)
	ctx := context.Background()
	c := wsman.NewClient(s.URL, s.Client())
	sh, err := c.Create(ctx, wsman.ShellOptions{CreationXML: []byte("pool"), IdleTimeout: time.Minute})
	require.NoError(t, err)
	ref := wsman.ShellRef{ID: sh.ID}

	info, err := c.GetShell(ctx, sh.ID)
	require.NoError(t, err)
	assert.Equal(t, "Connected", info.State)
	assert.Equal(t, time.Minute, info.IdleTimeout)
	assert.Equal(t, "46MB", info.MemoryUsed, "Get reports the host process like Windows")

	require.NoError(t, c.Disconnect(ctx, ref, wsman.DisconnectOptions{IdleTimeout: 90 * time.Second, BufferMode: wsman.BufferModeDrop}))
	info, err = c.GetShell(ctx, sh.ID)
	require.NoError(t, err)
	assert.Equal(t, "Disconnected", info.State)
	assert.Equal(t, 90*time.Second, info.IdleTimeout)
	assert.Equal(t, wsman.BufferModeDrop, info.BufferMode)

	// A disconnected shell refuses Receive with the WinRS code clients
	// treat as "shell gone from this client".
	_, err = c.Receive(ctx, ref, "", wsman.ReceiveOptions{})
	var f *wsman.Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, wantShellDisconnected, f.WSManCode)

	require.NoError(t, c.Reconnect(ctx, ref))
	require.NoError(t, c.Delete(ctx, ref))
	_, err = c.GetShell(ctx, sh.ID)
	assert.ErrorIs(t, err, wsman.ErrShellNotFound)
}

// TestReceiveAfterSmallerEnvelope: output a pool Receive drained under a
// large MaxEnvelopeSize is handed out in whole fragments to a command
// Receive that asks for much less.
func TestReceiveAfterSmallerEnvelope(t *testing.T) {
	t.Parallel()
	s := newPSServer(t)
	const n = 3000
	written := make(chan struct{})
	s.Handle("Get-Many", func(ctx context.Context, c *Call) error {
		for i := range n {
			if err := c.WriteOutput(int32(i)); err != nil {
				return err
			}
		}
		close(written)
		return nil
	})
	c := openPool(t, s, psrp.ClientPoolConfig{})
	pl := c.startPipeline(psrp.Cmd("Get-Many"))
	recv(t, written, "write of the handler")
	r := c.post(env{action: wsman.ActionReceive, shellID: c.shell, timeout: "PT0.5S", body: receiveBody("")})
	require.Equal(t, "w:TimedOut", r.subcode(), string(r.body))

	c.maxEnv = 8192
	res := &result{pl: pl}
	for i := 0; ; i++ {
		require.Less(t, i, 5000, "pipeline did not finish")
		r := c.post(env{action: wsman.ActionReceive, shellID: c.shell, body: receiveBody(strings.ToUpper(pl.ID().String()))})
		require.Equal(t, 200, r.status, string(r.body))
		require.LessOrEqual(t, len(r.body), 8192)
		for _, data := range r.streams(t) {
			require.NoError(t, c.pool.Receive(data))
		}
		c.collect(res, invocation{})
		if r.done() {
			break
		}
	}
	assert.Equal(t, psrp.PipelineCompleted, res.state)
	require.Len(t, res.output, n)
	assert.Equal(t, int32(n-1), res.output[n-1])
}

// TestDisconnectEndsWaitingReceive: a Receive waiting when the shell is
// disconnected ends with the disconnected fault instead of its timeout.
func TestDisconnectEndsWaitingReceive(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t, nil)
	hc := s.Client()
	shell := createShell(t, s, hc)
	// Take the pool's opening output so that the next Receive waits.
	r := post(t, hc, s.URL, env{action: wsman.ActionReceive, shellID: shell, body: receiveBody("")}.bytes())
	require.Equal(t, 200, r.status, string(r.body))

	got := make(chan *reply, 1)
	go func() {
		r, err := postErr(hc, s.URL, env{action: wsman.ActionReceive, shellID: shell, timeout: "PT30S", body: receiveBody("")}.bytes(), nil)
		if err != nil {
			r = &reply{status: -1, body: []byte(err.Error())}
		}
		got <- r
	}()
	require.Eventually(t, func() bool {
		s.mu.Lock()
		sh := s.shells[uuid.MustParse(shell)]
		s.mu.Unlock()
		sh.mu.Lock()
		defer sh.mu.Unlock()
		return sh.receiving == 1
	}, 5*time.Second, 5*time.Millisecond)
	r = post(t, hc, s.URL, env{action: wsman.ActionDisconnect, shellID: shell, body: `<rsp:Disconnect/>`}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	r = recv(t, got, "answer to the Receive")
	assert.Equal(t, 500, r.status, string(r.body))
	assert.Equal(t, wantShellDisconnected, code(r))
}
