package clixml

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Types used by the mapping tests.

type rtInner struct {
	City string
	Zip  int32 `clixml:"ZipCode"`
}

type rtBase struct {
	ID   int64
	Note string `clixml:",omitempty"`
}

type rtPerson struct {
	rtBase
	Name     string
	Age      int32  `clixml:"age"`
	Secret   string `clixml:"-"`
	Nick     string `clixml:",omitempty"`
	Tags     []string
	Home     *rtInner
	Extra    map[string]any
	private  int // must be ignored
	Anything any
}

type rtColor int32

func (c rtColor) String() string { return [...]string{"Red", "Green"}[c] }

// rtUpper marshals itself as an upper-case string (value receiver).
type rtUpper string

func (u rtUpper) MarshalCLIXML() (any, error) { return strings.ToUpper(string(u)), nil }

// rtCounter unmarshals with a pointer receiver and counts the calls.
type rtCounter struct {
	N     int
	Calls int
}

func (c *rtCounter) MarshalCLIXML() (any, error) { return int32(c.N * 10), nil }
func (c *rtCounter) UnmarshalCLIXML(v any) error {
	c.Calls++
	n, ok := v.(int32)
	if !ok {
		return errors.New("want I32")
	}
	c.N = int(n) / 10
	return nil
}

type rtNamed struct{ A string }

func (rtNamed) CLIXMLTypeNames() []string { return []string{"My.Named", "System.Object"} }

type rtSmall struct {
	Tiny  int8
	Other string
	U     uint8
	Last  string
}

type rtNode struct {
	Name string
	Next *rtNode
}

// Conflicting embedded fields: A.X and B.X at the same depth cancel; the
// tagged one wins over an untagged one.
type rtEmbA struct{ X, Y int32 }
type rtEmbB struct {
	X int32
	Y int32 `clixml:"Y"`
}
type rtConflict struct {
	rtEmbA
	rtEmbB
}

type rtEmbPtr struct {
	*rtInner
	Own string
}

// rtBytes is a named byte slice: still BA.
type rtBytes []byte

// rtByteM is a byte with its own Marshaler: a slice of it is a list.
type rtByteM uint8

func (b rtByteM) MarshalCLIXML() (any, error) { return "b" + fmt.Sprint(uint8(b)), nil }

// RTExported is embedded by pointer; being exported it can be allocated.
type RTExported struct{ City string }

type rtEmbExported struct {
	*RTExported
	Own string
}

func obj(members ...Property) *Object { return &Object{Members: members} }

func TestToModelStruct(t *testing.T) {
	t.Parallel()
	p := rtPerson{
		rtBase:   rtBase{ID: 7},
		Name:     "Ann",
		Age:      41,
		Secret:   "hidden",
		Tags:     []string{"a", "b"},
		Home:     &rtInner{City: "Oslo", Zip: 150},
		Extra:    map[string]any{"z": 1, "a": true},
		private:  3,
		Anything: rtColor(1),
	}
	got, err := toModel(reflect.ValueOf(p))
	require.NoError(t, err)
	want := &Object{Members: []Property{
		{"ID", int64(7)},
		{"Name", "Ann"},
		{"age", int32(41)},
		{"Tags", &Object{TypeNames: []string{"System.Object[]", "System.Array", "System.Object"}, Kind: List, Items: []any{"a", "b"}}},
		{"Home", &Object{Members: []Property{{"City", "Oslo"}, {"ZipCode", int32(150)}}}},
		{"Extra", &Object{TypeNames: []string{"System.Collections.Hashtable", "System.Object"}, Kind: Dictionary,
			Entries: []DictEntry{{"a", true}, {"z", int32(1)}}}},
		{"Anything", int32(1)}, // a Stringer stays a plain integer
	}}
	assert.Equal(t, want, got)
}

func TestToModelKinds(t *testing.T) {
	t.Parallel()
	ts := time.Date(2024, 5, 6, 7, 8, 9, 100, time.UTC)
	loc := time.FixedZone("x", -7*3600)
	u := uuid.MustParse("0b3d1c9e-8f2a-4c1e-9a8b-7c6d5e4f3a2b")
	var nilMap map[string]int
	var nilSlice []int
	var nilPtr *rtInner
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"int", int(5), int32(5)},
		{"big int", int(1 << 40), int64(1 << 40)},
		{"uint", uint(5), uint32(5)},
		{"big uint", uint(1 << 40), uint64(1 << 40)},
		{"int8", int8(-5), int8(-5)},
		{"uint16", uint16(5), uint16(5)},
		{"float32", float32(1.5), float32(1.5)},
		{"named string", rtUpper("abc"), "ABC"},
		{"named int", rtColor(0), int32(0)},
		{"bytes", []byte{1, 2}, []byte{1, 2}},
		{"time utc", ts, DateTime{Time: ts, Kind: UTC}},
		{"time offset", ts.In(loc), DateTime{Time: ts.In(loc), Kind: Local}},
		{"duration", 1500 * time.Millisecond, TimeSpan(15_000_000)},
		{"uuid", u, u},
		{"array", [2]int32{1, 2}, &Object{TypeNames: []string{"System.Object[]", "System.Array", "System.Object"}, Kind: List, Items: []any{int32(1), int32(2)}}},
		{"nil map", nilMap, nil},
		{"nil slice", nilSlice, nil},
		{"empty slice", []int{}, &Object{TypeNames: []string{"System.Object[]", "System.Array", "System.Object"}, Kind: List, Items: []any{}}},
		{"nil pointer", nilPtr, nil},
		{"int keys sorted", map[int]string{10: "b", 2: "a"}, &Object{TypeNames: []string{"System.Collections.Hashtable", "System.Object"}, Kind: Dictionary,
			Entries: []DictEntry{{int32(2), "a"}, {int32(10), "b"}}}},
		{"object value", Object{ToString: "x", HasToString: true}, &Object{ToString: "x", HasToString: true}},
		{"type names", rtNamed{A: "a"}, &Object{TypeNames: []string{"My.Named", "System.Object"}, Members: []Property{{"A", "a"}}}},
		{"pointer marshaler in value", rtCounter{N: 3}, int32(30)},
		{"pointer marshaler", &rtCounter{N: 4}, int32(40)},
		{"embedded nil pointer skipped", rtEmbPtr{Own: "o"}, obj(Property{"Own", "o"})},
		{"embedded pointer", rtEmbPtr{rtInner: &rtInner{City: "c"}, Own: "o"},
			obj(Property{"City", "c"}, Property{"ZipCode", int32(0)}, Property{"Own", "o"})},
		{"conflicts", rtConflict{rtEmbA{1, 2}, rtEmbB{3, 4}}, obj(Property{"Y", int32(4)})},
		{"model progress record stays PR", ProgressRecord{Activity: "a"}, ProgressRecord{Activity: "a"}},
		{"named bytes", rtBytes{1}, []byte{1}},
		{"bytes with marshaler", []rtByteM{1, 2}, &Object{TypeNames: []string{"System.Object[]", "System.Array", "System.Object"}, Kind: List, Items: []any{"b1", "b2"}}},
		{"mixed keys sorted by type and value", map[any]int32{"b": 1, 2: 2, "a": 3}, &Object{TypeNames: []string{"System.Collections.Hashtable", "System.Object"}, Kind: Dictionary,
			Entries: []DictEntry{{int32(2), int32(2)}, {"a", int32(3)}, {"b", int32(1)}}}},
		{"float keys", map[float64]bool{2.5: true, -1: false}, &Object{TypeNames: []string{"System.Collections.Hashtable", "System.Object"}, Kind: Dictionary,
			Entries: []DictEntry{{-1.0, false}, {2.5, true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := toModel(reflect.ValueOf(tt.in))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestToModelOmitEmpty(t *testing.T) {
	t.Parallel()
	type T struct {
		S  string         `clixml:",omitempty"`
		I  int            `clixml:",omitempty"`
		B  bool           `clixml:",omitempty"`
		P  *int           `clixml:",omitempty"`
		L  []int          `clixml:",omitempty"`
		M  map[string]int `clixml:",omitempty"`
		T  time.Time      `clixml:",omitempty"`
		A  any            `clixml:",omitempty"`
		K  string         `clixml:"Kept"`
		D  string         `clixml:"-,"` // named "-"
		E  []int          `clixml:",omitempty"`
		Zs struct{}       `clixml:",omitempty"`
	}
	got, err := toModel(reflect.ValueOf(T{E: []int{}}))
	require.NoError(t, err)
	assert.Equal(t, obj(Property{"Kept", ""}, Property{"-", ""}), got)

	one := 1
	got, err = toModel(reflect.ValueOf(T{S: "s", I: 1, B: true, P: &one}))
	require.NoError(t, err)
	o := got.(*Object)
	var names []string
	for _, p := range o.Members {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"S", "I", "B", "P", "Kept", "-"}, names)
	assert.Equal(t, int32(1), o.Members[3].Value, "pointer is followed")
}

func TestToModelErrors(t *testing.T) {
	t.Parallel()
	cyc := &rtNode{Name: "a"}
	cyc.Next = cyc
	tests := []struct {
		name   string
		in     any
		target any
	}{
		{"chan", make(chan int), new(*UnsupportedTypeError)},
		{"func field", struct{ F func() }{F: func() {}}, new(*UnsupportedTypeError)},
		{"complex", complex(1, 2), new(*UnsupportedTypeError)},
		{"map of chan", map[string]chan int{"a": nil}, new(*UnsupportedTypeError)},
		{"cycle", cyc, new(*UnsupportedValueError)},
		{"marshaler error", rtFailing{}, new(*MarshalerError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := toModel(reflect.ValueOf(tt.in))
			require.Error(t, err)
			assert.ErrorAs(t, err, tt.target)
			if tt.name == "marshaler error" {
				assert.ErrorIs(t, err, errRTFailing)
			}
			assert.True(t, strings.HasPrefix(err.Error(), "clixml: "), err.Error())
		})
	}
}

type rtFailing struct{}

var errRTFailing = errors.New("boom")

func (rtFailing) MarshalCLIXML() (any, error) { return nil, errRTFailing }

func TestFromModelStruct(t *testing.T) {
	t.Parallel()
	m := &Object{
		TypeNames: []string{"Deserialized.X"},
		Props: []Property{
			{"Name", "from props"}, // hidden by the member of the same name
			{"AGE", int32(41)},     // case-insensitive match
			{"Unknown", "ignored"},
			{"Secret", "not read"},
		},
		Members: []Property{
			{"Name", "Ann"},
			{"ID", int64(7)},
			{"Note", "n"},
			{"Tags", &Object{Kind: List, Items: []any{"a", "b"}}},
			{"Home", obj(Property{"City", "Oslo"}, Property{"ZipCode", int32(150)})},
			{"Extra", &Object{Kind: Dictionary, Entries: []DictEntry{{"k", int32(1)}}}},
			{"Anything", obj(Property{"Q", "x"})},
		},
	}
	var p rtPerson
	require.NoError(t, fromModel(m, reflect.ValueOf(&p).Elem()))
	assert.Equal(t, rtPerson{
		rtBase:   rtBase{ID: 7, Note: "n"},
		Name:     "Ann",
		Age:      41,
		Tags:     []string{"a", "b"},
		Home:     &rtInner{City: "Oslo", Zip: 150},
		Extra:    map[string]any{"k": int32(1)},
		Anything: obj(Property{"Q", "x"}),
	}, p)
}

func enumOf(name string, v int32) *Object {
	return enumObject("Some.Enum", name, v)
}

func TestFromModelKinds(t *testing.T) {
	t.Parallel()
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	u := uuid.MustParse("0b3d1c9e-8f2a-4c1e-9a8b-7c6d5e4f3a2b")
	tests := []struct {
		name string
		in   any
		ptr  any // pointer to a zero target
		want any
	}{
		{"I32 into int", int32(-3), new(int), -3},
		{"By into int64", uint8(200), new(int64), int64(200)},
		{"U64 into uint8", uint64(255), new(uint8), uint8(255)},
		{"I32 into uint16", int32(65535), new(uint16), uint16(65535)},
		{"I64 into float64", int64(3), new(float64), 3.0},
		{"Db into float32", 1.5, new(float32), float32(1.5)},
		{"Char into string", Char('é'), new(string), "é"},
		{"URI into string", URI("http://x"), new(string), "http://x"},
		{"enum into int", enumOf("Completed", 1), new(int32), int32(1)},
		{"enum into named int", enumOf("Green", 1), new(rtColor), rtColor(1)},
		{"enum into string", enumOf("Completed", 1), new(string), "Completed"},
		{"string with notes", &Object{Value: "s", ToString: "other", HasToString: true}, new(string), "s"},
		{"object into string by ToString", &Object{ToString: "text", HasToString: true, Props: []Property{{"A", 1}}}, new(string), "text"},
		{"bool in Obj", &Object{Value: true}, new(bool), true},
		{"DT into time", DateTime{Time: ts, Kind: UTC}, new(time.Time), ts},
		{"DT into DateTime", DateTime{Time: ts, Kind: UTC}, new(DateTime), DateTime{Time: ts, Kind: UTC}},
		{"TS into duration", TimeSpan(15_000_000), new(time.Duration), 1500 * time.Millisecond},
		{"G into uuid", u, new(uuid.UUID), u},
		{"S into uuid", u.String(), new(uuid.UUID), u},
		{"BA into bytes", []byte{1, 2}, new([]byte), []byte{1, 2}},
		{"BA into array", []byte{1, 2}, new([3]byte), [3]byte{1, 2, 0}},
		{"LST into array", &Object{Kind: List, Items: []any{int32(1), int32(2), int32(3)}}, new([2]int), [2]int{1, 2}},
		{"STK into slice", &Object{Kind: Stack, Items: []any{"a"}}, new([]string), []string{"a"}},
		{"QUE into slice", &Object{Kind: Queue, Items: []any{"a"}}, new([]string), []string{"a"}},
		{"IE into slice", &Object{Kind: Enumerable, Items: []any{"a"}}, new([]any), []any{"a"}},
		{"DCT into int-keyed map", &Object{Kind: Dictionary, Entries: []DictEntry{{int32(9), "t"}}}, new(map[int32]string), map[int32]string{9: "t"}},
		{"DCT into any-keyed map", &Object{Kind: Dictionary, Entries: []DictEntry{{int32(9), "t"}}}, new(map[any]any), map[any]any{int32(9): "t"}},
		{"props into map", &Object{Props: []Property{{"a", "p"}, {"b", "p"}}, Members: []Property{{"a", "m"}}}, new(map[string]string), map[string]string{"a": "m", "b": "p"}},
		{"pointer allocated", "x", new(*string), ptrTo("x")},
		{"Nil into pointer", nil, ptrTo(ptrTo("x")), (*string)(nil)},
		{"Nil into int leaves it", nil, ptrTo(5), 5},
		{"model Object by value", &Object{ToString: "o", HasToString: true}, new(Object), Object{ToString: "o", HasToString: true}},
		{"model Object pointer", obj(), new(*Object), obj()},
		{"PR into ProgressRecord", ProgressRecord{Activity: "a"}, new(ProgressRecord), ProgressRecord{Activity: "a"}},
		{"unmarshaler", int32(70), new(rtCounter), rtCounter{N: 7, Calls: 1}},
		{"unmarshaler behind pointer", int32(70), new(*rtCounter), &rtCounter{N: 7, Calls: 1}},
		{"any gets model", &Object{Kind: List}, new(any), &Object{Kind: List}},
		{"Stringer iface", "s", new(fmt.Stringer), nil}, // string does not implement it: mismatch
		{"DT with notes into time", &Object{Value: DateTime{Time: ts}}, new(time.Time), ts},
		{"Obj with Value into map reads members", &Object{Value: "v", Members: []Property{{"a", "b"}}}, new(map[string]any), map[string]any{"a": "b"}},
		{"Char into int", Char('A'), new(int), 65},
		{"U64 into float", uint64(7), new(float64), 7.0},
		{"Sg into float64", float32(0.5), new(float64), 0.5},
		{"I16 into uint", int16(3), new(uint), uint(3)},
		{"D into string", Decimal("1.50"), new(string), "1.50"},
		{"SBK into string", ScriptBlock("gci"), new(string), "gci"},
		{"XD into string", XMLDocument("<a/>"), new(string), "<a/>"},
		{"surrogate Char", Char(0xD800), new(string), "\uFFFD"},
		{"BA into named bytes", []byte{9}, new(rtBytes), rtBytes{9}},
		{"short LST into array zeroes rest", &Object{Kind: List, Items: []any{int32(1)}}, ptrTo([3]int{7, 7, 7}), [3]int{1, 0, 0}},
		{"exported embedded pointer allocated", obj(Property{"City", "c"}, Property{"Own", "o"}), new(rtEmbExported), rtEmbExported{RTExported: &RTExported{City: "c"}, Own: "o"}},
		{"unexported embedded pointer skipped", obj(Property{"City", "c"}, Property{"Own", "o"}), new(rtEmbPtr), rtEmbPtr{Own: "o"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := reflect.ValueOf(tt.ptr).Elem()
			err := fromModel(tt.in, dst)
			if tt.name == "Stringer iface" {
				var te *UnmarshalTypeError
				require.ErrorAs(t, err, &te)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, dst.Interface())
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestFromModelTypeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      any
		ptr     any
		wantErr UnmarshalTypeError
		check   func(t *testing.T, v any)
	}{
		{
			name:    "overflow int8, rest still filled",
			in:      obj(Property{"Tiny", int64(300)}, Property{"Other", "x"}, Property{"U", int32(-1)}, Property{"Last", "y"}),
			ptr:     new(rtSmall),
			wantErr: UnmarshalTypeError{Value: "I64 300", Type: reflect.TypeFor[int8](), Struct: "rtSmall", Field: "Tiny"},
			check: func(t *testing.T, v any) {
				assert.Equal(t, rtSmall{Other: "x", Last: "y"}, *v.(*rtSmall), "negative into uint8 is skipped too")
			},
		},
		{
			name:    "string into int",
			in:      obj(Property{"age", "old"}),
			ptr:     new(rtPerson),
			wantErr: UnmarshalTypeError{Value: "S", Type: reflect.TypeFor[int32](), Struct: "rtPerson", Field: "age"},
		},
		{
			name:    "nested path",
			in:      obj(Property{"Home", obj(Property{"ZipCode", true})}),
			ptr:     new(rtPerson),
			wantErr: UnmarshalTypeError{Value: "B", Type: reflect.TypeFor[int32](), Struct: "rtInner", Field: "Home.ZipCode"},
		},
		{
			name:    "list into struct",
			in:      &Object{Kind: List},
			ptr:     new(rtInner),
			wantErr: UnmarshalTypeError{Value: "Obj LST", Type: reflect.TypeFor[rtInner]()},
		},
		{
			name:    "scalar into slice",
			in:      int32(1),
			ptr:     new([]int),
			wantErr: UnmarshalTypeError{Value: "I32 1", Type: reflect.TypeFor[[]int]()},
		},
		{
			name:    "U64 too big for int64",
			in:      uint64(math.MaxUint64),
			ptr:     new(int64),
			wantErr: UnmarshalTypeError{Value: "U64 18446744073709551615", Type: reflect.TypeFor[int64]()},
		},
		{
			name:    "Db too big for float32",
			in:      1e300,
			ptr:     new(float32),
			wantErr: UnmarshalTypeError{Value: "Db 1e+300", Type: reflect.TypeFor[float32]()},
		},
		{
			name:    "float into int",
			in:      1.5,
			ptr:     new(int),
			wantErr: UnmarshalTypeError{Value: "Db 1.5", Type: reflect.TypeFor[int]()},
		},
		{
			name:    "bad map key skips entry",
			in:      &Object{Kind: Dictionary, Entries: []DictEntry{{"x", 1}, {int32(2), "two"}}},
			ptr:     new(map[int]string),
			wantErr: UnmarshalTypeError{Value: "S", Type: reflect.TypeFor[int]()},
			check: func(t *testing.T, v any) {
				assert.Equal(t, map[int]string{2: "two"}, *v.(*map[int]string))
			},
		},
		{
			name:    "string into array",
			in:      "x",
			ptr:     new([2]int),
			wantErr: UnmarshalTypeError{Value: "S", Type: reflect.TypeFor[[2]int]()},
		},
		{
			name:    "negative into uint",
			in:      int64(-1),
			ptr:     new(uint),
			wantErr: UnmarshalTypeError{Value: "I64 -1", Type: reflect.TypeFor[uint]()},
		},
		{
			name:    "bool into string",
			in:      true,
			ptr:     new(string),
			wantErr: UnmarshalTypeError{Value: "B", Type: reflect.TypeFor[string]()},
		},
		{
			name:    "G into float",
			in:      uuid.UUID{},
			ptr:     new(float64),
			wantErr: UnmarshalTypeError{Value: "G", Type: reflect.TypeFor[float64]()},
		},
		{
			name:    "list into time",
			in:      &Object{Kind: Queue},
			ptr:     new(time.Time),
			wantErr: UnmarshalTypeError{Value: "Obj QUE", Type: reflect.TypeFor[time.Time]()},
		},
		{
			name:    "I64 into duration",
			in:      int64(5),
			ptr:     new(time.Duration),
			wantErr: UnmarshalTypeError{Value: "I64 5", Type: reflect.TypeFor[time.Duration]()},
		},
		{
			name:    "chan target",
			in:      int32(1),
			ptr:     new(chan int),
			wantErr: UnmarshalTypeError{Value: "I32 1", Type: reflect.TypeFor[chan int]()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := fromModel(tt.in, reflect.ValueOf(tt.ptr).Elem())
			var te *UnmarshalTypeError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.wantErr, *te)
			assert.True(t, strings.HasPrefix(err.Error(), "clixml: cannot unmarshal "), err.Error())
			if tt.check != nil {
				tt.check(t, tt.ptr)
			}
		})
	}
}

func TestUnmarshalTypeErrorMessage(t *testing.T) {
	t.Parallel()
	e := &UnmarshalTypeError{Value: "I64 300", Type: reflect.TypeFor[int8](), Struct: "T", Field: "A.B"}
	assert.Equal(t, "clixml: cannot unmarshal I64 300 into Go struct field T.A.B of type int8", e.Error())
	e = &UnmarshalTypeError{Value: "S", Type: reflect.TypeFor[int]()}
	assert.Equal(t, "clixml: cannot unmarshal S into Go value of type int", e.Error())
}

func TestFromModelUnmarshalerError(t *testing.T) {
	t.Parallel()
	var c rtCounter
	err := fromModel("not an int", reflect.ValueOf(&c).Elem())
	var me *MarshalerError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, "UnmarshalCLIXML", me.Method)
	assert.Equal(t, 1, c.Calls, "the Unmarshaler is called, not the generic struct path")
}

func TestFromModelCycle(t *testing.T) {
	t.Parallel()
	// A Ref can make the model cyclic: the Go value gets the same cycle.
	o := &Object{}
	o.Members = []Property{{"Name", "loop"}, {"Next", o}}
	var n rtNode
	require.NoError(t, fromModel(o, reflect.ValueOf(&n).Elem()))
	require.NotNil(t, n.Next)
	assert.Equal(t, "loop", n.Next.Name)
	assert.Same(t, n.Next, n.Next.Next)
}

func TestFromModelSharedObjects(t *testing.T) {
	t.Parallel()
	// 60 levels of objects each referring twice to the next: tiny as a
	// model, 2^60 values if every reference were copied. Shared objects
	// become shared pointers, slices and maps.
	type tree struct {
		L, R *tree
		S    []*tree
		M    map[string]*tree
	}
	var o *Object
	for range 60 {
		lst := &Object{Kind: List, Items: []any{o, o}}
		dct := &Object{Kind: Dictionary, Entries: []DictEntry{{"a", o}, {"b", o}}}
		o = obj(Property{"L", o}, Property{"R", o}, Property{"S", lst}, Property{"M", dct})
	}
	var tr tree
	require.NoError(t, fromModel(o, reflect.ValueOf(&tr).Elem()))
	assert.Same(t, tr.L, tr.R)
	assert.Same(t, tr.L, tr.S[0])
	assert.Same(t, tr.L, tr.M["b"])
	assert.Same(t, tr.L.L, tr.R.R)
}

func TestFromModelTooDeep(t *testing.T) {
	t.Parallel()
	var o *Object
	for i := range reflMaxDepth + 10 {
		o = obj(Property{"Name", fmt.Sprint(i)}, Property{"Next", o})
	}
	var n rtNode
	err := fromModel(o, reflect.ValueOf(&n).Elem())
	var le *LimitError
	require.ErrorAs(t, err, &le)
	assert.True(t, strings.HasPrefix(err.Error(), "clixml: "))
}

func TestFieldCacheConcurrent(t *testing.T) {
	t.Parallel()
	// Many goroutines racing on the same type's first use must agree.
	done := make(chan []reflField, 8)
	for range 8 {
		go func() { done <- reflCachedFields(reflect.TypeFor[rtPerson]()) }()
	}
	first := <-done
	for range 7 {
		assert.Equal(t, first, <-done)
	}
	var names []string
	for _, f := range first {
		names = append(names, f.name)
	}
	assert.Equal(t, []string{"ID", "Note", "Name", "age", "Nick", "Tags", "Home", "Extra", "Anything"}, names)
}

// XML round trips through the codec.

func TestMarshalUnmarshalStructXML(t *testing.T) {
	t.Parallel()
	in := rtPerson{
		rtBase:   rtBase{ID: 7, Note: "n"},
		Name:     "Ann <&> _x000A_",
		Age:      41,
		Tags:     []string{"a", "b"},
		Home:     &rtInner{City: "Oslo", Zip: 150},
		Extra:    map[string]any{"k": int32(1), "s": "v"},
		Anything: "any",
	}
	data, err := Marshal(in)
	require.NoError(t, err)
	assert.Contains(t, string(data), `<I32 N="age">41</I32>`)
	assert.Contains(t, string(data), `<S N="Name">Ann &lt;&amp;&gt; _x005F_x000A_</S>`)
	var out rtPerson
	require.NoError(t, Unmarshal(data, &out))
	assert.Equal(t, in, out)

	// Same through a pointer, and into the lossless model.
	data2, err := Marshal(&in)
	require.NoError(t, err)
	assert.Equal(t, data, data2)
	var m any
	require.NoError(t, Unmarshal(data, &m))
	v, ok := m.(*Object).Member("Home")
	require.True(t, ok)
	city, _ := v.(*Object).Member("City")
	assert.Equal(t, "Oslo", city)
}

func TestUnmarshalXMLErrors(t *testing.T) {
	t.Parallel()
	var s rtSmall
	err := Unmarshal([]byte(`<Obj RefId="0"><MS><I64 N="Tiny">300</I64><S N="Other">x</S></MS></Obj>`), &s)
	var te *UnmarshalTypeError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "Tiny", te.Field)
	assert.Equal(t, "x", s.Other)

	err = Unmarshal([]byte(`<S>x</S>`), s)
	var ie *InvalidUnmarshalError
	require.ErrorAs(t, err, &ie)

	_, err = Marshal(struct{ C chan int }{})
	var ue *UnsupportedTypeError
	require.ErrorAs(t, err, &ue)
}

func BenchmarkToModelStruct(b *testing.B) {
	p := rtPerson{Name: "Ann", Age: 41, Tags: []string{"a", "b"}, Home: &rtInner{City: "Oslo"}, Extra: map[string]any{"a": 1}}
	v := reflect.ValueOf(p)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := toModel(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFromModelStruct(b *testing.B) {
	m := obj(
		Property{"Name", "Ann"}, Property{"age", int32(41)}, Property{"ID", int64(7)},
		Property{"Tags", &Object{Kind: List, Items: []any{"a", "b"}}},
		Property{"Home", obj(Property{"City", "Oslo"}, Property{"ZipCode", int32(150)})},
	)
	b.ReportAllocs()
	for b.Loop() {
		var p rtPerson
		if err := fromModel(m, reflect.ValueOf(&p).Elem()); err != nil {
			b.Fatal(err)
		}
	}
}
