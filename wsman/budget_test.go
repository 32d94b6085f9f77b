package wsman

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// relatesToPlaceholder stands for the request's MessageID in envelopeOf's
// output; it has the length of a real one.
const relatesToPlaceholder = "uuid:XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"

// envelopeOf wraps body in a SOAP envelope with the namespaces Windows
// declares.
func envelopeOf(body string) string {
	return `<s:Envelope xmlns:s="` + NsSOAP + `" xmlns:a="` + NsAddressing + `" xmlns:rsp="` + NsShell + `" xmlns:f="` + NsWSManFault +
		`" xmlns:n="` + NsEnumeration + `"><s:Header><a:RelatesTo>` + relatesToPlaceholder + `</a:RelatesTo></s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
}

// repeatTo repeats unit between prefix and suffix so that the whole is about
// size bytes.
func repeatTo(prefix, unit, suffix string, size int) string {
	n := (size - len(prefix) - len(suffix)) / len(unit)
	return prefix + strings.Repeat(unit, max(n, 0)) + suffix
}

// hostileBodies are responses of about size bytes built to amplify memory
// or errors; each is either refused with a typed error or parsed.
func hostileBodies(size int) map[string]string {
	recv := func(unit string) string {
		return envelopeOf(repeatTo(`<rsp:ReceiveResponse>`, unit, `</rsp:ReceiveResponse>`, size-400))
	}
	fault := func(msg string) string {
		return envelopeOf(`<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Reason><s:Text>` + msg +
			`</s:Text></s:Reason><s:Detail><f:WSManFault Code="1" Machine="m"><f:Message>` + msg + `</f:Message></f:WSManFault></s:Detail></s:Fault>`)
	}
	attrs := func(i int) string {
		var b strings.Builder
		for j := range 60 {
			fmt.Fprintf(&b, ` a%d="%d"`, j, i)
		}
		return b.String()
	}
	return map[string]string{
		"deep nesting":             envelopeOf(repeatTo("", "<a>", "", size-400)),
		"deep nesting, one prefix": envelopeOf(repeatTo("", `<x:a xmlns:x="u">`, "", size-400)),
		"empty streams":            recv(`<rsp:Stream Name="stdout" CommandId="C"/>`),
		"empty streams, short":     recv(`<Stream/>`),
		"end-only streams":         recv(`<rsp:Stream End="1"/>`),
		"tiny streams with data":   recv(`<rsp:Stream>AA==</rsp:Stream>`),
		// Just within the record bound: kept, so the records are paid for.
		"end-only streams, padded": recv(fmt.Sprintf("%-*s", streamRecordBytes+1, `<rsp:Stream End="1"/>`)),
		"data streams, padded":     recv(fmt.Sprintf("%-*s", streamRecordBytes+1, `<rsp:Stream>AAAA</rsp:Stream>`)),
		"one big stream":           recv(`<rsp:Stream Name="stdout">` + strings.Repeat("QUFB", size/4-200) + `</rsp:Stream>`),
		"shells, padded": envelopeOf(repeatTo(`<n:PullResponse><n:Items>`, fmt.Sprintf("%-*s", shellRecordBytes+1, `<rsp:Shell><rsp:ShellId>S</rsp:ShellId></rsp:Shell>`),
			`</n:Items></n:PullResponse>`, size-400)),
		"huge fault text":           fault(strings.Repeat("x\r\n\u202e", size/12)),
		"huge fault text entities":  fault(strings.Repeat("&#x202E;&lt;", size/24)),
		"many attributes":           envelopeOf(repeatTo("<a", ` b=""`, "/>", size-400)),
		"many namespace decls":      envelopeOf(repeatTo("<a", ` xmlns:p="u"`, "/>", size-400)),
		"elements of 60 attributes": envelopeOf(repeatTo("", "<a"+attrs(0)+"/>", "", size-400)),
		"many shells": envelopeOf(repeatTo(`<n:PullResponse><n:Items>`, `<rsp:Shell><rsp:ShellId>S</rsp:ShellId></rsp:Shell>`,
			`</n:Items></n:PullResponse>`, size-400)),
		"many commands": envelopeOf(repeatTo(`<n:PullResponse><n:Items>`, `<rsp:Command><rsp:CommandId>C</rsp:CommandId></rsp:Command>`,
			`</n:Items></n:PullResponse>`, size-400)),
		"many reasons":   envelopeOf(repeatTo(`<s:Fault><s:Reason>`, `<s:Text>r</s:Text>`, `</s:Reason></s:Fault>`, size-400)),
		"many selectors": envelopeOf(repeatTo(`<t:ResourceCreated xmlns:t="`+NsTransfer+`"><ReferenceParameters><SelectorSet>`, `<Selector Name="ShellId">S</Selector>`, `</SelectorSet></ReferenceParameters></t:ResourceCreated>`, size-400)),
		"comments":       envelopeOf(repeatTo("", "<!---->", "", size-400)),
		"text runs":      envelopeOf(repeatTo("<a>", "x<b/>", "</a>", size-400)),
	}
}

// parseBudget is the documented bound (response.go) on what parsing a body
// of n bytes may allocate.
func parseBudget(n int) uint64 { return uint64(2*n + 64<<10) }

// parseAll runs every parser the client applies to a response.
func parseAll(data []byte) (err error) {
	env, err := parseEnvelope("Test", data)
	if err != nil {
		return err
	}
	if env.Body.Fault != nil {
		return env.Body.Fault.toFault(500, "")
	}
	if env.Body.ReceiveResponse != nil {
		_, err = receiveResult(env)
	}
	return err
}

// TestResponseMemoryBudget measures the bytes allocated while parsing
// hostile bodies against parseBudget: at 512 KiB and at the response limit
// with a 512000-byte envelope (2.1 MB). It does not run in parallel, so that
// TotalAlloc counts this parse only.
func TestResponseMemoryBudget(t *testing.T) {
	for _, size := range []int{512 << 10, int(responseLimit(512000))} {
		for name, body := range hostileBodies(size) {
			data := []byte(body)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := parseAll(data)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%-28s %8d bytes: allocated %9d (%.2f×), %v", name, len(data), alloc, float64(alloc)/float64(len(data)), errSummary(err))
			if alloc > parseBudget(len(data)) {
				t.Errorf("%s (%d bytes): allocated %d bytes, budget %d", name, len(data), alloc, parseBudget(len(data)))
			}
			if err != nil {
				var pe *ProtocolError
				var f *Fault
				if !errors.As(err, &pe) && !errors.As(err, &f) {
					t.Errorf("%s: untyped error %T", name, err)
				}
				if n := len(err.Error()); n > 4<<10 {
					t.Errorf("%s: error of %d bytes", name, n)
				}
			}
		}
	}
}

func errSummary(err error) string {
	if err == nil {
		return "parsed"
	}
	s := err.Error()
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return fmt.Sprintf("%T %q", err, s)
}
