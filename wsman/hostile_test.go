package wsman

import (
	"bytes"
	"context"

	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileReceive runs one Receive against a server answering every request
// with status and body, in which relatesToPlaceholder (if present) is
// replaced by the request's MessageID. The server writes the body without
// copying it, so that a test can measure the client's allocations.
func hostileReceive(t *testing.T, c *Client, status int, body string) (*ReceiveResult, error) {
	t.Helper()
	raw := []byte(body)
	i := bytes.Index(raw, []byte(relatesToPlaceholder))
	srv := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		req, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
		w.WriteHeader(status)
		if i < 0 {
			_, _ = w.Write(raw)
			return
		}
		_, _ = w.Write(raw[:i])
		_, _ = io.WriteString(w, messageIDOf(req))
		_, _ = w.Write(raw[i+len(relatesToPlaceholder):])
	})
	c.URL = srv.URL + "/wsman"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Receive(ctx, ShellRef{ID: "S"}, "C", ReceiveOptions{})
}

// TestHostileServerMemory: what a response may cost is decided by the
// client. The body limit follows MaxEnvelopeSize, and a body under it that
// nests deeply or repeats empty elements is refused or parsed within the
// budget. Not parallel: it measures TotalAlloc around each call.
func TestHostileServerMemory(t *testing.T) {
	const envelope = 512000
	limit := responseLimit(envelope)
	require.Equal(t, int64(4*512000+64<<10), limit)
	cases := []struct {
		name  string
		body  string
		check func(t *testing.T, res *ReceiveResult, err error)
	}{
		{"deep nesting", envelopeOf(repeatTo("", "<a>", "", int(limit)-len(envelopeOf("")))), func(t *testing.T, _ *ReceiveResult, err error) {
			require.ErrorIs(t, err, ErrResponseTooLarge)
			assert.Contains(t, err.Error(), "nested deeper than 64")
		}},
		{"many empty streams", envelopeOf(repeatTo(`<rsp:ReceiveResponse>`, `<rsp:Stream Name="stdout" CommandId="C"/>`, `</rsp:ReceiveResponse>`, int(limit)-len(envelopeOf("")))),
			func(t *testing.T, res *ReceiveResult, err error) {
				require.NoError(t, err)
				assert.Empty(t, res.Streams)
			}},
		{"at the limit", repeatTo("", " ", envelopeOf(`<rsp:ReceiveResponse><rsp:Stream Name="stdout">`+strings.Repeat("QUFB", int(limit)/5)+`</rsp:Stream></rsp:ReceiveResponse>`), int(limit)),
			func(t *testing.T, res *ReceiveResult, err error) {
				require.NoError(t, err)
				require.Len(t, res.Streams, 1)
				assert.Len(t, res.Streams[0].Data, int(limit)/5*3)
			}},
		{"one byte over the limit", repeatTo("", " ", envelopeOf(`<rsp:ReceiveResponse/>`), int(limit)+1),
			func(t *testing.T, _ *ReceiveResult, err error) {
				require.ErrorIs(t, err, ErrResponseTooLarge)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "one byte over the limit" && tc.name != "at the limit" {
				require.LessOrEqual(t, int64(len(tc.body)), limit)
			}
			c := &Client{MaxEnvelopeSize: envelope}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			body := tc.body
			res, err := hostileReceive(t, c, http.StatusOK, body)
			runtime.ReadMemStats(&after)
			tc.check(t, res, err)
			// The body is read once (plus the server's copy and the HTTP
			// machinery), then parsed within parseBudget.
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d-byte body: %d bytes allocated (%.2f×)", len(tc.body), alloc, float64(alloc)/float64(len(tc.body)))
			assert.LessOrEqual(t, alloc, uint64(len(tc.body))*2+parseBudget(len(tc.body))+1<<20)
		})
	}
	t.Run("default limit follows the envelope size", func(t *testing.T) {
		// 1 MB is within the old fixed 64 MiB but above 4 × 153600 + 64 KiB.
		body := repeatTo("", " ", envelopeOf(`<rsp:ReceiveResponse/>`), 1<<20)
		_, err := hostileReceive(t, &Client{}, http.StatusOK, body)
		require.ErrorIs(t, err, ErrResponseTooLarge)
		assert.Contains(t, err.Error(), "679936 bytes")
		c := &Client{}
		c.SetMaxEnvelopeSize(512000)
		_, err = hostileReceive(t, c, http.StatusOK, body)
		require.NoError(t, err)
		assert.Equal(t, limit, c.maxResponseSize())
		c.MaxResponseSize = 100
		assert.Equal(t, int64(100), c.maxResponseSize())
	})
}

// TestHostileServerErrors: fault text is sanitised and bounded, so an error
// never grows with the body nor carries line breaks or bidi controls.
func TestHostileServerErrors(t *testing.T) {
	t.Parallel()
	evil := "boom\r\nInjected: line \u202egnp.exe\u009b31m\u2028 "
	huge := strings.Repeat(evil, (200<<10)/len(evil))
	body := envelopeOf(`<s:Fault><s:Code><s:Value>s:Receiver` + evil + `</s:Value><s:Subcode><s:Value>w:` + strings.Repeat("X", 10000) + `</s:Value></s:Subcode></s:Code>` +
		`<s:Reason><s:Text>` + huge + `</s:Text></s:Reason><s:Detail><f:WSManFault Code="2150858793" Machine="` + evil + `"><f:Message>` + huge +
		`<f:ProviderFault provider="` + evil + `" path="p">` + huge + `</f:ProviderFault></f:Message></f:WSManFault></s:Detail></s:Fault>`)
	c := &Client{MaxEnvelopeSize: 512000}
	_, err := hostileReceive(t, c, http.StatusInternalServerError, body)
	var f *Fault
	require.ErrorAs(t, err, &f)
	assert.ErrorIs(t, err, ErrOperationTimeout)
	msg := err.Error()
	t.Logf("%d-byte fault body → %d-byte error", len(body), len(msg))
	assert.LessOrEqual(t, len(msg), 2<<10)
	assert.LessOrEqual(t, len(f.Message), maxFaultText+32)
	assert.LessOrEqual(t, len(f.Subcode), maxFaultField+32)
	assert.Contains(t, f.Message, "bytes more)")
	for _, bad := range []string{"\r", "\n", "\u202e", "\u009b", "\u2028"} {
		assert.NotContains(t, msg, bad)
		for _, field := range []string{f.Code, f.Subcode, f.Machine, f.Provider, f.Message} {
			assert.NotContains(t, field, bad)
		}
	}
	assert.True(t, strings.HasPrefix(f.Message, "boom Injected: line  gnp.exe 31m  boom"), f.Message)
}

// TestHostileServerClassify: every response a program must handle yields a
// typed error that says what happened and carries the HTTP status.
func TestHostileServerClassify(t *testing.T) {
	t.Parallel()
	t.Run("redirect to file", func(t *testing.T) {
		t.Parallel()
		srv := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "file:///etc/passwd", http.StatusTemporaryRedirect)
		})
		c := &Client{URL: srv.URL, AllowRedirects: true}
		err := c.Delete(context.Background(), ShellRef{ID: "S"})
		var re *RedirectError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, http.StatusTemporaryRedirect, re.StatusCode)
		assert.Equal(t, "file:///etc/passwd", re.Location)
		assert.Contains(t, err.Error(), `unsupported Location scheme "file"`)
	})
	shapes := []struct {
		name, body string
		check      func(t *testing.T, err error)
	}{
		{"empty fault", envelopeOf(`<s:Fault/>`), func(t *testing.T, err error) {
			var f *Fault
			require.ErrorAs(t, err, &f)
			assert.Equal(t, 500, f.HTTPStatus)
			assert.Equal(t, "wsman: SOAP fault without code, subcode or reason (HTTP 500 Internal Server Error)", err.Error())
		}},
		{"fault with a code only", envelopeOf(`<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code></s:Fault>`), func(t *testing.T, err error) {
			var f *Fault
			require.ErrorAs(t, err, &f)
			assert.Equal(t, "wsman: fault (s:Receiver) without a reason (HTTP 500 Internal Server Error)", err.Error())
		}},
		{"envelope without fault", envelopeOf(`<x:Other xmlns:x="urn:x"/>`), func(t *testing.T, err error) {
			var he *HTTPError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, 500, he.StatusCode)
			assert.Contains(t, err.Error(), "HTTP 500")
		}},
		{"not SOAP", `{"error": "nope"}`, func(t *testing.T, err error) {
			var he *HTTPError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, `wsman: HTTP 500 Internal Server Error: {"error": "nope"}`, err.Error())
		}},
		{"deeply nested", envelopeOf(strings.Repeat("<a>", 1000)), func(t *testing.T, err error) {
			var he *HTTPError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, 500, he.StatusCode)
		}},
	}
	for _, tc := range shapes {
		t.Run("500 "+tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := hostileReceive(t, &Client{}, http.StatusInternalServerError, tc.body)
			require.Error(t, err)
			assert.NotEqual(t, "wsman: fault", err.Error())
			tc.check(t, err)
		})
	}
}

// basicAuth adds an Authorization header to every request, as auth.Basic
// does.
type basicAuth struct{ next http.RoundTripper }

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth("user", "secret")
	return b.next.RoundTrip(r)
}

// TestHostileServerRedirectOrigin: with redirects allowed, a redirect to
// another origin does not carry the credentials unless the caller opts in
// by name; same-origin redirects are followed.
func TestHostileServerRedirectOrigin(t *testing.T) {
	t.Parallel()
	deleteOK := loadCapture(t, "test_psrp_no_profile.yml")[5].Response
	var otherAuth atomic.Value
	var otherHits atomic.Int32
	other := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		otherAuth.Store(r.Header.Get("Authorization"))
		body, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, withRelatesTo(deleteOK, messageIDOf(body)))
	})
	origin := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same" {
			body, _ := io.ReadAll(r.Body)
			_, _ = io.WriteString(w, withRelatesTo(deleteOK, messageIDOf(body)))
			return
		}
		target := other.URL + "/wsman"
		if r.URL.Query().Get("to") == "same" {
			target = "/same"
		}
		http.Redirect(w, r, target, http.StatusTemporaryRedirect)
	})
	hc := &http.Client{Transport: basicAuth{http.DefaultTransport}}

	c := &Client{URL: origin.URL + "/wsman", HTTPClient: hc, AllowRedirects: true}
	err := c.Delete(context.Background(), ShellRef{ID: "S"})
	var re *RedirectError
	require.ErrorAs(t, err, &re)
	assert.True(t, re.CrossOrigin)
	assert.Contains(t, err.Error(), "AllowCrossOriginRedirects")
	assert.Equal(t, int32(0), otherHits.Load(), "the other origin must not be contacted")

	same := &Client{URL: origin.URL + "/wsman?to=same", HTTPClient: hc, AllowRedirects: true}
	require.NoError(t, same.Delete(context.Background(), ShellRef{ID: "S"}))

	opted := &Client{URL: origin.URL + "/wsman", HTTPClient: hc, AllowRedirects: true, AllowCrossOriginRedirects: true}
	require.NoError(t, opted.Delete(context.Background(), ShellRef{ID: "S"}))
	assert.Equal(t, int32(1), otherHits.Load())
	assert.NotEmpty(t, otherAuth.Load(), "opting in sends the credentials, as documented")

	// A scheme change is another origin too (https → http would expose them).
	u := origin.URL
	assert.False(t, sameOrigin(mustURL(t, "https://h/wsman"), mustURL(t, "http://h:443/wsman")))
	assert.True(t, sameOrigin(mustURL(t, "https://H:443/a"), mustURL(t, "https://h/b")))
	assert.False(t, sameOrigin(mustURL(t, u), mustURL(t, other.URL)))

}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}
