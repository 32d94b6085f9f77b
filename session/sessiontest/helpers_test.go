package sessiontest

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/wsman"
)

// node is a generic XML element tree, for reading responses in tests.
type node struct {
	Name     xml.Name
	Attr     []xml.Attr
	Children []*node
	Text     string
}

func parseTree(b []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	var stack []*node
	var root *node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{Name: t.Name, Attr: t.Attr}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += string(t)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("empty document")
	}
	return root, nil
}

// find returns the first descendant-or-self path of local names.
func (n *node) find(path ...string) *node {
	if n == nil {
		return nil
	}
	if len(path) == 0 {
		return n
	}
	for _, c := range n.Children {
		if c.Name.Local == path[0] {
			if r := c.find(path[1:]...); r != nil {
				return r
			}
		}
	}
	return nil
}

// all returns every descendant with the local name.
func (n *node) all(local string) []*node {
	var out []*node
	var walk func(*node)
	walk = func(m *node) {
		for _, c := range m.Children {
			if c.Name.Local == local {
				out = append(out, c)
			}
			walk(c)
		}
	}
	walk(n)
	return out
}

// text returns the element's text, or "" for a missing element.
func (n *node) text() string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.Text)
}

func (n *node) attr(local string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// env builds a request envelope the way pypsrp does.
type env struct {
	action      string
	resourceURI string
	shellID     string
	maxEnv      int
	timeout     string
	options     map[string]string
	body        string
	messageID   string
	sessionID   string // wsmv:SessionId, the client's identity; "" omits it
}

func (e env) bytes() []byte {
	if e.resourceURI == "" {
		e.resourceURI = wsman.ResourcePowerShell
	}
	if e.maxEnv == 0 {
		e.maxEnv = 153600
	}
	if e.timeout == "" {
		e.timeout = "PT20S"
	}
	if e.messageID == "" {
		e.messageID = "uuid:" + strings.ToUpper(uuid.NewString())
	}
	var b strings.Builder
	b.WriteString(`<s:Envelope xmlns:rsp="` + wsman.NsShell + `" xmlns:s="` + wsman.NsSOAP + `" xmlns:wsa="` + wsman.NsAddressing +
		`" xmlns:wsman="` + wsman.NsWSMan + `" xmlns:wsmv="` + wsman.NsWSMV + `" xmlns:wsen="` + wsman.NsEnumeration + `"><s:Header>`)
	b.WriteString(`<wsa:Action s:mustUnderstand="true">` + e.action + `</wsa:Action>`)
	fmt.Fprintf(&b, `<wsman:MaxEnvelopeSize s:mustUnderstand="true">%d</wsman:MaxEnvelopeSize>`, e.maxEnv)
	b.WriteString(`<wsa:MessageID>` + e.messageID + `</wsa:MessageID>`)
	b.WriteString(`<wsman:OperationTimeout>` + e.timeout + `</wsman:OperationTimeout>`)
	b.WriteString(`<wsman:ResourceURI s:mustUnderstand="true">` + e.resourceURI + `</wsman:ResourceURI>`)
	if e.sessionID != "" {
		b.WriteString(`<wsmv:SessionId s:mustUnderstand="false">` + e.sessionID + `</wsmv:SessionId>`)
	}
	if len(e.options) > 0 {
		b.WriteString(`<wsman:OptionSet s:mustUnderstand="true">`)
		for k, v := range e.options {
			b.WriteString(`<wsman:Option Name="` + k + `">` + v + `</wsman:Option>`)
		}
		b.WriteString(`</wsman:OptionSet>`)
	}
	if e.shellID != "" {
		b.WriteString(`<wsman:SelectorSet><wsman:Selector Name="ShellId">` + e.shellID + `</wsman:Selector></wsman:SelectorSet>`)
	}
	b.WriteString(`</s:Header><s:Body>` + e.body + `</s:Body></s:Envelope>`)
	return []byte(b.String())
}

type reply struct {
	status int
	body   []byte
	tree   *node
}

func (r *reply) action() string { return r.tree.find("Header", "Action").text() }

// faultCode returns the f:WSManFault Code, or "" when not a fault.
func (r *reply) faultCode() string {
	return r.tree.find("Body", "Fault", "Detail", "WSManFault").attr("Code")
}

func (r *reply) faultMessage() string {
	return r.tree.find("Body", "Fault", "Detail", "WSManFault", "Message").text()
}

func (r *reply) subcode() string {
	return r.tree.find("Body", "Fault", "Code", "Subcode", "Value").text()
}

// streams decodes every rsp:Stream of a ReceiveResponse.
func (r *reply) streams(t testing.TB) [][]byte {
	var out [][]byte
	for _, s := range r.tree.all("Stream") {
		b, err := base64.StdEncoding.DecodeString(s.Text)
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

func (r *reply) done() bool {
	cs := r.tree.find("Body", "ReceiveResponse", "CommandState")
	return cs != nil && cs.attr("State") == wsman.CommandStateDone
}

// post sends one envelope and parses the answer.
func post(t *testing.T, c *http.Client, url string, body []byte) *reply {
	t.Helper()
	r, err := postErr(c, url, body, nil)
	require.NoError(t, err)
	return r
}

func postErr(c *http.Client, url string, body []byte, setup func(*http.Request)) (*reply, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	if setup != nil {
		setup(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &reply{status: resp.StatusCode, body: b}
	if len(b) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "soap+xml") {
		if r.tree, err = parseTree(b); err != nil {
			return nil, fmt.Errorf("response is not XML: %w: %q", err, b)
		}
	}
	return r, nil
}

// fakeBackend is a backend for WS-Man layer tests: it echoes what it is
// sent, so tests can check routing, framing and splitting without PSRP.
type fakeBackend struct {
	mu       sync.Mutex
	queues   map[uuid.UUID][][]byte
	finished map[uuid.UUID]bool
	signals  []string
	closed   bool
}

func newFakeFactory(out *[]*fakeBackend, mu *sync.Mutex) backendFactory {
	return func(s *Server, shellID uuid.UUID, creation []byte, notify func()) (backend, error) {
		if string(creation) == "refuse" {
			return nil, fmt.Errorf("refused")
		}
		f := &fakeBackend{queues: map[uuid.UUID][][]byte{}, finished: map[uuid.UUID]bool{}}
		f.queues[uuid.Nil] = [][]byte{append([]byte("opened:"), creation...)}
		if out != nil {
			mu.Lock()
			*out = append(*out, f)
			mu.Unlock()
		}
		return f, nil
	}
}

func (f *fakeBackend) Command(id uuid.UUID, args []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if string(args) == "fail" {
		return fmt.Errorf("bad pipeline")
	}
	f.queues[id] = append(f.queues[id], append([]byte("cmd:"), args...))
	// "hang" runs until stopped; anything else completes at once.
	f.finished[id] = string(args) != "hang"
	return nil
}

func (f *fakeBackend) Input(id uuid.UUID, stream string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queues[id] = append(f.queues[id], append([]byte(stream+":"), data...))
	return nil
}

func (f *fakeBackend) Output(id uuid.UUID, max int) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queues[id]
	if len(q) == 0 {
		return nil, nil
	}
	if len(q[0]) > max {
		return nil, &errChunkTooLarge{need: len(q[0])}
	}
	c := q[0]
	f.queues[id] = q[1:]
	return c, nil
}

func (f *fakeBackend) Done(id uuid.UUID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.finished[id] && len(f.queues[id]) == 0
}

func (f *fakeBackend) Signal(id uuid.UUID, code string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, code)
	if code == wsman.SignalPSCtrlC {
		f.finished[id] = true
	}
	return nil
}

func (f *fakeBackend) Disconnect(string) error { return nil }

func (f *fakeBackend) ReconnectCommand(uuid.UUID) error { return nil }

func (f *fakeBackend) Reconnect() error { return nil }

func (f *fakeBackend) Connect(data []byte) ([]byte, error) {
	return append([]byte("connected:"), data...), nil
}

func (f *fakeBackend) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}

func (f *fakeBackend) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// newFakeServer starts a server whose shells run fakeBackends.
func newFakeServer(t *testing.T, configure func(*Server)) (*Server, *[]*fakeBackend) {
	t.Helper()
	var list []*fakeBackend
	var mu sync.Mutex
	s := NewUnstartedServer()
	s.newBackend = newFakeFactory(&list, &mu)
	if configure != nil {
		configure(s)
	}
	if s.isTLS {
		panic("configure must not start the server")
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &list
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func createBody(shellID, creation string) string {
	attr := ""
	if shellID != "" {
		attr = ` ShellId="` + shellID + `"`
	}
	return `<rsp:Shell` + attr + `><rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams>` +
		`<creationXml xmlns="http://schemas.microsoft.com/powershell">` + b64(creation) + `</creationXml></rsp:Shell>`
}

// createShell opens a shell and returns its ID.
func createShell(t *testing.T, s *Server, c *http.Client) string {
	t.Helper()
	id := strings.ToUpper(uuid.NewString())
	r := post(t, c, s.URL, env{action: wsman.ActionCreate, body: createBody(id, "pool")}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	require.Equal(t, id, r.tree.find("Body", "Shell", "ShellId").Text)
	return id
}

func receiveBody(cmd string) string {
	attr := ""
	if cmd != "" {
		attr = ` CommandId="` + cmd + `"`
	}
	return `<rsp:Receive><rsp:DesiredStream` + attr + `>stdout</rsp:DesiredStream></rsp:Receive>`
}

// recv takes one value from ch, failing the test if none comes within 10 s,
// so that a bug fails the test instead of hanging it.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
		panic("unreachable")
	}
}
