package sessiontest

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/wsman"
)

// shell is one WinRM shell, i.e. one PSRP runspace pool.
type shell struct {
	id          uuid.UUID
	owner       string
	resourceURI string
	clientIP    string
	created     time.Time
	idle        time.Duration
	noProfile   bool
	name        string // the client's name for it, reported by Enumerate and Get

	mu         sync.Mutex // guards everything below and calls into be
	be         backend
	commands   map[uuid.UUID]*command
	order      []uuid.UUID // command creation order, for Enumerate
	state      string      // stateConnected or stateDisconnected
	deleted    bool
	lastActive time.Time
	receiving  int    // Receives waiting now
	bufferMode string // wsman.BufferModeBlock or wsman.BufferModeDrop
	// clientSession is the wsmv:SessionId of the client the shell belongs
	// to: its creator, then whoever Connects to it. Only that client may
	// Reconnect. exclusive is set once a Connect moved the shell to a new
	// client: requests from others are then refused.
	clientSession string
	exclusive     bool
	// reap deletes the shell when it stays disconnected longer than idle.
	reap *time.Timer
	// replay keeps the last answer to a robust Receive per target,
	// sendReplay that to a robust Send, and inputSeen the last input
	// fragment per target and stream (replay.go).
	replay     map[uuid.UUID]replayed
	sendReplay map[uuid.UUID]replayed
	inputSeen  map[inputKey]fragPos

	wakeMu sync.Mutex
	wake   chan struct{}
}

type command struct {
	finished bool // CommandState Done was reported
	// detached is set by the shell's Disconnect until the command itself
	// is reconnected (Reconnect with its CommandId, or Connect of it).
	detached bool
}

// Shell states as rsp:State reports them.
const (
	stateConnected    = "Connected"
	stateDisconnected = "Disconnected"
)

// refuse returns the fault for a shell operation (Command, Send, Receive,
// Signal) sent by req's client, or nil. Called with sh.mu held.
func (sh *shell) refuse(req *request) *soapFault {
	if sh.state == stateDisconnected {
		return faultShellDisconnected()
	}
	if sh.exclusive && !sameSession(sh.clientSession, req.Header.SessionID) {
		return faultConnectedElsewhere()
	}
	return nil
}

// sameSession compares two wsmv:SessionId values; a client that sends none
// matches anything.
func sameSession(a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	return a == "" || b == "" || strings.EqualFold(a, b)
}

func (sh *shell) notify() {
	sh.wakeMu.Lock()
	close(sh.wake)
	sh.wake = make(chan struct{})
	sh.wakeMu.Unlock()
}

func (sh *shell) wakeChan() <-chan struct{} {
	sh.wakeMu.Lock()
	defer sh.wakeMu.Unlock()
	return sh.wake
}

// close deletes the shell's backend; callers have removed it from the
// registry already.
func (sh *shell) close() {
	sh.mu.Lock()
	sh.deleted = true
	be := sh.be
	if sh.reap != nil {
		sh.reap.Stop()
	}
	sh.mu.Unlock()
	if be != nil {
		be.Close()
	}
	sh.notify()
}

func shellIDString(id uuid.UUID) string { return strings.ToUpper(id.String()) }

// dispatch serves one parsed request. It returns the response envelope or a
// fault.
func (s *Server) dispatch(ctx context.Context, req *request, user, ip string) ([]byte, *soapFault) {
	h := &req.Header
	maxEnv := s.maxEnvelope()
	if h.MaxEnvelopeSize != "" {
		n, err := strconv.Atoi(strings.TrimSpace(h.MaxEnvelopeSize))
		if err != nil || n <= 0 {
			return nil, faultInvalidHeader("The XML contains an invalid MaxEnvelopeSize field in the SOAP header: " + h.MaxEnvelopeSize + ".")
		}
		// DSP0226 6.2: a MaxEnvelopeSize under 8192 octets is refused.
		if n < 8192 {
			return nil, faultEnvelopeTooSmall(8192, n)
		}
		maxEnv = min(maxEnv, n)
	}
	timeout := s.maxTimeout()
	if h.OperationTimeout != "" {
		d, err := parseDuration(h.OperationTimeout)
		if err != nil {
			return nil, faultInvalidHeader("The XML contains an invalid timeout field in the SOAP header: " + h.OperationTimeout + ".")
		}
		timeout = min(timeout, d)
	}
	if isCmdResource(h.ResourceURI) {
		return s.dispatchCmd(ctx, req, user, ip, maxEnv, timeout) // cmdshell.go
	}
	s.reapIdle()

	action := h.Action
	var body, echo string // echo: robust-connection headers of the answer (replay.go)
	var f *soapFault
	switch action {
	case wsman.ActionCreate:
		body, f = s.opCreate(req, user, ip)
	case wsman.ActionDelete:
		body, f = s.opDelete(req, user)
	case wsman.ActionCommand:
		body, f = s.opCommand(req, user)
	case wsman.ActionSend:
		body, echo, f = s.opSend(req, user)
	case wsman.ActionReceive:
		return s.opReceive(ctx, req, user, maxEnv, timeout)
	case wsman.ActionSignal:
		body, f = s.opSignal(req, user)
	case wsman.ActionDisconnect:
		body, f = s.opDisconnect(req, user)
	case wsman.ActionReconnect:
		body, f = s.opReconnect(req, user)
	case wsman.ActionConnect:
		body, f = s.opConnect(req, user)
	case wsman.ActionGet:
		body, f = s.opGet(req, user)
	case wsman.ActionEnumerate:
		body, f = s.opEnumerate(req, user)
	case wsman.ActionPull:
		body = `<n:PullResponse><w:Items></w:Items><n:EndOfSequence/></n:PullResponse>`
	default:
		return nil, faultActionNotSupported(action)
	}
	if f != nil {
		return nil, f
	}
	resp := responseEnvelopeWith(action+"Response", h.MessageID, echo, body)
	if len(resp) > maxEnv {
		return nil, faultEnvelopeTooSmall(len(resp), maxEnv)
	}
	return resp, nil
}

// reapIdle deletes shells that have been idle longer than their timeout.
// A shell with a Receive waiting is not idle, as on Windows. Shell locks
// are never taken while holding s.mu.
func (s *Server) reapIdle() {
	now := time.Now()
	s.mu.Lock()
	all := make([]*shell, 0, len(s.shells))
	for _, sh := range s.shells {
		all = append(all, sh)
	}
	s.mu.Unlock()
	for _, sh := range all {
		sh.mu.Lock()
		idle := sh.receiving == 0 && now.Sub(sh.lastActive) > sh.idle
		sh.mu.Unlock()
		if !idle {
			continue
		}
		s.mu.Lock()
		gone := s.shells[sh.id] == sh
		if gone {
			delete(s.shells, sh.id)
		}
		s.mu.Unlock()
		if gone {
			sh.close()
		}
	}
}

// lookup finds the shell named by the ShellId selector and owned by user.
func (s *Server) lookup(req *request, user string) (*shell, *soapFault) {
	if s.Disabled {
		return nil, faultAccessDenied(disabledMessage)
	}
	id, err := uuid.Parse(req.Header.selector("ShellId"))
	if err != nil {
		return nil, faultShellNotFound()
	}
	s.mu.Lock()
	sh := s.shells[id]
	s.mu.Unlock()
	if sh == nil || !strings.EqualFold(sh.owner, user) {
		return nil, faultShellNotFound()
	}
	return sh, nil
}

const disabledMessage = "Access is denied. PowerShell remoting is disabled on this endpoint (sessiontest Server.Disabled): no session configuration accepts connections."

// checkConfiguration validates a PowerShell resource URI for user.
func (s *Server) checkConfiguration(uri, user string) *soapFault {
	if s.Disabled {
		return faultAccessDenied(disabledMessage)
	}
	if len(uri) < len(wsman.ResourcePowerShellPrefix) || !strings.EqualFold(uri[:len(wsman.ResourcePowerShellPrefix)], wsman.ResourcePowerShellPrefix) {
		return faultResourceNotFound(uri)
	}
	name := uri[len(wsman.ResourcePowerShellPrefix):]
	c, ok := s.configuration(name)
	if !ok {
		return faultResourceNotFound(uri)
	}
	if !c.allows(user) {
		who := user
		if who == "" {
			who = "the anonymous user"
		}
		return faultAccessDenied(fmt.Sprintf("Access is denied. The user %s lacks access to the session configuration %s (it is not in the configuration's Users list).", who, name))
	}
	return nil
}

func (s *Server) opCreate(req *request, user, ip string) (string, *soapFault) {
	if f := s.checkConfiguration(req.Header.ResourceURI, user); f != nil {
		return "", f
	}
	b := req.Body.Shell
	if b == nil {
		return "", faultInvalidParameter("The Create request has no rsp:Shell element. ")
	}
	if v, ok := req.Header.option("protocolversion"); ok && !strings.HasPrefix(v, "2.") {
		return "", faultInvalidParameter("The protocolversion option " + v + " is not supported; the major version must be 2. ")
	}
	id := uuid.New()
	if b.ShellID != "" {
		var err error
		if id, err = uuid.Parse(b.ShellID); err != nil {
			return "", faultInvalidParameter("The ShellId attribute is not a GUID. ")
		}
	}
	id = s.shellIDFor(id)
	creation, err := decodeB64(b.CreationXML)
	if err != nil {
		return "", faultInvalidParameter("The creationXml is not valid base64. ")
	}
	idle := s.idleTimeout()
	if b.IdleTimeOut != "" {
		if d, err := parseDuration(b.IdleTimeOut); err == nil && d >= time.Second {
			idle = d
		}
	}
	np, _ := req.Header.option("WINRS_NOPROFILE")
	now := time.Now()
	sh := &shell{
		id: id, owner: user, resourceURI: req.Header.ResourceURI, clientIP: ip,
		created: now, idle: idle, noProfile: strings.EqualFold(np, "TRUE"), name: cmp.Or(b.NameAttr, b.NameElem),
		commands: make(map[uuid.UUID]*command), state: stateConnected, lastActive: now,
		wake: make(chan struct{}), bufferMode: wsman.BufferModeBlock, clientSession: req.Header.SessionID,
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return "", faultInternal("The server is closing. ")
	}
	if _, dup := s.shells[id]; dup {
		s.mu.Unlock()
		return "", faultInvalidParameter("A shell with ShellId " + shellIDString(id) + " already exists. ")
	}
	if q := s.maxShells(); q > 0 {
		n := 0
		for _, o := range s.shells {
			if strings.EqualFold(o.owner, user) {
				n++
			}
		}
		if n >= q {
			s.mu.Unlock()
			return "", faultQuotaShells()
		}
	}
	s.shells[id] = sh // reserve the ID and quota slot
	s.mu.Unlock()

	be, err := s.newBackend(s, id, creation, sh.notify)
	if err != nil {
		s.mu.Lock()
		delete(s.shells, id)
		s.mu.Unlock()
		return "", faultInvalidParameter("The creationXml was refused: " + err.Error() + " ")
	}
	sh.mu.Lock()
	closed := sh.deleted // the server closed while the backend was made
	if !closed {
		sh.be = be
	}
	sh.mu.Unlock()
	if closed {
		be.Close()
		return "", faultShellNotFound()
	}
	sh.notify()

	ref := `<x:ResourceCreated><a:Address>` + esc(s.URL) + `</a:Address><a:ReferenceParameters><w:ResourceURI>` +
		esc(sh.resourceURI) + `</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">` + shellIDString(id) +
		`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`
	return s.createdBody(ref, sh), nil
}

// describe renders the rsp:Shell element of Create, Get and Enumerate.
func (sh *shell) describe(full bool) string {
	sh.mu.Lock()
	state, mode, idle := sh.state, sh.bufferMode, sh.idle
	inactive := time.Since(sh.lastActive)
	sh.mu.Unlock()
	owner := sh.owner
	if owner == "" {
		owner = "anonymous"
	}
	// Get and Enumerate also report the host process (captures
	// test_psrp_is_alive_*, test_psrp_disconnect_runspaces); Create does not.
	extra := ""
	if full {
		extra = `<rsp:MemoryUsed>46MB</rsp:MemoryUsed><rsp:ChildProcesses>0</rsp:ChildProcesses>`
	}
	profile := "Yes"
	if sh.noProfile {
		profile = "No"
	}
	nameXML := ""
	if sh.name != "" {
		nameXML = `<rsp:Name>` + esc(sh.name) + `</rsp:Name>`
	}
	return `<rsp:Shell xmlns:rsp="` + wsman.NsShell + `"><rsp:ShellId>` + shellIDString(sh.id) + `</rsp:ShellId><rsp:ResourceUri>` +
		esc(sh.resourceURI) + `</rsp:ResourceUri>` + nameXML + `<rsp:Owner>` + esc(owner) + `</rsp:Owner><rsp:ClientIP>` + esc(sh.clientIP) +
		`</rsp:ClientIP><rsp:ProcessId>4242</rsp:ProcessId><rsp:IdleTimeOut>` + formatSeconds(idle) +
		`</rsp:IdleTimeOut><rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams>` +
		`<rsp:MaxIdleTimeOut>PT2147483.647S</rsp:MaxIdleTimeOut><rsp:Locale>en-US</rsp:Locale><rsp:DataLocale>en-US</rsp:DataLocale>` +
		`<rsp:CompressionMode>NoCompression</rsp:CompressionMode><rsp:ProfileLoaded>` + profile + `</rsp:ProfileLoaded>` +
		`<rsp:Encoding>UTF8</rsp:Encoding><rsp:BufferMode>` + mode + `</rsp:BufferMode><rsp:State>` + state + `</rsp:State><rsp:ShellRunTime>` +
		formatRunTime(time.Since(sh.created)) + `</rsp:ShellRunTime><rsp:ShellInactivity>` + formatRunTime(inactive) +
		`</rsp:ShellInactivity>` + extra + `</rsp:Shell>`
}

func (s *Server) opDelete(req *request, user string) (string, *soapFault) {
	sh, f := s.lookup(req, user)
	if f != nil {
		return "", f
	}
	s.mu.Lock()
	if s.shells[sh.id] != sh {
		s.mu.Unlock()
		return "", faultShellNotFound()
	}
	delete(s.shells, sh.id)
	s.mu.Unlock()
	sh.close()
	return "", nil
}

func (s *Server) opCommand(req *request, user string) (string, *soapFault) {
	sh, f := s.lookup(req, user)
	if f != nil {
		return "", f
	}
	c := req.Body.CommandLine
	if c == nil {
		return "", faultInvalidParameter("The Command request has no rsp:CommandLine element. ")
	}
	id := uuid.New()
	if c.CommandID != "" {
		var err error
		if id, err = uuid.Parse(c.CommandID); err != nil {
			return "", faultInvalidParameter("The CommandId attribute is not a GUID. ")
		}
	}
	args, err := decodeB64(c.Arguments)
	if err != nil {
		return "", faultInvalidParameter("The Arguments are not valid base64. ")
	}
	sh.mu.Lock()
	if sh.deleted || sh.be == nil {
		sh.mu.Unlock()
		return "", faultShellNotFound()
	}
	if f := sh.refuse(req); f != nil {
		sh.mu.Unlock()
		return "", f
	}
	sh.lastActive = time.Now()
	if _, dup := sh.commands[id]; dup {
		sh.mu.Unlock()
		return "", faultInvalidParameter("A command with CommandId " + shellIDString(id) + " already exists. ")
	}
	if len(sh.commands) >= maxCommandsPerShell {
		sh.mu.Unlock()
		return "", &soapFault{Code: "s:Receiver", Subcode: "w:QuotaLimit", Reason: "The WS-Management service cannot process the request. The maximum number of concurrent operations for this user has been exceeded. ", WSManCode: wsman.CodeQuotaMaxOperations, Message: "The maximum number of concurrent operations for this user has been exceeded. "}
	}
	err = sh.be.Command(id, args)
	if err == nil {
		sh.commands[id] = &command{}
		sh.order = append(sh.order, id)
	}
	sh.mu.Unlock()
	if err != nil {
		return "", faultInvalidParameter("The command was refused: " + err.Error() + " ")
	}
	sh.notify()
	return `<rsp:CommandResponse><rsp:CommandId>` + shellIDString(id) + `</rsp:CommandId></rsp:CommandResponse>`, nil
}

// commandID parses an optional CommandId attribute. ok is false for a
// malformed one.
func commandID(s string) (uuid.UUID, bool) {
	if strings.TrimSpace(s) == "" {
		return uuid.Nil, true
	}
	id, err := uuid.Parse(strings.TrimSpace(s))
	return id, err == nil
}

// opSend gives input to the pool or a command. A Send with a
// wsmv:OperationID is answered with it echoed, and a retransmission of one
// the shell already took is answered from what it kept, without taking
// the input again (replay.go).
func (s *Server) opSend(req *request, user string) (body, echo string, f *soapFault) {
	sh, f := s.lookup(req, user)
	if f != nil {
		return "", "", f
	}
	if req.Body.Send == nil {
		return "", "", faultInvalidParameter("The Send request has no rsp:Send element. ")
	}
	op, f := s.robustOpOf(req)
	if f != nil {
		return "", "", f
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.deleted || sh.be == nil {
		return "", "", faultShellNotFound()
	}
	if f := sh.refuse(req); f != nil {
		return "", "", f
	}
	sh.lastActive = time.Now()
	target := uuid.Nil // the operation's target: its first stream's
	if sts := req.Body.Send.Streams; len(sts) > 0 {
		id, ok := commandID(sts[0].CommandID)
		if !ok {
			return "", "", faultCommandNotFound()
		}
		target = id
	}
	kept, replay, f := sh.admitSendLocked(target, op)
	if f != nil {
		return "", "", f
	}
	if replay {
		return kept, op.header(), nil
	}
	for _, st := range req.Body.Send.Streams {
		id, ok := commandID(st.CommandID)
		if !ok {
			return "", "", faultCommandNotFound()
		}
		if id != uuid.Nil {
			c := sh.commands[id]
			if c == nil || c.finished {
				return "", "", faultCommandNotFound()
			}
			if c.detached {
				return "", "", faultShellDisconnected()
			}
		}
		name := st.Name
		if name != "stdin" && name != "pr" {
			return "", "", faultInvalidParameter("The stream " + name + " is not an input stream of this shell. ")
		}
		data, err := decodeB64(st.Data)
		if err != nil {
			return "", "", faultInvalidParameter("The stream data is not valid base64. ")
		}
		if !s.DisableInputDeduplication {
			data = sh.dropRepeatedLocked(id, name, data)
		}
		if len(data) == 0 {
			continue // all of it arrived before: a Send repeated after a lost answer
		}
		if err := sh.be.Input(id, name, data); err != nil {
			return "", "", faultInvalidParameter("The data was refused: " + err.Error() + " ")
		}
	}
	sh.notify()
	body = `<rsp:SendResponse/>`
	sh.rememberSendLocked(target, op, body)
	return body, op.header(), nil
}

func (s *Server) opSignal(req *request, user string) (string, *soapFault) {
	sh, f := s.lookup(req, user)
	if f != nil {
		return "", f
	}
	sig := req.Body.Signal
	if sig == nil {
		return "", faultInvalidParameter("The Signal request has no rsp:Signal element. ")
	}
	id, ok := commandID(sig.CommandID)
	if !ok || id == uuid.Nil {
		return "", faultCommandNotFound()
	}
	code := strings.TrimSpace(sig.Code)
	sh.mu.Lock()
	if f := sh.refuse(req); f != nil && !sh.deleted {
		// A detached command of a connected shell may be signalled (to
		// discard it without picking it up); a disconnected shell's not.
		sh.mu.Unlock()
		return "", f
	}
	sh.lastActive = time.Now()
	c := sh.commands[id]
	if c == nil || sh.deleted {
		sh.mu.Unlock()
		return "", faultCommandNotFound()
	}
	err := sh.be.Signal(id, code)
	// Only PowerShell's stop signal keeps the command; every other code
	// closes it, as the Windows plug-in does.
	if code != wsman.SignalPSCtrlC {
		delete(sh.commands, id)
		delete(sh.replay, id) // its last answers need not be kept (replay.go)
		delete(sh.sendReplay, id)
		for i, o := range sh.order {
			if o == id {
				sh.order = append(sh.order[:i], sh.order[i+1:]...)
				break
			}
		}
	}
	sh.mu.Unlock()
	sh.notify()
	if err != nil {
		return "", faultInvalidParameter("The signal was refused: " + err.Error() + " ")
	}
	return `<rsp:SignalResponse/>`, nil
}

// opDisconnect disconnects the shell from its client (MS-PSRP 3.1.5.3.16):
// the shell and its commands keep running, command output is buffered as
// rsp:BufferMode says, and the shell is deleted when it stays disconnected
// longer than rsp:IdleTimeOut (or its own idle timeout).
func (s *Server) opDisconnect(req *request, user string) (string, *soapFault) {
	sh, f := s.lookup(req, user)
	if f != nil {
		return "", f
	}
	mode, idle := "", time.Duration(0)
	if d := req.Body.Disconnect; d != nil {
		var f *soapFault
		if mode, f = parseBufferMode(d.BufferMode); f != nil {
			return "", f
		}
		if v := strings.TrimSpace(d.IdleTimeOut); v != "" {
			var err error
			if idle, err = parseDuration(v); err != nil || idle < time.Second {
				return "", faultInvalidParameter("The IdleTimeOut " + v + " of the Disconnect is not a duration of at least one second. ")
			}
		}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.deleted || sh.be == nil {
		return "", faultShellNotFound()
	}
	if sh.state == stateDisconnected {
		return "", faultDisconnectNotValid()
	}
	if sh.exclusive && !sameSession(sh.clientSession, req.Header.SessionID) {
		return "", faultConnectedElsewhere()
	}
	if mode != "" {
		sh.bufferMode = mode
	}
	if idle > 0 {
		sh.idle = idle
	}
	if err := sh.be.Disconnect(sh.bufferMode); err != nil {
		return "", faultInvalidParameter("The shell cannot be disconnected: " + err.Error() + " ")
	}
	sh.state = stateDisconnected
	for _, c := range sh.commands {
		c.detached = true
	}
	sh.lastActive = time.Now()
	s.scheduleReap(sh, sh.idle)
	// Waiting Receives end with the disconnected fault (notify takes
	// only wakeMu).
	sh.notify()
	return "", nil
}

// parseBufferMode checks an optional rsp:BufferMode.
func parseBufferMode(v string) (string, *soapFault) {
	switch v = strings.TrimSpace(v); {
	case v == "":
		return "", nil
	case strings.EqualFold(v, wsman.BufferModeBlock):
		return wsman.BufferModeBlock, nil
	case strings.EqualFold(v, wsman.BufferModeDrop):
		return wsman.BufferModeDrop, nil
	}
	return "", faultInvalidParameter("The BufferMode " + v + " is not Block or Drop. ")
}

// scheduleReap arms the timer that deletes a disconnected shell once it
// has been idle for d. Called with sh.mu held.
func (s *Server) scheduleReap(sh *shell, d time.Duration) {
	if sh.reap != nil {
		sh.reap.Stop()
	}
	sh.reap = time.AfterFunc(d, func() { s.reapDisconnected(sh) })
}

// reapDisconnected runs on the reap timer: it deletes the shell if it is
// still disconnected and idle, or re-arms the timer.
func (s *Server) reapDisconnected(sh *shell) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	// Close waits for this goroutine: it adds to wg only while open.
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	sh.mu.Lock()
	if sh.deleted || sh.state != stateDisconnected {
		sh.mu.Unlock()
		return
	}
	if left := sh.idle - time.Since(sh.lastActive); left > 0 {
		s.scheduleReap(sh, left)
		sh.mu.Unlock()
		return
	}
	sh.mu.Unlock()
	s.mu.Lock()
	gone := s.shells[sh.id] == sh
	if gone {
		delete(s.shells, sh.id)
	}
	s.mu.Unlock()
	if gone {
		sh.close()
	}
}

// opReconnect serves Reconnect: with an empty body the client that
// disconnected the shell reconnects it (MS-PSRP 3.1.5.3.18); with a
// CommandId it then reconnects each of its commands, whose buffered output
// its next Receives deliver.
func (s *Server) opReconnect(req *request, user string) (string, *soapFault) {
	sh, f := s.lookup(req, user)
	if f != nil {
		return "", f
	}
	var cmd string
	mode := ""
	if rc := req.Body.Reconnect; rc != nil {
		cmd = strings.TrimSpace(rc.CommandID)
		if cmd == "" {
			cmd = strings.TrimSpace(rc.CommandIDAttr)
		}
		var f *soapFault
		if mode, f = parseBufferMode(rc.BufferMode); f != nil {
			return "", f
		}
	}
	if cmd != "" {
		id, ok := commandID(cmd)
		if !ok {
			return "", faultCommandNotFound()
		}
		return "", s.attachCommand(sh, req, id, true, faultCommandReconnectNotValid)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.deleted || sh.be == nil {
		return "", faultShellNotFound()
	}
	if !sameSession(sh.clientSession, req.Header.SessionID) {
		if sh.state == stateConnected {
			return "", faultConnectedElsewhere()
		}
		return "", faultSessionMismatch()
	}
	if sh.state != stateDisconnected {
		// MS-WSMV 3.1.4.16: a Reconnect of a connected shell by its own
		// client is ignored.
		return "", nil
	}
	if err := sh.be.Reconnect(); err != nil {
		return "", faultInvalidParameter("The shell cannot be reconnected: " + err.Error() + " ")
	}
	if mode != "" {
		sh.bufferMode = mode
	}
	sh.state = stateConnected
	sh.lastActive = time.Now()
	if sh.reap != nil {
		sh.reap.Stop()
	}
	return "", nil
}

// attachCommand reconnects one detached command of a connected shell and
// releases its buffered output. notValid makes the fault for a shell that
// is still disconnected, and for a command that is attached already unless
// idempotent (Reconnect, which MS-WSMV 3.1.4.16 makes a no-op when nothing
// is disconnected; a second Connect is an error as for shells, 3.1.4.17).
func (s *Server) attachCommand(sh *shell, req *request, id uuid.UUID, idempotent bool, notValid func() *soapFault) *soapFault {
	sh.mu.Lock()
	if sh.deleted || sh.be == nil {
		sh.mu.Unlock()
		return faultShellNotFound()
	}
	if sh.state == stateDisconnected {
		sh.mu.Unlock()
		return notValid()
	}
	if sh.exclusive && !sameSession(sh.clientSession, req.Header.SessionID) {
		sh.mu.Unlock()
		return faultConnectedElsewhere()
	}
	c := sh.commands[id]
	if c == nil || c.finished {
		sh.mu.Unlock()
		return faultCommandNotFound()
	}
	if !c.detached {
		sh.mu.Unlock()
		if idempotent {
			return nil
		}
		return notValid()
	}
	err := sh.be.ReconnectCommand(id)
	if err == nil {
		c.detached = false
	}
	sh.lastActive = time.Now()
	sh.mu.Unlock()
	if err != nil {
		return faultInvalidParameter("The command cannot be reconnected: " + err.Error() + " ")
	}
	sh.notify()
	return nil
}

// opConnect serves Connect (MS-PSRP 3.1.5.3.15): a new client takes over a
// disconnected shell with connectXml; the shell's commands stay detached
// until the client connects to each (a Connect whose rsp:Connect carries
// the CommandId). From then on only the new client may use the shell.
func (s *Server) opConnect(req *request, user string) (string, *soapFault) {
	if f := s.checkConfiguration(req.Header.ResourceURI, user); f != nil {
		return "", f
	}
	sh, f := s.lookup(req, user)
	if f != nil {
		return "", f
	}
	if req.Body.Connect == nil {
		return "", faultInvalidParameter("The Connect request has no rsp:Connect element. ")
	}
	if cmd := strings.TrimSpace(req.Body.Connect.CommandID); cmd != "" {
		id, ok := commandID(cmd)
		if !ok {
			return "", faultCommandNotFound()
		}
		if f := s.attachCommand(sh, req, id, false, faultConnectedElsewhere); f != nil {
			return "", f
		}
		return `<rsp:ConnectResponse/>`, nil
	}
	data, err := decodeB64(req.Body.Connect.ConnectXML)
	if err != nil {
		return "", faultInvalidParameter("The connectXml is not valid base64. ")
	}
	sh.mu.Lock()
	if sh.deleted || sh.be == nil {
		sh.mu.Unlock()
		return "", faultShellNotFound()
	}
	if sh.state != stateDisconnected {
		sh.mu.Unlock()
		return "", faultConnectedElsewhere()
	}
	out, err := sh.be.Connect(data)
	if err == nil {
		sh.state = stateConnected
		sh.clientSession, sh.exclusive = req.Header.SessionID, true
		sh.inputSeen = nil // a new client numbers its fragments afresh
		sh.lastActive = time.Now()
		if sh.reap != nil {
			sh.reap.Stop()
		}
	}
	sh.mu.Unlock()
	if err != nil {
		return "", faultInvalidParameter("The connectXml was refused: " + err.Error() + " ")
	}
	sh.notify()
	return `<rsp:ConnectResponse><rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams>` +
		`<connectResponseXml xmlns="` + wsman.NsPowerShell + `">` + base64.StdEncoding.EncodeToString(out) +
		`</connectResponseXml></rsp:ConnectResponse>`, nil
}

func (s *Server) opGet(req *request, user string) (string, *soapFault) {
	uri := req.Header.ResourceURI
	switch {
	case strings.EqualFold(uri, wsman.ResourceConfig):
		return s.configXML(), nil
	case strings.EqualFold(uri, wsman.ResourceShell):
		sh, f := s.lookup(req, user)
		if f != nil {
			if f.Subcode == "w:InvalidSelectors" {
				// The shell provider answers a Get itself (capture
				// test_psrp_is_alive_invalid_selectors).
				f.Message = f.Reason
				f.Provider, f.ProviderPath = "Shell provider", `%systemroot%\system32\WsmSvc.dll`
			}
			return "", f
		}
		return sh.describe(true), nil
	}
	return "", faultResourceNotFound(uri)
}

func (s *Server) configXML() string {
	a := s.authEnabled()
	b := strconv.FormatBool
	return `<cfg:Config xmlns:cfg="` + wsman.NsConfig + `"><cfg:MaxEnvelopeSizekb>` + strconv.Itoa(s.maxEnvelope()/1024) +
		`</cfg:MaxEnvelopeSizekb><cfg:MaxTimeoutms>` + strconv.FormatInt(s.maxTimeout().Milliseconds(), 10) +
		`</cfg:MaxTimeoutms><cfg:MaxBatchItems>32000</cfg:MaxBatchItems><cfg:MaxProviderRequests>4294967295</cfg:MaxProviderRequests>` +
		`<cfg:Client><cfg:NetworkDelayms>5000</cfg:NetworkDelayms><cfg:URLPrefix>wsman</cfg:URLPrefix><cfg:AllowUnencrypted>false</cfg:AllowUnencrypted>` +
		`<cfg:Auth><cfg:Basic>true</cfg:Basic><cfg:Digest>true</cfg:Digest><cfg:Kerberos>true</cfg:Kerberos><cfg:Negotiate>true</cfg:Negotiate>` +
		`<cfg:Certificate>true</cfg:Certificate><cfg:CredSSP>false</cfg:CredSSP></cfg:Auth><cfg:DefaultPorts><cfg:HTTP>5985</cfg:HTTP><cfg:HTTPS>5986</cfg:HTTPS></cfg:DefaultPorts>` +
		`<cfg:TrustedHosts></cfg:TrustedHosts></cfg:Client><cfg:Service><cfg:RootSDDL>O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)</cfg:RootSDDL>` +
		`<cfg:MaxConcurrentOperations>4294967295</cfg:MaxConcurrentOperations><cfg:MaxConcurrentOperationsPerUser>1500</cfg:MaxConcurrentOperationsPerUser>` +
		`<cfg:EnumerationTimeoutms>240000</cfg:EnumerationTimeoutms><cfg:MaxConnections>300</cfg:MaxConnections><cfg:MaxPacketRetrievalTimeSeconds>120</cfg:MaxPacketRetrievalTimeSeconds>` +
		`<cfg:AllowUnencrypted>` + b(s.AllowUnencrypted) + `</cfg:AllowUnencrypted><cfg:Auth><cfg:Basic>` + b(a.Basic) + `</cfg:Basic><cfg:Kerberos>` + b(a.Kerberos) + `</cfg:Kerberos>` +
		`<cfg:Negotiate>` + b(a.Negotiate) + `</cfg:Negotiate><cfg:Certificate>` + b(a.Certificate) + `</cfg:Certificate><cfg:CredSSP>` + b(a.CredSSP) + `</cfg:CredSSP><cfg:CbtHardeningLevel>` + s.cbtLevel() + `</cfg:CbtHardeningLevel></cfg:Auth>` +
		`<cfg:DefaultPorts><cfg:HTTP>5985</cfg:HTTP><cfg:HTTPS>5986</cfg:HTTPS></cfg:DefaultPorts><cfg:IPv4Filter>*</cfg:IPv4Filter><cfg:IPv6Filter>*</cfg:IPv6Filter>` +
		`<cfg:EnableCompatibilityHttpListener>false</cfg:EnableCompatibilityHttpListener><cfg:EnableCompatibilityHttpsListener>false</cfg:EnableCompatibilityHttpsListener>` +
		`<cfg:CertificateThumbprint></cfg:CertificateThumbprint><cfg:AllowRemoteAccess>` + strconv.FormatBool(!s.Disabled) + `</cfg:AllowRemoteAccess></cfg:Service>` +
		`<cfg:Winrs><cfg:AllowRemoteShellAccess>true</cfg:AllowRemoteShellAccess><cfg:IdleTimeout>` + strconv.FormatInt(s.idleTimeout().Milliseconds(), 10) +
		`</cfg:IdleTimeout><cfg:MaxConcurrentUsers>2147483647</cfg:MaxConcurrentUsers><cfg:MaxShellRunTime>2147483647</cfg:MaxShellRunTime>` +
		`<cfg:MaxProcessesPerShell>2147483647</cfg:MaxProcessesPerShell><cfg:MaxMemoryPerShellMB>2147483647</cfg:MaxMemoryPerShellMB><cfg:MaxShellsPerUser>` +
		strconv.Itoa(max(s.maxShells(), 0)) + `</cfg:MaxShellsPerUser></cfg:Winrs></cfg:Config>`
}

func (s *Server) opEnumerate(req *request, user string) (string, *soapFault) {
	if s.Disabled {
		return "", faultAccessDenied(disabledMessage)
	}
	uri := req.Header.ResourceURI
	var items strings.Builder
	switch {
	case strings.EqualFold(uri, wsman.ResourceShell):
		s.mu.Lock()
		list := make([]*shell, 0, len(s.shells))
		for _, sh := range s.shells {
			if strings.EqualFold(sh.owner, user) {
				list = append(list, sh)
			}
		}
		s.mu.Unlock()
		sort.Slice(list, func(i, j int) bool { return list[i].created.Before(list[j].created) })
		for _, sh := range list {
			items.WriteString(sh.describe(true))
		}
	case strings.EqualFold(uri, wsman.ResourceCommand):
		e := req.Body.Enumerate
		if e == nil || e.Filter == nil {
			return "", faultInvalidParameter("Enumerating commands needs a ShellId selector filter. ")
		}
		fake := &request{Header: requestHeader{SelectorSet: e.Filter.SelectorSet}}
		sh, f := s.lookup(fake, user)
		if f != nil {
			return "", f
		}
		sh.mu.Lock()
		for _, id := range sh.order {
			items.WriteString(`<rsp:Command xmlns:rsp="` + wsman.NsShell + `"><rsp:CommandId>` + shellIDString(id) + `</rsp:CommandId></rsp:Command>`)
		}
		sh.mu.Unlock()
	default:
		return "", faultResourceNotFound(uri)
	}
	body := `<n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext>`
	if items.Len() > 0 {
		body += `<w:Items>` + items.String() + `</w:Items>`
	}
	return body + `<w:EndOfSequence/></n:EnumerateResponse>`, nil
}

// maxCommandsPerShell is the operation quota of one shell (Windows'
// MaxConcurrentOperationsPerUser default); commands count until the client
// terminates them with a Signal.
const maxCommandsPerShell = 1500

// errChunkTooLarge is returned by a backend whose next chunk does not fit
// the space a Receive offers.
type errChunkTooLarge struct{ need int }

func (e *errChunkTooLarge) Error() string {
	return fmt.Sprintf("sessiontest: next output chunk needs %d bytes", e.need)
}

// doneElement is the CommandState that ends a command's output.
func doneElement(cmdAttr string) string {
	return `<rsp:CommandState CommandId="` + cmdAttr + `" State="` + wsman.CommandStateDone + `"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState>`
}

// opReceive long-polls for output of the pool or a command, up to timeout.
func (s *Server) opReceive(ctx context.Context, req *request, user string, maxEnv int, timeout time.Duration) ([]byte, *soapFault) {
	sh, f := s.lookup(req, user)
	if f != nil {
		return nil, f
	}
	if req.Body.Receive == nil {
		return nil, faultInvalidParameter("The Receive request has no rsp:Receive element. ")
	}
	id, ok := commandID(req.Body.Receive.DesiredStream.CommandID)
	if !ok {
		return nil, faultCommandNotFound()
	}
	op, f := s.robustOpOf(req)
	if f != nil {
		return nil, f
	}
	echo := op.header() // the robust-connection headers of every answer (replay.go)
	cmdAttr := ""
	if id != uuid.Nil {
		cmdAttr = shellIDString(id)
	}
	relatesTo := req.Header.MessageID
	action := wsman.ActionReceive + "Response"
	doneElem := doneElement(cmdAttr)
	// Space left for streams: the envelope without them, with room for the
	// CommandState that may close the response.
	base := len(responseEnvelopeWith(action, relatesTo, echo, `<rsp:ReceiveResponse></rsp:ReceiveResponse>`+doneElem))
	perStream := len(streamElement(cmdAttr, nil))
	room := maxEnv - base

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	sh.mu.Lock()
	if f := sh.admitLocked(id, op); f != nil {
		sh.mu.Unlock()
		return nil, f
	}
	sh.receiving++
	sh.mu.Unlock()
	defer func() {
		sh.mu.Lock()
		sh.receiving--
		sh.lastActive = time.Now()
		sh.mu.Unlock()
	}()
	for {
		wake := sh.wakeChan()
		sh.mu.Lock()
		sh.lastActive = time.Now()
		if sh.deleted || sh.be == nil {
			sh.mu.Unlock()
			return nil, faultShellNotFound()
		}
		if f := sh.refuse(req); f != nil {
			sh.mu.Unlock()
			return nil, f
		}
		if body, replay, stale := sh.replayLocked(id, op); replay || stale {
			sh.mu.Unlock()
			if stale {
				return nil, faultTimedOut()
			}
			return responseEnvelopeWith(action, relatesTo, echo, body), nil
		}
		var c *command
		if id != uuid.Nil {
			if c = sh.commands[id]; c == nil || c.finished {
				sh.mu.Unlock()
				return nil, faultCommandNotFound()
			}
			if c.detached {
				sh.mu.Unlock()
				return nil, faultShellDisconnected()
			}
		}
		var streams strings.Builder
		left := room
		n := 0
		var tooBig *errChunkTooLarge
		for n < 1024 {
			limit := (left - perStream) / 4 * 3
			if limit < 22 { // no room for a fragment header plus one byte
				break
			}
			chunk, err := sh.be.Output(id, limit)
			if err != nil {
				if errors.As(err, &tooBig) && n > 0 {
					tooBig = nil // it goes in the next response
				}
				break
			}
			if chunk == nil {
				break
			}
			el := streamElement(cmdAttr, chunk)
			streams.WriteString(el)
			left -= len(el)
			n++
		}
		done := c != nil && sh.be.Done(id)
		if done {
			c.finished = true
		}
		var body string
		if tooBig == nil && (n > 0 || done) {
			body = `<rsp:ReceiveResponse>` + streams.String()
			if done {
				body += doneElem
			}
			body += `</rsp:ReceiveResponse>`
			// Kept with the output it took, under the same lock, so that a
			// repeat of this Receive finds it rather than newer output.
			sh.rememberLocked(id, op, body)
		}
		sh.mu.Unlock()
		if tooBig != nil {
			need := base + perStream + (tooBig.need+2)/3*4
			return nil, faultEnvelopeTooSmall(need, maxEnv)
		}
		if body != "" {
			if op.id != uuid.Nil {
				sh.notify() // a repeat of this Receive waiting meanwhile answers with it
			}
			return responseEnvelopeWith(action, relatesTo, echo, body), nil
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
