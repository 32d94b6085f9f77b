package clixml

import (
	"bytes"
	"errors"
	"io"
	"unicode/utf16"
)

// Decoder reads successive CLIXML values from a stream: either top-level
// values one after another (each with its own RefIds, as PSRP messages
// are), or an Export-Clixml document (<Objs> holding many values that
// share RefIds), whose children it returns one by one. It buffers one value
// at a time, so memory is bounded by the largest value (and MaxBytes), plus
// the RefId tables of a document. UTF-8 input (with or without BOM) and
// UTF-16 input with a BOM, as Windows PowerShell's Export-Clixml writes,
// are accepted.
//
// The Decoder may read data from r beyond the value it returns.
type Decoder struct {
	r     io.Reader
	opts  UnmarshalOptions
	buf   []byte
	start int   // buf[start:end] is unread
	end   int   //
	off   int64 // stream offset of buf[0]
	rerr  error // error from r (io.EOF at the end)
	err   error // sticky decode error
	state int
	doc   []byte // qualified name of the <Objs> root
	d     decoder
}

const (
	stBegin = iota
	stValues
	stDoc
	stDone
)

// NewDecoder returns a Decoder reading from r with default options.
func NewDecoder(r io.Reader) *Decoder { return UnmarshalOptions{}.NewDecoder(r) }

// NewDecoder returns a Decoder reading from r with the options o.
func (o UnmarshalOptions) NewDecoder(r io.Reader) *Decoder {
	s := &Decoder{r: r, opts: o}
	s.d.init(o)
	s.d.intern = make(map[string]string)
	return s
}

// next returns the next value in the lossless model, or io.EOF when the
// stream (or the document) ends cleanly. After any other error the Decoder
// keeps returning that error.
func (s *Decoder) next() (any, error) {
	if s.err != nil {
		return nil, s.err
	}
	v, err := s.decode()
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) && !isClixmlError(err) {
			err = &SyntaxError{Msg: "unexpected end of input", Offset: s.off + int64(s.end)}
		}
		s.err = err
	}
	return v, err
}

func isClixmlError(err error) bool {
	var se *SyntaxError
	var fe *FormatError
	var le *LimitError
	return errors.As(err, &se) || errors.As(err, &fe) || errors.As(err, &le)
}

// Decode reads the next value into v, as json.Decoder.Decode does: a *any
// receives the lossless model (see the package documentation), other
// pointers the struct-tag mapping of Unmarshal. At the end of the input it
// returns io.EOF.
func (s *Decoder) Decode(v any) error {
	if p, ok := v.(*any); ok && p != nil {
		m, err := s.next()
		if err == nil {
			*p = m
		}
		return err
	}
	rv := reflectValueOfPointer(v)
	if !rv.IsValid() {
		return invalidUnmarshal(v)
	}
	m, err := s.next()
	if err != nil {
		return err
	}
	return fromModel(m, rv.Elem())
}

func (s *Decoder) syntaxErr(rel int, msg string) error {
	return &SyntaxError{Msg: msg, Offset: s.off + int64(s.start+rel)}
}

// fill reads more input, compacting and growing the buffer. It reports
// whether any byte was added.
func (s *Decoder) fill() bool {
	if s.rerr != nil {
		return false
	}
	if s.start > 0 {
		copy(s.buf, s.buf[s.start:s.end])
		s.off += int64(s.start)
		s.end -= s.start
		s.start = 0
	}
	if s.end == len(s.buf) {
		n := 2 * len(s.buf)
		if n == 0 {
			n = 64 << 10
		}
		// A value may not exceed MaxBytes; leave room for the bytes that
		// prove it does.
		if lim := s.opts.maxBytes() + 64<<10; n > lim {
			n = max(lim, s.end+1)
		}
		nb := make([]byte, n)
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for tries := 0; tries < 100; tries++ {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.rerr = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.rerr = io.ErrNoProgress
	return false
}

// ensure tries to have n unread bytes buffered.
func (s *Decoder) ensure(n int) bool {
	for s.end-s.start < n {
		if !s.fill() {
			return false
		}
	}
	return true
}

// readErr turns the end of input while inside a construct into an error.
func (s *Decoder) readErr(rel int, what string) error {
	if s.rerr != nil && s.rerr != io.EOF {
		return s.rerr
	}
	return s.syntaxErr(rel, "unexpected end of input in "+what)
}

// find returns the offset (relative to s.start) of pat at or after rel,
// reading more input as needed.
func (s *Decoder) find(rel int, pat string, what string) (int, error) {
	from := rel
	for {
		if k := bytes.Index(s.buf[s.start+from:s.end], []byte(pat)); k >= 0 {
			return from + k, nil
		}
		from = max(rel, s.end-s.start-len(pat)+1)
		if m := s.opts.maxBytes(); from > m {
			return 0, &LimitError{Limit: "MaxBytes", Max: m, Offset: s.off + int64(s.start+from)}
		}
		if !s.fill() {
			return 0, s.readErr(rel, what)
		}
	}
}

// skipTop skips whitespace, comments and processing instructions between
// top-level values. It reports false at the end of the input.
func (s *Decoder) skipTop() (bool, error) {
	for {
		if s.start == s.end && !s.fill() {
			if s.rerr != nil && s.rerr != io.EOF {
				return false, s.rerr
			}
			return false, nil
		}
		c := s.buf[s.start]
		if isSpace(c) {
			s.start++
			continue
		}
		if c != '<' {
			return false, s.syntaxErr(0, "unexpected text outside an element")
		}
		s.ensure(4)
		rest := s.buf[s.start:s.end]
		switch {
		case bytes.HasPrefix(rest, []byte("<?")):
			k, err := s.find(2, "?>", "processing instruction")
			if err != nil {
				return false, err
			}
			s.start += k + 2
		case bytes.HasPrefix(rest, []byte("<!--")):
			k, err := s.find(4, "-->", "comment")
			if err != nil {
				return false, err
			}
			s.start += k + 3
		default:
			return true, nil
		}
	}
}

// tagEnd returns the offset just past the '>' of the tag starting at rel,
// honouring quoted attribute values.
func (s *Decoder) tagEnd(rel int) (int, error) {
	j := rel + 1
	var q byte
	for {
		b := s.buf[s.start:s.end]
		for ; j < len(b); j++ {
			c := b[j]
			switch {
			case q != 0:
				if c == q {
					q = 0
				}
			case c == '"' || c == '\'':
				q = c
			case c == '>':
				return j + 1, nil
			}
		}
		if j > s.opts.maxBytes() {
			return 0, &LimitError{Limit: "MaxBytes", Max: s.opts.maxBytes(), Offset: s.off + int64(s.start+j)}
		}
		if !s.fill() {
			return 0, s.readErr(rel, "tag")
		}
	}
}

// extent returns the length of the element starting at s.start, reading
// until its end tag is buffered. Well-formedness is checked afterwards by
// the decoder; this only finds the boundary.
func (s *Decoder) extent() (int, error) {
	max := s.opts.maxBytes()
	depth := 0
	i := 0
	for {
		if i > max {
			return 0, &LimitError{Limit: "MaxBytes", Max: max, Offset: s.off + int64(s.start+i)}
		}
		b := s.buf[s.start:s.end]
		k := bytes.IndexByte(b[i:], '<')
		if k < 0 {
			i = len(b)
			if !s.fill() {
				return 0, s.readErr(0, "element")
			}
			continue
		}
		i += k
		if s.end-s.start-i < 9 {
			s.ensure(i + 9)
			b = s.buf[s.start:s.end]
		}
		rest := b[i:]
		var err error
		switch {
		case bytes.HasPrefix(rest, []byte("</")):
			if i, err = s.tagEnd(i); err != nil {
				return 0, err
			}
			depth--
			if depth <= 0 {
				return i, nil
			}
		case bytes.HasPrefix(rest, []byte("<!--")):
			if i, err = s.find(i+4, "-->", "comment"); err != nil {
				return 0, err
			}
			i += 3
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			if i, err = s.find(i+9, "]]>", "CDATA section"); err != nil {
				return 0, err
			}
			i += 3
		case bytes.HasPrefix(rest, []byte("<?")):
			if i, err = s.find(i+2, "?>", "processing instruction"); err != nil {
				return 0, err
			}
			i += 2
		default:
			e, err := s.tagEnd(i)
			if err != nil {
				return 0, err
			}
			if s.buf[s.start+e-2] != '/' {
				depth++
			} else if depth == 0 {
				return e, nil
			}
			i = e
		}
	}
}

func (s *Decoder) decode() (any, error) {
	if s.state == stBegin {
		if err := s.begin(); err != nil {
			return nil, err
		}
	}
	if s.state == stDone {
		return nil, io.EOF
	}
	more, err := s.skipTop()
	if err != nil {
		return nil, err
	}
	if !more {
		if s.state == stDoc {
			return nil, s.readErr(0, "document, expected </"+string(s.doc)+">")
		}
		s.state = stDone
		return nil, io.EOF
	}
	s.ensure(2)
	if s.state == stDoc && s.end-s.start >= 2 && s.buf[s.start+1] == '/' {
		return nil, s.endDocument()
	}
	if s.end-s.start < 2 || !isNameByte(s.buf[s.start+1]) {
		return nil, s.syntaxErr(0, "expected an element")
	}
	d := &s.d
	if s.state != stDoc {
		d.resetRefs()
	}
	// Fast path: decode straight from the buffer. An element that is
	// complete in the buffer decodes the same whatever follows it; one that
	// is cut off fails, and is retried below once its end is buffered.
	if v, n, err := s.decodeAt(s.end - s.start); err == nil {
		s.start += n
		return v, nil
	} else if s.rerr != nil {
		return nil, err // the whole input is buffered: a real error
	}
	n, err := s.extent()
	if err != nil {
		return nil, err
	}
	v, _, err := s.decodeAt(n)
	if err != nil {
		return nil, err
	}
	s.start += n
	return v, nil
}

// decodeAt decodes the element at s.start from the next n buffered bytes
// and returns it with its length. On error the RefId count is restored so
// that a retry counts the same references once.
func (s *Decoder) decodeAt(n int) (any, int, error) {
	d := &s.d
	nrefs := d.nrefs
	d.data = s.buf[s.start : s.start+n]
	d.pos, d.base, d.depth = 0, s.off+int64(s.start), 0
	defer func() { d.data = nil }()
	q, empty, err := d.startTag()
	var v any
	if err == nil {
		v, err = d.value(q, empty, 0)
	}
	if err == nil {
		if max := s.opts.maxBytes(); d.pos > max {
			err = &LimitError{Limit: "MaxBytes", Max: max, Offset: d.base + int64(max)}
		} else {
			d.data = d.data[:d.pos]
			err = d.checkUTF8()
		}
	}
	if err != nil {
		d.nrefs = nrefs
		return nil, 0, err
	}
	return v, d.pos, nil
}

// begin handles a byte-order mark and an <Objs> document root.
func (s *Decoder) begin() error {
	s.ensure(4)
	b := s.buf[s.start:s.end]
	switch {
	case len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF:
		s.start += 3
	case len(b) >= 2 && (b[0] == 0xFF && b[1] == 0xFE || b[0] == 0xFE && b[1] == 0xFF):
		// Restart on a transcoded stream; keep offsets in UTF-8 terms.
		rest := append([]byte(nil), b[2:]...)
		s.r = &utf16Reader{r: io.MultiReader(bytes.NewReader(rest), s.r), be: b[0] == 0xFE}
		if s.rerr == io.EOF {
			s.rerr = nil
		}
		s.start, s.end, s.off = 0, 0, 0
	}
	s.state = stValues
	more, err := s.skipTop()
	if err != nil || !more {
		return err
	}
	// Is the root an Export-Clixml <Objs>?
	e, err := s.tagEnd(0)
	if err != nil {
		return err
	}
	d := &s.d
	d.data = s.buf[s.start : s.start+e]
	d.pos, d.base = 0, s.off+int64(s.start)
	q, empty, err := d.startTag()
	if err != nil {
		return err
	}
	if string(localName(q)) != "Objs" {
		d.data = nil
		return nil
	}
	s.doc = append([]byte(nil), q...)
	s.start += e
	s.state = stDoc
	d.resetRefs()
	if empty {
		s.state = stDone
		return s.trailing()
	}
	return nil
}

// endDocument reads </Objs> and checks that only comments and whitespace
// follow.
func (s *Decoder) endDocument() error {
	e, err := s.tagEnd(0)
	if err != nil {
		return err
	}
	d := &s.d
	d.data = s.buf[s.start : s.start+e]
	d.pos, d.base = 0, s.off+int64(s.start)
	if err := d.endTag(s.doc); err != nil {
		return err
	}
	s.start += e
	s.state = stDone
	if err := s.trailing(); err != nil {
		return err
	}
	return io.EOF
}

func (s *Decoder) trailing() error {
	more, err := s.skipTop()
	if err != nil {
		return err
	}
	if more {
		return s.syntaxErr(0, "data after the document root")
	}
	return nil
}

// utf16Reader transcodes UTF-16 (after its BOM) to UTF-8, keeping lone
// surrogates in WTF-8 form as the rest of the package does.
type utf16Reader struct {
	r    io.Reader
	be   bool
	raw  [4096]byte
	nraw int
	out  []byte
	err  error
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.out) == 0 {
		if u.err != nil {
			if u.err == io.EOF && u.nraw != 0 {
				u.nraw = 0
				return 0, &SyntaxError{Msg: "truncated UTF-16 input"}
			}
			return 0, u.err
		}
		n, err := u.r.Read(u.raw[u.nraw:])
		u.nraw += n
		u.err = err
		i := 0
		out := u.out[:0]
		for ; i+1 < u.nraw; i += 2 {
			c := u.unit(i)
			if utf16.IsSurrogate(rune(c)) && c < 0xDC00 {
				if i+3 >= u.nraw {
					if u.err == nil {
						break // wait for the low surrogate
					}
				} else if lo := u.unit(i + 2); lo >= 0xDC00 && lo <= 0xDFFF {
					out = appendRune(out, utf16.DecodeRune(rune(c), rune(lo)))
					i += 2
					continue
				}
			}
			out = appendWTF8(out, c)
		}
		u.nraw = copy(u.raw[:], u.raw[i:u.nraw])
		u.out = out
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}

func (u *utf16Reader) unit(i int) uint16 {
	if u.be {
		return uint16(u.raw[i])<<8 | uint16(u.raw[i+1])
	}
	return uint16(u.raw[i]) | uint16(u.raw[i+1])<<8
}

// Encoder writes CLIXML values to a stream.
type Encoder struct {
	w     io.Writer
	opts  MarshalOptions
	buf   []byte
	doc   *encoder // RefId state shared by the values of a document
	inDoc bool
}

// NewEncoder returns an Encoder writing to w with default options.
func NewEncoder(w io.Writer) *Encoder { return MarshalOptions{}.NewEncoder(w) }

// NewEncoder returns an Encoder writing to w with the options o.
func (o MarshalOptions) NewEncoder(w io.Writer) *Encoder { return &Encoder{w: w, opts: o} }

// Encode writes v; nothing is written when v cannot be encoded. Outside a document each value has its own RefIds, as a
// PSRP message does; inside one (after StartDocument) RefIds and TN RefIds
// continue across values, as Export-Clixml writes them.
func (e *Encoder) Encode(v any) error {
	if e.inDoc {
		e.doc.buf = e.buf[:0]
		if err := e.doc.value(v, "", false); err != nil {
			return err
		}
		e.buf = e.doc.buf
	} else {
		var err error
		if e.buf, err = e.opts.Append(e.buf[:0], v); err != nil {
			return err
		}
	}
	_, err := e.w.Write(e.buf)
	return err
}

// StartDocument writes the root of an Export-Clixml document, which
// Import-Clixml reads; follow it with Encode calls and EndDocument.
func (e *Encoder) StartDocument() error {
	if e.inDoc {
		return errors.New("clixml: StartDocument inside a document")
	}
	e.inDoc = true
	e.doc = &encoder{cipher: e.opts.Cipher, refIDFirst: e.opts.RefIDFirst}
	_, err := io.WriteString(e.w, `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">`)
	return err
}

// EndDocument closes the document begun by StartDocument.
func (e *Encoder) EndDocument() error {
	if !e.inDoc {
		return errors.New("clixml: EndDocument without StartDocument")
	}
	e.inDoc, e.doc = false, nil
	_, err := io.WriteString(e.w, "</Objs>")
	return err
}

// EncodeDocument writes values as one Export-Clixml document. If a value
// fails to encode the document is left unterminated and the error returned.
func (e *Encoder) EncodeDocument(values ...any) error {
	if err := e.StartDocument(); err != nil {
		return err
	}
	for _, v := range values {
		if err := e.Encode(v); err != nil {
			return err
		}
	}
	return e.EndDocument()
}
