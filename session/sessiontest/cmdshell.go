package sessiontest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/wsman"
)

// The WinRS cmd shell resource: shells whose commands are processes
// (CmdHandler), with stdin, stdout and stderr streams and exit codes. Its
// shells live apart from the PowerShell ones: Enumerate of shells lists
// PowerShell shells only, so Client.List never sees them.

// cmdState is the Server's cmd shell registry.
type cmdState struct {
	mu       sync.Mutex
	handlers map[string]CmdHandler
	shells   map[string]*cmdShell
}

type cmdShell struct {
	id, owner, dir string
	env            []wsman.EnvVar
	codePage       uint32
	noProfile      bool

	mu      sync.Mutex
	procs   map[string]*cmdProc
	deleted bool
}

// maxPendingOutput bounds the output a process has written that no
// Receive has taken yet; its writes wait beyond it.
const maxPendingOutput = 1 << 20

// cmdProc is one running (or finished, not yet released) command.
type cmdProc struct {
	id     string
	cancel context.CancelFunc
	stdin  *cmdInput

	mu       sync.Mutex
	chunks   []cmdChunk
	pending  int
	finished bool
	exitCode int
	reported bool
	wake     chan struct{} // closed and replaced when output or state changes
}

type cmdChunk struct {
	stream string
	data   []byte
}

func (p *cmdProc) notifyLocked() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// cmdWriter is a process's stdout or stderr.
type cmdWriter struct {
	ctx    context.Context
	p      *cmdProc
	stream string
}

func (w *cmdWriter) Write(b []byte) (int, error) {
	p := w.p
	for {
		p.mu.Lock()
		if p.pending < maxPendingOutput || p.pending == 0 {
			p.chunks = append(p.chunks, cmdChunk{w.stream, bytes.Clone(b)})
			p.pending += len(b)
			p.notifyLocked()
			p.mu.Unlock()
			return len(b), nil
		}
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-wake:
		case <-w.ctx.Done():
			return 0, w.ctx.Err()
		}
	}
}

// cmdInput is a process's stdin: what Sends deliver, then io.EOF.
type cmdInput struct {
	ctx  context.Context
	mu   sync.Mutex
	buf  bytes.Buffer
	end  bool
	wake chan struct{}
}

func newCmdInput(ctx context.Context) *cmdInput {
	return &cmdInput{ctx: ctx, wake: make(chan struct{})}
}

func (in *cmdInput) push(data []byte, end bool) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.end {
		return errors.New("the input stream has ended")
	}
	if in.buf.Len()+len(data) > maxPendingOutput {
		return errors.New("too much unread input")
	}
	in.buf.Write(data)
	in.end = end
	close(in.wake)
	in.wake = make(chan struct{})
	return nil
}

func (in *cmdInput) Read(b []byte) (int, error) {
	for {
		in.mu.Lock()
		if in.buf.Len() > 0 {
			n, _ := in.buf.Read(b)
			in.mu.Unlock()
			return n, nil
		}
		if in.end {
			in.mu.Unlock()
			return 0, io.EOF
		}
		wake := in.wake
		in.mu.Unlock()
		select {
		case <-wake:
		case <-in.ctx.Done():
			return 0, in.ctx.Err()
		}
	}
}

// rawBodyKey carries the request body to dispatchCmd, which reads the
// parts of a cmd shell request the shared request type leaves out.
type rawBodyKey struct{}

func withRawBody(ctx context.Context, body []byte) context.Context {
	return context.WithValue(ctx, rawBodyKey{}, body)
}

func isCmdResource(uri string) bool { return strings.EqualFold(uri, wsman.ResourceCmd) }

// cmdRequest is what a cmd shell request holds beyond the shared request
// type.
type cmdRequest struct {
	Body struct {
		Shell *struct {
			WorkingDirectory string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell WorkingDirectory"`
			Environment      []struct {
				Name  string `xml:"Name,attr"`
				Value string `xml:",chardata"`
			} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Environment>Variable"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
		CommandLine *struct {
			Command   string   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Command"`
			Arguments []string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Arguments"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

// maxCmdEnv bounds the environment variables of a Create.
const maxCmdEnv = 1024

// dispatchCmd serves a request on the cmd shell resource.
func (s *Server) dispatchCmd(ctx context.Context, req *request, user, ip string, maxEnv int, timeout time.Duration) ([]byte, *soapFault) {
	if s.Disabled {
		return nil, faultAccessDenied(disabledMessage)
	}
	var extra cmdRequest
	if raw, _ := ctx.Value(rawBodyKey{}).([]byte); raw != nil {
		if err := xml.Unmarshal(raw, &extra); err != nil {
			return nil, faultInvalidParameter("The request body could not be read. ")
		}
	}
	h := &req.Header
	var body string
	var f *soapFault
	switch h.Action {
	case wsman.ActionCreate:
		body, f = s.cmdCreate(req, &extra, user, ip)
	case wsman.ActionDelete:
		body, f = s.cmdDelete(req, user)
	case wsman.ActionCommand:
		body, f = s.cmdCommand(req, &extra, user)
	case wsman.ActionSend:
		body, f = s.cmdSend(req, user)
	case wsman.ActionReceive:
		return s.cmdReceive(ctx, req, user, maxEnv, timeout)
	case wsman.ActionSignal:
		body, f = s.cmdSignal(req, user)
	default:
		return nil, faultActionNotSupported(h.Action)
	}
	if f != nil {
		return nil, f
	}
	resp := responseEnvelope(h.Action+"Response", h.MessageID, body)
	if len(resp) > maxEnv {
		return nil, faultEnvelopeTooSmall(len(resp), maxEnv)
	}
	return resp, nil
}

func (s *Server) cmdCreate(req *request, extra *cmdRequest, user, ip string) (string, *soapFault) {
	b := req.Body.Shell
	if b == nil {
		return "", faultInvalidParameter("The Create request has no rsp:Shell element. ")
	}
	sh := &cmdShell{id: strings.ToUpper(uuid.NewString()), owner: user, procs: map[string]*cmdProc{}}
	if x := extra.Body.Shell; x != nil {
		if len(x.Environment) > maxCmdEnv {
			return "", faultInvalidParameter("Too many environment variables. ")
		}
		sh.dir = strings.TrimSpace(x.WorkingDirectory)
		for _, v := range x.Environment {
			sh.env = append(sh.env, wsman.EnvVar{Name: v.Name, Value: v.Value})
		}
	}
	if v, ok := req.Header.option("WINRS_CODEPAGE"); ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return "", faultInvalidParameter("The WINRS_CODEPAGE option " + v + " is not a code page. ")
		}
		sh.codePage = uint32(n)
	}
	np, _ := req.Header.option("WINRS_NOPROFILE")
	sh.noProfile = strings.EqualFold(np, "TRUE")
	idle := s.idleTimeout()
	if d, err := parseDuration(b.IdleTimeOut); err == nil && d >= time.Second {
		idle = d
	}
	s.cmd.mu.Lock()
	if s.cmd.shells == nil {
		s.cmd.shells = map[string]*cmdShell{}
	}
	if q := s.maxShells(); q > 0 {
		n := 0
		for _, o := range s.cmd.shells {
			if strings.EqualFold(o.owner, user) {
				n++
			}
		}
		if n >= q {
			s.cmd.mu.Unlock()
			return "", faultQuotaShells()
		}
	}
	s.cmd.shells[sh.id] = sh
	s.cmd.mu.Unlock()

	owner := user
	if owner == "" {
		owner = "anonymous"
	}
	// Windows answers a cmd Create with the id it chose, in the
	// SelectorSet and in rsp:Shell (captures test_winrs_*).
	return `<x:ResourceCreated><a:Address>` + esc(s.URL) + `</a:Address><a:ReferenceParameters><w:ResourceURI>` +
		wsman.ResourceCmd + `</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">` + sh.id +
		`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated><rsp:Shell xmlns:rsp="` + wsman.NsShell +
		`"><rsp:ShellId>` + sh.id + `</rsp:ShellId><rsp:ResourceUri>` + wsman.ResourceCmd + `</rsp:ResourceUri><rsp:Owner>` +
		esc(owner) + `</rsp:Owner><rsp:ClientIP>` + esc(ip) + `</rsp:ClientIP>` + sh.createEcho() + `<rsp:IdleTimeOut>` + formatSeconds(idle) +
		`</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>` +
		`<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`, nil
}

// cmdLookup finds the cmd shell named by the ShellId selector.
// createEcho is what a CreateResponse repeats of the Create: the
// environment and the working directory, as Windows does (captures
// test_winrs_environment, test_winrs_extra_opts). Windows' echo of a
// variable's name lacks the backslashes of the name the process gets
// ("/\?" comes back as "/?"), and so does this one.
func (sh *cmdShell) createEcho() string {
	var b strings.Builder
	if len(sh.env) > 0 {
		b.WriteString(`<rsp:Environment>`)
		for _, v := range sh.env {
			b.WriteString(`<rsp:Variable Name="` + esc(strings.ReplaceAll(v.Name, `\`, "")) + `">` + esc(v.Value) + `</rsp:Variable>`)
		}
		b.WriteString(`</rsp:Environment>`)
	}
	if sh.dir != "" {
		b.WriteString(`<rsp:WorkingDirectory>` + esc(sh.dir) + `</rsp:WorkingDirectory>`)
	}
	return b.String()
}

func (s *Server) cmdLookup(req *request, user string) (*cmdShell, *soapFault) {
	id := strings.ToUpper(req.Header.selector("ShellId"))
	s.cmd.mu.Lock()
	sh := s.cmd.shells[id]
	s.cmd.mu.Unlock()
	if sh == nil || !strings.EqualFold(sh.owner, user) {
		return nil, faultShellNotFound()
	}
	return sh, nil
}

func (s *Server) cmdDelete(req *request, user string) (string, *soapFault) {
	sh, f := s.cmdLookup(req, user)
	if f != nil {
		return "", f
	}
	s.cmd.mu.Lock()
	delete(s.cmd.shells, sh.id)
	s.cmd.mu.Unlock()
	sh.mu.Lock()
	sh.deleted = true
	for _, p := range sh.procs {
		p.cancel()
	}
	sh.procs = nil
	sh.mu.Unlock()
	return "", nil
}

// hostEnv is the environment of the emulated host; variables from the
// user's profile are left out under WINRS_NOPROFILE, as Windows does.
func (sh *cmdShell) environment(user string) []string {
	name := user
	if name == "" {
		name = "anonymous"
	}
	vars := map[string]string{
		"ALLUSERSPROFILE": `C:\ProgramData`, "COMPUTERNAME": "SESSIONTEST", "ComSpec": `C:\Windows\system32\cmd.exe`,
		"NUMBER_OF_PROCESSORS": "2", "OS": "Windows_NT", "Path": `C:\Windows\system32;C:\Windows;C:\Windows\System32\Wbem;C:\Windows\System32\WindowsPowerShell\v1.0\`,
		"PATHEXT": ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC", "PROCESSOR_ARCHITECTURE": "AMD64",
		"PROMPT": "$P$G", "SystemDrive": "C:", "SystemRoot": `C:\Windows`, "TEMP": `C:\Users\` + name + `\AppData\Local\Temp`,
		"TMP": `C:\Users\` + name + `\AppData\Local\Temp`, "USERDOMAIN": "SESSIONTEST", "USERNAME": name, "USERPROFILE": `C:\Users\` + name,
		"windir": `C:\Windows`,
	}
	if !sh.noProfile {
		vars["APPDATA"] = `C:\Users\` + name + `\AppData\Roaming`
		vars["LOCALAPPDATA"] = `C:\Users\` + name + `\AppData\Local`
	}
	for _, v := range sh.env {
		for k := range vars {
			if strings.EqualFold(k, v.Name) {
				delete(vars, k)
			}
		}
		vars[v.Name] = v.Value
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	sortEnv(out)
	return out
}

// sortEnv sorts NAME=value pairs by name, case-insensitively, as set does.
func sortEnv(env []string) {
	sort.Slice(env, func(i, j int) bool {
		a, _, _ := strings.Cut(env[i], "=")
		b, _, _ := strings.Cut(env[j], "=")
		return strings.ToUpper(a) < strings.ToUpper(b)
	})
}

func (s *Server) cmdCommand(req *request, extra *cmdRequest, user string) (string, *soapFault) {
	sh, f := s.cmdLookup(req, user)
	if f != nil {
		return "", f
	}
	cl := extra.Body.CommandLine
	if cl == nil || strings.TrimSpace(cl.Command) == "" {
		return "", faultInvalidParameter("The Command request has no rsp:CommandLine/rsp:Command. ")
	}
	skipV, _ := req.Header.option("WINRS_SKIP_CMD_SHELL")
	skip := strings.EqualFold(skipV, "TRUE")
	// Windows joins rsp:Command and the rsp:Arguments with spaces into the
	// process's command line.
	line := strings.Join(append([]string{cl.Command}, cl.Arguments...), " ")
	argv := splitCommandLine(line)
	if len(argv) == 0 {
		return "", faultInvalidParameter("The command line is empty. ")
	}
	name := argv[0]
	h := s.cmdHandler(name)
	if skip && (h == nil || !strings.ContainsAny(name, `\/`)) {
		// Without cmd.exe the program is started by path, with no search
		// (capture test_winrs_no_cmd_shell).
		const msg = "The system cannot find the file specified. "
		return "", cmdPluginFault(&soapFault{Code: "s:Receiver", Subcode: "w:InternalError", Reason: msg, WSManCode: wsman.CodeFileNotFound, Message: msg})
	}
	id := strings.ToUpper(uuid.NewString())
	if c := req.Body.CommandLine; c != nil && strings.TrimSpace(c.CommandID) != "" {
		u, err := uuid.Parse(strings.TrimSpace(c.CommandID))
		if err != nil {
			return "", faultInvalidParameter("The CommandId attribute is not a GUID. ")
		}
		id = strings.ToUpper(u.String())
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return "", faultInternal("The server is closing. ")
	}
	s.wg.Add(1)
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(s.ctx)
	p := &cmdProc{id: id, cancel: cancel, stdin: newCmdInput(ctx), wake: make(chan struct{})}
	sh.mu.Lock()
	if sh.deleted || sh.procs[id] != nil || len(sh.procs) >= maxCommandsPerShell {
		sh.mu.Unlock()
		cancel()
		s.wg.Done()
		return "", faultInvalidParameter("The command cannot be created. ")
	}
	sh.procs[id] = p
	sh.mu.Unlock()
	call := &CmdCall{
		Name: name, Args: argv[1:], CommandLine: afterProgram(line), Env: sh.environment(user),
		Dir: sh.dir, CodePage: sh.codePage, NoProfile: sh.noProfile, SkipCmdShell: skip, User: user,
		Stdin: p.stdin, Stdout: &cmdWriter{ctx, p, "stdout"}, Stderr: &cmdWriter{ctx, p, "stderr"}, srv: s,
	}
	if call.Dir == "" {
		call.Dir = call.Getenv("USERPROFILE")
	}
	go func() {
		defer s.wg.Done()
		code := runCmd(ctx, call, h)
		p.mu.Lock()
		p.finished, p.exitCode = true, code
		p.notifyLocked()
		p.mu.Unlock()
	}()
	return `<rsp:CommandResponse><rsp:CommandId>` + id + `</rsp:CommandId></rsp:CommandResponse>`, nil
}

// statusControlCExit is the exit code of a process ended by ctrl_c
// (STATUS_CONTROL_C_EXIT, 0xC000013A, as a signed 32-bit value).
const statusControlCExit = -1073741510

// runCmd runs h (nil: the program is unknown) for call and returns the
// exit code.
func runCmd(ctx context.Context, call *CmdCall, h CmdHandler) int {
	if h == nil {
		_, _ = io.WriteString(call.Stderr, "'"+call.Name+"' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n")
		return 9009
	}
	code, err := h(ctx, call)
	if ctx.Err() != nil {
		return statusControlCExit
	}
	if err != nil {
		_, _ = io.WriteString(call.Stderr, err.Error()+"\r\n")
		if code == 0 {
			code = 1
		}
	}
	return code
}

func (s *Server) cmdProc(req *request, user, cmdID string) (*cmdShell, *cmdProc, *soapFault) {
	sh, f := s.cmdLookup(req, user)
	if f != nil {
		return nil, nil, f
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	p := sh.procs[strings.ToUpper(strings.TrimSpace(cmdID))]
	if p == nil {
		return nil, nil, faultCommandNotFound()
	}
	return sh, p, nil
}

func (s *Server) cmdSend(req *request, user string) (string, *soapFault) {
	if req.Body.Send == nil {
		return "", faultInvalidParameter("The Send request has no rsp:Send element. ")
	}
	for _, st := range req.Body.Send.Streams {
		if st.Name != "stdin" {
			return "", faultInvalidParameter("The stream " + st.Name + " is not an input stream of this shell. ")
		}
		_, p, f := s.cmdProc(req, user, st.CommandID)
		if f != nil {
			return "", f
		}
		data, err := decodeB64(st.Data)
		if err != nil {
			return "", faultInvalidParameter("The stream data is not valid base64. ")
		}
		if err := p.stdin.push(data, strings.EqualFold(st.End, "true")); err != nil {
			return "", faultInvalidParameter("The data was refused: " + err.Error() + ". ")
		}
	}
	return `<rsp:SendResponse/>`, nil
}

func (s *Server) cmdSignal(req *request, user string) (string, *soapFault) {
	sig := req.Body.Signal
	if sig == nil {
		return "", faultInvalidParameter("The Signal request has no rsp:Signal element. ")
	}
	sh, p, f := s.cmdProc(req, user, sig.CommandID)
	if f != nil {
		return "", f
	}
	p.cancel()
	if strings.TrimSpace(sig.Code) != wsman.SignalCtrlC && strings.TrimSpace(sig.Code) != wsman.SignalCtrlBreak {
		// terminate (and any other code) releases the command.
		sh.mu.Lock()
		delete(sh.procs, p.id)
		sh.mu.Unlock()
	}
	return `<rsp:SignalResponse/>`, nil
}

// cmdReceive long-polls a command's stdout and stderr. A Receive without a
// CommandId is refused as Windows refuses it (capture
// test_winrs_fail_poll_process).
func (s *Server) cmdReceive(ctx context.Context, req *request, user string, maxEnv int, timeout time.Duration) ([]byte, *soapFault) {
	if req.Body.Receive == nil {
		return nil, faultInvalidParameter("The Receive request has no rsp:Receive element. ")
	}
	cmdID := strings.TrimSpace(req.Body.Receive.DesiredStream.CommandID)
	if cmdID == "" {
		if _, f := s.cmdLookup(req, user); f != nil {
			return nil, f
		}
		f := faultInvalidParameter("The parameter is incorrect. ")
		f.FaultDetail = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue"
		return nil, cmdPluginFault(f)
	}
	_, p, f := s.cmdProc(req, user, cmdID)
	if f != nil {
		return nil, f
	}
	action := wsman.ActionReceive + "Response"
	relatesTo := req.Header.MessageID
	done := `<rsp:CommandState CommandId="` + p.id + `" State="` + wsman.CommandStateDone + `"><rsp:ExitCode>-2147483648</rsp:ExitCode></rsp:CommandState>` +
		`<rsp:Stream Name="stdout" CommandId="` + p.id + `" End="true"></rsp:Stream><rsp:Stream Name="stderr" CommandId="` + p.id + `" End="true"></rsp:Stream>`
	room := maxEnv - len(responseEnvelope(action, relatesTo, `<rsp:ReceiveResponse></rsp:ReceiveResponse>`+done)) - 256
	perStream := len(`<rsp:Stream Name="stdout" CommandId="` + p.id + `"></rsp:Stream>`)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		p.mu.Lock()
		if p.reported {
			p.mu.Unlock()
			return nil, faultCommandNotFound()
		}
		var b strings.Builder
		left := room
		for len(p.chunks) > 0 {
			c := &p.chunks[0]
			limit := (left - perStream) / 4 * 3
			if limit <= 0 {
				break
			}
			n := min(limit, len(c.data))
			b.WriteString(`<rsp:Stream Name="` + c.stream + `" CommandId="` + p.id + `">` + base64.StdEncoding.EncodeToString(c.data[:n]) + `</rsp:Stream>`)
			left -= perStream + (n+2)/3*4
			p.pending -= n
			if c.data = c.data[n:]; len(c.data) == 0 {
				p.chunks = p.chunks[1:]
			}
		}
		finished := p.finished && len(p.chunks) == 0
		wrote := b.Len() > 0
		if wrote {
			p.notifyLocked() // room for a waiting writer
		}
		if finished {
			p.reported = true
			b.WriteString(`<rsp:Stream Name="stdout" CommandId="` + p.id + `" End="true"></rsp:Stream><rsp:Stream Name="stderr" CommandId="` + p.id + `" End="true"></rsp:Stream>`)
			b.WriteString(`<rsp:CommandState CommandId="` + p.id + `" State="` + wsman.CommandStateDone + `"><rsp:ExitCode>` + strconv.Itoa(p.exitCode) + `</rsp:ExitCode></rsp:CommandState>`)
		} else if wrote {
			b.WriteString(`<rsp:CommandState CommandId="` + p.id + `" State="` + wsman.CommandStateRunning + `"></rsp:CommandState>`)
		}
		wake := p.wake
		p.mu.Unlock()
		if wrote || finished {
			return responseEnvelope(action, relatesTo, `<rsp:ReceiveResponse>`+b.String()+`</rsp:ReceiveResponse>`), nil
		}
		select {
		case <-wake:
		case <-timer.C:
			return nil, faultTimedOut()
		case <-ctx.Done():
			return nil, faultTimedOut()
		case <-s.ctx.Done():
			return nil, faultShellNotFound()
		}
	}
}
