package clixml

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestEncodeValues(t *testing.T) {
	t.Parallel()
	pst := time.FixedZone("PDT", -7*3600)
	ist := time.FixedZone("IST", 5*3600+30*60)
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"string", "hi", `<S>hi</S>`},
		{"empty string", "", `<S />`},
		{"nil", nil, `<Nil />`},
		{"nil object", (*Object)(nil), `<Nil />`},
		{"true", true, `<B>true</B>`},
		{"false", false, `<B>false</B>`},
		{"int small", 5, `<I32>5</I32>`},
		{"int big", 1 << 40, `<I64>1099511627776</I64>`},
		{"int min32", math.MinInt32, `<I32>-2147483648</I32>`},
		{"int below32", math.MinInt32 - 1, `<I64>-2147483649</I64>`},
		{"int8", int8(-1), `<SB>-1</SB>`},
		{"int16", int16(-2), `<I16>-2</I16>`},
		{"int32", int32(7), `<I32>7</I32>`},
		{"int64", int64(7), `<I64>7</I64>`},
		{"uint8", uint8(255), `<By>255</By>`},
		{"uint16", uint16(65535), `<U16>65535</U16>`},
		{"uint32", uint32(1), `<U32>1</U32>`},
		{"uint64", uint64(math.MaxUint64), `<U64>18446744073709551615</U64>`},
		{"uint small", uint(3), `<U32>3</U32>`},
		{"uint big", uint(1 << 33), `<U64>8589934592</U64>`},
		{"char", Char('a'), `<C>97</C>`},
		{"double", 1.5, `<Db>1.5</Db>`},
		{"double int", 1.0, `<Db>1</Db>`},
		{"single", float32(0.1), `<Sg>0.1</Sg>`},
		{"bytes", []byte{0, 1, 2, 3}, `<BA>AAECAw==</BA>`},
		{"empty bytes", []byte{}, `<BA />`},
		{"guid", uuid.MustParse("4A8013C9-7387-4239-842A-B290AC4DA47B"), `<G>4a8013c9-7387-4239-842a-b290ac4da47b</G>`},
		{"decimal", Decimal("-1.50"), `<D>-1.50</D>`},
		{"uri", URI("http://a/b?c&d"), `<URI>http://a/b?c&amp;d</URI>`},
		{"xd", XMLDocument("<a/>"), `<XD>&lt;a/&gt;</XD>`},
		{"sbk", ScriptBlock("$a_x"), `<SBK>$a_x005F_x</SBK>`},
		{"version2", Version{2, 3, -1, -1}, `<Version>2.3</Version>`},
		{"version4", Version{1, 1, 0, 1}, `<Version>1.1.0.1</Version>`},
		{"dt local", DateTime{time.Date(2008, 4, 11, 10, 42, 32, 273199300, pst), Local}, `<DT>2008-04-11T10:42:32.2731993-07:00</DT>`},
		{"dt local half hour", DateTime{time.Date(2020, 1, 2, 3, 4, 5, 0, ist), Local}, `<DT>2020-01-02T03:04:05+05:30</DT>`},
		{"dt unspecified", DateTime{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), Unspecified}, `<DT>1970-01-01T00:00:00</DT>`},
		{"dt utc trims", DateTime{time.Date(2024, 2, 29, 23, 59, 59, 120000000, pst), UTC}, `<DT>2024-03-01T06:59:59.12Z</DT>`},
		{"dt sub-tick truncated", DateTime{time.Date(2024, 1, 1, 0, 0, 0, 199, time.UTC), UTC}, `<DT>2024-01-01T00:00:00.0000001Z</DT>`},
		{"time.Time utc", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), `<DT>2024-01-01T00:00:00Z</DT>`},
		{"time.Time zone", time.Date(2024, 1, 1, 0, 0, 0, 0, pst), `<DT>2024-01-01T00:00:00-07:00</DT>`},
		{"ts", TimeSpan(90269026), `<TS>PT9.0269026S</TS>`},
		{"ts day", TimeSpan(ticksPerDay), `<TS>P1D</TS>`},
		{"ts neg", TimeSpan(-ticksPerSecond), `<TS>-PT1S</TS>`},
		{"ts zero", TimeSpan(0), `<TS>PT0S</TS>`},
		{"ts full", TimeSpan(ticksPerDay + 2*ticksPerHour + 3*ticksPerMinute + 1), `<TS>P1DT2H3M0.0000001S</TS>`},
		{"ts min", TimeSpan(math.MinInt64), `<TS>-P10675199DT2H48M5.4775808S</TS>`},
		{"duration", 90 * time.Minute, `<TS>PT1H30M</TS>`},
		{"ss ciphertext only", SecureString{Ciphertext: []byte{1, 2}}, `<SS>AQI=</SS>`},
		{"ss decrypted empty", SecureString{Ciphertext: []byte{1, 2}, Plaintext: []byte{}, Decrypted: true}, `<SS>AQI=</SS>`},
		{"ss empty ciphertext", SecureString{Ciphertext: []byte{}}, `<SS />`},
		{"progress", ProgressRecord{ActivityID: 1, ParentActivityID: -1, Activity: "a", StatusDescription: "s", PercentComplete: -1, SecondsRemaining: -1},
			`<PR><AV>a</AV><AI>1</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Processing</T><SR>-1</SR><SD>s</SD></PR>`},
		{"named via object", &Object{Members: []Property{{"x", nil}, {"s", ""}}}, `<Obj RefId="0"><MS><Nil N="x" /><S N="s" /></MS></Obj>`},
		{"list", []any{int32(1), "a"}, `<Obj RefId="0"><TN RefId="0"><T>System.Object[]</T><T>System.Array</T><T>System.Object</T></TN><LST><I32>1</I32><S>a</S></LST></Obj>`},
		{"map sorted", map[string]any{"b": 2, "a": "x"}, `<Obj RefId="0"><TN RefId="0"><T>System.Collections.Hashtable</T><T>System.Object</T></TN><DCT><En><S N="Key">a</S><S N="Value">x</S></En><En><S N="Key">b</S><I32 N="Value">2</I32></En></DCT></Obj>`},
		{"enum", &Object{TypeNames: []string{"System.ConsoleColor", "System.Enum", "System.ValueType", "System.Object"}, ToString: "Red", HasToString: true, Value: int32(12)},
			`<Obj RefId="0"><TN RefId="0"><T>System.ConsoleColor</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>Red</ToString><I32>12</I32></Obj>`},
		{"empty containers", []any{&Object{Kind: Stack}, &Object{Kind: Dictionary}, &Object{Kind: Queue, Items: []any{}}, &Object{Kind: Enumerable}},
			`<Obj RefId="0"><TN RefId="0"><T>System.Object[]</T><T>System.Array</T><T>System.Object</T></TN><LST><Obj RefId="1"><STK /></Obj><Obj RefId="2"><DCT /></Obj><Obj RefId="3"><QUE /></Obj><Obj RefId="4"><IE /></Obj></LST></Obj>`},
		{"empty ToString", &Object{HasToString: true}, `<Obj RefId="0"><ToString /></Obj>`},
		{"marshaler", marshalerT{"x"}, `<S>marshaled x</S>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Marshal(tt.v)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if string(got) != tt.want {
				t.Fatalf("Marshal(%#v)\n got %s\nwant %s", tt.v, got, tt.want)
			}
			// Everything written reads back.
			if _, err := Decode(got); err != nil {
				t.Fatalf("Decode(Marshal) = %v", err)
			}
		})
	}
}

type marshalerT struct{ s string }

func (m marshalerT) MarshalCLIXML() (any, error) { return "marshaled " + m.s, nil }

type failingMarshaler struct{}

func (failingMarshaler) MarshalCLIXML() (any, error) { return nil, errors.New("boom") }

func TestEncodeFloats(t *testing.T) {
	t.Parallel()
	point1, point2 := 0.1, 0.2 // not constants: computed in float64
	tests := []struct {
		v    any
		want string
	}{
		{1e20, "1E+20"},
		{1e15, "1E+15"},
		{1e14, "100000000000000"},
		{123456789012345680.0, "1.2345678901234568E+17"},
		{0.0001, "0.0001"},
		{0.00001, "1E-05"},
		{1.5e-7, "1.5E-07"},
		{math.MaxFloat64, "1.7976931348623157E+308"},
		{5e-324, "5E-324"},
		{point1 + point2, "0.30000000000000004"},
		{-2.5, "-2.5"},
		{0.0, "0"},
		{math.Copysign(0, -1), "-0"},
		{math.Inf(1), "INF"},
		{math.Inf(-1), "-INF"},
		{math.NaN(), "NaN"},
		{1428.5714285714287, "1428.5714285714287"},
		{float32(1e7), "1E+07"},
		{float32(1234567), "1234567"},
		{float32(3.4028235e38), "3.4028235E+38"},
		{float32(1.1), "1.1"},
	}
	for _, tt := range tests {
		var got []byte
		switch f := tt.v.(type) {
		case float64:
			got = appendFloat(nil, f, 64)
		case float32:
			got = appendFloat(nil, float64(f), 32)
		}
		if string(got) != tt.want {
			t.Errorf("appendFloat(%v) = %s, want %s", tt.v, got, tt.want)
		}
		// The text parses back to the same value.
		bits := 64
		if _, ok := tt.v.(float32); ok {
			bits = 32
		}
		f, ok := parseFloat(got, bits)
		if !ok || !modelEqual(f, toF64(tt.v)) {
			t.Errorf("parseFloat(%s) = %v, %v", got, f, ok)
		}
	}
}

func toF64(v any) float64 {
	if f, ok := v.(float32); ok {
		return float64(f)
	}
	return v.(float64)
}

func TestEncodeRefsAndTNRefs(t *testing.T) {
	t.Parallel()
	tn := []string{"A", "System.Object"}
	shared := &Object{TypeNames: tn, ToString: "s", HasToString: true}
	root := &Object{Members: []Property{
		{"a", shared},
		{"b", shared},
		{"c", &Object{TypeNames: []string{"A", "System.Object"}}}, // same content, other slice
		{"d", &Object{TypeNames: []string{"A"}}},                  // same first name, other list
	}}
	root.Members = append(root.Members, Property{"self", root})
	got := string(mustMarshal(t, root))
	want := `<Obj RefId="0"><MS><Obj N="a" RefId="1"><TN RefId="0"><T>A</T><T>System.Object</T></TN><ToString>s</ToString></Obj>` +
		`<Ref N="b" RefId="1" /><Obj N="c" RefId="2"><TNRef RefId="0" /></Obj><Obj N="d" RefId="3"><TN RefId="1"><T>A</T></TN></Obj><Ref N="self" RefId="0" /></MS></Obj>`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	v, err := Decode([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*Object)
	a, _ := o.Member("a")
	b, _ := o.Member("b")
	self, _ := o.Member("self")
	if a != b || self != o || !modelEqual(o, root) {
		t.Fatalf("identity lost: a=%p b=%p self=%p o=%p", a, b, self, o)
	}
	// Counters restart with every Marshal call.
	if again := string(mustMarshal(t, root)); again != want {
		t.Fatalf("second Marshal differs: %s", again)
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	loop := []any{nil}
	loop[0] = loop
	tests := []struct {
		name string
		v    any
		is   error
	}{
		{"secure string without cipher", NewSecureString("pw"), ErrNoCipher},
		{"empty secure string without cipher", NewSecureString(""), ErrNoCipher},
		{"decrypted secure string without cipher", SecureString{Ciphertext: []byte{1}, Plaintext: []byte("pw"), Decrypted: true}, ErrNoCipher},
		{"bad decimal", Decimal("1e5"), nil},
		{"year 0", DateTime{Time: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)}, nil},
		{"slice cycle", loop, nil},
		{"marshaler error", failingMarshaler{}, nil},
		{"bad kind", &Object{Kind: 99}, nil},
		{"unsupported channel", make(chan int), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := MarshalOptions{}.Append([]byte("pre"), tt.v)
			if err == nil {
				t.Fatalf("Marshal(%v) = %s, want an error", tt.name, out)
			}
			if string(out) != "pre" {
				t.Errorf("Append changed dst on error: %q", out)
			}
			if !strings.HasPrefix(err.Error(), "clixml: ") {
				t.Errorf("error %q lacks the clixml: prefix", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if strings.Contains(err.Error(), "pw") {
				t.Errorf("error reveals the secret: %v", err)
			}
		})
	}
}

func TestEncodeSecureString(t *testing.T) {
	t.Parallel()
	c := newTestCipher()
	// The derived vector of PROTOCOL.md §1.7.
	got, err := MarshalOptions{Cipher: c}.Marshal(NewSecureString("password"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `<SS>u1HQw6XnGcp+dvRujpjX+09zvUIBtQcKD+7HimAYKLk=</SS>`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	// Non-ASCII and non-BMP secrets round-trip through UTF-16LE.
	for _, s := range []string{"pässwörd", "🎵x", ""} {
		enc, err := MarshalOptions{Cipher: c}.Marshal(NewSecureString(s))
		if err != nil {
			t.Fatal(err)
		}
		v, err := UnmarshalOptions{Cipher: c}.Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		if ss := v.(SecureString); string(ss.Plaintext) != s || !ss.Decrypted {
			t.Fatalf("round trip of %q = %q", s, ss.Plaintext)
		}
	}
}

// TestRoundTrip checks decode(encode(v)) == v for values of every model
// type, nested in objects, lists and dictionaries.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	values := []any{
		"s", "", "_x0041_ \x01 \U0001F3B5", Char(0xD800), true, uint8(1), int8(-1), uint16(2), int16(-2), uint32(3), int32(-3),
		uint64(4), int64(-4), float32(1.25), 2.5e-300, math.Inf(-1), math.NaN(), Decimal("1.000"), []byte("bytes"),
		uuid.MustParse("00112233-4455-6677-8899-aabbccddeeff"), URI("u"), nil, Version{1, 2, 3, 4}, XMLDocument("<x/>"),
		ScriptBlock("{ 1 }"), SecureString{Ciphertext: []byte{9}},
		DateTime{time.Date(2001, 2, 3, 4, 5, 6, 700, time.FixedZone("", -3600)), Local},
		DateTime{time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.UTC), UTC},
		TimeSpan(math.MaxInt64), TimeSpan(-1),
		ProgressRecord{Activity: "a", CurrentOperation: "op", RecordType: 5},
	}
	inner := &Object{TypeNames: []string{"T"}, ToString: "t", HasToString: true, Value: "v", Kind: Queue, Items: values}
	var props []Property
	for i, v := range values {
		props = append(props, Property{Name: "p" + string(rune('a'+i)), Value: v})
	}
	var ents []DictEntry
	for _, v := range values[:10] {
		ents = append(ents, DictEntry{Key: v, Value: inner})
	}
	root := &Object{
		TypeNames: []string{"Deserialized.X", "Deserialized.System.Object"},
		Props:     props, Members: []Property{{"inner", inner}, {"again", inner}},
		Kind: Dictionary, Entries: ents,
	}
	for _, v := range append(values, root, inner) {
		enc, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", v, err)
		}
		got, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%s): %v", enc, err)
		}
		if !modelEqual(got, v) {
			t.Fatalf("round trip of %#v gave %#v via %s", v, got, enc)
		}
	}
}

// Past the small inline tables the encoder switches to maps; identity and
// type-name reuse must not change.
func TestEncodeManyRefs(t *testing.T) {
	t.Parallel()
	var objs []any
	for i := range 100 {
		objs = append(objs, &Object{TypeNames: []string{"T" + string(rune('A'+i%50)), "System.Object"}, Value: int32(i)})
	}
	all := append(append([]any{}, objs...), objs...)
	enc := mustMarshal(t, all)
	if got := strings.Count(string(enc), "<TNRef "); got != 50 {
		t.Fatalf("%d TNRefs, want 50", got)
	}
	if got := strings.Count(string(enc), "<Ref "); got != 100 {
		t.Fatalf("%d Refs, want 100", got)
	}
	v, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	items := v.(*Object).Items
	for i := range 100 {
		if items[i] != items[i+100] || items[i].(*Object).Value != int32(i) {
			t.Fatalf("item %d lost its identity", i)
		}
		if i >= 50 && &items[i].(*Object).TypeNames[0] != &items[i-50].(*Object).TypeNames[0] {
			t.Fatalf("item %d does not share its TN list", i)
		}
	}
}

func TestEncodeAttributeOrder(t *testing.T) {
	v := &Object{Members: []Property{{Name: "a", Value: &Object{ToString: "x", HasToString: true}}}}
	got, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := `<Obj RefId="0"><MS><Obj N="a" RefId="1"><ToString>x</ToString></Obj></MS></Obj>`; string(got) != want {
		t.Errorf("PowerShell order:\n got %s\nwant %s", got, want)
	}
	got, err = MarshalOptions{RefIDFirst: true}.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := `<Obj RefId="0"><MS><Obj RefId="1" N="a"><ToString>x</ToString></Obj></MS></Obj>`; string(got) != want {
		t.Errorf("pypsrp order:\n got %s\nwant %s", got, want)
	}
}
