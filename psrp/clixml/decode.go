package clixml

import (
	"encoding/base64"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/google/uuid"
)

// decoder turns one CLIXML value held in memory into the lossless model.
// The streaming Decoder keeps one and feeds it value by value.
type decoder struct {
	data []byte
	pos  int
	base int64 // offset of data[0] in the whole input, for errors

	cipher   Cipher
	maxDepth int
	maxRefs  int
	depth    int
	nrefs    int

	objs idTable[*Object]
	tns  idTable[[]string]

	zones  []zoneEntry
	intern map[string]string // nil: no interning

	scratch  []byte // character data with entities decoded
	scratch2 []byte // strings with _x escapes decoded
	arena    []byte // backing store of decoded strings; see makeString

	// Attributes of the last start tag: N as its span of data (see
	// nameAttr), RefId as its value.
	hasN         bool
	nStart, nEnd int
	nDecode      bool // N holds references or white space to normalize
	refID        int
	hasRef       bool
}

// idTable maps RefIds to values: an inline array for the usual handful of
// ids, a map beyond. It holds no slice of its own array, so that a decoder
// does not point into itself and Decode can keep it on the stack.
type idTable[T any] struct {
	small [8]idEntry[T]
	n     int // entries used in small
	big   map[int]T
}

type idEntry[T any] struct {
	id int
	v  T
}

func (t *idTable[T]) get(id int) (T, bool) {
	if t.big != nil {
		v, ok := t.big[id]
		return v, ok
	}
	for i := t.n - 1; i >= 0; i-- {
		if t.small[i].id == id {
			return t.small[i].v, true
		}
	}
	var zero T
	return zero, false
}

func (t *idTable[T]) put(id int, v T) {
	if t.big != nil {
		t.big[id] = v
		return
	}
	for i := range t.n {
		if t.small[i].id == id {
			t.small[i].v = v
			return
		}
	}
	if t.n < len(t.small) {
		t.small[t.n] = idEntry[T]{id, v}
		t.n++
		return
	}
	t.big = make(map[int]T, 64)
	for _, e := range t.small {
		t.big[e.id] = e.v
	}
	t.big[id] = v
	clear(t.small[:])
	t.n = 0
}

func (t *idTable[T]) reset() {
	clear(t.small[:t.n])
	t.n = 0
	t.big = nil
}

func (d *decoder) init(o UnmarshalOptions) {
	d.cipher = o.Cipher
	d.maxDepth = o.MaxDepth
	if d.maxDepth <= 0 {
		d.maxDepth = DefaultMaxDepth
	}
	d.maxRefs = o.MaxRefs
	if d.maxRefs <= 0 {
		d.maxRefs = DefaultMaxRefs
	}
}

// resetRefs forgets the RefIds of earlier values.
func (d *decoder) resetRefs() {
	d.objs.reset()
	d.tns.reset()
	d.nrefs = 0
}

func (d *decoder) formatErr(qname []byte, at int, msg string, err error) error {
	return &FormatError{Tag: string(localName(qname)), Msg: msg, Offset: d.base + int64(at), Err: err}
}

func (d *decoder) addRef(at int) error {
	d.nrefs++
	if d.nrefs > d.maxRefs {
		return &LimitError{Limit: "MaxRefs", Max: d.maxRefs, Offset: d.base + int64(at)}
	}
	return nil
}

// internString returns b as a string, shared with earlier equal strings
// when the decoder interns (property and type names repeat across the
// values of a stream).
func (d *decoder) internString(b []byte) string {
	if needsUnescape(b) {
		d.scratch2 = appendUnescaped(d.scratch2[:0], b)
		b = d.scratch2
	}
	if s, ok := wellKnown(b); ok {
		return s
	}
	if d.intern == nil {
		if s, ok := names.get(b); ok {
			return s
		}
		return d.makeString(b)
	}
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := d.makeString(b)
	if len(d.intern) < 4096 && len(s) <= 256 {
		d.intern[s] = s
	}
	return s
}

func (d *decoder) str(b []byte) string {
	if needsUnescape(b) {
		d.scratch2 = appendUnescaped(d.scratch2[:0], b)
		b = d.scratch2
	}
	return d.makeString(b)
}

// makeString copies b into the decoder's string arena and returns it as a
// string. The strings of a value share a few arena chunks instead of one
// allocation each. Bytes handed out are never written again (a full chunk
// is replaced, not grown), which keeps the strings immutable; a retained
// string keeps at most its chunk alive.
func (d *decoder) makeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > 256 {
		return string(b)
	}
	if cap(d.arena)-len(d.arena) < len(b) {
		if len(b) < tinyString {
			// Not worth a new chunk: the runtime's tiny allocator packs
			// strings this short together already.
			return string(b)
		}
		// The strings still to come are no longer than the input still
		// to read, which for a small value is far less than its length.
		d.arena = make([]byte, 0, len(b)+min(max(len(d.data)-d.pos, 0), 4096))
	}
	n := len(d.arena)
	d.arena = append(d.arena, b...)
	return unsafe.String(&d.arena[n], len(b))
}

// tinyString is the runtime's tiny-allocation size: shorter strings
// without pointers share 16-byte blocks.
const tinyString = 16

// root decodes data as exactly one value with optional surrounding
// whitespace, comments and processing instructions.
func (d *decoder) root() (any, error) {
	if err := d.checkUTF8(); err != nil {
		return nil, err
	}
	if len(d.data) >= 3 && d.data[0] == 0xEF && d.data[1] == 0xBB && d.data[2] == 0xBF {
		d.pos = 3
	}
	if err := d.skipMisc(); err != nil {
		return nil, err
	}
	if d.pos >= len(d.data) {
		return nil, d.syntaxErr(d.pos, "no value in input")
	}
	if d.data[d.pos] != '<' || d.pos+1 >= len(d.data) || !isNameByte(d.data[d.pos+1]) {
		return nil, d.syntaxErr(d.pos, "expected an element")
	}
	at := d.pos
	q, empty, err := d.startTag()
	if err != nil {
		return nil, err
	}
	v, err := d.value(q, empty, at)
	if err != nil {
		return nil, err
	}
	if err := d.skipMisc(); err != nil {
		return nil, err
	}
	if d.pos != len(d.data) {
		return nil, d.syntaxErr(d.pos, "data after the top-level value")
	}
	return v, nil
}

// checkUTF8 refuses input that is not UTF-8: XML text must be, and a
// string that .NET cannot hold would not survive a round trip.
func (d *decoder) checkUTF8() error {
	if utf8.Valid(d.data) {
		return nil
	}
	i := 0
	for i < len(d.data) {
		r, n := utf8.DecodeRune(d.data[i:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		i += n
	}
	return d.syntaxErr(i, "invalid UTF-8")
}

// next positions d.pos at the next child start tag and returns true, or
// consumes the parent's end tag and returns false.
func (d *decoder) next(parent []byte) (bool, error) {
	if i := d.pos; i+1 < len(d.data) && d.data[i] == '<' && isNameByte(d.data[i+1]) {
		return true, nil // the usual case: a child's start tag right away
	}
	if err := d.skipMisc(); err != nil {
		return false, err
	}
	data := d.data
	if d.pos >= len(data) {
		return false, d.syntaxErr(d.pos, "unexpected end of input, expected </"+string(parent)+">")
	}
	if data[d.pos] != '<' || d.pos+1 >= len(data) {
		return false, d.syntaxErr(d.pos, "unexpected text in <"+string(parent)+">")
	}
	if data[d.pos+1] == '/' {
		return false, d.endTag(parent)
	}
	if data[d.pos+1] == '!' && len(data) > d.pos+8 && string(data[d.pos:d.pos+9]) == "<![CDATA[" {
		return false, d.syntaxErr(d.pos, "unexpected text in <"+string(parent)+">")
	}
	return true, nil
}

// value decodes the element whose start tag was just read. at is the
// offset of its '<'.
func (d *decoder) value(q []byte, empty bool, at int) (any, error) {
	d.depth++
	if d.depth > d.maxDepth {
		return nil, &LimitError{Limit: "MaxDepth", Max: d.maxDepth, Offset: d.base + int64(at)}
	}
	v, err := d.value1(q, empty, at)
	d.depth--
	return v, err
}

func (d *decoder) value1(q []byte, empty bool, at int) (any, error) {
	local := localName(q)
	if len(local) == 3 && string(local) == "Obj" {
		return d.object(q, empty, at)
	}
	if string(local) == "Ref" {
		if !d.hasRef {
			return nil, d.formatErr(q, at, "Ref without RefId", nil)
		}
		id := d.refID
		if _, err := d.text(q, empty); err != nil {
			return nil, err
		}
		o, ok := d.objs.get(id)
		if !ok {
			return nil, d.formatErr(q, at, "Ref to unknown RefId", nil)
		}
		return o, nil
	}
	if string(local) == "PR" {
		return d.progress(q, empty)
	}
	t, err := d.text(q, empty)
	if err != nil {
		return nil, err
	}
	bad := func(msg string) error { return d.formatErr(q, at, msg+": "+quoteShort(t), nil) }
	switch string(local) {
	case "S":
		return d.str(t), nil
	case "I32":
		n, ok := parseInt(t, 32)
		if !ok {
			return nil, bad("not an Int32")
		}
		return int32(n), nil
	case "I64":
		n, ok := parseInt(t, 64)
		if !ok {
			return nil, bad("not an Int64")
		}
		return n, nil
	case "B":
		switch string(trimSpace(t)) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return nil, bad("not a Boolean")
	case "Nil":
		if len(trimSpace(t)) != 0 {
			return nil, bad("Nil has content")
		}
		return nil, nil
	case "DT":
		dt, ok := d.parseDateTime(t)
		if !ok {
			return nil, bad("not a DateTime")
		}
		return dt, nil
	case "TS":
		ts, ok := parseDuration(t)
		if !ok {
			return nil, bad("not a TimeSpan")
		}
		return ts, nil
	case "Db":
		f, ok := parseFloat(t, 64)
		if !ok {
			return nil, bad("not a Double")
		}
		return f, nil
	case "Sg":
		f, ok := parseFloat(t, 32)
		if !ok {
			return nil, bad("not a Single")
		}
		return float32(f), nil
	case "G":
		g, err := uuid.ParseBytes(trimSpace(t))
		if err != nil {
			return nil, bad("not a Guid")
		}
		return g, nil
	case "C":
		n, ok := parseUnsigned(t, 16)
		if !ok {
			return nil, bad("not a Char")
		}
		return Char(n), nil
	case "By":
		n, ok := parseUnsigned(t, 8)
		if !ok {
			return nil, bad("not a Byte")
		}
		return uint8(n), nil
	case "SB":
		n, ok := parseInt(t, 8)
		if !ok {
			return nil, bad("not an SByte")
		}
		return int8(n), nil
	case "U16":
		n, ok := parseUnsigned(t, 16)
		if !ok {
			return nil, bad("not a UInt16")
		}
		return uint16(n), nil
	case "I16":
		n, ok := parseInt(t, 16)
		if !ok {
			return nil, bad("not an Int16")
		}
		return int16(n), nil
	case "U32":
		n, ok := parseUnsigned(t, 32)
		if !ok {
			return nil, bad("not a UInt32")
		}
		return uint32(n), nil
	case "U64":
		n, ok := parseUnsigned(t, 64)
		if !ok {
			return nil, bad("not a UInt64")
		}
		return n, nil
	case "D":
		t = trimSpace(t)
		if !validDecimal(t) {
			return nil, bad("not a Decimal")
		}
		return Decimal(t), nil
	case "BA":
		b, err := decodeBase64(t)
		if err != nil {
			return nil, d.formatErr(q, at, "not base64", err)
		}
		return b, nil
	case "URI":
		return URI(d.str(t)), nil
	case "Version":
		v, ok := parseVersion(t)
		if !ok {
			return nil, bad("not a Version")
		}
		return v, nil
	case "XD":
		return XMLDocument(d.str(t)), nil
	case "SBK":
		return ScriptBlock(d.str(t)), nil
	case "SS":
		ct, err := decodeBase64(t)
		if err != nil {
			return nil, d.formatErr(q, at, "not base64", err)
		}
		ss := SecureString{Ciphertext: ct}
		if d.cipher != nil {
			pt, err := d.cipher.Decrypt(ct)
			if err != nil {
				return nil, d.formatErr(q, at, "cannot decrypt SecureString", err)
			}
			ss.Plaintext, ss.Decrypted = utf16leToUTF8(pt), true
			clear(pt)
		}
		return ss, nil
	}
	if string(local) == "Objs" {
		return nil, d.formatErr(q, at, "an Export-Clixml document holds many values; read it with NewDecoder", nil)
	}
	return nil, d.formatErr(q, at, "unknown element", nil)
}

// quoteShort quotes at most 32 bytes of b for an error message.
func quoteShort(b []byte) string {
	if len(b) > 32 {
		return "\"" + string(b[:32]) + "\"…"
	}
	return "\"" + string(b) + "\""
}

func decodeBase64(t []byte) ([]byte, error) {
	t = trimSpace(t)
	out := make([]byte, base64.StdEncoding.DecodedLen(len(t)))
	n, err := base64.StdEncoding.Decode(out, t)
	if err != nil {
		return nil, err
	}
	return out[:n:n], nil
}

// utf16leToUTF8 converts the UTF-16LE text .NET encrypts into UTF-8,
// keeping lone surrogates in WTF-8 form.
func utf16leToUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)/2*3/2+1)
	for i := 0; i+1 < len(b); i += 2 {
		u := uint16(b[i]) | uint16(b[i+1])<<8
		if utf16.IsSurrogate(rune(u)) && u < 0xDC00 && i+3 < len(b) {
			lo := uint16(b[i+2]) | uint16(b[i+3])<<8
			if lo >= 0xDC00 && lo <= 0xDFFF {
				out = appendRune(out, utf16.DecodeRune(rune(u), rune(lo)))
				i += 2
				continue
			}
		}
		out = appendWTF8(out, u)
	}
	return out
}

// object decodes an <Obj>.
func (d *decoder) object(q []byte, empty bool, at int) (*Object, error) {
	obj := &Object{}
	if d.hasRef {
		if err := d.addRef(at); err != nil {
			return nil, err
		}
		// Registered before the children so that a Ref inside (a cycle)
		// resolves to this object.
		d.objs.put(d.refID, obj)
	}
	if empty {
		return obj, nil
	}
	for {
		more, err := d.next(q)
		if err != nil || !more {
			return obj, err
		}
		cat := d.pos
		cq, cempty, err := d.startTag()
		if err != nil {
			return nil, err
		}
		switch string(localName(cq)) {
		case "TN":
			if obj.TypeNames, err = d.typeNames(cq, cempty, cat); err != nil {
				return nil, err
			}
		case "TNRef":
			if !d.hasRef {
				return nil, d.formatErr(cq, cat, "TNRef without RefId", nil)
			}
			id := d.refID
			if _, err := d.text(cq, cempty); err != nil {
				return nil, err
			}
			tn, ok := d.tns.get(id)
			if !ok {
				return nil, d.formatErr(cq, cat, "TNRef to unknown RefId", nil)
			}
			obj.TypeNames = tn
		case "ToString":
			t, err := d.text(cq, cempty)
			if err != nil {
				return nil, err
			}
			obj.ToString, obj.HasToString = d.str(t), true
		case "Props":
			if obj.Props, err = d.properties(cq, cempty); err != nil {
				return nil, err
			}
		case "MS":
			if obj.Members, err = d.properties(cq, cempty); err != nil {
				return nil, err
			}
		case "LST":
			obj.Kind = List
			obj.Items, err = d.list(cq, cempty)
		case "IE":
			obj.Kind = Enumerable
			obj.Items, err = d.list(cq, cempty)
		case "STK":
			obj.Kind = Stack
			obj.Items, err = d.list(cq, cempty)
		case "QUE":
			obj.Kind = Queue
			obj.Items, err = d.list(cq, cempty)
		case "DCT":
			obj.Kind = Dictionary
			obj.Entries, err = d.dict(cq, cempty)
		default:
			obj.Value, err = d.value(cq, cempty, cat)
		}
		if err != nil {
			return nil, err
		}
	}
}

func (d *decoder) typeNames(q []byte, empty bool, at int) ([]string, error) {
	hasRef, id := d.hasRef, d.refID
	names, err := d.typeNameList(q, empty)
	if err != nil {
		return nil, err
	}
	if hasRef {
		if err := d.addRef(at); err != nil {
			return nil, err
		}
		d.tns.put(id, names)
	}
	return names, nil
}

// tnEnd is the end tag that follows a <TN> content recentTypeNames keeps.
const tnEnd = "</TN>"

// typeNameList reads the <T> children of a <TN> and its end tag. The
// objects of an output stream nearly always repeat one list byte for byte,
// each in its own message, so the input is first compared with the recent
// lists (recentTypeNames) and parsed only when it matches none.
func (d *decoder) typeNameList(q []byte, empty bool) ([]string, error) {
	if empty {
		return nil, nil
	}
	start := d.pos
	cacheable := string(q) == "TN"
	if cacheable {
		if names, n, ok := recentTypeNames.get(d.data[start:]); ok {
			d.pos = start + n
			return names, nil
		}
	}
	var local [16]string // see properties
	list := local[:0]
	for {
		more, err := d.next(q)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		cat := d.pos
		cq, cempty, err := d.startTag()
		if err != nil {
			return nil, err
		}
		if string(localName(cq)) != "T" {
			return nil, d.formatErr(cq, cat, "unexpected element in <TN>", nil)
		}
		t, err := d.text(cq, cempty)
		if err != nil {
			return nil, err
		}
		list = append(list, d.internString(t))
	}
	names := typeNameLists.get(list)
	// Parsing the same bytes gives the same list; the parse reads nothing
	// beyond the end tag, which is kept in its usual form only.
	if cacheable && string(d.data[d.pos-len(tnEnd):d.pos]) == tnEnd {
		recentTypeNames.put(d.data[start:d.pos], names)
	}
	return names, nil
}

// properties decodes the children of <Props> or <MS>.
func (d *decoder) properties(q []byte, empty bool) ([]Property, error) {
	if empty {
		return nil, nil
	}
	// The list is gathered in a local array, on the goroutine's stack
	// (where writes cost no write barrier), and copied out at its final
	// size; longer lists grow onto the heap.
	var local [16]Property
	props := local[:0]
	for {
		more, err := d.next(q)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		cat := d.pos
		cq, cempty, err := d.startTag()
		if err != nil {
			return nil, err
		}
		name, err := d.nameAttr()
		if err != nil {
			return nil, err
		}
		v, err := d.value(cq, cempty, cat)
		if err != nil {
			return nil, err
		}
		props = append(props, Property{Name: name, Value: v})
	}
	if len(props) == 0 {
		return nil, nil
	}
	out := make([]Property, len(props))
	copy(out, props)
	return out, nil
}

// list decodes the children of <LST>, <IE>, <STK> or <QUE>.
func (d *decoder) list(q []byte, empty bool) ([]any, error) {
	if empty {
		return []any{}, nil
	}
	var local [16]any // see properties
	items := local[:0]
	for {
		more, err := d.next(q)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		cat := d.pos
		cq, cempty, err := d.startTag()
		if err != nil {
			return nil, err
		}
		v, err := d.value(cq, cempty, cat)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
	out := make([]any, len(items))
	copy(out, items)
	return out, nil
}

// dict decodes the <En> children of <DCT>.
func (d *decoder) dict(q []byte, empty bool) ([]DictEntry, error) {
	if empty {
		return []DictEntry{}, nil
	}
	var local [16]DictEntry // see properties
	ents := local[:0]
	for {
		more, err := d.next(q)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		eat := d.pos
		eq, eempty, err := d.startTag()
		if err != nil {
			return nil, err
		}
		if string(localName(eq)) != "En" {
			return nil, d.formatErr(eq, eat, "unexpected element in <DCT>", nil)
		}
		var e DictEntry
		var haveKey, haveValue bool
		for !eempty {
			more, err := d.next(eq)
			if err != nil {
				return nil, err
			}
			if !more {
				break
			}
			cat := d.pos
			cq, cempty, err := d.startTag()
			if err != nil {
				return nil, err
			}
			name, err := d.nameAttr()
			if err != nil {
				return nil, err
			}
			v, err := d.value(cq, cempty, cat)
			if err != nil {
				return nil, err
			}
			switch name {
			case "Key":
				e.Key, haveKey = v, true
			case "Value":
				e.Value, haveValue = v, true
			default:
				return nil, d.formatErr(cq, cat, "dictionary entry member is neither Key nor Value", nil)
			}
		}
		if !haveKey || !haveValue {
			return nil, d.formatErr(eq, eat, "dictionary entry without Key or Value", nil)
		}
		ents = append(ents, e)
	}
	out := make([]DictEntry, len(ents))
	copy(out, ents)
	return out, nil
}

// progress decodes a <PR>: AV, AI, Nil or S, PI, PC, T, SR, SD.
func (d *decoder) progress(q []byte, empty bool) (any, error) {
	var pr ProgressRecord
	for !empty {
		more, err := d.next(q)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		cat := d.pos
		cq, cempty, err := d.startTag()
		if err != nil {
			return nil, err
		}
		t, err := d.text(cq, cempty)
		if err != nil {
			return nil, err
		}
		local := string(localName(cq))
		var n int64
		var ok bool
		switch local {
		case "AV":
			pr.Activity = d.str(t)
			continue
		case "SD":
			pr.StatusDescription = d.str(t)
			continue
		case "S":
			pr.CurrentOperation = d.str(t)
			continue
		case "Nil":
			continue
		case "T":
			switch string(trimSpace(t)) {
			case "Processing":
				pr.RecordType = ProgressProcessing
			case "Completed":
				pr.RecordType = ProgressCompleted
			default:
				n, ok := parseInt(t, 32)
				if !ok {
					return nil, d.formatErr(cq, cat, "unknown ProgressRecordType", nil)
				}
				pr.RecordType = ProgressRecordType(n)
			}
			continue
		case "AI", "PI", "PC", "SR":
			n, ok = parseInt(t, 32)
			if !ok {
				return nil, d.formatErr(cq, cat, "not an Int32: "+quoteShort(t), nil)
			}
		default:
			return nil, d.formatErr(cq, cat, "unexpected element in <PR>", nil)
		}
		switch local {
		case "AI":
			pr.ActivityID = int32(n)
		case "PI":
			pr.ParentActivityID = int32(n)
		case "PC":
			pr.PercentComplete = int32(n)
		case "SR":
			pr.SecondsRemaining = int32(n)
		}
	}
	return pr, nil
}
