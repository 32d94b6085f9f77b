package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestHostTrusted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		patterns []string
		host     string
		want     bool
	}{
		{nil, "win01", false},
		{[]string{"*"}, "anything.example", true},
		{[]string{"*"}, "10.1.2.3", true},
		{[]string{"WIN01.corp.example"}, "win01.CORP.example", true},
		{[]string{"win01.corp.example."}, "win01.corp.example", true},
		{[]string{"win01"}, "win02", false},
		{[]string{"*.corp.example"}, "win01.corp.example", true},
		{[]string{"*.corp.example"}, "a.b.corp.example", true},
		{[]string{"*.corp.example"}, "corp.example", false},
		{[]string{"*.corp.example"}, "evilcorp.example", false},
		{[]string{"*.corp.example"}, "10.0.0.1", false},
		{[]string{"10.0.0.1"}, "10.0.0.1", true},
		{[]string{"10.0.0.1"}, "10.0.0.2", false},
		{[]string{"::1"}, "::1", true},
		{[]string{"[::1]"}, "0:0::1", true},
		{[]string{"a, b.example ,c"}, "b.example", true},
		{[]string{"<local>"}, "win01", true},
		{[]string{"<local>"}, "win01.corp", false},
		{[]string{"<local>"}, "127.0.0.1", false},
		{[]string{""}, "", false},
	}
	for _, tc := range tests {
		if got := HostTrusted(tc.patterns, tc.host); got != tc.want {
			t.Errorf("HostTrusted(%q, %q) = %v, want %v", tc.patterns, tc.host, got, tc.want)
		}
	}
}

func TestMechanismStringsHidePasswords(t *testing.T) {
	t.Parallel()
	const pw = "hunter2-Secret"
	for _, m := range []Mechanism{
		&NTLM{Username: "alice", Password: pw},
		&NTLM{Username: "alice", NTHash: []byte(pw)},
		&Kerberos{Username: "alice", Password: pw},
		&Negotiate{Username: "alice", Password: pw, Kerberos: &Kerberos{Password: pw}},
		&CredSSP{Username: "alice", Password: pw},
	} {
		for _, s := range []string{m.String(), fmt.Sprint(m), fmt.Sprintf("%v %+v", m, m)} {
			if strings.Contains(s, pw) || !strings.Contains(s, "alice") {
				t.Errorf("%T prints %q", m, s)
			}
		}
	}
}

// syncBuffer is a bytes.Buffer for a logger used by several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoSecretsInLogsOrErrors runs handshakes, sealed traffic, a
// re-authentication and failures with a debug logger, then looks for the
// password, every token and every key in the log and the errors.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	t.Parallel()
	var logBuf syncBuffer
	logger := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fs := newFakeServer(t, true, alice, true)
	m := aliceMech()
	m.mutual = true
	tr := newTestTransport(t, fs, m)
	tr.Logger = logger
	var errs []error
	mustDo(t, tr, fs.srv.URL, "one")
	fs.srv.CloseClientConnections()
	mustDo(t, tr, fs.srv.URL, "two")
	fs.deny401.Store(1)
	mustDo(t, tr, fs.srv.URL, "three")
	fs.tamper.Store(true)
	_, _, err := do(context.Background(), tr, fs.srv.URL, "four")
	errs = append(errs, err)
	fs.tamper.Store(false)

	bad := &fakeMech{user: "alice", password: "wr0ng-Secret-Pw"}
	tr2 := newTestTransport(t, fs, bad)
	tr2.Logger = logger
	_, _, err = do(context.Background(), tr2, fs.srv.URL, "five")
	errs = append(errs, err)

	log := logBuf.String()
	for _, want := range []string{"handshake start", "handshake done", "round_trips=3", "re-authenticating", "handshake failed"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	secrets := append(m.secrets(), bad.secrets()...)
	secrets = append(secrets, m.password, bad.password, base64.StdEncoding.EncodeToString([]byte(m.password)))
	for _, e := range errs {
		if e == nil {
			t.Fatal("expected an error")
		}
	}
	for _, s := range secrets {
		if len(s) < 6 {
			continue
		}
		if strings.Contains(log, s) {
			t.Errorf("log holds secret %.12q…", s)
		}
		for _, e := range errs {
			if strings.Contains(e.Error(), s) {
				t.Errorf("error %q holds secret %.12q…", e, s)
			}
		}
	}
}

func TestCertificate(t *testing.T) {
	t.Parallel()
	var got string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
	}))
	defer srv.Close()
	c := &Certificate{Base: srv.Client().Transport}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("x"))
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != CertificateAuthorization {
		t.Errorf("Authorization %q", got)
	}
	if req.Header.Get("Authorization") != "" {
		t.Error("the caller's request was modified")
	}
	body := &trackingBody{Reader: strings.NewReader("x")}
	req, _ = http.NewRequest(http.MethodPost, "http://127.0.0.1:1/wsman", body)
	if _, err := c.RoundTrip(req); !errors.Is(err, ErrRequiresHTTPS) {
		t.Errorf("http:// URL: %v", err)
	}
	if !body.closed {
		t.Error("body not closed")
	}
	if c.EncryptsMessages() {
		t.Error("Certificate claims to encrypt messages")
	}
	c.CloseIdleConnections()
}

type trackingBody struct {
	*strings.Reader
	closed bool
}

func (b *trackingBody) Close() error { b.closed = true; return nil }

// TestTransportNoLeaks is not parallel: goleak sees every goroutine.
func TestTransportNoLeaks(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, useTLS := range []bool{false, true} {
		fs := newFakeServer(t, useTLS, alice, false)
		tr := newTestTransport(t, fs, aliceMech())
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() { mustDo(t, tr, fs.srv.URL, fmt.Sprint(i)) })
		}
		wg.Wait()
		tr.CloseIdleConnections()
		fs.srv.Close()
	}
}
