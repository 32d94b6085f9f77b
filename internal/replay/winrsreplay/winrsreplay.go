// Package winrsreplay drives the WinRS cmd shells of a recorded
// conversation (the shells of resource wsman.ResourceCmd) through the winrs
// client against an internal/replay server, and checks both directions:
// what the client sends against what the recorded client sent (actions,
// selectors by routing, options, shell settings, command lines, stdin), and
// what the recorded server answered against what the client surfaces
// (stdout, stderr, exit codes, faults as typed errors).
//
// It is one mechanism for every test that replays cmd shells: winrs's own
// replay of the test_winrs_* captures, and session's replay of the
// test_client_* captures, where pypsrp's Client opened cmd shells on the
// connection of its PowerShell pools, after them or before. The replay
// server numbers shells in creation order, so a caller drives the shells in
// recorded Create order: Replay with Shell(pos) drives one cmd shell, so
// that the PowerShell shells around it can be driven by other means.
//
// The package is test infrastructure: only tests import it.
package winrsreplay

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/replay"
	"github.com/gopsrp/gopsrp/internal/xsduration"
	"github.com/gopsrp/gopsrp/winrs"
	"github.com/gopsrp/gopsrp/wsman"
)

// cmdFacts are the parts of a WinRS request checked against the recording.
type cmdFacts struct {
	Header struct {
		Timeout string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
		Options []struct {
			Name  string `xml:"Name,attr"`
			Value string `xml:",chardata"`
		} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OptionSet>Option"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body struct {
		Shell *struct {
			NameAttr string `xml:"Name,attr"`
			Name     string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Name"`
			In       string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell InputStreams"`
			Out      string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell OutputStreams"`
			Idle     string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell IdleTimeOut"`
			Lifetime string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Lifetime"`
			Dir      string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell WorkingDirectory"`
			Env      []struct {
				Name  string `xml:"Name,attr"`
				Value string `xml:",chardata"`
			} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Environment>Variable"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
		CommandLine *struct {
			Command   string   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Command"`
			Arguments []string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Arguments"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
		Receive *struct {
			Streams string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell DesiredStream"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

func parseFacts(t testing.TB, soap string) cmdFacts {
	t.Helper()
	var f cmdFacts
	require.NoError(t, xml.Unmarshal([]byte(soap), &f))
	return f
}

func (f cmdFacts) option(name string) (string, bool) {
	for _, o := range f.Header.Options {
		if strings.EqualFold(o.Name, name) {
			return strings.TrimSpace(o.Value), true
		}
	}
	return "", false
}

// recordedCmd is one recorded command of a WinRS shell.
type recordedCmd struct {
	create         *replay.Entry
	stdin          [][]byte
	receives       int
	stdout, stderr bytes.Buffer
	exitCode       *int
}

// chunkReader returns its chunks one Read at a time, so that the client
// sends them as the recorded client did.
type chunkReader struct{ chunks [][]byte }

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	if r.chunks[0] = r.chunks[0][n:]; len(r.chunks[0]) == 0 {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

// Option narrows what Replay drives.
type Option func(*config)

type config struct {
	only  bool
	shell int
}

// Shell makes Replay drive only the cmd shell at recorded position pos
// (positions count every shell in creation order, PowerShell ones too) and
// check only the requests to it, so that a caller can drive the shells of
// a conversation one at a time in recorded Create order.
func Shell(pos int) Option {
	return func(c *config) { c.only, c.shell = true, pos }
}

// wants reports whether the entry's shell is one Replay drives.
func (c config) wants(e *replay.Entry) bool { return !c.only || e.Shell == c.shell }

// Replay drives the WinRS shells of conv, in recorded order, through the
// winrs client over wsc against srv, which serves conv, and then checks
// every cmd-shell request the client sent against the recorded one that
// answered it. Requests the client API cannot produce (a Receive of a
// command that was never created, or of no command) are made at the wsman
// layer, and their recorded faults must come back typed. The recorded
// Create's OperationTimeout is set on wsc. Replay does not report the
// recorded exchanges never requested (Server.Unserved) nor the requests
// without a recorded counterpart (Server.Unmatched): the caller, which may
// have driven other shells of the conversation, does.
func Replay(ctx context.Context, t testing.TB, conv *replay.Conversation, srv *replay.Server, wsc *wsman.Client, opts ...Option) {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	cmds := map[int]*recordedCmd{}
	for _, e := range conv.Entries {
		switch e.Action() {
		case "Command":
			cmds[e.Command] = &recordedCmd{create: e}
		case "Send":
			if c := cmds[e.Command]; c != nil {
				for _, b := range e.Req.Blobs {
					if b.Element == "Stream" && b.Name == "stdin" {
						c.stdin = append(c.stdin, b.Data)
					}
				}
			}
		case "Receive":
			c := cmds[e.Command]
			if c == nil {
				continue
			}
			c.receives++
			for _, b := range e.Resp.Blobs {
				switch b.Name {
				case "stdout":
					c.stdout.Write(b.Data)
				case "stderr":
					c.stderr.Write(b.Data)
				}
			}
			for _, st := range e.Resp.CommandStates {
				if strings.HasSuffix(st.State, "/Done") {
					n, err := strconv.Atoi(st.ExitCode)
					require.NoError(t, err)
					c.exitCode = &n
				}
			}
		}
	}

	var sh *winrs.Shell
	started := map[int]string{} // command position → CommandId, for commands driven at the wsman layer
	for _, e := range conv.Entries {
		if e.Req.ResourceURI != wsman.ResourceCmd || !cfg.wants(e) {
			continue
		}
		what := fmt.Sprintf("%s #%d", e.Action(), e.Index)
		switch e.Action() {
		case "Create":
			f := parseFacts(t, e.Request)
			if to, ok := f.Header.Timeout, f.Header.Timeout != ""; ok {
				d, err := xsduration.Parse(to)
				require.NoError(t, err)
				wsc.OperationTimeout = d
			}
			var opts []winrs.Option
			if cp, ok := f.option("WINRS_CODEPAGE"); ok {
				n, err := strconv.ParseUint(cp, 10, 32)
				require.NoError(t, err)
				opts = append(opts, winrs.WithCodePage(uint32(n)))
			} else {
				opts = append(opts, winrs.WithCodePage(0)) // the recorded client sent none
			}
			if _, ok := f.option("WINRS_NOPROFILE"); ok {
				opts = append(opts, winrs.WithNoProfile())
			}
			if s := f.Body.Shell; s != nil {
				for _, v := range s.Env {
					opts = append(opts, winrs.WithEnv(v.Name+"="+v.Value))
				}
				if s.Dir != "" {
					opts = append(opts, winrs.WithWorkingDirectory(s.Dir))
				}
				if s.Idle != "" {
					d, err := xsduration.Parse(s.Idle)
					require.NoError(t, err)
					opts = append(opts, winrs.WithIdleTimeout(d))
				}
				if s.Lifetime != "" {
					d, err := xsduration.Parse(s.Lifetime)
					require.NoError(t, err)
					opts = append(opts, winrs.WithLifetime(d))
				}
				if name := s.Name + s.NameAttr; name != "" {
					opts = append(opts, winrs.WithName(name))
				}
			}
			var err error
			sh, err = winrs.Open(ctx, wsc, opts...)
			require.NoError(t, err, what)
		case "Command":
			rc := cmds[e.Command]
			f := parseFacts(t, e.Request)
			cl := f.Body.CommandLine
			skip, _ := f.option("WINRS_SKIP_CMD_SHELL")
			if rc.receives == 0 && e.Resp.Fault == nil {
				// Never polled by the recorded client: started at the
				// wsman layer, its bad Receive and Signal follow.
				id, err := wsc.CommandLine(ctx, sh.Ref(), cl.Command, cl.Arguments, wsman.CommandLineOptions{SkipCmdShell: strings.EqualFold(skip, "True")})
				require.NoError(t, err, what)
				started[e.Command] = id
				continue
			}
			cmd := sh.Command(cl.Command, cl.Arguments...)
			cmd.Raw = true // pypsrp sent them as written
			cmd.SkipCmdShell = strings.EqualFold(skip, "True")
			if len(rc.stdin) > 0 {
				cmd.Stdin = &chunkReader{chunks: rc.stdin}
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run(ctx)
			if rf := e.Resp.Fault; rf != nil {
				var wf *wsman.Fault
				require.ErrorAs(t, err, &wf, what)
				assert.Equal(t, rf.Code, wf.Subcode, what)
				assert.Equal(t, rf.WSManCode, strconv.FormatUint(uint64(wf.WSManCode), 10), what)
				if wf.WSManCode == wsman.CodeFileNotFound {
					assert.ErrorIs(t, err, winrs.ErrNotFound, what)
				}
				continue
			}
			require.NotNil(t, rc.exitCode, "%s: recorded command never finished", what)
			if *rc.exitCode == 0 {
				require.NoError(t, err, what)
			} else {
				var ee *winrs.ExitError
				require.ErrorAs(t, err, &ee, what)
				assert.Equal(t, *rc.exitCode, ee.Code, what)
			}
			assert.Equal(t, *rc.exitCode, cmd.ExitCode(), what)
			assert.Equal(t, rc.stdout.String(), stdout.String(), "%s: stdout", what)
			assert.Equal(t, rc.stderr.String(), stderr.String(), "%s: stderr", what)
		case "Receive":
			if rc := cmds[e.Command]; rc != nil {
				continue // made by Cmd.Run
			}
			// A command that was never created (a made-up CommandId), or
			// none at all: the wsman layer must surface the recorded fault.
			id := ""
			if e.Command >= 0 {
				id = strings.ToUpper("00000000-0000-4000-8000-" + fmt.Sprintf("%012d", e.Index))
			}
			_, err := wsc.Receive(ctx, sh.Ref(), id, wsman.ReceiveOptions{KeepAlive: true, Streams: "stdout stderr"})
			require.NotNil(t, e.Resp.Fault, what)
			var wf *wsman.Fault
			require.ErrorAs(t, err, &wf, what)
			assert.Equal(t, e.Resp.Fault.Code, wf.Subcode, what)
			assert.Equal(t, e.Resp.Fault.WSManCode, strconv.FormatUint(uint64(wf.WSManCode), 10), what)
			if e.Command >= 0 {
				assert.ErrorIs(t, err, wsman.ErrShellNotFound, what)
			}
		case "Signal":
			if id, ok := started[e.Command]; ok {
				require.NoError(t, wsc.Signal(ctx, sh.Ref(), id, e.Req.SignalCode), what)
			}
		case "Delete":
			require.NoError(t, sh.Close(ctx), what)
		}
	}

	checkSent(t, srv, cfg)
}

// checkSent compares each request of the client with the recorded one
// that answered it.
func checkSent(t testing.TB, srv *replay.Server, cfg config) {
	t.Helper()
	stdin := map[int][2]string{} // command → recorded, sent
	for _, r := range srv.Received() {
		e := r.Entry
		if e == nil || e.Req.ResourceURI != wsman.ResourceCmd || !cfg.wants(e) {
			continue // unmatched, a request to another resource or shell
		}
		what := fmt.Sprintf("%s #%d", e.Action(), e.Index)
		assert.Equal(t, e.Req.ActionURI, r.Env.ActionURI, what)
		assert.Equal(t, e.Req.ResourceURI, r.Env.ResourceURI, what)
		assert.Equal(t, e.Req.OperationTimeout, r.Env.OperationTimeout, what)
		rec, got := parseFacts(t, e.Request), parseFacts(t, r.Request)
		assert.Equal(t, optionMap(rec), optionMap(got), "%s: options", what)
		switch e.Action() {
		case "Create":
			rs, gs := rec.Body.Shell, got.Body.Shell
			require.NotNil(t, gs, what)
			assert.Equal(t, rs.In, gs.In, what)
			assert.Equal(t, rs.Out, gs.Out, what)
			assert.Equal(t, rs.Env, gs.Env, "%s: environment", what)
			assert.Equal(t, rs.Dir, gs.Dir, what)
			assert.Equal(t, rs.Idle, gs.Idle, what)
			assert.Equal(t, rs.Lifetime, gs.Lifetime, "%s: lifetime", what)
			// The name is the rsp:Name element, as MS-WSMV 2.2.4.37
			// defines it and as real Windows accepted it from pypsrp.
			assert.Equal(t, rs.Name, gs.Name, "%s: shell name (rsp:Name)", what)
			assert.Equal(t, rs.NameAttr, gs.NameAttr, "%s: shell name (Name attribute)", what)
		case "Command":
			assert.Equal(t, rec.Body.CommandLine, got.Body.CommandLine, "%s: command line", what)
		case "Receive":
			assert.Equal(t, rec.Body.Receive, got.Body.Receive, "%s: desired streams", what)
			assert.Equal(t, e.Req.CommandID != "", r.Env.CommandID != "", "%s: names a command", what)
		case "Send":
			s := stdin[e.Command]
			for _, b := range e.Req.Blobs {
				s[0] += string(b.Data) + fmt.Sprint(b.End)
			}
			for _, b := range r.Env.Blobs {
				s[1] += string(b.Data) + fmt.Sprint(b.End)
			}
			stdin[e.Command] = s
		case "Signal":
			// pypsrp released a finished command with ctrl_c; Cmd does
			// with terminate, as winrs.exe and pywinrm do. A command
			// driven at the wsman layer sends the recorded code.
			if r.Env.SignalCode != e.Req.SignalCode {
				assert.Equal(t, wsman.SignalTerminate, r.Env.SignalCode, what)
			}
		}
	}
	for cmd, s := range stdin {
		assert.Equal(t, s[0], s[1], "stdin of command %d", cmd)
	}
}

func optionMap(f cmdFacts) []string {
	var out []string
	for _, o := range f.Header.Options {
		out = append(out, o.Name+"="+strings.TrimSpace(o.Value))
	}
	sort.Strings(out)
	return out
}
