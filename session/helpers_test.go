package session_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
	"go.uber.org/goleak"
)

// childMain, when set (by sealbench_test.go), runs instead of the tests in
// a child process that a benchmark started.
var childMain func() bool

func TestMain(m *testing.M) {
	if childMain != nil && childMain() {
		return
	}
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every test's context so a hang fails instead of
// blocking the run.
const testTimeout = 30 * time.Second

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newServer starts an emulated endpoint over plain HTTP, closed at cleanup.
func newServer(t testing.TB) *sessiontest.Server {
	srv := sessiontest.NewServer()
	t.Cleanup(srv.Close)
	return srv
}

// open opens a session on srv through its client (plain HTTP, so the test
// opts in to unencrypted traffic), closed at cleanup before the server.
func open(t testing.TB, srv *sessiontest.Server, opts ...session.Option) *session.Session {
	t.Helper()
	all := append([]session.Option{session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted()}, opts...)
	s, err := session.New(testContext(t), srv.URL, all...)
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

var actionRE = regexp.MustCompile(`<wsa:Action[^>]*>[^<]*/([A-Za-z]+)</wsa:Action>`)
var envelopeRE = regexp.MustCompile(`<wsman:MaxEnvelopeSize[^>]*>([0-9]+)</wsman:MaxEnvelopeSize>`)

// recordedCall is one HTTP request seen by the recorder.
type recordedCall struct {
	Action      string // last path element of wsa:Action: Create, Receive …
	MaxEnvelope string
	BytesOut    int64
	BytesIn     int64
}

// recorder is an http.RoundTripper that counts requests and bytes, and
// records the WS-Man action of each request.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	log  []recordedCall
}

type countingBody struct {
	io.ReadCloser
	idx int
	r   *recorder
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.r.mu.Lock()
	b.r.log[b.idx].BytesIn += int64(n)
	b.r.mu.Unlock()
	return n, err
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		_ = req.Body.Close()
	}
	c := recordedCall{BytesOut: int64(len(body))}
	if m := actionRE.FindSubmatch(body); m != nil {
		c.Action = string(m[1])
	}
	if m := envelopeRE.FindSubmatch(body); m != nil {
		c.MaxEnvelope = string(m[1])
	}
	r.mu.Lock()
	r.log = append(r.log, c)
	idx := len(r.log) - 1
	r.mu.Unlock()
	clone := req.Clone(req.Context())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	clone.ContentLength = int64(len(body))
	resp, err := r.base.RoundTrip(clone)
	if err != nil {
		return nil, err
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, r: r, idx: idx}
	return resp, nil
}

func (r *recorder) calls() []recordedCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recordedCall(nil), r.log...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.log = nil
	r.mu.Unlock()
}

// recordingClient returns an HTTP client for srv whose transport records.
func recordingClient(srv *sessiontest.Server) (*http.Client, *recorder) {
	rec := &recorder{base: srv.Client().Transport}
	return &http.Client{Transport: rec}, rec
}

// clientFor makes a Client of target with the ClientOptions among opts
// (New's mixed list), closed at cleanup, and returns the SessionOptions.
func clientFor(t testing.TB, target string, opts ...session.Option) (*session.Client, []session.SessionOption) {
	t.Helper()
	var copts []session.ClientOption
	var sopts []session.SessionOption
	for _, o := range opts {
		switch o := o.(type) {
		case session.ClientOption:
			copts = append(copts, o)
		case session.SessionOption:
			sopts = append(sopts, o)
		}
	}
	c, err := session.NewClient(target, copts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(c.Close)
	return c, sopts
}
