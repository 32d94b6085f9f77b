package wsman

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/gopsrp/gopsrp/internal/xmlchar"
)

// Bounds of the response scanner. They are far above what Windows sends (its
// envelopes nest about 10 deep, carry at most a dozen attributes per element
// and a few thousand elements within 512000 bytes) and far below what would
// let a hostile body cost more than a small multiple of its size.
const (
	// maxResponseDepth bounds element nesting.
	maxResponseDepth = 64
	// maxResponseAttrs bounds the attributes (namespace declarations
	// included) of one element.
	maxResponseAttrs = 64
	// maxResponseTokens bounds the tokens of a response: tags, text runs,
	// comments and processing instructions.
	maxResponseTokens = 1 << 20
)

type tokKind uint8

const (
	tokEOF   tokKind = iota
	tokStart         // start tag (a self-closing tag yields tokStart then tokEnd)
	tokEnd           // end tag
	tokText          // character data or a CDATA section (cdata set)
)

// xmlAttr is an attribute of the current start tag. Slices point into the
// scanned body; value is raw (entities not yet decoded).
type xmlAttr struct {
	space, local, value []byte
}

type nsBinding struct{ prefix, uri []byte }

type openElem struct {
	qname  []byte // raw "prefix:local", to match the end tag
	nsMark int    // length of the binding stack before this element
	space  []byte
	local  []byte
}

// scanError is a well-formedness or limit violation at a byte offset.
type scanError struct {
	offset int
	msg    string
	limit  bool // a bound of the scanner, not bad XML
}

func (e *scanError) Error() string { return fmt.Sprintf("offset %d: %s", e.offset, e.msg) }

// xmlScanner is a bounded, non-validating XML tokenizer for SOAP responses.
// Unlike encoding/xml it allocates nothing per token: names, attribute values
// and text are slices of the body, and its stacks are bounded by
// maxResponseDepth and maxResponseAttrs. It accepts UTF-8 only, refuses
// DTDs (SOAP 1.2 forbids them) and stops at the end of the root element.
// Text of elements the caller skips is not checked.
type xmlScanner struct {
	data   []byte
	pos    int
	tokens int

	// The current token.
	kind         tokKind
	tokStart     int // offset of the token's first byte
	space, local []byte
	attrs        []xmlAttr
	text         []byte
	cdata        bool

	pendingEnd bool // the current start tag was self-closing
	rootDone   bool
	open       []openElem
	ns         []nsBinding
}

func newXMLScanner(data []byte) *xmlScanner {
	s := &xmlScanner{data: data}
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		s.pos = 3
	}
	return s
}

func (s *xmlScanner) fail(format string, args ...any) error {
	return &scanError{offset: s.pos, msg: fmt.Sprintf(format, args...)}
}

func (s *xmlScanner) failLimit(format string, args ...any) error {
	return &scanError{offset: s.pos, msg: fmt.Sprintf(format, args...), limit: true}
}

// next advances to the next token; comments and processing instructions are
// consumed silently. It returns tokEOF after the root element's end.
func (s *xmlScanner) next() (tokKind, error) {
	if s.pendingEnd {
		s.pendingEnd = false
		s.closeTop()
		return s.kind, nil
	}
	for {
		if s.rootDone {
			s.kind = tokEOF
			return tokEOF, nil
		}
		if s.tokens++; s.tokens > maxResponseTokens {
			return 0, s.failLimit("more than %d XML tokens", maxResponseTokens)
		}
		s.tokStart = s.pos
		if s.pos >= len(s.data) {
			if len(s.open) > 0 {
				return 0, s.fail("unexpected end of input inside <%s>", s.open[len(s.open)-1].qname)
			}
			return 0, s.fail("no root element")
		}
		rest := s.data[s.pos:]
		if rest[0] != '<' {
			i := bytes.IndexByte(rest, '<')
			if i < 0 {
				i = len(rest)
			}
			text := rest[:i]
			s.pos += i
			if len(s.open) == 0 {
				if len(bytes.TrimLeft(text, " \t\r\n")) != 0 {
					return 0, s.fail("text outside the root element")
				}
				continue
			}
			s.kind, s.text, s.cdata = tokText, text, false
			return tokText, nil
		}
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			i := bytes.Index(rest[4:], []byte("-->"))
			if i < 0 {
				return 0, s.fail("unterminated comment")
			}
			s.pos += 4 + i + 3
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			if len(s.open) == 0 {
				return 0, s.fail("CDATA outside the root element")
			}
			i := bytes.Index(rest[9:], []byte("]]>"))
			if i < 0 {
				return 0, s.fail("unterminated CDATA section")
			}
			s.kind, s.text, s.cdata = tokText, rest[9:9+i], true
			s.pos += 9 + i + 3
			return tokText, nil
		case bytes.HasPrefix(rest, []byte("<!")):
			return 0, s.fail("document type declarations are not allowed")
		case bytes.HasPrefix(rest, []byte("<?")):
			i := bytes.Index(rest[2:], []byte("?>"))
			if i < 0 {
				return 0, s.fail("unterminated processing instruction")
			}
			if err := s.checkProcInst(rest[2 : 2+i]); err != nil {
				return 0, err
			}
			s.pos += 2 + i + 2
		case bytes.HasPrefix(rest, []byte("</")):
			return s.endTag()
		default:
			return s.startTag()
		}
	}
}

// checkProcInst refuses an XML declaration naming an encoding other than
// UTF-8: the scanner reads UTF-8 only.
func (s *xmlScanner) checkProcInst(pi []byte) error {
	if !bytes.HasPrefix(pi, []byte("xml")) || (len(pi) > 3 && !isSpace(pi[3])) {
		return nil
	}
	i := bytes.Index(pi, []byte("encoding"))
	if i < 0 {
		return nil
	}
	v := bytes.TrimLeft(pi[i+len("encoding"):], " \t\r\n")
	if len(v) == 0 || v[0] != '=' {
		return nil
	}
	v = bytes.TrimLeft(v[1:], " \t\r\n")
	if len(v) < 2 || (v[0] != '"' && v[0] != '\'') {
		return s.fail("malformed XML declaration")
	}
	end := bytes.IndexByte(v[1:], v[0])
	if end < 0 {
		return s.fail("malformed XML declaration")
	}
	if enc := v[1 : 1+end]; !bytes.EqualFold(enc, []byte("utf-8")) && !bytes.EqualFold(enc, []byte("utf8")) {
		return s.fail("unsupported encoding %q", truncateBytes(enc, 32))
	}
	return nil
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

func (s *xmlScanner) skipSpace() {
	for s.pos < len(s.data) && isSpace(s.data[s.pos]) {
		s.pos++
	}
}

// name reads a (qualified) name at s.pos.
func (s *xmlScanner) name() (qname, prefix, local []byte, err error) {
	start := s.pos
	colon := -1
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == ':':
			if colon >= 0 {
				return nil, nil, nil, s.fail("invalid name")
			}
			colon = s.pos
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c >= 0x80:
		case c >= '0' && c <= '9', c == '-', c == '.':
			if s.pos == start || s.pos == colon+1 {
				return nil, nil, nil, s.fail("invalid name")
			}
		default:
			goto done
		}
		s.pos++
	}
done:
	qname = s.data[start:s.pos]
	if len(qname) == 0 || colon == start || colon == s.pos-1 {
		return nil, nil, nil, s.fail("invalid name")
	}
	if colon < 0 {
		return qname, nil, qname, nil
	}
	return qname, s.data[start:colon], s.data[colon+1 : s.pos], nil
}

func (s *xmlScanner) startTag() (tokKind, error) {
	if len(s.open) >= maxResponseDepth {
		return 0, s.failLimit("elements nested deeper than %d", maxResponseDepth)
	}
	s.pos++ // '<'
	qname, prefix, local, err := s.name()
	if err != nil {
		return 0, err
	}
	mark := len(s.ns)
	s.attrs = s.attrs[:0]
	// Attribute prefixes are resolved once the tag's declarations are known.
	var prefixes [maxResponseAttrs][]byte
	for {
		sp := s.pos
		s.skipSpace()
		if s.pos >= len(s.data) {
			return 0, s.fail("unexpected end of input in <%s>", truncateBytes(qname, 64))
		}
		c := s.data[s.pos]
		if c == '>' || c == '/' {
			break
		}
		if s.pos == sp {
			return 0, s.fail("missing space before attribute")
		}
		if len(s.attrs) >= maxResponseAttrs {
			return 0, s.failLimit("more than %d attributes on one element", maxResponseAttrs)
		}
		_, aprefix, alocal, err := s.name()
		if err != nil {
			return 0, err
		}
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '=' {
			return 0, s.fail("attribute without value")
		}
		s.pos++
		s.skipSpace()
		if s.pos >= len(s.data) || (s.data[s.pos] != '"' && s.data[s.pos] != '\'') {
			return 0, s.fail("unquoted attribute value")
		}
		q := s.data[s.pos]
		end := bytes.IndexByte(s.data[s.pos+1:], q)
		if end < 0 {
			return 0, s.fail("unterminated attribute value")
		}
		value := s.data[s.pos+1 : s.pos+1+end]
		if bytes.IndexByte(value, '<') >= 0 {
			return 0, s.fail("'<' in attribute value")
		}
		s.pos += end + 2
		switch {
		case aprefix == nil && string(alocal) == "xmlns":
			uri, err := decodeText(nil, value, false)
			if err != nil {
				return 0, s.fail("namespace: %v", err)
			}
			s.ns = append(s.ns, nsBinding{prefix: []byte{}, uri: uri})
		case string(aprefix) == "xmlns":
			uri, err := decodeText(nil, value, false)
			if err != nil {
				return 0, s.fail("namespace: %v", err)
			}
			if len(uri) == 0 {
				return 0, s.fail("empty namespace for prefix %q", truncateBytes(alocal, 32))
			}
			s.ns = append(s.ns, nsBinding{prefix: alocal, uri: uri})
		}
		prefixes[len(s.attrs)] = aprefix
		s.attrs = append(s.attrs, xmlAttr{local: alocal, value: value})
	}
	selfClosing := s.data[s.pos] == '/'
	if selfClosing {
		s.pos++
		if s.pos >= len(s.data) || s.data[s.pos] != '>' {
			return 0, s.fail("expected '>' after '/'")
		}
	}
	s.pos++
	for i := range s.attrs {
		if p := prefixes[i]; p != nil {
			s.attrs[i].space = s.lookup(p)
		}
	}
	s.space, s.local = s.lookupElement(prefix), local
	s.open = append(s.open, openElem{qname: qname, nsMark: mark, space: s.space, local: local})
	s.kind = tokStart
	s.pendingEnd = selfClosing
	return tokStart, nil
}

// lookup resolves an attribute's or element's prefix. An unbound prefix
// stands for itself, as encoding/xml does.
func (s *xmlScanner) lookup(prefix []byte) []byte {
	switch string(prefix) {
	case "xml":
		return []byte(NsXML)
	case "xmlns":
		return prefix
	}
	for i := len(s.ns) - 1; i >= 0; i-- {
		if bytes.Equal(s.ns[i].prefix, prefix) {
			return s.ns[i].uri
		}
	}
	return prefix
}

func (s *xmlScanner) lookupElement(prefix []byte) []byte {
	if prefix != nil {
		return s.lookup(prefix)
	}
	for i := len(s.ns) - 1; i >= 0; i-- {
		if len(s.ns[i].prefix) == 0 {
			return s.ns[i].uri
		}
	}
	return nil
}

func (s *xmlScanner) endTag() (tokKind, error) {
	s.pos += 2
	qname, _, _, err := s.name()
	if err != nil {
		return 0, err
	}
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != '>' {
		return 0, s.fail("malformed end tag")
	}
	s.pos++
	if len(s.open) == 0 {
		return 0, s.fail("end tag without start tag")
	}
	if top := s.open[len(s.open)-1]; !bytes.Equal(top.qname, qname) {
		return 0, s.fail("</%s> closes <%s>", truncateBytes(qname, 64), truncateBytes(top.qname, 64))
	}
	s.closeTop()
	return tokEnd, nil
}

// closeTop makes the current token the end of the innermost open element.
func (s *xmlScanner) closeTop() {
	top := s.open[len(s.open)-1]
	s.open = s.open[:len(s.open)-1]
	s.ns = s.ns[:top.nsMark]
	s.kind, s.space, s.local = tokEnd, top.space, top.local
	if len(s.open) == 0 {
		s.rootDone = true
	}
}

// is reports whether the current start or end tag is {space}local.
func (s *xmlScanner) is(space, local string) bool {
	return string(s.local) == local && string(s.space) == space
}

// attr returns the raw value of the current start tag's attribute with the
// given local name, in any namespace (the matching rule of encoding/xml for
// an unqualified attribute tag).
func (s *xmlScanner) attr(local string) ([]byte, bool) {
	for _, a := range s.attrs {
		isDecl := string(a.space) == "xmlns" || (a.space == nil && string(a.local) == "xmlns")
		if !isDecl && string(a.local) == local {
			return a.value, true
		}
	}
	return nil, false
}

// attrString returns the decoded value of attribute local ("" when absent
// or undecodable), keeping at most max bytes.
func (s *xmlScanner) attrString(local string, max int) string {
	v, ok := s.attr(local)
	if !ok {
		return ""
	}
	if len(v) > max {
		v = v[:max]
	}
	d, err := decodeText(nil, v, false)
	if err != nil {
		return ""
	}
	return string(d)
}

// skip consumes the rest of the element whose start tag is current.
func (s *xmlScanner) skip() error {
	target := len(s.open) - 1
	for len(s.open) > target {
		if _, err := s.next(); err != nil {
			return err
		}
	}
	return nil
}

// children calls f for each child element of the element whose start tag
// is current; f must consume the child (parse it or call skip). Text
// directly inside the element is ignored. It returns after the element's
// end tag.
func (s *xmlScanner) children(f func() error) error {
	target := len(s.open) - 1
	for {
		k, err := s.next()
		if err != nil {
			return err
		}
		switch {
		case k == tokStart:
			if err := f(); err != nil {
				return err
			}
		case k == tokEnd && len(s.open) == target:
			return nil
		}
	}
}

// textBytes reads the rest of the element whose start tag is current and
// returns its direct character data, decoded; child elements are skipped.
// At most max bytes are kept (max < 0: no limit); total is the length of the
// whole text (past the cap, raw bytes are counted). The result may alias the
// body: do not modify it.
func (s *xmlScanner) textBytes(max int) (text []byte, total int, err error) {
	return s.mixed(max, nil)
}

// mixed is textBytes for an element that may also hold child elements of
// interest: child (if not nil) is called at each child start tag and must
// consume the child.
func (s *xmlScanner) mixed(max int, child func() error) (text []byte, total int, err error) {
	target := len(s.open) - 1
	var buf []byte
	pieces := 0
	for {
		k, err := s.next()
		if err != nil {
			return nil, 0, err
		}
		switch k {
		case tokStart:
			if child == nil {
				err = s.skip()
			} else {
				err = child()
			}
			if err != nil {
				return nil, 0, err
			}
		case tokText:
			raw := s.text
			pieces++
			if max >= 0 && len(buf) >= max {
				total += len(raw) // past the cap: counted, not decoded
				continue
			}
			// Base64 stream data is plain ASCII: checked in one pass.
			plain := pieces == 1 && !s.cdata && plainASCII(raw)
			if plain || pieces == 1 && !s.cdata && bytes.IndexByte(raw, '&') < 0 && bytes.IndexByte(raw, '\r') < 0 {
				// Common case: one run without references; alias the body
				// (capacity cut so that no append can write into it).
				if !plain {
					if err := checkChars(raw); err != nil {
						return nil, 0, s.fail("%v", err)
					}
				}
				total = len(raw)
				if max >= 0 && len(raw) > max {
					raw = raw[:max]
				}
				buf = raw[:len(raw):len(raw)]
				continue
			}
			limit := -1
			if max >= 0 {
				limit = max - len(buf)
			}
			n := len(buf)
			var used int
			buf, used, err = decodeTextLimit(buf, raw, s.cdata, limit)
			if err != nil {
				return nil, 0, s.fail("%v", err)
			}
			total += len(buf) - n + len(raw) - used
			if max >= 0 && len(buf) > max {
				buf = buf[:max]
			}
		case tokEnd:
			if len(s.open) == target {
				return buf, total, nil
			}
		}
	}
}

// rawText reads the rest of the element whose start tag is current when it
// holds one run of character data without references and nothing else, as
// stream data does, and returns that run as it is in the body (aliased: do
// not modify it). Its characters are not checked: the caller must accept
// only a restricted alphabet (base64 does). ok false leaves the scanner
// where it was: use textBytes.
func (s *xmlScanner) rawText() (text []byte, ok bool, err error) {
	if s.pendingEnd {
		return nil, false, nil
	}
	rest := s.data[s.pos:]
	i := bytes.IndexByte(rest, '<')
	if i < 0 || !bytes.HasPrefix(rest[i:], []byte("</")) || bytes.IndexByte(rest[:i], '&') >= 0 {
		return nil, false, nil
	}
	target := len(s.open) - 1
	if i > 0 {
		if _, err := s.next(); err != nil { // the text
			return nil, false, err
		}
	}
	if _, err := s.next(); err != nil { // the end tag, checked
		return nil, false, err
	}
	if len(s.open) != target {
		return nil, false, s.fail("end tag does not close the stream element")
	}
	return rest[:i:i], true, nil
}

// textString is textBytes copied into a string, with surrounding white
// space trimmed.
func (s *xmlScanner) textString(max int) (string, int, error) {
	b, total, err := s.textBytes(max)
	return string(bytes.TrimSpace(b)), total, err
}

// plainASCII reports whether b holds only printable ASCII other than '&'
// (0x20–0x7F): text that needs neither entity decoding nor line-end
// normalisation and that checkChars accepts, as base64 stream data is. It
// tests eight bytes at a time.
func plainASCII(b []byte) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		amp := w ^ (0x26 * ones) // a zero byte where w has '&'
		// The high bit of a byte is set in bad when some byte of w is
		// ≥ 0x80, < 0x20, or '&' (the classic has-less and has-zero word
		// tests; a borrow can only add bits above a byte that is already
		// bad, so the word's answer is exact).
		bad := w&highs | (w-0x20*ones)&^w&highs | (amp-ones)&^amp&highs
		if bad != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 || c >= utf8.RuneSelf || c == '&' {
			return false
		}
	}
	return true
}

// checkChars refuses characters XML does not allow (C0 controls other than
// tab, CR and LF) and invalid UTF-8.
func checkChars(b []byte) error {
	if plainASCII(b) {
		return nil
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return fmt.Errorf("illegal character %#x", c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return fmt.Errorf("invalid UTF-8")
		}
		i += n
	}
	return nil
}

// decodeText appends raw (character data or an attribute value) to dst with
// entity and character references replaced and line ends normalised to LF;
// a CDATA section is copied with line ends normalised only.
func decodeText(dst, raw []byte, cdata bool) ([]byte, error) {
	dst, _, err := decodeTextLimit(dst, raw, cdata, -1)
	return dst, err
}

// decodeTextLimit is decodeText that stops once it has appended limit bytes
// or more (limit < 0: no limit); used is the number of raw bytes decoded.
func decodeTextLimit(dst, raw []byte, cdata bool, limit int) (out []byte, used int, err error) {
	if err := checkChars(raw); err != nil {
		return nil, 0, err
	}
	start := len(dst)
	i := 0
	for i < len(raw) && (limit < 0 || len(dst)-start < limit) {
		c := raw[i]
		switch {
		case c == '\r':
			dst = append(dst, '\n')
			i++
			if i < len(raw) && raw[i] == '\n' {
				i++
			}
		case c == '&' && !cdata:
			end := bytes.IndexByte(raw[i:], ';')
			if end < 0 || end > xmlchar.MaxEntityLen {
				return nil, 0, fmt.Errorf("malformed entity reference")
			}
			ent := raw[i+1 : i+end]
			i += end + 1
			var ok bool
			if dst, ok = xmlchar.AppendEntity(dst, ent); !ok {
				return nil, 0, fmt.Errorf("invalid entity reference &%s;", truncateBytes(ent, xmlchar.MaxEntityLen))
			}
		default:
			j := i + 1
			for j < len(raw) && raw[j] != '\r' && (cdata || raw[j] != '&') {
				j++
			}
			if limit >= 0 && j-i > limit-(len(dst)-start) {
				j = i + limit - (len(dst) - start)
			}
			dst = append(dst, raw[i:j]...)
			i = j
		}
	}
	return dst, i, nil
}

// truncateBytes cuts b to at most n bytes for an error message.
func truncateBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
