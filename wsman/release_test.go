package wsman

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// poisonForTest turns on poisoning of released stream buffers for the test
// (race builds have it on already). Tests that use it are not parallel:
// parallel tests run only once every sequential one has returned.
func poisonForTest(t *testing.T) {
	prev := poisonReleased
	poisonReleased = true
	t.Cleanup(func() { poisonReleased = prev })
}

func receiveBody(streams ...string) string {
	var b strings.Builder
	b.WriteString(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header><a:RelatesTo>RELATES</a:RelatesTo></s:Header><s:Body><rsp:ReceiveResponse>`)
	for _, s := range streams {
		b.WriteString(`<rsp:Stream Name="stdout" CommandId="C">` + base64.StdEncoding.EncodeToString([]byte(s)) + `</rsp:Stream>`)
	}
	b.WriteString(`</rsp:ReceiveResponse></s:Body></s:Envelope>`)
	return b.String()
}

// A consumer that keeps Data past Release reads poison, not its bytes:
// what makes such a consumer fail its tests in race builds.
func TestReceiveResultReleasePoisons(t *testing.T) {
	poisonForTest(t)
	res, err := parseReceiveResponse([]byte(receiveBody("first", "second")))
	require.NoError(t, err)
	require.Len(t, res.Streams, 2)
	kept := res.Streams[1].Data
	assert.Equal(t, "second", string(kept))
	res.Release()
	assert.Nil(t, res.Streams, "Release empties Streams")
	assert.Equal(t, bytes.Repeat([]byte{poisonByte}, len("second")), kept, "a kept Data must read as poison")
	res.Release() // twice is harmless
}

// Stream data of one response share one buffer, each Data capped so that
// appending to one cannot overwrite the next.
func TestReceiveResultDataCapped(t *testing.T) {
	t.Parallel()
	res, err := parseReceiveResponse([]byte(receiveBody("ab", "cd")))
	require.NoError(t, err)
	defer res.Release()
	first := append(res.Streams[0].Data, 'X')
	assert.Equal(t, "abX", string(first))
	assert.Equal(t, "cd", string(res.Streams[1].Data))
}

// Released buffers are reused by later Receives of a Client, and what each
// Receive returns is intact until its own Release.
func TestReceiveReusesReleasedBuffers(t *testing.T) {
	poisonForTest(t)
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req bytes.Buffer
		_, _ = req.ReadFrom(r.Body)
		id := field(t, req.String(), `<wsa:MessageID>([^<]+)</wsa:MessageID>`)
		n++
		body := receiveBody(strings.Repeat("x", n*100), strings.Repeat("y", 50))
		w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
		_, _ = w.Write([]byte(strings.Replace(body, "RELATES", id, 1)))
	}))
	defer srv.Close()
	c := &Client{URL: srv.URL}
	var prev *ReceiveResult
	for i := 1; i <= 5; i++ {
		res, err := c.Receive(context.Background(), ShellRef{ID: "S"}, "C", ReceiveOptions{})
		require.NoError(t, err)
		require.Len(t, res.Streams, 2)
		assert.Equal(t, strings.Repeat("x", i*100), string(res.Streams[0].Data))
		assert.Equal(t, strings.Repeat("y", 50), string(res.Streams[1].Data))
		if prev != nil {
			prev.Release()
			// The live result is untouched by the release of another.
			assert.Equal(t, strings.Repeat("x", i*100), string(res.Streams[0].Data))
		}
		prev = res
	}
	prev.Release()
}

// Stream text is read as it is when it is one plain run, and through the
// XML decoder otherwise: every spelling of the same base64 decodes alike.
func TestReceiveStreamTextForms(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"QUJD",
		"\r\n QUJD \n",
		"QU&#x4A;D",
		"<![CDATA[QUJD]]>",
		"QU<!-- a comment -->JD",
		"QU<x/>JD",
	} {
		body := strings.Replace(receiveBody("ABC"), base64.StdEncoding.EncodeToString([]byte("ABC")), text, 1)
		res, err := parseReceiveResponse([]byte(body))
		require.NoError(t, err, text)
		require.Len(t, res.Streams, 1, text)
		assert.Equal(t, "ABC", string(res.Streams[0].Data), text)
		res.Release()
	}
	for _, text := range []string{"QU JD", "QUJD\x01", "QU\xffJD"} {
		body := strings.Replace(receiveBody("ABC"), base64.StdEncoding.EncodeToString([]byte("ABC")), text, 1)
		_, err := parseReceiveResponse([]byte(body))
		assert.ErrorIs(t, err, ErrMalformedResponse, "%q", text)
	}
}

// BenchmarkParseReceiveBulk decodes a full 500 KB response of 1,500 streams,
// as a stream of pipeline output brings one after another; "kept" does not
// Release, so each response decodes into a new buffer.
func BenchmarkParseReceiveBulk(b *testing.B) {
	streams := make([]string, 1500)
	for i := range streams {
		streams[i] = strings.Repeat(string(rune('a'+i%26)), 250)
	}
	data := []byte(receiveBody(streams...))
	for _, release := range []bool{true, false} {
		name := "released"
		if !release {
			name = "kept"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				res, err := parseReceiveResponse(data)
				if err != nil {
					b.Fatal(err)
				}
				if release {
					res.Release()
				}
			}
		})
	}
}
