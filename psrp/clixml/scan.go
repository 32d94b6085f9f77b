package clixml

import (
	"bytes"

	"github.com/gopsrp/gopsrp/internal/xmlchar"
)

// A hand-written scanner for the XML subset CLIXML uses: elements,
// attributes, character data with the predefined entities and character
// references, CDATA, comments and processing instructions. Namespaces are
// not resolved: elements are matched on their local names. DTDs are refused
// (no entity expansion). The scanner works on a complete []byte and returns
// sub-slices of it, so it allocates nothing on its own.

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func isNameByte(c byte) bool { return nameBytes[c] }

// nameBytes marks the bytes of element and attribute names: one load per
// byte where the comparisons took a dozen branches on the scanner's
// hottest loop.
var nameBytes = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == ':' || c == '-' || c == '.' || c >= 0x80
	}
	return t
}()

// localName strips a namespace prefix.
func localName(q []byte) []byte {
	for i := len(q) - 1; i >= 0; i-- { // names are short: no call
		if q[i] == ':' {
			return q[i+1:]
		}
	}
	return q
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func (d *decoder) syntaxErr(at int, msg string) error {
	return &SyntaxError{Msg: msg, Offset: d.base + int64(at)}
}

// skipMisc skips whitespace, comments and processing instructions.
func (d *decoder) skipMisc() error {
	data := d.data
	for d.pos < len(data) {
		c := data[d.pos]
		if isSpace(c) {
			d.pos++
			continue
		}
		if c != '<' || d.pos+1 >= len(data) {
			return nil
		}
		switch data[d.pos+1] {
		case '!':
			if !bytes.HasPrefix(data[d.pos:], []byte("<!--")) {
				return nil
			}
			k := bytes.Index(data[d.pos+4:], []byte("-->"))
			if k < 0 {
				return d.syntaxErr(d.pos, "unterminated comment")
			}
			d.pos += 4 + k + 3
		case '?':
			k := bytes.Index(data[d.pos+2:], []byte("?>"))
			if k < 0 {
				return d.syntaxErr(d.pos, "unterminated processing instruction")
			}
			d.pos += 2 + k + 2
		default:
			return nil
		}
	}
	return nil
}

// startTag reads the start tag at d.pos (which is '<' followed by a name
// byte). It records the N and RefId attributes.
func (d *decoder) startTag() (qname []byte, empty bool, err error) {
	data := d.data
	i := d.pos + 1
	ns := i
	for i < len(data) && isNameByte(data[i]) {
		i++
	}
	if i == ns {
		if i < len(data) && data[i] == '!' {
			return nil, false, d.syntaxErr(d.pos, "DTD or unexpected markup")
		}
		return nil, false, d.syntaxErr(d.pos, "invalid element name")
	}
	qname = data[ns:i]
	d.hasN, d.hasRef = false, false
	for {
		sp := i
		for i < len(data) && isSpace(data[i]) {
			i++
		}
		if i >= len(data) {
			return nil, false, d.syntaxErr(i, "unexpected end of input in start tag")
		}
		switch data[i] {
		case '>':
			d.pos = i + 1
			return qname, false, nil
		case '/':
			if i+1 < len(data) && data[i+1] == '>' {
				d.pos = i + 2
				return qname, true, nil
			}
			return nil, false, d.syntaxErr(i, "expected '>' after '/'")
		}
		if sp == i {
			return nil, false, d.syntaxErr(i, "expected space before attribute")
		}
		an := i
		for i < len(data) && isNameByte(data[i]) {
			i++
		}
		if i == an {
			return nil, false, d.syntaxErr(i, "invalid attribute name")
		}
		aname := data[an:i]
		for i < len(data) && isSpace(data[i]) {
			i++
		}
		if i >= len(data) || data[i] != '=' {
			return nil, false, d.syntaxErr(i, "expected '=' after attribute name")
		}
		i++
		for i < len(data) && isSpace(data[i]) {
			i++
		}
		if i >= len(data) || (data[i] != '"' && data[i] != '\'') {
			return nil, false, d.syntaxErr(i, "expected quoted attribute value")
		}
		vs := i + 1
		k, decode := scanAttrValue(data[vs:], data[i])
		switch {
		case k == -1:
			return nil, false, d.syntaxErr(i, "unterminated attribute value")
		case k == -2:
			return nil, false, d.syntaxErr(vs, "'<' in attribute value")
		}
		val := data[vs : vs+k]
		i = vs + k + 1
		switch string(aname) {
		case "N":
			if decode {
				// Rare: check the references now, as for any tag.
				if d.scratch, err = d.appendCharData(d.scratch[:0], val, vs, true); err != nil {
					return nil, false, err
				}
			}
			d.hasN, d.nStart, d.nEnd, d.nDecode = true, vs, vs+k, decode
		case "RefId":
			v := val
			if decode {
				if v, err = d.appendCharData(d.scratch[:0], v, vs, true); err != nil {
					return nil, false, err
				}
			}
			n, ok := parseUint(trimSpace(v), 1<<31-1)
			if !ok {
				return nil, false, &FormatError{Tag: string(qname), Msg: "RefId is not a non-negative integer", Offset: d.base + int64(vs)}
			}
			d.refID, d.hasRef = int(n), true
		}
	}
}

// scanAttrValue finds the quote q that ends an attribute value at the
// start of b and returns its index, -1 if there is none or -2 if a '<'
// comes first, and whether the value holds a reference or white space that
// attribute-value normalization replaces. Values are short names and
// numbers, for which one loop beats an IndexByte call per question.
func scanAttrValue(b []byte, q byte) (end int, decode bool) {
	for k, c := range b {
		switch c {
		case q:
			return k, decode
		case '<':
			return -2, false
		case '&', '\t', '\n', '\r':
			decode = true
		}
	}
	return -1, false
}

// nameAttr returns the N attribute of the start tag just read, "" if it
// has none. The name is made a string only by the callers that use it
// (properties and dictionary entries), right after the tag.
func (d *decoder) nameAttr() (string, error) {
	if !d.hasN {
		return "", nil
	}
	return d.attrString(d.data[d.nStart:d.nEnd], d.nStart, d.nDecode)
}

// attrString decodes an attribute value (entities and whitespace
// normalization when decode says so, then _xHHHH_ escapes).
func (d *decoder) attrString(val []byte, at int, decode bool) (string, error) {
	if decode {
		b, err := d.appendCharData(d.scratch[:0], val, at, true)
		if err != nil {
			return "", err
		}
		d.scratch = b
		val = b
	}
	return d.internString(val), nil
}

// endTag reads "</qname>" at d.pos.
func (d *decoder) endTag(qname []byte) error {
	data := d.data
	i := d.pos
	if i+2+len(qname) > len(data) || data[i] != '<' || data[i+1] != '/' {
		return d.syntaxErr(i, "expected end tag </"+string(qname)+">")
	}
	if !bytes.Equal(data[i+2:i+2+len(qname)], qname) {
		return d.syntaxErr(i, "mismatched end tag, expected </"+string(qname)+">")
	}
	i += 2 + len(qname)
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	if i >= len(data) || data[i] != '>' {
		return d.syntaxErr(i, "mismatched end tag, expected </"+string(qname)+">")
	}
	d.pos = i + 1
	return nil
}

// text reads the character content of a primitive element up to and
// including its end tag. The result aliases the input or d.scratch and is
// valid until the next scanner call.
func (d *decoder) text(qname []byte, empty bool) ([]byte, error) {
	if empty {
		return nil, nil
	}
	data := d.data
	i := d.pos
	j, plain := plainText(data[i:])
	if j < 0 {
		return nil, d.syntaxErr(len(data), "unexpected end of input in <"+string(qname)+">")
	}
	seg := data[i : i+j]
	if plain && i+j+1 < len(data) && data[i+j+1] == '/' {
		d.pos = i + j
		if err := d.endTag(qname); err != nil {
			return nil, err
		}
		return seg, nil
	}
	buf := d.scratch[:0]
	for {
		j := bytes.IndexByte(data[i:], '<')
		if j < 0 {
			return nil, d.syntaxErr(len(data), "unexpected end of input in <"+string(qname)+">")
		}
		var err error
		if buf, err = d.appendCharData(buf, data[i:i+j], i, false); err != nil {
			return nil, err
		}
		i += j
		rest := data[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("</")):
			d.pos = i
			d.scratch = buf
			if err := d.endTag(qname); err != nil {
				return nil, err
			}
			return buf, nil
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			k := bytes.Index(rest[9:], []byte("]]>"))
			if k < 0 {
				return nil, d.syntaxErr(i, "unterminated CDATA section")
			}
			buf = appendNormalizedCR(buf, rest[9:9+k])
			i += 9 + k + 3
		case bytes.HasPrefix(rest, []byte("<!--")), bytes.HasPrefix(rest, []byte("<?")):
			d.pos = i
			if err := d.skipMisc(); err != nil {
				return nil, err
			}
			if d.pos == i {
				return nil, d.syntaxErr(i, "unexpected markup")
			}
			i = d.pos
		default:
			if len(rest) > 1 && isNameByte(rest[1]) {
				return nil, &FormatError{Tag: string(qname), Msg: "unexpected child element", Offset: d.base + int64(i)}
			}
			return nil, d.syntaxErr(i, "unexpected '<'")
		}
	}
}

// shortText is the length up to which the scanner looks at bytes in a
// plain loop rather than with bytes.IndexByte: the call and its vector
// set-up cost more than a few loop rounds, and most CLIXML texts and names
// (numbers, booleans, property names) are this short.
const shortText = 32

// plainText returns the index of the first '<' in b (-1 if none) and
// whether the text before it is plain: free of references and of carriage
// returns, so that it is its own value.
func plainText(b []byte) (end int, plain bool) {
	for k, c := range b[:min(len(b), shortText)] {
		switch c {
		case '<':
			return k, true
		case '&', '\r':
			return bytes.IndexByte(b, '<'), false
		}
	}
	end = bytes.IndexByte(b, '<')
	if end < 0 {
		return -1, false
	}
	seg := b[:end]
	return end, bytes.IndexByte(seg, '&') < 0 && bytes.IndexByte(seg, '\r') < 0
}

func appendNormalizedCR(dst, b []byte) []byte {
	for {
		k := bytes.IndexByte(b, '\r')
		if k < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:k]...)
		dst = append(dst, '\n')
		b = b[k+1:]
		if len(b) > 0 && b[0] == '\n' {
			b = b[1:]
		}
	}
}

// appendCharData decodes entity and character references and normalizes
// line ends (and, in attributes, whitespace) as an XML processor must.
func (d *decoder) appendCharData(dst, b []byte, at int, attr bool) ([]byte, error) {
	for k := 0; k < len(b); {
		c := b[k]
		switch {
		case c == '&':
			semi := bytes.IndexByte(b[k:], ';')
			if semi < 0 || semi > xmlchar.MaxEntityLen {
				return nil, d.syntaxErr(at+k, "invalid entity reference")
			}
			ent := b[k+1 : k+semi]
			var ok bool
			if dst, ok = xmlchar.AppendEntity(dst, ent); !ok {
				return nil, d.syntaxErr(at+k, "invalid entity reference &"+string(ent)+";")
			}
			k += semi + 1
		case c == '\r':
			if attr {
				dst = append(dst, ' ')
			} else {
				dst = append(dst, '\n')
			}
			k++
			if k < len(b) && b[k] == '\n' {
				k++
			}
		case attr && (c == '\n' || c == '\t'):
			dst = append(dst, ' ')
			k++
		default:
			e := k + 1
			for e < len(b) && b[e] != '&' && b[e] != '\r' && !(attr && (b[e] == '\n' || b[e] == '\t')) {
				e++
			}
			dst = append(dst, b[k:e]...)
			k = e
		}
	}
	return dst, nil
}

// parseUint parses decimal digits, optionally surrounded by nothing else,
// up to max.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
