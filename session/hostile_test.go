package session_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"github.com/gopsrp/gopsrp/wsman"
)

// hostile is a corrupting reverse proxy between the client and an emulated
// endpoint: a real HTTP server on 127.0.0.1 that forwards each request to
// the endpoint unless a rule matches it first. Rules can hold a request
// (the server "withholds" its answer), answer it themselves, rewrite the
// endpoint's answer or drop the connection. Every request is logged.
type hostile struct {
	srv  *sessiontest.Server
	ts   *httptest.Server
	URL  string
	done chan struct{} // closed at cleanup: releases held requests

	mu    sync.Mutex
	rules []*rule
	log   []seenRequest
}

// seenRequest is one request the proxy received.
type seenRequest struct {
	At        time.Time
	Action    string // last element of wsa:Action: Receive, Send, Signal …
	CommandID string // empty for requests on the pool (the shell itself)
	Signal    string // the signal code of a Signal
	MessageID string
	Body      []byte
}

// rule says what to do with the requests it matches.
type rule struct {
	match func(seenRequest) bool
	times int // how many requests it applies to; 0 means all
	// hold keeps the request until the client gives up or the test ends.
	hold bool
	// drop closes the connection without an answer.
	drop bool
	// answer, when set, answers the request instead of the endpoint.
	answer func(r seenRequest) (status int, body []byte)
	// rewrite, when set, replaces the endpoint's answer.
	rewrite func(r seenRequest, status int, body []byte) (int, []byte)
	// used counts the requests the rule applied to.
	used int
}

var (
	commandIDRE = regexp.MustCompile(`CommandId="([^"]+)"`)
	messageIDRE = regexp.MustCompile(`<wsa:MessageID>([^<]+)</wsa:MessageID>`)
	signalRE    = regexp.MustCompile(`<rsp:Code>([^<]+)</rsp:Code>`)
)

// newHostile starts a proxy in front of srv, closed at cleanup.
func newHostile(t testing.TB, srv *sessiontest.Server) *hostile {
	h := &hostile{srv: srv, done: make(chan struct{})}
	h.ts = httptest.NewServer(http.HandlerFunc(h.serve))
	h.URL = h.ts.URL + "/wsman"
	t.Cleanup(func() {
		close(h.done)
		h.ts.CloseClientConnections()
		h.ts.Close()
	})
	return h
}

// add installs r; rules are tried in the order they were added.
func (h *hostile) add(r *rule) *rule {
	h.mu.Lock()
	h.rules = append(h.rules, r)
	h.mu.Unlock()
	return r
}

// requests returns the log.
func (h *hostile) requests() []seenRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]seenRequest(nil), h.log...)
}

// count returns how many logged requests match since from.
func (h *hostile) count(from time.Time, match func(seenRequest) bool) int {
	n := 0
	for _, r := range h.requests() {
		if !r.At.Before(from) && match(r) {
			n++
		}
	}
	return n
}

func (h *hostile) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	sr := seenRequest{At: time.Now(), Body: body}
	if m := actionRE.FindSubmatch(body); m != nil {
		sr.Action = string(m[1])
	}
	if m := commandIDRE.FindSubmatch(body); m != nil {
		sr.CommandID = string(m[1])
	}
	if m := messageIDRE.FindSubmatch(body); m != nil {
		sr.MessageID = string(m[1])
	}
	if m := signalRE.FindSubmatch(body); m != nil {
		sr.Signal = string(m[1])
	}
	h.mu.Lock()
	h.log = append(h.log, sr)
	var hit *rule
	for _, x := range h.rules {
		if (x.times == 0 || x.used < x.times) && x.match(sr) {
			x.used++
			hit = x
			break
		}
	}
	h.mu.Unlock()

	switch {
	case hit != nil && hit.hold:
		select {
		case <-r.Context().Done():
		case <-h.done:
		}
		return
	case hit != nil && hit.drop:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
			}
		}
		return
	case hit != nil && hit.answer != nil:
		status, b := hit.answer(sr)
		writeXML(w, status, b)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, h.srv.URL, bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	status := resp.StatusCode
	if hit != nil && hit.rewrite != nil {
		status, out = hit.rewrite(sr, status, out)
	}
	writeXML(w, status, out)
}

func writeXML(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Matchers.

func isAction(action string) func(seenRequest) bool {
	return func(r seenRequest) bool { return strings.EqualFold(r.Action, action) }
}

func isPoolReceive(r seenRequest) bool     { return r.Action == "Receive" && r.CommandID == "" }
func isPipelineReceive(r seenRequest) bool { return r.Action == "Receive" && r.CommandID != "" }
func isPoolSend(r seenRequest) bool        { return r.Action == "Send" && r.CommandID == "" }

// receiveResponse builds a ReceiveResponse to r carrying one stdout stream
// with data (for the pool when commandID is empty).
func receiveResponse(r seenRequest, commandID string, data []byte) []byte {
	stream := ""
	if data != nil {
		attr := ""
		if commandID != "" {
			attr = ` CommandId="` + commandID + `"`
		}
		stream = `<rsp:Stream Name="stdout"` + attr + `>` + base64.StdEncoding.EncodeToString(data) + `</rsp:Stream>`
	}
	return soapEnvelope(wsman.NsShell+"/ReceiveResponse", r.MessageID, `<rsp:ReceiveResponse>`+stream+`</rsp:ReceiveResponse>`)
}

// soapEnvelope lays a response out as Windows does.
func soapEnvelope(action, relatesTo, body string) []byte {
	return []byte(`<s:Envelope xml:lang="en-US" xmlns:s="` + wsman.NsSOAP + `" xmlns:a="` + wsman.NsAddressing +
		`" xmlns:w="` + wsman.NsWSMan + `" xmlns:rsp="` + wsman.NsShell + `" xmlns:p="` + wsman.NsWSMV +
		`"><s:Header><a:Action>` + action + `</a:Action><a:MessageID>uuid:` + strings.ToUpper(uuid.NewString()) +
		`</a:MessageID><a:To>` + wsman.AddressAnonymous + `</a:To><a:RelatesTo>` + relatesTo +
		`</a:RelatesTo></s:Header><s:Body>` + body + `</s:Body></s:Envelope>`)
}

// fragments encodes server-to-client messages as single-fragment objects,
// numbered from objectID.
func fragments(t testing.TB, objectID uint64, pool, pipeline uuid.UUID, bodies ...psrp.Body) []byte {
	t.Helper()
	var out []byte
	for i, b := range bodies {
		data, err := psrp.EncodeBody(b, clixml.MarshalOptions{})
		if err != nil {
			t.Fatalf("EncodeBody(%T): %v", b, err)
		}
		msg := psrp.Message{Destination: psrp.DestinationClient, Type: b.MessageType(),
			RunspacePoolID: pool, PipelineID: pipeline, Data: data}.Append(nil)
		out = psrp.Fragment{ObjectID: objectID + uint64(i), Start: true, End: true, Data: msg}.Append(out)
	}
	return out
}

// openVia opens a session on srv through the proxy h, closed at cleanup
// with a bounded context.
func openVia(t testing.TB, h *hostile, opts ...session.Option) *session.Session {
	t.Helper()
	all := append([]session.Option{session.WithAllowUnencrypted()}, opts...)
	s, err := session.New(testContext(t), h.URL, all...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

// within fails the test unless f returns within d.
func within(t testing.TB, d time.Duration, what string, f func()) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
	return time.Since(start)
}
