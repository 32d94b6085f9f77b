package replay

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// MaxRequestBytes bounds the body of one request the server reads.
const MaxRequestBytes = 64 << 20

// DefaultIdleReceive is how long a Receive the recording has no answer for
// waits before it gets the OperationTimeout fault Windows would send.
const DefaultIdleReceive = 100 * time.Millisecond

// Request describes a client request the recording had no counterpart for.
type Request struct {
	// Action is the short action name ("Signal", "Receive", ...).
	Action string
	// Shell and Command are the target positions (-1: none; -2: an ID the
	// server never saw created).
	Shell, Command int
	// SignalCode is the code of a Signal request.
	SignalCode string
}

// String describes the request for test logs.
func (r Request) String() string {
	s := fmt.Sprintf("%s shell=%d command=%d", r.Action, r.Shell, r.Command)
	if r.SignalCode != "" {
		s += " code=" + r.SignalCode
	}
	return s
}

// Received is one client request as the server parsed and routed it.
type Received struct {
	// Env holds the request's routing facts and decoded payloads.
	Env Envelope
	// Shell and Command are the target positions, as in Request.
	Shell, Command int
	// Entry is the recorded exchange that answered it, or nil for a
	// generic answer.
	Entry *Entry
	// Request is the request envelope as the client sent it, for checks
	// of what Env does not extract (a WinRS command line, options).
	Request string
}

type target struct{ shell, cmd int }

type routeKey struct {
	action string
	target
}

// sendKey counts client Sends: stdin Sends per target, and "pr" Sends per
// shell (host responses travel on "pr", pool-targeted or not).
type sendKey struct {
	target
	pr bool
}

// Server is an HTTP server on 127.0.0.1 that replays a Conversation to a
// client. It speaks plain HTTP: the client must opt in to unencrypted
// traffic. Create it with NewServer; it is safe for concurrent requests.
type Server struct {
	// URL is the WS-Man endpoint, http://127.0.0.1:port/wsman.
	URL string

	conv        *Conversation
	ts          *httptest.Server
	idleReceive time.Duration

	// Precomputed from the recording.
	byKey     map[routeKey][]*Entry
	gates     map[*Entry]gate
	recShell  map[int]string // recorded shell position → recorded ShellId (the server's)
	recPool   map[int]string // recorded shell position → recorded runspace pool ID
	recCmd    map[int]string // recorded command position → recorded CommandId
	psrpShell map[int]bool
	// phantoms are the recorded command positions no Command created (a
	// client naming a command that does not exist), in order.
	phantoms []int

	closeOnce sync.Once
	closed    chan struct{}

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every state change
	cursor     map[routeKey]int
	served     map[*Entry]bool
	shells     []string       // position → ShellId (the one the server answered)
	pools      []string       // position → the client's runspace pool ID
	shellPos   map[string]int // upper client ShellId → position
	cmds       []string       // position → client CommandId
	cmdPos     map[string]int // upper client CommandId → latest position
	cmdShell   []int          // command position → shell position
	phantomIDs map[int]string // phantom position → the client's CommandId
	sends      map[sendKey]int
	endOfInput map[target]bool
	unmatched  []Request
	received   []Received
	transcript []string
}

// Option configures a Server.
type Option func(*Server)

// WithIdleReceive sets how long a Receive with no recorded answer waits
// before the OperationTimeout fault (default DefaultIdleReceive).
func WithIdleReceive(d time.Duration) Option {
	return func(s *Server) { s.idleReceive = d }
}

// NewServer starts a server replaying conv. If tb is not nil, the server is
// closed when the test ends.
func NewServer(tb testing.TB, conv *Conversation, opts ...Option) *Server {
	s := &Server{
		conv:        conv,
		idleReceive: DefaultIdleReceive,
		byKey:       map[routeKey][]*Entry{},
		gates:       map[*Entry]gate{},
		recShell:    map[int]string{},
		recPool:     map[int]string{},
		recCmd:      map[int]string{},
		psrpShell:   map[int]bool{},
		closed:      make(chan struct{}),
		changed:     make(chan struct{}),
		cursor:      map[routeKey]int{},
		served:      map[*Entry]bool{},
		shellPos:    map[string]int{},
		cmdPos:      map[string]int{},
		sends:       map[sendKey]int{},
		endOfInput:  map[target]bool{},
		phantomIDs:  map[int]string{},
	}
	for _, o := range opts {
		o(s)
	}
	s.index()
	mux := http.NewServeMux()
	mux.HandleFunc("/wsman", s.serveHTTP)
	// httptest listens on 127.0.0.1 (or ::1 without IPv4) only.
	s.ts = httptest.NewServer(mux)
	s.URL = s.ts.URL + "/wsman"
	if tb != nil {
		tb.Cleanup(s.Close)
	}
	return s
}

func (s *Server) index() {
	counts := map[sendKey]int{}
	ended := map[target]bool{}
	createdCmd := map[int]bool{}
	for _, e := range s.conv.Entries {
		if e.Req.Action == "Command" {
			createdCmd[e.Command] = true
		} else if e.Command >= 0 && !createdCmd[e.Command] && !slices.Contains(s.phantoms, e.Command) {
			s.phantoms = append(s.phantoms, e.Command)
		}
	}
	for _, e := range s.conv.Entries {
		k := routeKey{e.Req.Action, target{e.Shell, e.Command}}
		s.byKey[k] = append(s.byKey[k], e)
		if e.Shell >= 0 {
			if _, ok := s.recShell[e.Shell]; !ok {
				s.recShell[e.Shell] = s.conv.recordedShellID(e.Shell)
				s.recPool[e.Shell] = s.conv.recordedPoolID(e.Shell)
				s.psrpShell[e.Shell] = s.conv.isPSRPShell(e.Shell)
			}
		}
		if e.Command >= 0 {
			if _, ok := s.recCmd[e.Command]; !ok {
				s.recCmd[e.Command] = s.conv.recordedCommandID(e.Command)
			}
		}
		switch e.Req.Action {
		case "Send":
			counts[sendKeyOf(e.Req, target{e.Shell, e.Command})]++
			if endsInput(e.Req) {
				ended[target{e.Shell, e.Command}] = true
			}
		case "Receive":
			// A recorded answer may only be served once the client has
			// sent what the recorded client sent before it (input, host
			// responses, pool messages), or the replay would answer a
			// question before it is asked. Clients split input into Sends
			// differently, so a recorded end of input is matched by the
			// client's end of input rather than by a count of Sends.
			g := gate{sends: map[sendKey]int{}, endOfInput: ended[target{e.Shell, e.Command}]}
			for k, n := range counts {
				if k.shell == e.Shell && (k.pr || k.cmd == e.Command) {
					g.sends[k] = n
				}
			}
			s.gates[e] = g
		}
	}
}

// gate is what the client must have sent before a recorded Receive is
// served.
type gate struct {
	sends      map[sendKey]int
	endOfInput bool
}

// endsInput reports whether a Send ends a pipeline's input.
func endsInput(env Envelope) bool {
	for _, b := range env.Blobs {
		if b.Element == "Stream" && (b.End || containsMessageType(b.Data, MsgEndOfPipelineInput)) {
			return true
		}
	}
	return false
}

func sendKeyOf(env Envelope, t target) sendKey {
	for _, b := range env.Blobs {
		if b.Element == "Stream" && b.Name == "pr" {
			return sendKey{target{t.shell, -1}, true}
		}
	}
	return sendKey{target: t}
}

// Close shuts the server down, failing any request still waiting.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

// Client returns an *http.Client for the server.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Unserved returns the recorded entries no client request was matched to,
// in recorded order.
func (s *Server) Unserved() []*Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Entry
	for _, e := range s.conv.Entries {
		if !s.served[e] {
			out = append(out, e)
		}
	}
	return out
}

// Remaining is Unserved under the name the other harnesses use.
func (s *Server) Remaining() []*Entry { return s.Unserved() }

// Unmatched returns the client requests the recording had no counterpart
// for and that got a generic answer, in arrival order.
func (s *Server) Unmatched() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.unmatched...)
}

// Received returns every client request that reached routing, in arrival
// order, so that a test can check what the client sent.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Transcript returns one line per request served, for test logs.
func (s *Server) Transcript() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.transcript...)
}

// notifyLocked wakes every waiting request; s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "replay: POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		http.Error(w, "replay: read request: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	req, err := ParseEnvelope(body)
	if err != nil || req.Action == "" {
		msg := "replay: request has no wsa:Action"
		if err != nil {
			msg = err.Error()
		}
		http.Error(w, msg, http.StatusBadRequest)
		return
	}

	s.mu.Lock()
	t, newShell, newCmd := s.resolveLocked(req)
	k := routeKey{req.Action, t}
	var e *Entry
	deadline := time.Now().Add(s.idleReceive)
	for {
		e = s.nextLocked(k)
		if e == nil || req.Action != "Receive" || s.gateOpenLocked(e) {
			break
		}
		// The recorded answer exists but its cause has not arrived yet.
		ch := s.changed
		s.mu.Unlock()
		if !s.wait(r, ch, time.Until(deadline)) {
			s.mu.Lock()
			s.logLocked(Request{Action: req.Action, Shell: t.shell, Command: t.cmd}, fmt.Sprintf("%s %v -> gated, timed out", req.Action, t))
			s.mu.Unlock()
			s.writeTimedOut(w, req)
			return
		}
		if r.Context().Err() != nil {
			return
		}
		s.mu.Lock()
	}
	if e != nil {
		s.cursor[k]++
		s.served[e] = true
	}
	if len(s.received) < maxLog {
		s.received = append(s.received, Received{Env: req, Shell: t.shell, Command: t.cmd, Entry: e, Request: string(body)})
	}
	s.bindLocked(req, t, e, newShell, newCmd)
	s.countSendLocked(req, t)
	if e == nil {
		s.logLocked(Request{Action: req.Action, Shell: t.shell, Command: t.cmd, SignalCode: req.SignalCode}, fmt.Sprintf("%s %v -> generic", req.Action, t))
	} else if len(s.transcript) < maxLog {
		s.transcript = append(s.transcript, fmt.Sprintf("%s %v -> recorded #%d", req.Action, t, e.Index))
	}
	var resp string
	if e != nil {
		resp = s.rewriteLocked(e, req, t)
	}
	s.notifyLocked()
	s.mu.Unlock()

	if e == nil {
		if req.Action == "Receive" {
			if s.wait(r, nil, s.idleReceive) {
				return
			}
			s.writeTimedOut(w, req)
			return
		}
		s.writeGeneric(w, req, t)
		return
	}
	if e.Timeout > 0 && s.wait(r, nil, e.Timeout) {
		return // the client or the server gave up first
	}
	switch {
	case e.HTTPError:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without a reply
	case e.AuthError:
		w.Header().Set("WWW-Authenticate", "Negotiate")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	status := http.StatusOK
	if e.TransportError != nil {
		status = e.TransportError.Code
	} else if e.Resp.Fault != nil {
		status = http.StatusInternalServerError
	}
	writeSOAP(w, status, resp)
}

// maxLog bounds each of the server's logs (unmatched, received,
// transcript): a client looping on Receive must not grow them without end.
const maxLog = 1 << 16

// logLocked records an unmatched request; s.mu must be held.
func (s *Server) logLocked(u Request, line string) {
	if len(s.unmatched) < maxLog {
		s.unmatched = append(s.unmatched, u)
	}
	if len(s.transcript) < maxLog {
		s.transcript = append(s.transcript, line)
	}
}

// wait blocks until ch is closed (returns true), d elapses (false), or the
// request or server ends (true). A nil ch never fires.
func (s *Server) wait(r *http.Request, ch <-chan struct{}, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ch:
		return true
	case <-tm.C:
		return false
	case <-r.Context().Done():
		return true
	case <-s.closed:
		return true
	}
}

// resolveLocked maps the request's ShellId and CommandId to positions,
// allocating new ones for Create, Connect to an unknown shell, and Command.
func (s *Server) resolveLocked(req Envelope) (t target, newShell, newCmd bool) {
	t = target{-1, -1}
	switch {
	case req.Action == "Create" || (req.Action == "Connect" && s.lookupShell(req.ShellID) < 0):
		t.shell = len(s.shells)
		newShell = true
	case req.ShellID != "":
		t.shell = s.lookupShell(req.ShellID)
		if t.shell < 0 {
			t.shell = -2
		}
	}
	switch {
	case req.Action == "Command":
		t.cmd = len(s.cmds)
		newCmd = true
	case req.CommandID != "":
		if p, ok := s.cmdPos[strings.ToUpper(req.CommandID)]; ok {
			t.cmd = p
		} else if p, ok := s.bindPhantomLocked(req.CommandID); ok {
			t.cmd = p
		} else {
			t.cmd = -2
		}
	}
	return t, newShell, newCmd
}

// bindPhantomLocked gives a CommandId the server never saw created the
// next recorded command position that was never created either: the
// recorded client named a command that did not exist (a deliberate bad
// ID), and the recorded answer to that is what the client gets.
func (s *Server) bindPhantomLocked(id string) (int, bool) {
	for _, pos := range s.phantoms {
		if _, bound := s.phantomIDs[pos]; !bound {
			s.phantomIDs[pos] = id
			s.cmdPos[strings.ToUpper(id)] = pos
			return pos, true
		}
	}
	return 0, false
}

func (s *Server) lookupShell(id string) int {
	if p, ok := s.shellPos[strings.ToUpper(id)]; ok && id != "" {
		return p
	}
	return -1
}

func (s *Server) nextLocked(k routeKey) *Entry {
	list := s.byKey[k]
	if i := s.cursor[k]; i < len(list) {
		return list[i]
	}
	return nil
}

func (s *Server) gateOpenLocked(e *Entry) bool {
	g := s.gates[e]
	t := target{e.Shell, e.Command}
	// Recorded and client positions are the same numbers, so the
	// recorded target names the client's target too.
	if g.endOfInput && !s.endOfInput[t] {
		return false
	}
	for k, need := range g.sends {
		if s.sends[k] < need && !(s.endOfInput[k.target] && !k.pr) {
			return false
		}
	}
	return true
}

// bindLocked records the IDs of a new shell or command. A shell's id is
// what the server answers: the client's proposal, unless the recorded
// server gave the shell an id of its own (WinRS, and PowerShell on older
// WinRM), in which case the replay does the same with a fresh id, so that
// only a client that takes the server's answer finds the shell again. The
// client's proposal stays the shell's runspace pool ID (the RPID).
func (s *Server) bindLocked(req Envelope, t target, e *Entry, newShell, newCmd bool) {
	if newShell {
		id, pool := req.ShellID, req.ShellID
		if id == "" || (req.Action == "Create" && e != nil && e.ServerAssigned()) {
			id = strings.ToUpper(uuid.NewString())
		}
		if pool == "" {
			pool = id
		}
		s.shells = append(s.shells, id)
		s.pools = append(s.pools, pool)
		s.shellPos[strings.ToUpper(id)] = t.shell
	}
	if newCmd {
		id := req.CommandID
		if id == "" && e != nil {
			id = e.Resp.CommandID
		}
		if id == "" {
			id = strings.ToUpper(uuid.NewString())
		}
		s.cmds = append(s.cmds, id)
		s.cmdShell = append(s.cmdShell, t.shell)
		s.cmdPos[strings.ToUpper(id)] = t.cmd
	}
}

func (s *Server) countSendLocked(req Envelope, t target) {
	if req.Action != "Send" {
		return
	}
	s.sends[sendKeyOf(req, t)]++
	if endsInput(req) {
		s.endOfInput[t] = true
	}
}

func (s *Server) clientShell(pos int) string {
	if pos >= 0 && pos < len(s.shells) {
		return s.shells[pos]
	}
	return ""
}

func (s *Server) clientPool(pos int) string {
	if pos >= 0 && pos < len(s.pools) {
		return s.pools[pos]
	}
	return ""
}

// ShellIDs returns the ShellId the server answered for each shell, in
// order of creation.
func (s *Server) ShellIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.shells...)
}

func (s *Server) clientCmd(pos int) string {
	if id, ok := s.phantomIDs[pos]; ok {
		return id
	}
	if pos >= 0 && pos < len(s.cmds) {
		return s.cmds[pos]
	}
	return ""
}

var (
	relatesToRE = regexp.MustCompile(`(<(?:[\w.-]+:)?RelatesTo>)[^<]*(</(?:[\w.-]+:)?RelatesTo>)`)
	messageIDRE = regexp.MustCompile(`(<(?:[\w.-]+:)?MessageID>)[^<]*(</(?:[\w.-]+:)?MessageID>)`)
	psrpBlobRE  = regexp.MustCompile(`(<(?:[\w.-]+:)?(?:Stream|connectResponseXml)\b[^>]*>)([A-Za-z0-9+/=\s]+)(</(?:[\w.-]+:)?(?:Stream|connectResponseXml)>)`)
)

// rewriteLocked returns e's recorded response with the identifiers of the
// recording replaced by the client's.
func (s *Server) rewriteLocked(e *Entry, req Envelope, t target) string {
	resp := e.Response
	if resp == "" {
		return ""
	}
	resp = relatesToRE.ReplaceAllString(resp, "${1}"+templateLiteral(xmlText(req.MessageID))+"${2}")
	resp = messageIDRE.ReplaceAllString(resp, "${1}uuid:"+strings.ToUpper(uuid.NewString())+"${2}")

	// Pairs of recorded → client IDs, the entry's own target first so that
	// a CommandId the recording reused maps to this command's client ID.
	type pair struct{ rec, cli string }
	var pairs []pair
	add := func(rec, cli string) {
		if rec == "" || cli == "" || strings.EqualFold(rec, cli) {
			return
		}
		for _, p := range pairs {
			if strings.EqualFold(p.rec, rec) {
				return
			}
		}
		pairs = append(pairs, pair{rec, cli})
	}
	if e.Shell >= 0 {
		add(s.recShell[e.Shell], s.clientShell(t.shell))
		add(s.recPool[e.Shell], s.clientPool(t.shell))
	}
	if e.Command >= 0 && t.cmd >= 0 {
		add(s.recCmd[e.Command], s.clientCmd(t.cmd))
	}
	for pos := len(s.shells) - 1; pos >= 0; pos-- {
		add(s.recShell[pos], s.shells[pos])
		add(s.recPool[pos], s.pools[pos])
	}
	for pos := len(s.cmds) - 1; pos >= 0; pos-- {
		add(s.recCmd[pos], s.clientCmd(pos))
	}
	for pos, id := range s.phantomIDs {
		add(s.recCmd[pos], id)
	}

	if e.Shell >= 0 && s.psrpShell[e.Shell] {
		gm := guidMap{}
		for i := len(pairs) - 1; i >= 0; i-- { // first pair wins
			rec, err1 := uuid.Parse(pairs[i].rec)
			cli, err2 := uuid.Parse(pairs[i].cli)
			if err1 == nil && err2 == nil {
				gm.add(rec, cli)
			}
		}
		var f forcedIDs
		if id, err := uuid.Parse(s.clientPool(t.shell)); err == nil {
			f.rpid, f.setRPID = GUIDBytesLE(id), true
		}
		if id, err := uuid.Parse(s.clientCmd(t.cmd)); err == nil && e.Req.Action == "Receive" && e.Command >= 0 {
			f.pid, f.setPID = GUIDBytesLE(id), true
		}
		resp = psrpBlobRE.ReplaceAllStringFunc(resp, func(m string) string {
			sub := psrpBlobRE.FindStringSubmatch(m)
			raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(sub[2]), ""))
			if err != nil {
				return m
			}
			nb, err := rewriteHeaders(raw, gm, f)
			if err != nil {
				return m // not PSRP framing: leave it as recorded
			}
			return sub[1] + base64.StdEncoding.EncodeToString(nb) + sub[3]
		})
	}
	for _, p := range pairs {
		re := regexp.MustCompile(`(?i)` + regexp.QuoteMeta(p.rec))
		resp = re.ReplaceAllLiteralString(resp, xmlText(p.cli))
	}
	return resp
}

// templateLiteral escapes s for use in a regexp replacement template.
func templateLiteral(s string) string { return strings.ReplaceAll(s, "$", "$$") }

func writeSOAP(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

const envelopeHead = `<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">`

func header(action, relatesTo string) string {
	return `<s:Header><a:Action>` + xmlText(action) + `</a:Action><a:MessageID>uuid:` + strings.ToUpper(uuid.NewString()) +
		`</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><a:RelatesTo>` +
		xmlText(relatesTo) + `</a:RelatesTo></s:Header>`
}

func xmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// writeGeneric answers a request the recording has no counterpart for with
// a minimal well-formed response of the right action.
func (s *Server) writeGeneric(w http.ResponseWriter, req Envelope, t target) {
	var body string
	s.mu.Lock()
	shellID, cmdID := s.clientShell(t.shell), s.clientCmd(t.cmd)
	s.mu.Unlock()
	switch req.Action {
	case "Create":
		body = `<x:ResourceCreated><a:Address>` + xmlText(s.URL) + `</a:Address><a:ReferenceParameters><w:ResourceURI>` +
			xmlText(req.ResourceURI) + `</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">` + xmlText(shellID) +
			`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated><rsp:Shell><rsp:ShellId>` +
			xmlText(shellID) + `</rsp:ShellId><rsp:ResourceUri>` + xmlText(req.ResourceURI) +
			`</rsp:ResourceUri><rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams><rsp:State>Connected</rsp:State></rsp:Shell>`
	case "Command":
		body = `<rsp:CommandResponse><rsp:CommandId>` + xmlText(cmdID) + `</rsp:CommandId></rsp:CommandResponse>`
	case "Send":
		body = `<rsp:SendResponse/>`
	case "Signal":
		body = `<rsp:SignalResponse/>`
	case "Disconnect":
		body = `<rsp:DisconnectResponse/>`
	case "Reconnect":
		body = `<rsp:ReconnectResponse/>`
	}
	writeSOAP(w, http.StatusOK, envelopeHead+header(req.ActionURI+"Response", req.MessageID)+`<s:Body>`+body+`</s:Body></s:Envelope>`)
}

// writeTimedOut answers with the fault Windows sends when a Receive has
// nothing within its OperationTimeout; clients re-issue the Receive.
func (s *Server) writeTimedOut(w http.ResponseWriter, req Envelope) {
	body := `<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode></s:Code>` +
		`<s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  </s:Text></s:Reason>` +
		`<s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858793" Machine="127.0.0.1">` +
		`<f:Message>The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  </f:Message></f:WSManFault></s:Detail></s:Fault>`
	writeSOAP(w, http.StatusInternalServerError, envelopeHead+header("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", req.MessageID)+`<s:Body>`+body+`</s:Body></s:Envelope>`)
}
