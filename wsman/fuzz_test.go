package wsman

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParseResponse feeds arbitrary bytes to the response parsers (envelope,
// fault, ReceiveResponse, shells, enumeration): they must return a result or
// a typed error, never panic. The seed corpus is every recorded Windows
// response.
func FuzzParseResponse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(captureDir, "test_*.yml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no captures in %s: %v", captureDir, err)
	}
	for _, file := range files {
		msgs, err := readCapture(filepath.Base(file))
		if err != nil {
			f.Fatal(err)
		}
		for _, m := range msgs {
			if m.Response != "" && len(m.Response) <= 16<<10 { // keep the seed run fast
				f.Add([]byte(m.Response))
			}
		}
	}
	f.Add([]byte(faultEnvelope("x", "w:TimedOut", CodeOperationTimeout, "m")))
	f.Add([]byte(""))
	for _, body := range hostileBodies(4 << 10) {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := parseReceiveResponse(data)
		if err != nil {
			var pe *ProtocolError
			var fe *Fault
			if !errors.As(err, &pe) && !errors.As(err, &fe) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			_ = err.Error()
		} else if res == nil {
			t.Fatal("nil result without error")
		} else {
			res.Release() // back to the pool, for the next input to reuse
		}
		env, err := parseEnvelope("Fuzz", data)
		if err != nil {
			return
		}
		if env.Body.Fault != nil {
			_ = env.Body.Fault.toFault(500, "a").Error()
		}
		if env.Body.Shell != nil {
			_ = env.Body.Shell.toInfo()
		}
		for _, r := range []*enumResponseXML{env.Body.EnumerateResponse, env.Body.PullResponse} {
			if r != nil {
				_ = appendItems(nil, r.Items)
			}
		}
	})
}

// BenchmarkParseReceiveResponse decodes the recorded pipeline output response
// (two streams and a CommandState).
func BenchmarkParseReceiveResponse(b *testing.B) {
	msgs := loadCapture(b, "test_psrp_no_profile.yml")
	data := []byte(msgs[4].Response)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := parseReceiveResponse(data)
		if err != nil {
			b.Fatal(err)
		}
		res.Release() // as the session does once it has consumed the data
	}
}

// BenchmarkBuildSendEnvelope builds a Send envelope carrying 32 KiB of data.
func BenchmarkBuildSendEnvelope(b *testing.B) {
	data := make([]byte, 32<<10)
	r := &request{op: "Send", action: ActionSend, resourceURI: ResourcePowerShell, selectors: []selector{{"ShellId", "S"}},
		body: func(sb *bytes.Buffer) {
			sb.WriteString(`<rsp:Send><rsp:Stream Name="stdin">`)
			writeB64(sb, data)
			sb.WriteString(`</rsp:Stream></rsp:Send>`)
		}}
	p := envelopeParams{to: "http://h/wsman", messageID: "uuid:X", sessionID: "uuid:Y", maxEnvelope: 512000, locale: "en-US", dataLocale: "en-US", timeout: 20 * time.Second}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		_ = buildEnvelope(r, p)
	}
}
