package wsman

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/internal/xsduration"
)

// Option is one wsman:Option of the request's OptionSet.
type Option struct {
	Name  string
	Value string
	// MustComply sets MustComply="true": the server faults if it does not
	// understand the option.
	MustComply bool
}

// selector is one wsman:Selector; a slice keeps the order deterministic.
type selector struct{ name, value string }

// request describes one envelope to build.
type request struct {
	op          string // for errors and logs, e.g. "Receive"
	action      string
	resourceURI string
	options     []Option
	selectors   []selector
	timeout     time.Duration // 0 => client default
	body        func(b *bytes.Buffer)
	// rawBody, if set, receives the inner XML of the response's s:Body.
	rawBody *[]byte
	// sizeHint is the expected body size, to allocate the envelope once.
	sizeHint int
	// recycleBody lets call reuse the response body's buffer once the
	// response is decoded: set only for responses whose decoded form
	// copies everything it keeps (Receive), so nothing aliases the body.
	recycleBody bool
	// operationID, when not uuid.Nil, adds the robust-connection headers
	// (wsmv:OperationID and wsmv:SequenceId, MS-WSMV 3.1.4.1.39);
	// retransmit marks the request as a repeat of the one with that id.
	operationID uuid.UUID
	retransmit  bool
}

// sortedSelectors turns a map into selectors ordered by name.
func sortedSelectors(m map[string]string) []selector {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]selector, 0, len(keys))
	for _, k := range keys {
		out = append(out, selector{k, m[k]})
	}
	return out
}

// esc writes s XML-escaped (valid for text and attribute values).
func esc(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s)) // a strings.Builder never fails
}

// writeB64 writes data base64-encoded.
func writeB64(b *bytes.Buffer, data []byte) {
	n := base64.StdEncoding.EncodedLen(len(data))
	b.Grow(n)
	buf := b.AvailableBuffer()[:n]
	base64.StdEncoding.Encode(buf, data)
	b.Write(buf) // buf aliases b's spare capacity: no copy beyond a memmove onto itself
}

// envelopeParams are the per-call header values taken from the client.
type envelopeParams struct {
	to, messageID, sessionID string
	maxEnvelope              int
	locale, dataLocale       string
	timeout                  time.Duration
}

// buildEnvelope renders the SOAP envelope with the header in exactly the order
// and with the attributes PROTOCOL.md §3.3 documents (as accepted by Windows).
func buildEnvelope(r *request, p envelopeParams) []byte {
	var b bytes.Buffer
	b.Grow(1536 + r.sizeHint)
	b.WriteString(`<s:Envelope xmlns:rsp="` + NsShell + `" xmlns:s="` + NsSOAP + `" xmlns:wsa="` + NsAddressing +
		`" xmlns:wsen="` + NsEnumeration + `" xmlns:wsman="` + NsWSMan + `" xmlns:wsmv="` + NsWSMV + `"><s:Header>`)
	b.WriteString(`<wsa:Action s:mustUnderstand="true">`)
	esc(&b, r.action)
	b.WriteString(`</wsa:Action><wsmv:DataLocale s:mustUnderstand="false" xml:lang="`)
	esc(&b, p.dataLocale)
	b.WriteString(`" /><wsman:Locale s:mustUnderstand="false" xml:lang="`)
	esc(&b, p.locale)
	b.WriteString(`" /><wsman:MaxEnvelopeSize s:mustUnderstand="true">`)
	b.WriteString(strconv.Itoa(p.maxEnvelope))
	b.WriteString(`</wsman:MaxEnvelopeSize><wsa:MessageID>`)
	esc(&b, p.messageID)
	b.WriteString(`</wsa:MessageID><wsman:OperationTimeout>`)
	b.WriteString(xsduration.Format(p.timeout))
	b.WriteString(`</wsman:OperationTimeout><wsa:ReplyTo><wsa:Address s:mustUnderstand="true">` + AddressAnonymous +
		`</wsa:Address></wsa:ReplyTo><wsman:ResourceURI s:mustUnderstand="true">`)
	esc(&b, r.resourceURI)
	b.WriteString(`</wsman:ResourceURI><wsmv:SessionId s:mustUnderstand="false">`)
	esc(&b, p.sessionID)
	b.WriteString(`</wsmv:SessionId>`)
	if r.operationID != uuid.Nil {
		writeOperationID(&b, r.operationID, r.retransmit)
	}
	b.WriteString(`<wsa:To>`)
	esc(&b, p.to)
	b.WriteString(`</wsa:To>`)
	if len(r.options) > 0 {
		b.WriteString(`<wsman:OptionSet s:mustUnderstand="true">`)
		for _, o := range r.options {
			b.WriteString(`<wsman:Option `)
			if o.MustComply {
				b.WriteString(`MustComply="true" `)
			}
			b.WriteString(`Name="`)
			esc(&b, o.Name)
			b.WriteString(`">`)
			esc(&b, o.Value)
			b.WriteString(`</wsman:Option>`)
		}
		b.WriteString(`</wsman:OptionSet>`)
	}
	writeSelectorSet(&b, r.selectors)
	b.WriteString(`</s:Header>`)
	if r.body == nil {
		b.WriteString(`<s:Body /></s:Envelope>`)
	} else {
		b.WriteString(`<s:Body>`)
		r.body(&b)
		b.WriteString(`</s:Body></s:Envelope>`)
	}
	return b.Bytes()
}

// writeOperationID writes the robust-connection headers of MS-WSMV
// 3.1.4.1.39: the operation's GUID (2.2.4.45, "uuid:"-prefixed) with
// s:mustUnderstand="false" on its first transmission and "true" on a
// retransmission, and the client's SequenceId, always 1 since the client
// sends one message per operation (2.2.4.46). The spec's schema spells the
// second header SequenceID; Windows clients and servers send SequenceId,
// which is what is written here.
func writeOperationID(b *bytes.Buffer, id uuid.UUID, retransmit bool) {
	b.WriteString(`<wsmv:OperationID s:mustUnderstand="`)
	b.WriteString(strconv.FormatBool(retransmit))
	b.WriteString(`">uuid:`)
	var buf [36]byte
	hex := buf[:]
	encodeGUID(hex, id)
	b.Write(hex)
	b.WriteString(`</wsmv:OperationID><wsmv:SequenceId s:mustUnderstand="false">1</wsmv:SequenceId>`)
}

// encodeGUID writes id in its 36-character uppercase form into dst.
func encodeGUID(dst []byte, id uuid.UUID) {
	const digits = "0123456789ABCDEF"
	j := 0
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst[j] = '-'
			j++
		}
		dst[j], dst[j+1] = digits[c>>4], digits[c&0xF]
		j += 2
	}
}

func writeSelectorSet(b *bytes.Buffer, sel []selector) {
	if len(sel) == 0 {
		return
	}
	b.WriteString(`<wsman:SelectorSet>`)
	for _, s := range sel {
		b.WriteString(`<wsman:Selector Name="`)
		esc(b, s.name)
		b.WriteString(`">`)
		esc(b, s.value)
		b.WriteString(`</wsman:Selector>`)
	}
	b.WriteString(`</wsman:SelectorSet>`)
}

// newGUID returns an uppercase GUID string as WinRM and PowerShell use.
func newGUID() string {
	return strings.ToUpper(newUUID().String())
}
