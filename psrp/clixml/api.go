package clixml

import "reflect"

// MarshalOptions configures encoding. The zero value is ready to use.
type MarshalOptions struct {
	// Cipher encrypts SecureString values; encoding one without a Cipher fails
	// with ErrNoCipher (unless it only carries Ciphertext, which is written
	// as is).
	Cipher Cipher
	// RefIDFirst writes an <Obj>'s RefId attribute before its N attribute,
	// as pypsrp's client does; by default the order is PowerShell's (N
	// first). XML gives attribute order no meaning: this only serves
	// byte-exact comparison with recorded messages.
	RefIDFirst bool
}

// UnmarshalOptions configures decoding. The zero value is ready to use and
// applies the default limits.
type UnmarshalOptions struct {
	// Cipher, if set, decrypts SecureString values as they are decoded.
	Cipher Cipher
	// MaxDepth bounds value nesting (each <Obj> or primitive inside a
	// property, list or dictionary is one level deeper); zero means
	// DefaultMaxDepth.
	MaxDepth int
	// MaxBytes bounds the size of one value in bytes; zero means
	// DefaultMaxBytes.
	MaxBytes int
	// MaxRefs bounds the number of RefIds and TN RefIds defined by one
	// value (by one document for Export-Clixml files); zero means
	// DefaultMaxRefs.
	MaxRefs int
}

func (o UnmarshalOptions) maxBytes() int {
	if o.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return o.MaxBytes
}

// Marshal returns the CLIXML encoding of v.
//
// Values of the lossless model (see the package documentation) are written
// as their tags. Plain Go values are converted naturally:
//
//	string → S, bool → B, int8 → SB, int16 → I16, int32 → I32, int64 → I64,
//	int → I32 when it fits, else I64; uint8 → By, uint16 → U16,
//	uint32 → U32, uint64 → U64, uint → U32 when it fits, else U64;
//	float32 → Sg, float64 → Db, []byte → BA, uuid.UUID → G,
//	time.Time → DT (UTC when its location is time.UTC, else Local with its
//	offset), time.Duration → TS, nil → Nil,
//	[]any → an Object[] (<LST>),
//	map[string]any → a Hashtable (<DCT>) with sorted keys.
//
// A Marshaler is asked for its model first; other types (structs, maps,
// slices) go through the struct-tag mapping described in the package
// documentation. RefIds and TN RefIds start at 0 in every call; an *Object
// that appears twice is written once and then as <Ref>, so cycles through
// *Object are safe, and a type-name list already written is reused with
// <TNRef>.
func Marshal(v any) ([]byte, error) { return MarshalOptions{}.Marshal(v) }

// Marshal returns the CLIXML encoding of v. See the package-level Marshal.
func (o MarshalOptions) Marshal(v any) ([]byte, error) { return o.Append(nil, v) }

// Append appends the CLIXML encoding of v to dst. On error, dst is returned
// unchanged in length.
func (o MarshalOptions) Append(dst []byte, v any) ([]byte, error) {
	e := encoder{cipher: o.Cipher, refIDFirst: o.RefIDFirst, buf: dst}
	if err := e.value(v, "", false); err != nil {
		return dst, err
	}
	return e.buf, nil
}

// Unmarshal decodes one CLIXML value from data into v.
func Unmarshal(data []byte, v any) error { return UnmarshalOptions{}.Unmarshal(data, v) }

// Unmarshal decodes one CLIXML value from data into v, which must be a
// non-nil pointer. With a *any target the lossless model is stored as is;
// otherwise it is mapped onto the target's type (see the package
// documentation). The whole input is checked before the target is touched.
func (o UnmarshalOptions) Unmarshal(data []byte, v any) error {
	if p, ok := v.(*any); ok && p != nil {
		m, err := o.Decode(data)
		if err != nil {
			return err
		}
		*p = m
		return nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &InvalidUnmarshalError{Type: reflect.TypeOf(v)}
	}
	m, err := o.Decode(data)
	if err != nil {
		return err
	}
	return fromModel(m, rv.Elem())
}

// UnmarshalValue stores m, a value of the lossless model (what Decode
// returns, the Value of a session.Output), into v, which must be a non-nil
// pointer, without encoding it again: the model-to-Go half of Unmarshal, as
// json.Unmarshal of a json.RawMessage is for JSON. The mapping and its
// errors are Unmarshal's (see the package documentation): a struct is filled
// from an object's members by name, a value that does not fit its field is
// skipped and reported as an *UnmarshalTypeError once the rest is filled in.
// The result may share the model's slices and objects; m is not modified.
func UnmarshalValue(m any, v any) error {
	if p, ok := v.(*any); ok && p != nil {
		*p = m
		return nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &InvalidUnmarshalError{Type: reflect.TypeOf(v)}
	}
	return fromModel(m, rv.Elem())
}

// Decode decodes one CLIXML value (with optional BOM, XML declaration,
// comments and surrounding whitespace) into the lossless model.
func Decode(data []byte) (any, error) { return UnmarshalOptions{}.Decode(data) }

// Decode decodes one CLIXML value from data into the lossless model. The
// result does not retain data.
func (o UnmarshalOptions) Decode(data []byte) (any, error) {
	if max := o.maxBytes(); len(data) > max {
		return nil, &LimitError{Limit: "MaxBytes", Max: max, Offset: int64(max)}
	}
	// The decoder lives on this goroutine's stack (nothing keeps a pointer
	// to it): it costs no allocation, and storing pointers in it costs no
	// write barrier, which a pooled decoder on the heap paid for each one
	// while the garbage collector ran.
	var d decoder
	d.init(o)
	d.data = data
	return d.root()
}

func reflectValueOfPointer(v any) reflect.Value {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return reflect.Value{}
	}
	return rv
}

func invalidUnmarshal(v any) error { return &InvalidUnmarshalError{Type: reflect.TypeOf(v)} }
