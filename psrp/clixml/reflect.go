package clixml

import (
	"cmp"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/google/uuid"
)

// The bridge between Go values and the lossless model; doc.go describes the
// mapping.

// TypeNamer is implemented by Go types that give the type names (<TN>) their
// CLIXML object carries when marshalled from a struct, most specific first,
// e.g. []string{"My.Type", "System.Object"}.
type TypeNamer interface {
	CLIXMLTypeNames() []string
}

// reflMaxDepth bounds recursion through Go values and model values: it stops
// pointer cycles when marshalling and Ref cycles when unmarshalling.
const reflMaxDepth = 1000

// reflMaxSteps bounds the values visited by one fromModel call. Refs let a
// small model share objects; copying them into Go values could otherwise
// expand exponentially.
const reflMaxSteps = 1 << 24

var (
	reflMarshalerType   = reflect.TypeFor[Marshaler]()
	reflUnmarshalerType = reflect.TypeFor[Unmarshaler]()
	reflTypeNamerType   = reflect.TypeFor[TypeNamer]()
	reflTimeType        = reflect.TypeFor[time.Time]()
	reflDurationType    = reflect.TypeFor[time.Duration]()
	reflUUIDType        = reflect.TypeFor[uuid.UUID]()
	reflObjectType      = reflect.TypeFor[Object]()
	reflObjectPtrType   = reflect.TypeFor[*Object]()
)

// reflIsModelType reports whether t is one of the types of the lossless
// model, which are passed through unchanged.
func reflIsModelType(t reflect.Type) bool {
	switch t {
	case reflect.TypeFor[string](), reflect.TypeFor[bool](),
		reflect.TypeFor[int8](), reflect.TypeFor[int16](), reflect.TypeFor[int32](), reflect.TypeFor[int64](),
		reflect.TypeFor[uint8](), reflect.TypeFor[uint16](), reflect.TypeFor[uint32](), reflect.TypeFor[uint64](),
		reflect.TypeFor[float32](), reflect.TypeFor[float64](), reflect.TypeFor[[]byte](),
		reflect.TypeFor[Char](), reflect.TypeFor[DateTime](), reflect.TypeFor[TimeSpan](),
		reflect.TypeFor[Decimal](), reflect.TypeFor[URI](), reflect.TypeFor[XMLDocument](),
		reflect.TypeFor[ScriptBlock](), reflect.TypeFor[Version](), reflect.TypeFor[SecureString](),
		reflect.TypeFor[ProgressRecord](), reflUUIDType, reflObjectPtrType:
		return true
	}
	return false
}

// ---------------------------------------------------------------------------
// Struct fields

// reflField is one marshalled field of a struct type.
type reflField struct {
	name      string
	index     []int // path through embedded structs
	omitEmpty bool
	tagged    bool
}

// reflFieldCache maps reflect.Type to []reflField, as encoding/json does.
var reflFieldCache sync.Map

func reflCachedFields(t reflect.Type) []reflField {
	if f, ok := reflFieldCache.Load(t); ok {
		return f.([]reflField)
	}
	f, _ := reflFieldCache.LoadOrStore(t, reflTypeFields(t))
	return f.([]reflField)
}

// reflParseTag splits a clixml tag into its name and options.
func reflParseTag(tag string) (name string, omitEmpty bool) {
	name, opts, _ := strings.Cut(tag, ",")
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == "omitempty" {
			omitEmpty = true
		}
	}
	return name, omitEmpty
}

// reflTypeFields lists the fields of struct type t, promoting the fields of
// embedded structs with encoding/json's rules: a shallower field hides a
// deeper one; at equal depth a tagged field wins, and otherwise both go.
func reflTypeFields(t reflect.Type) []reflField {
	type level struct {
		typ   reflect.Type
		index []int
	}
	var all []reflField
	visited := map[reflect.Type]bool{}
	next := []level{{typ: t}}
	for len(next) > 0 {
		current := next
		next = nil
		for _, lv := range current {
			if visited[lv.typ] {
				continue
			}
			visited[lv.typ] = true
			for i := range lv.typ.NumField() {
				sf := lv.typ.Field(i)
				tag := sf.Tag.Get("clixml")
				if tag == "-" {
					continue
				}
				name, omit := reflParseTag(tag)
				ft := sf.Type
				if sf.Anonymous {
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						// Unexported non-structs hold nothing to promote. (An
						// unexported embedded pointer is followed when
						// marshalling; unmarshalling cannot allocate it and
						// skips its fields while it is nil.)
						continue
					}
					if name == "" && ft.Kind() == reflect.Struct {
						next = append(next, level{typ: ft, index: append(slices.Clip(lv.index), i)})
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				f := reflField{name: name, index: append(slices.Clip(lv.index), i), omitEmpty: omit, tagged: name != ""}
				if f.name == "" {
					f.name = sf.Name
				}
				all = append(all, f)
			}
		}
	}
	// Resolve name conflicts (names are case-sensitive here, as in .NET
	// member sets).
	slices.SortStableFunc(all, func(a, b reflField) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return 0
	})
	out := all[:0:0]
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].name == all[i].name {
			j++
		}
		group := all[i:j]
		i = j
		if len(group) == 1 {
			out = append(out, group[0])
			continue
		}
		depth := len(group[0].index)
		n, tagged := 0, 0
		for _, f := range group {
			if len(f.index) == depth {
				n++
				if f.tagged {
					tagged++
				}
			}
		}
		if n == 1 || tagged == 1 {
			out = append(out, group[0])
		}
	}
	slices.SortFunc(out, func(a, b reflField) int { return slices.Compare(a.index, b.index) })
	return out
}

// ---------------------------------------------------------------------------
// Go -> model

// toModel converts a Go value that is not already a model type into the
// lossless model (structs, maps, slices, Marshalers, named types...).
func toModel(v reflect.Value) (any, error) { return reflToModel(v, 0) }

func reflToModel(v reflect.Value, depth int) (any, error) {
	if !v.IsValid() {
		return nil, nil
	}
	if depth > reflMaxDepth {
		return nil, &UnsupportedValueError{Value: v, Str: "nested more than " + strconv.Itoa(reflMaxDepth) + " levels deep (a pointer cycle?)"}
	}
	t := v.Type()
	if t.Implements(reflMarshalerType) {
		if (t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface) && v.IsNil() {
			return nil, nil
		}
		return reflCallMarshaler(v, depth)
	}
	if reflIsModelType(t) {
		return v.Interface(), nil
	}
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface && reflect.PointerTo(t).Implements(reflMarshalerType) {
		if !v.CanAddr() {
			c := reflect.New(t).Elem()
			c.Set(v)
			v = c
		}
		return reflCallMarshaler(v.Addr(), depth)
	}
	switch t {
	case reflTimeType:
		return reflDateTimeOf(v.Interface().(time.Time)), nil
	case reflDurationType:
		return TimeSpanOf(time.Duration(v.Int())), nil
	case reflObjectType:
		o := v.Interface().(Object)
		return &o, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int8:
		return int8(v.Int()), nil
	case reflect.Int16:
		return int16(v.Int()), nil
	case reflect.Int32:
		return int32(v.Int()), nil
	case reflect.Int:
		// As PowerShell types an integer literal: Int32 when it fits.
		if x := v.Int(); x >= math.MinInt32 && x <= math.MaxInt32 {
			return int32(x), nil
		}
		return v.Int(), nil
	case reflect.Int64:
		return v.Int(), nil
	case reflect.Uint8:
		return uint8(v.Uint()), nil
	case reflect.Uint16:
		return uint16(v.Uint()), nil
	case reflect.Uint32:
		return uint32(v.Uint()), nil
	case reflect.Uint:
		if x := v.Uint(); x <= math.MaxUint32 {
			return uint32(x), nil
		}
		return v.Uint(), nil
	case reflect.Uint64, reflect.Uintptr:
		return v.Uint(), nil
	case reflect.Float32:
		return float32(v.Float()), nil
	case reflect.Float64:
		return v.Float(), nil
	case reflect.String:
		return v.String(), nil
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil, nil
		}
		return reflToModel(v.Elem(), depth+1)
	case reflect.Slice:
		if v.IsNil() {
			return nil, nil
		}
		if t.Elem().Kind() == reflect.Uint8 && !reflElemMarshals(t.Elem()) {
			return slices.Clone(v.Bytes()), nil
		}
		return reflListToModel(v, depth)
	case reflect.Array:
		return reflListToModel(v, depth)
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		return reflMapToModel(v, depth)
	case reflect.Struct:
		return reflStructToModel(v, depth)
	}
	return nil, &UnsupportedTypeError{Type: t}
}

// reflElemMarshals reports whether t (a byte-kinded element type) brings its
// own Marshaler, in which case a slice of it is a list rather than BA.
func reflElemMarshals(t reflect.Type) bool {
	return t.Implements(reflMarshalerType) || reflect.PointerTo(t).Implements(reflMarshalerType)
}

func reflCallMarshaler(v reflect.Value, depth int) (any, error) {
	m, err := v.Interface().(Marshaler).MarshalCLIXML()
	if err != nil {
		return nil, &MarshalerError{Type: v.Type(), Err: err, Method: "MarshalCLIXML"}
	}
	if m == nil || reflIsModelType(reflect.TypeOf(m)) {
		return m, nil
	}
	// A Marshaler may return an ordinary Go value; convert it too.
	return reflToModel(reflect.ValueOf(m), depth+1)
}

// reflDateTimeOf converts t, keeping UTC times UTC and giving others their
// offset, which is what the receiving .NET side expects of a local time.
func reflDateTimeOf(t time.Time) DateTime {
	if t.Location() == time.UTC {
		return DateTime{Time: t, Kind: UTC}
	}
	return DateTime{Time: t, Kind: Local}
}

func reflListToModel(v reflect.Value, depth int) (any, error) {
	n := v.Len()
	o := &Object{
		TypeNames: []string{"System.Object[]", "System.Array", "System.Object"},
		Kind:      List,
		Items:     make([]any, n),
	}
	for i := range n {
		m, err := reflToModel(v.Index(i), depth+1)
		if err != nil {
			return nil, err
		}
		o.Items[i] = m
	}
	return o, nil
}

func reflMapToModel(v reflect.Value, depth int) (any, error) {
	keys := v.MapKeys()
	slices.SortFunc(keys, reflCompareKeys)
	o := &Object{
		TypeNames: []string{"System.Collections.Hashtable", "System.Object"},
		Kind:      Dictionary,
		Entries:   make([]DictEntry, len(keys)),
	}
	for i, k := range keys {
		km, err := reflToModel(k, depth+1)
		if err != nil {
			return nil, err
		}
		vm, err := reflToModel(v.MapIndex(k), depth+1)
		if err != nil {
			return nil, err
		}
		o.Entries[i] = DictEntry{Key: km, Value: vm}
	}
	return o, nil
}

// reflCompareKeys orders map keys so that output is deterministic.
func reflCompareKeys(a, b reflect.Value) int {
	if a.Kind() == reflect.Interface && !a.IsNil() {
		a = a.Elem()
	}
	if b.Kind() == reflect.Interface && !b.IsNil() {
		b = b.Elem()
	}
	if a.Kind() == b.Kind() {
		switch a.Kind() {
		case reflect.String:
			return strings.Compare(a.String(), b.String())
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return cmp.Compare(a.Int(), b.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			return cmp.Compare(a.Uint(), b.Uint())
		case reflect.Float32, reflect.Float64:
			return cmp.Compare(a.Float(), b.Float())
		}
	}
	return strings.Compare(reflKeyString(a), reflKeyString(b))
}

func reflKeyString(v reflect.Value) string {
	if !v.IsValid() {
		return ""
	}
	return v.Type().String() + ":" + fmt.Sprint(v.Interface())
}

func reflStructToModel(v reflect.Value, depth int) (any, error) {
	t := v.Type()
	o := &Object{}
	if t.Implements(reflTypeNamerType) {
		o.TypeNames = v.Interface().(TypeNamer).CLIXMLTypeNames()
	} else if v.CanAddr() && reflect.PointerTo(t).Implements(reflTypeNamerType) {
		o.TypeNames = v.Addr().Interface().(TypeNamer).CLIXMLTypeNames()
	}
	fields := reflCachedFields(t)
	o.Members = make([]Property, 0, len(fields))
	for _, f := range fields {
		fv, ok := reflFieldByIndex(v, f.index)
		if !ok || (f.omitEmpty && reflIsEmpty(fv)) {
			continue
		}
		m, err := reflToModel(fv, depth+1)
		if err != nil {
			return nil, err
		}
		o.Members = append(o.Members, Property{Name: f.name, Value: m})
	}
	return o, nil
}

// reflFieldByIndex follows index through embedded structs; ok is false when
// an embedded pointer on the way is nil.
func reflFieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// reflIsEmpty is omitempty's test: encoding/json's, plus zero structs.
func reflIsEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	}
	return v.IsZero()
}

// ---------------------------------------------------------------------------
// model -> Go

// fromModel stores the model value m into dst (a settable reflect.Value).
func fromModel(m any, dst reflect.Value) error {
	d := reflDecoder{}
	if err := d.value(m, dst); err != nil {
		return err
	}
	return d.firstErr
}

// reflDecoder holds the state of one fromModel call.
type reflDecoder struct {
	firstErr error
	path     []string // CLIXML names of the fields being filled
	strct    string   // innermost struct type being filled
	depth    int
	steps    int
	// memo maps an object already stored into a pointer, slice or map of a
	// given type to the Go value made for it, so that objects shared
	// through Refs stay shared (and cycles stay finite) instead of being
	// copied again for every reference.
	memo map[reflMemoKey]reflect.Value
}

type reflMemoKey struct {
	o *Object
	t reflect.Type
}

// remember records the Go value made for o.
func (d *reflDecoder) remember(o *Object, t reflect.Type, v reflect.Value) {
	if d.memo == nil {
		d.memo = make(map[reflMemoKey]reflect.Value)
	}
	d.memo[reflMemoKey{o, t}] = v
}

// mismatch records that m does not fit type t and lets decoding go on.
func (d *reflDecoder) mismatch(value string, t reflect.Type) {
	if d.firstErr == nil {
		d.firstErr = &UnmarshalTypeError{Value: value, Type: t, Struct: d.strct, Field: strings.Join(d.path, ".")}
	}
}

func (d *reflDecoder) value(m any, v reflect.Value) error {
	d.steps++
	if d.steps > reflMaxSteps {
		return &LimitError{Limit: "expansion of shared objects", Max: reflMaxSteps}
	}
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > reflMaxDepth {
		return &LimitError{Limit: "Go value depth", Max: reflMaxDepth}
	}
	if o, ok := m.(*Object); ok && o == nil {
		m = nil // a typed nil is Nil
	}
	t := v.Type()
	if m != nil && reflect.TypeOf(m) == t {
		v.Set(reflect.ValueOf(m))
		return nil
	}
	if m == nil {
		switch t.Kind() {
		case reflect.Interface, reflect.Pointer, reflect.Map, reflect.Slice:
			v.SetZero()
		}
		return nil
	}
	o, isObj := m.(*Object)
	isObj = isObj && o != nil
	if isObj {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			if prev, ok := d.memo[reflMemoKey{o, t}]; ok {
				v.Set(prev)
				return nil
			}
		}
	}
	if t.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		if isObj {
			d.remember(o, t, v.Elem().Addr())
		}
		return d.value(m, v.Elem())
	}
	if t.Kind() != reflect.Interface && v.CanAddr() && reflect.PointerTo(t).Implements(reflUnmarshalerType) {
		return d.callUnmarshaler(m, v.Addr())
	}
	if isObj && o.Kind == NotContainer && o.Value != nil && !reflWantsObject(t) {
		if _, isStr := o.Value.(string); t.Kind() == reflect.String && !isStr && o.HasToString {
			v.SetString(o.ToString)
			return nil
		}
		// An enum or a primitive with notes: use the primitive.
		return d.value(o.Value, v)
	}
	switch t {
	case reflTimeType:
		if dt, ok := m.(DateTime); ok {
			v.Set(reflect.ValueOf(dt.Time))
			return nil
		}
		d.mismatch(reflDescribe(m), t)
		return nil
	case reflDurationType:
		if ts, ok := m.(TimeSpan); ok {
			v.SetInt(int64(ts.Duration()))
			return nil
		}
		d.mismatch(reflDescribe(m), t)
		return nil
	case reflUUIDType:
		if s, ok := m.(string); ok {
			if u, err := uuid.Parse(s); err == nil {
				v.Set(reflect.ValueOf(u))
				return nil
			}
		}
		d.mismatch(reflDescribe(m), t)
		return nil
	case reflObjectType:
		if o, ok := m.(*Object); ok && o != nil {
			v.Set(reflect.ValueOf(*o))
			return nil
		}
		d.mismatch(reflDescribe(m), t)
		return nil
	}
	switch t.Kind() {
	case reflect.Interface:
		if t.NumMethod() == 0 || reflect.TypeOf(m).Implements(t) {
			v.Set(reflect.ValueOf(m))
			return nil
		}
	case reflect.String:
		if s, ok := reflModelString(m); ok {
			v.SetString(s)
			return nil
		}
	case reflect.Bool:
		if b, ok := m.(bool); ok {
			v.SetBool(b)
			return nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return d.setInt(m, v)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return d.setUint(m, v)
	case reflect.Float32, reflect.Float64:
		return d.setFloat(m, v)
	case reflect.Slice:
		return d.setSlice(m, v)
	case reflect.Array:
		return d.setArray(m, v)
	case reflect.Map:
		return d.setMap(m, v)
	case reflect.Struct:
		// A bare container (a list, a dictionary) is not a struct.
		if o, ok := m.(*Object); ok && o != nil && (o.Kind == NotContainer || len(o.Members)+len(o.Props) > 0) {
			return d.setStruct(o, v)
		}
	}
	d.mismatch(reflDescribe(m), t)
	return nil
}

func (d *reflDecoder) callUnmarshaler(m any, p reflect.Value) error {
	err := p.Interface().(Unmarshaler).UnmarshalCLIXML(m)
	if err == nil {
		return nil
	}
	if te, ok := err.(*UnmarshalTypeError); ok {
		// A record's own mismatch: report it with where it happened.
		if d.firstErr == nil {
			c := *te
			if len(d.path) > 0 {
				if c.Field == "" {
					c.Struct, c.Field = d.strct, strings.Join(d.path, ".")
				} else {
					c.Field = strings.Join(d.path, ".") + "." + c.Field
				}
			}
			d.firstErr = &c
		}
		return nil
	}
	return &MarshalerError{Type: p.Type(), Err: err, Method: "UnmarshalCLIXML"}
}

// reflWantsObject reports whether a value of type t is filled from an
// Obj's members or items rather than from the primitive it wraps.
func reflWantsObject(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface, reflect.Map:
		return true
	case reflect.Struct:
		switch t {
		case reflTimeType, reflect.TypeFor[DateTime](), reflect.TypeFor[Version](),
			reflect.TypeFor[SecureString](), reflect.TypeFor[ProgressRecord]():
			return false
		}
		return true
	case reflect.Slice:
		return t.Elem().Kind() != reflect.Uint8
	case reflect.Array:
		return t != reflUUIDType
	}
	return false
}

// reflModelString returns the text of the string-like model values.
func reflModelString(m any) (string, bool) {
	switch x := m.(type) {
	case string:
		return x, true
	case Char:
		if utf16.IsSurrogate(rune(x)) {
			return "\uFFFD", true
		}
		return string(rune(x)), true
	case URI:
		return string(x), true
	case Decimal:
		return string(x), true
	case XMLDocument:
		return string(x), true
	case ScriptBlock:
		return string(x), true
	case *Object:
		// A deserialized object read as text, as PowerShell casts it.
		if x != nil && x.HasToString {
			return x.ToString, true
		}
	}
	return "", false
}

// reflModelInt returns the value of an integer model value: in i when it
// is signed, in u when it is unsigned.
func reflModelInt(m any) (i int64, u uint64, signed, ok bool) {
	switch x := m.(type) {
	case int8:
		return int64(x), 0, true, true
	case int16:
		return int64(x), 0, true, true
	case int32:
		return int64(x), 0, true, true
	case int64:
		return x, 0, true, true
	case uint8:
		return 0, uint64(x), false, true
	case uint16:
		return 0, uint64(x), false, true
	case uint32:
		return 0, uint64(x), false, true
	case uint64:
		return 0, x, false, true
	case Char:
		return 0, uint64(x), false, true
	}
	return 0, 0, false, false
}

func (d *reflDecoder) setInt(m any, v reflect.Value) error {
	i, u, signed, ok := reflModelInt(m)
	switch {
	case !ok:
		d.mismatch(reflDescribe(m), v.Type())
	case signed && !v.OverflowInt(i):
		v.SetInt(i)
	case !signed && u <= math.MaxInt64 && !v.OverflowInt(int64(u)):
		v.SetInt(int64(u))
	default:
		d.mismatch(reflDescribe(m), v.Type())
	}
	return nil
}

func (d *reflDecoder) setUint(m any, v reflect.Value) error {
	i, u, signed, ok := reflModelInt(m)
	switch {
	case !ok:
		d.mismatch(reflDescribe(m), v.Type())
	case signed && i >= 0 && !v.OverflowUint(uint64(i)):
		v.SetUint(uint64(i))
	case !signed && !v.OverflowUint(u):
		v.SetUint(u)
	default:
		d.mismatch(reflDescribe(m), v.Type())
	}
	return nil
}

func (d *reflDecoder) setFloat(m any, v reflect.Value) error {
	var f float64
	switch x := m.(type) {
	case float32:
		f = float64(x)
	case float64:
		f = x
	default:
		i, u, signed, ok := reflModelInt(m)
		if !ok {
			d.mismatch(reflDescribe(m), v.Type())
			return nil
		}
		if signed {
			f = float64(i)
		} else {
			f = float64(u)
		}
	}
	if !math.IsInf(f, 0) && !math.IsNaN(f) && v.OverflowFloat(f) {
		d.mismatch(reflDescribe(m), v.Type())
		return nil
	}
	v.SetFloat(f)
	return nil
}

// reflItems returns the elements of a list-like model value.
func reflItems(m any) ([]any, bool) {
	o, ok := m.(*Object)
	if !ok || o == nil {
		return nil, false
	}
	switch o.Kind {
	case List, Enumerable, Stack, Queue:
		return o.Items, true
	}
	return nil, false
}

func (d *reflDecoder) setSlice(m any, v reflect.Value) error {
	t := v.Type()
	if b, ok := m.([]byte); ok && t.Elem().Kind() == reflect.Uint8 {
		s := reflect.MakeSlice(t, len(b), len(b))
		reflect.Copy(s, reflect.ValueOf(b))
		v.Set(s)
		return nil
	}
	items, ok := reflItems(m)
	if !ok {
		d.mismatch(reflDescribe(m), t)
		return nil
	}
	// The items are already in memory, so their count bounds this.
	s := reflect.MakeSlice(t, len(items), len(items))
	d.remember(m.(*Object), t, s)
	for i, it := range items {
		if err := d.value(it, s.Index(i)); err != nil {
			return err
		}
	}
	v.Set(s)
	return nil
}

func (d *reflDecoder) setArray(m any, v reflect.Value) error {
	t := v.Type()
	if b, ok := m.([]byte); ok && t.Elem().Kind() == reflect.Uint8 {
		n := reflect.Copy(v, reflect.ValueOf(b))
		for i := n; i < v.Len(); i++ {
			v.Index(i).SetZero()
		}
		return nil
	}
	items, ok := reflItems(m)
	if !ok {
		d.mismatch(reflDescribe(m), t)
		return nil
	}
	for i := range v.Len() {
		if i >= len(items) {
			v.Index(i).SetZero()
			continue
		}
		if err := d.value(items[i], v.Index(i)); err != nil {
			return err
		}
	}
	return nil
}

func (d *reflDecoder) setMap(m any, v reflect.Value) error {
	t := v.Type()
	o, ok := m.(*Object)
	if !ok || o == nil || (o.Kind != Dictionary && o.Kind != NotContainer) {
		d.mismatch(reflDescribe(m), t)
		return nil
	}
	put := func(key, val any) error {
		kv := reflect.New(t.Key()).Elem()
		before := d.firstErr
		if err := d.value(key, kv); err != nil {
			return err
		}
		if d.firstErr != before {
			return nil // key does not fit: skip the entry
		}
		ev := reflect.New(t.Elem()).Elem()
		if err := d.value(val, ev); err != nil {
			return err
		}
		v.SetMapIndex(kv, ev)
		return nil
	}
	if o.Kind == Dictionary {
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(t, len(o.Entries)))
		}
		d.remember(o, t, reflect.ValueOf(v.Interface()))
		for _, e := range o.Entries {
			if err := put(e.Key, e.Value); err != nil {
				return err
			}
		}
		return nil
	}
	// A property bag (PSCustomObject): adapted properties first, so that
	// extended members win as they do in PowerShell.
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(t, len(o.Props)+len(o.Members)))
	}
	d.remember(o, t, reflect.ValueOf(v.Interface()))
	for _, set := range [2][]Property{o.Props, o.Members} {
		for _, p := range set {
			if err := put(p.Name, p.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *reflDecoder) setStruct(o *Object, v reflect.Value) error {
	t := v.Type()
	saved := d.strct
	d.strct = t.Name()
	defer func() { d.strct = saved }()
	for _, f := range reflCachedFields(t) {
		mv, ok := o.Member(f.name)
		if !ok {
			continue
		}
		fv, ok := reflFieldAlloc(v, f.index)
		if !ok {
			continue
		}
		d.path = append(d.path, f.name)
		err := d.value(mv, fv)
		d.path = d.path[:len(d.path)-1]
		if err != nil {
			return err
		}
	}
	return nil
}

// reflFieldAlloc follows index through embedded structs, allocating nil
// embedded pointers on the way.
func reflFieldAlloc(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, false
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// reflDescribe names a model value for an UnmarshalTypeError: its CLIXML
// tag, and the number itself for numbers.
func reflDescribe(m any) string {
	switch x := m.(type) {
	case nil:
		return "Nil"
	case string:
		return "S"
	case Char:
		return "C"
	case bool:
		return "B"
	case DateTime:
		return "DT"
	case TimeSpan:
		return "TS"
	case uint8:
		return "By " + strconv.FormatUint(uint64(x), 10)
	case int8:
		return "SB " + strconv.FormatInt(int64(x), 10)
	case uint16:
		return "U16 " + strconv.FormatUint(uint64(x), 10)
	case int16:
		return "I16 " + strconv.FormatInt(int64(x), 10)
	case uint32:
		return "U32 " + strconv.FormatUint(uint64(x), 10)
	case int32:
		return "I32 " + strconv.FormatInt(int64(x), 10)
	case uint64:
		return "U64 " + strconv.FormatUint(x, 10)
	case int64:
		return "I64 " + strconv.FormatInt(x, 10)
	case float32:
		return "Sg " + strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return "Db " + strconv.FormatFloat(x, 'g', -1, 64)
	case Decimal:
		return "D"
	case []byte:
		return "BA"
	case uuid.UUID:
		return "G"
	case URI:
		return "URI"
	case Version:
		return "Version"
	case XMLDocument:
		return "XD"
	case ScriptBlock:
		return "SBK"
	case SecureString:
		return "SS"
	case ProgressRecord:
		return "PR"
	case *Object:
		if x == nil {
			return "Nil"
		}
		switch x.Kind {
		case List:
			return "Obj LST"
		case Enumerable:
			return "Obj IE"
		case Stack:
			return "Obj STK"
		case Queue:
			return "Obj QUE"
		case Dictionary:
			return "Obj DCT"
		}
		return "Obj"
	}
	return fmt.Sprintf("%T", m)
}
