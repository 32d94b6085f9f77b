package clixml

import (
	"testing"
)

// Vectors from PROTOCOL.md §1.6 (psrpcore, checked against PowerShell).
func TestEscapeVectors(t *testing.T) {
	t.Parallel()
	tests := []struct{ plain, enc string }{
		{"treble clef\n _x0000_ _X0000_ \U0001D11E café \xed\xa0\xbc _x001G_",
			"treble clef_x000A_ _x005F_x0000_ _x005F_X0000_ _xD834__xDD1E_ café _xD83C_ _x005F_x001G_"},
		{"Order\nDetails", "Order_x000A_Details"},
		{"Order_x0020_", "Order_x005F_x0020_"},
		{"\U0001D11E", "_xD834__xDD1E_"},
		{"a<b>&c", "a&lt;b&gt;&amp;c"},
		{"tab\tcr\r\x00\x1f\x7f\u0080\u009f\u00a0", "tab_x0009_cr_x000D__x0000__x001F__x007F__x0080__x009F_\u00a0"},
		{"\uFFFE\uFFFF\uFFFD", "_xFFFE__xFFFF_\uFFFD"},
		{"plain_underscore_", "plain_underscore_"},
		{"_x", "_x005F_x"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.enc, func(t *testing.T) {
			t.Parallel()
			if got := EscapeString(tt.plain); got != tt.enc {
				t.Errorf("EscapeString(%q) = %q, want %q", tt.plain, got, tt.enc)
			}
			// Decoding goes through the XML layer, as on the wire.
			v, err := Decode([]byte("<S>" + tt.enc + "</S>"))
			if err != nil {
				t.Fatal(err)
			}
			if v != tt.plain {
				t.Errorf("decode %q = %q, want %q", tt.enc, v, tt.plain)
			}
			out := mustMarshal(t, tt.plain)
			want := "<S>" + tt.enc + "</S>"
			if tt.enc == "" {
				want = "<S />"
			}
			if string(out) != want {
				t.Errorf("Marshal(%q) = %s, want %s", tt.plain, out, want)
			}
		})
	}
}

func TestUnescapeVectors(t *testing.T) {
	t.Parallel()
	tests := []struct{ enc, plain string }{
		{"just newline _x000A_", "just newline \n"},
		{"surrogate pair _xD83C__xDFB5_", "surrogate pair 🎵"},
		{"null char _x0000_", "null char \x00"},
		{"normal char _x0061_", "normal char a"},
		{"escaped literal _x005F_x005F_", "escaped literal _x005F_"},
		{"underscope before escape _x005F__x000A_", "underscope before escape _\n"},
		{"lower case hex _x005f_", "lower case hex _"},
		{"invalid hex _x005G_", "invalid hex _x005G_"},
		{"short _x00A_", "short _x00A_"},
		{"at end _x00", "at end _x00"},
		{"lone low _xDC00_", "lone low \xed\xb0\x80"},
		{"high then text _xD800_x", "high then text \xed\xa0\x80x"},
	}
	for _, tt := range tests {
		t.Run(tt.enc, func(t *testing.T) {
			t.Parallel()
			if got := UnescapeString(tt.enc); got != tt.plain {
				t.Errorf("UnescapeString(%q) = %q, want %q", tt.enc, got, tt.plain)
			}
			// And escaping the result gives back something that decodes
			// to the same string.
			if got := UnescapeString(string(appendEscaped(nil, tt.plain, false))); got != tt.plain && !containsEntity(tt.plain) {
				t.Errorf("round trip of %q = %q", tt.plain, got)
			}
		})
	}
}

func containsEntity(s string) bool {
	for _, c := range s {
		if c == '&' || c == '<' || c == '>' {
			return true
		}
	}
	return false
}

// Property names and type names use the same escaping, and attribute
// values escape quotes.
func TestEscapeNamesAndTypeNames(t *testing.T) {
	t.Parallel()
	o := &Object{
		TypeNames: []string{"My_xType\n", "System.Object"},
		Members:   []Property{{Name: "a\"b_x\t", Value: int32(1)}},
	}
	out := string(mustMarshal(t, o))
	want := `<Obj RefId="0"><TN RefId="0"><T>My_x005F_xType_x000A_</T><T>System.Object</T></TN><MS><I32 N="a&quot;b_x005F_x_x0009_">1</I32></MS></Obj>`
	if out != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	v, err := Decode([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if !modelEqual(v, o) {
		t.Fatalf("round trip: %#v", v)
	}
	// Attribute values are normalized as XML requires: a raw tab or newline
	// in N reads as a space (which is why the encoder escapes them).
	v, err = Decode([]byte("<Obj RefId=\"0\"><MS><I32 N=\"a\tb\nc\">1</I32></MS></Obj>"))
	if err != nil {
		t.Fatal(err)
	}
	if v.(*Object).Members[0].Name != "a b c" {
		t.Fatalf("name %q", v.(*Object).Members[0].Name)
	}
}
