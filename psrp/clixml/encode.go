package clixml

import (
	"encoding/base64"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/uuid"
)

// maxEncodeDepth stops runaway recursion through values that refer to
// themselves without an *Object in between (a []any holding itself).
const maxEncodeDepth = 1000

// encoder writes the lossless model (and the natural Go conversions) as
// CLIXML. RefIds and TN RefIds count from 0 for one encoder.
type encoder struct {
	cipher     Cipher
	refIDFirst bool
	buf        []byte
	nextRef    int
	refs       []idEntry[*Object] // looked up by pointer below
	refMap     map[*Object]int    // used once there are many objects
	nextTN     int
	tnList     []tnWritten            // type-name lists written so far
	tns        map[string][]tnWritten // the same keyed by first name, once tnList is long
	depth      int
	refArr     [8]idEntry[*Object]
	tnArr      [4]tnWritten
}

type tnWritten struct {
	names []string
	id    int
}

func (e *encoder) tag(name, n string, hasN bool) {
	e.buf = append(e.buf, '<')
	e.buf = append(e.buf, name...)
	if hasN {
		e.buf = append(e.buf, ` N="`...)
		e.buf = appendEscaped(e.buf, n, true)
		e.buf = append(e.buf, '"')
	}
}

// simple writes <name N="n">text</name>, or <name N="n" /> for empty text.
func (e *encoder) simple(name, n string, hasN bool, text []byte) {
	e.tag(name, n, hasN)
	if len(text) == 0 {
		e.buf = append(e.buf, " />"...)
		return
	}
	e.buf = append(e.buf, '>')
	e.buf = append(e.buf, text...)
	e.end(name)
}

func (e *encoder) end(name string) {
	e.buf = append(e.buf, '<', '/')
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, '>')
}

// open writes <name N="n"> and returns the position after the tag name, so
// that an element left empty can be collapsed.
func (e *encoder) open(name, n string, hasN bool) {
	e.tag(name, n, hasN)
	e.buf = append(e.buf, '>')
}

func (e *encoder) str(name, n string, hasN bool, s string) {
	e.tag(name, n, hasN)
	if s == "" {
		e.buf = append(e.buf, " />"...)
		return
	}
	e.buf = append(e.buf, '>')
	e.buf = appendEscaped(e.buf, s, false)
	e.end(name)
}

func (e *encoder) num(name, n string, hasN bool, f func([]byte) []byte) {
	e.tag(name, n, hasN)
	e.buf = append(e.buf, '>')
	e.buf = f(e.buf)
	e.end(name)
}

func (e *encoder) int(name, n string, hasN bool, v int64) {
	e.tag(name, n, hasN)
	e.buf = append(e.buf, '>')
	e.buf = strconv.AppendInt(e.buf, v, 10)
	e.end(name)
}

func (e *encoder) uint(name, n string, hasN bool, v uint64) {
	e.tag(name, n, hasN)
	e.buf = append(e.buf, '>')
	e.buf = strconv.AppendUint(e.buf, v, 10)
	e.end(name)
}

// value writes v, named n when hasN.
func (e *encoder) value(v any, n string, hasN bool) error {
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > maxEncodeDepth {
		return &EncodeError{Msg: "value nested more than " + strconv.Itoa(maxEncodeDepth) + " levels (a cycle without an *Object?)"}
	}
	switch x := v.(type) {
	case nil:
		e.tag("Nil", n, hasN)
		e.buf = append(e.buf, " />"...)
	case string:
		e.str("S", n, hasN, x)
	case bool:
		if x {
			e.simple("B", n, hasN, []byte("true"))
		} else {
			e.simple("B", n, hasN, []byte("false"))
		}
	case int32:
		e.int("I32", n, hasN, int64(x))
	case int64:
		e.int("I64", n, hasN, x)
	case int:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			e.int("I32", n, hasN, int64(x))
		} else {
			e.int("I64", n, hasN, int64(x))
		}
	case int8:
		e.int("SB", n, hasN, int64(x))
	case int16:
		e.int("I16", n, hasN, int64(x))
	case uint8:
		e.uint("By", n, hasN, uint64(x))
	case uint16:
		e.uint("U16", n, hasN, uint64(x))
	case uint32:
		e.uint("U32", n, hasN, uint64(x))
	case uint64:
		e.uint("U64", n, hasN, x)
	case uint:
		if x <= math.MaxUint32 {
			e.uint("U32", n, hasN, uint64(x))
		} else {
			e.uint("U64", n, hasN, uint64(x))
		}
	case float64:
		e.num("Db", n, hasN, func(b []byte) []byte { return appendFloat(b, x, 64) })
	case float32:
		e.num("Sg", n, hasN, func(b []byte) []byte { return appendFloat(b, float64(x), 32) })
	case Char:
		e.uint("C", n, hasN, uint64(x))
	case []byte:
		e.tag("BA", n, hasN)
		if len(x) == 0 {
			e.buf = append(e.buf, " />"...)
			break
		}
		e.buf = append(e.buf, '>')
		e.buf = base64.StdEncoding.AppendEncode(e.buf, x)
		e.end("BA")
	case uuid.UUID:
		e.tag("G", n, hasN)
		e.buf = append(e.buf, '>')
		e.buf = appendUUID(e.buf, x)
		e.end("G")
	case DateTime:
		return e.dateTime(x, n, hasN)
	case time.Time:
		dt := DateTime{Time: x, Kind: Local}
		if x.Location() == time.UTC {
			dt.Kind = UTC
		}
		return e.dateTime(dt, n, hasN)
	case TimeSpan:
		e.num("TS", n, hasN, func(b []byte) []byte { return appendDuration(b, x) })
	case time.Duration:
		e.num("TS", n, hasN, func(b []byte) []byte { return appendDuration(b, TimeSpanOf(x)) })
	case Decimal:
		if !validDecimal([]byte(x)) {
			return &EncodeError{Msg: "Decimal " + strconv.Quote(string(x)) + " is not a decimal number"}
		}
		e.simple("D", n, hasN, []byte(x))
	case URI:
		e.str("URI", n, hasN, string(x))
	case XMLDocument:
		e.str("XD", n, hasN, string(x))
	case ScriptBlock:
		e.str("SBK", n, hasN, string(x))
	case Version:
		e.num("Version", n, hasN, func(b []byte) []byte { return appendVersion(b, x) })
	case SecureString:
		return e.secureString(x, n, hasN)
	case ProgressRecord:
		e.progress(x, n, hasN)
	case *Object:
		if x == nil {
			e.tag("Nil", n, hasN)
			e.buf = append(e.buf, " />"...)
			return nil
		}
		return e.object(x, n, hasN)
	case Object:
		return e.object(&x, n, hasN)
	case []any:
		return e.object(&Object{
			TypeNames: []string{"System.Object[]", "System.Array", "System.Object"},
			Kind:      List, Items: x,
		}, n, hasN)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		ents := make([]DictEntry, len(keys))
		for i, k := range keys {
			ents[i] = DictEntry{Key: k, Value: x[k]}
		}
		return e.object(&Object{
			TypeNames: []string{"System.Collections.Hashtable", "System.Object"},
			Kind:      Dictionary, Entries: ents,
		}, n, hasN)
	case Marshaler:
		m, err := x.MarshalCLIXML()
		if err != nil {
			return &EncodeError{Msg: reflect.TypeOf(v).String() + ".MarshalCLIXML failed", Err: err}
		}
		return e.value(m, n, hasN)
	default:
		rv := reflect.ValueOf(v)
		m, err := toModel(rv)
		if err != nil {
			return err
		}
		if m != nil && reflect.TypeOf(m) == rv.Type() {
			return &EncodeError{Msg: "unsupported type " + rv.Type().String()}
		}
		return e.value(m, n, hasN)
	}
	return nil
}

func (e *encoder) dateTime(dt DateTime, n string, hasN bool) error {
	e.tag("DT", n, hasN)
	e.buf = append(e.buf, '>')
	var err error
	if e.buf, err = appendDateTime(e.buf, dt); err != nil {
		return err
	}
	e.end("DT")
	return nil
}

func (e *encoder) secureString(ss SecureString, n string, hasN bool) error {
	ct := ss.Ciphertext
	// Ciphertext alone (as received, or kept from an earlier encoding) is
	// written as is; anything with clear text is encrypted afresh.
	if ct == nil || len(ss.Plaintext) > 0 {
		if e.cipher == nil {
			return ErrNoCipher
		}
		pt := utf8ToUTF16LE(ss.Plaintext)
		var err error
		ct, err = e.cipher.Encrypt(pt)
		clear(pt)
		if err != nil {
			return &EncodeError{Msg: "cannot encrypt SecureString", Err: err}
		}
	}
	e.tag("SS", n, hasN)
	if len(ct) == 0 {
		e.buf = append(e.buf, " />"...)
		return nil
	}
	e.buf = append(e.buf, '>')
	e.buf = base64.StdEncoding.AppendEncode(e.buf, ct)
	e.end("SS")
	return nil
}

// utf8ToUTF16LE converts s (WTF-8 surrogates included) into the UTF-16LE
// bytes .NET encrypts.
func utf8ToUTF16LE(s []byte) []byte {
	out := make([]byte, 0, 2*len(s))
	put := func(u uint16) { out = append(out, byte(u), byte(u>>8)) }
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			if u, ok := wtf8Surrogate(string(s[i:min(i+3, len(s))])); ok {
				put(u)
				i += 3
				continue
			}
		}
		if r > 0xFFFF {
			hi, lo := utf16.EncodeRune(r)
			put(uint16(hi))
			put(uint16(lo))
		} else {
			put(uint16(r))
		}
		i += size
	}
	return out
}

func (e *encoder) progress(pr ProgressRecord, n string, hasN bool) {
	e.open("PR", n, hasN)
	e.str("AV", "", false, pr.Activity)
	e.int("AI", "", false, int64(pr.ActivityID))
	if pr.CurrentOperation == "" {
		e.buf = append(e.buf, "<Nil />"...)
	} else {
		e.str("S", "", false, pr.CurrentOperation)
	}
	e.int("PI", "", false, int64(pr.ParentActivityID))
	e.int("PC", "", false, int64(pr.PercentComplete))
	switch pr.RecordType {
	case ProgressProcessing:
		e.simple("T", "", false, []byte("Processing"))
	case ProgressCompleted:
		e.simple("T", "", false, []byte("Completed"))
	default:
		e.int("T", "", false, int64(pr.RecordType))
	}
	e.int("SR", "", false, int64(pr.SecondsRemaining))
	e.str("SD", "", false, pr.StatusDescription)
	e.end("PR")
}

func (e *encoder) object(o *Object, n string, hasN bool) error {
	if id, ok := e.refID(o); ok {
		e.tag("Ref", n, hasN)
		e.buf = append(e.buf, ` RefId="`...)
		e.buf = strconv.AppendInt(e.buf, int64(id), 10)
		e.buf = append(e.buf, `" />`...)
		return nil
	}
	id := e.nextRef
	e.nextRef++
	e.addRef(o, id)
	if e.refIDFirst {
		e.buf = append(e.buf, `<Obj`...)
	} else {
		e.tag("Obj", n, hasN)
	}
	e.buf = append(e.buf, ` RefId="`...)
	e.buf = strconv.AppendInt(e.buf, int64(id), 10)
	e.buf = append(e.buf, '"')
	if e.refIDFirst && hasN {
		e.buf = append(e.buf, ` N="`...)
		e.buf = appendEscaped(e.buf, n, true)
		e.buf = append(e.buf, '"')
	}
	e.buf = append(e.buf, '>')
	if len(o.TypeNames) > 0 {
		e.typeNames(o.TypeNames)
	}
	if o.HasToString {
		e.str("ToString", "", false, o.ToString)
	}
	if o.Value != nil {
		if err := e.value(o.Value, "", false); err != nil {
			return err
		}
	}
	switch o.Kind {
	case List, Enumerable, Stack, Queue:
		name := [...]string{List: "LST", Enumerable: "IE", Stack: "STK", Queue: "QUE"}[o.Kind]
		if len(o.Items) == 0 {
			e.buf = append(e.buf, '<')
			e.buf = append(e.buf, name...)
			e.buf = append(e.buf, " />"...)
			break
		}
		e.open(name, "", false)
		for _, it := range o.Items {
			if err := e.value(it, "", false); err != nil {
				return err
			}
		}
		e.end(name)
	case Dictionary:
		if len(o.Entries) == 0 {
			e.buf = append(e.buf, "<DCT />"...)
			break
		}
		e.buf = append(e.buf, "<DCT>"...)
		for _, en := range o.Entries {
			e.buf = append(e.buf, "<En>"...)
			if err := e.value(en.Key, "Key", true); err != nil {
				return err
			}
			if err := e.value(en.Value, "Value", true); err != nil {
				return err
			}
			e.buf = append(e.buf, "</En>"...)
		}
		e.buf = append(e.buf, "</DCT>"...)
	case NotContainer:
	default:
		return &EncodeError{Msg: "unknown ContainerKind " + strconv.Itoa(int(o.Kind))}
	}
	for i, set := range [2][]Property{o.Props, o.Members} {
		if len(set) == 0 {
			continue
		}
		name := [2]string{"Props", "MS"}[i]
		e.open(name, "", false)
		for _, p := range set {
			if err := e.value(p.Value, p.Name, true); err != nil {
				return err
			}
		}
		e.end(name)
	}
	e.end("Obj")
	return nil
}

// typeNames writes <TN RefId="m"> or, for a list already written,
// <TNRef RefId="m" />.
func (e *encoder) typeNames(names []string) {
	cands := e.tnList
	if e.tns != nil {
		cands = e.tns[names[0]]
	}
	for _, w := range cands {
		if slices.Equal(w.names, names) {
			e.buf = append(e.buf, `<TNRef RefId="`...)
			e.buf = strconv.AppendInt(e.buf, int64(w.id), 10)
			e.buf = append(e.buf, `" />`...)
			return
		}
	}
	id := e.nextTN
	e.nextTN++
	w := tnWritten{names, id}
	switch {
	case e.tns != nil:
		e.tns[names[0]] = append(e.tns[names[0]], w)
	case len(e.tnList) < 32:
		if e.tnList == nil {
			e.tnList = e.tnArr[:0]
		}
		e.tnList = append(e.tnList, w)
	default:
		e.tns = make(map[string][]tnWritten)
		for _, x := range append(e.tnList, w) {
			e.tns[x.names[0]] = append(e.tns[x.names[0]], x)
		}
	}
	e.buf = append(e.buf, `<TN RefId="`...)
	e.buf = strconv.AppendInt(e.buf, int64(id), 10)
	e.buf = append(e.buf, `">`...)
	for _, t := range names {
		e.str("T", "", false, t)
	}
	e.buf = append(e.buf, "</TN>"...)
}

func appendUUID(dst []byte, u uuid.UUID) []byte {
	const hex = "0123456789abcdef"
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hex[b>>4], hex[b&0xF])
	}
	return dst
}

// refID finds the RefId already given to o. A short slice serves the usual
// handful of objects per message; a map takes over beyond.
func (e *encoder) refID(o *Object) (int, bool) {
	if e.refMap != nil {
		id, ok := e.refMap[o]
		return id, ok
	}
	for _, r := range e.refs {
		if r.v == o {
			return r.id, true
		}
	}
	return 0, false
}

func (e *encoder) addRef(o *Object, id int) {
	if e.refMap != nil {
		e.refMap[o] = id
		return
	}
	if len(e.refs) < 32 {
		if e.refs == nil {
			e.refs = e.refArr[:0]
		}
		e.refs = append(e.refs, idEntry[*Object]{id, o})
		return
	}
	e.refMap = make(map[*Object]int, 64)
	for _, r := range e.refs {
		e.refMap[r.v] = r.id
	}
	e.refMap[o] = id
}
