package auth_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gopsrp/gopsrp/auth"
	"go.uber.org/goleak"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// trackingBody records whether Close was called.
type trackingBody struct {
	io.Reader
	mu     sync.Mutex
	closed bool
}

func (b *trackingBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (b *trackingBody) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

func TestBasicSetsHeaderOnCloneOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, user, pass string
	}{
		{"plain", "alice", "s3cret"},
		{"domain user", `CORP\alice`, "pä:ss wörd"},
		{"empty password", "bob", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got string
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				got = r.Header.Get("Authorization")
				if r.Body != nil {
					_ = r.Body.Close()
				}
				return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
			})
			rt := &auth.Basic{Username: tc.user, Password: tc.pass, Base: base}
			req, err := http.NewRequest(http.MethodPost, "https://example.invalid/wsman", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			want := "Basic " + base64.StdEncoding.EncodeToString([]byte(tc.user+":"+tc.pass))
			if got != want {
				t.Errorf("Authorization = %q, want %q", got, want)
			}
			if h := req.Header.Get("Authorization"); h != "" {
				t.Errorf("caller's request was modified: Authorization = %q", h)
			}
		})
	}
}

func TestBasicRejectsColonAndClosesBody(t *testing.T) {
	t.Parallel()
	called := false
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		called = true
		return nil, errors.New("unreachable")
	})
	body := &trackingBody{Reader: strings.NewReader("payload")}
	req, err := http.NewRequest(http.MethodPost, "https://example.invalid/wsman", body)
	if err != nil {
		t.Fatal(err)
	}
	rt := &auth.Basic{Username: "a:b", Password: "hunter2", Base: base}
	_, err = rt.RoundTrip(req)
	if !errors.Is(err, auth.ErrInvalidUsername) {
		t.Fatalf("err = %v, want ErrInvalidUsername", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error reveals the password: %v", err)
	}
	if called {
		t.Error("base transport was called for an invalid user name")
	}
	if !body.isClosed() {
		t.Error("request body not closed on the error path")
	}
}

func TestBasicHidesPassword(t *testing.T) {
	t.Parallel()
	b := &auth.Basic{Username: "alice", Password: "hunter2"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{b, *b} {
			s := fmt.Sprintf(format, v)
			if strings.Contains(s, "hunter2") {
				t.Errorf("%s of %T reveals the password: %s", format, v, s)
			}
			if !strings.Contains(s, "alice") {
				t.Errorf("%s of %T lost the user name: %s", format, v, s)
			}
		}
	}
	if b.EncryptsMessages() {
		t.Error("Basic must not claim to encrypt messages")
	}
	var _ auth.MessageEncrypter = b
}

func TestBasicAgainstServerConcurrently(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "alice" || p != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: &auth.Basic{Username: "alice", Password: "pw", Base: tr}}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("body"))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Wrong password: the server's 401 comes back as a response, not an error.
	bad := &http.Client{Transport: &auth.Basic{Username: "alice", Password: "wrong", Base: tr}}
	resp, err := bad.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", resp.StatusCode)
	}
}

func TestBasicClone(t *testing.T) {
	t.Parallel()
	b := &auth.Basic{Username: "u", Password: "p"}
	c := b.Clone()
	c.Username = "v"
	if b.Username != "u" {
		t.Error("Clone shares state with the original")
	}
}
