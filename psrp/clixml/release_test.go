package clixml

import (
	"reflect"
	"testing"
)

// TestDecodeResultOwnsItsMemory checks that a decoded value keeps nothing
// of its input (Decode's promise): the caller reuses the buffer of a PSRP
// message as soon as Decode returns. Overwriting the input must not change
// a value decoded from it, whatever the value uses (strings short and long,
// names, type lists, RefIds, lists, dictionaries, dates).
func TestDecodeResultOwnsItsMemory(t *testing.T) {
	inputs := []string{
		`<Obj RefId="0"><TN RefId="0"><T>A.B</T><T>System.Object</T></TN><ToString>x</ToString>` +
			`<Props><S N="Name">n</S><S N="Long">a string longer than sixteen bytes</S><DT N="When">2024-01-02T03:04:05.5+02:00</DT></Props>` +
			`<MS><I32 N="Index">5</I32><Obj N="L" RefId="1"><TNRef RefId="0" /><LST><S>a</S><I32>1</I32></LST></Obj>` +
			`<Obj N="D" RefId="2"><DCT><En><S N="Key">k</S><S N="Value">v &amp; w</S></En></DCT></Obj>` +
			`<Ref N="Self" RefId="0" /></MS></Obj>`,
		`<Obj RefId="0"><TN RefId="0"><T>Custom.Type_x0020_Name</T></TN><MS><S N="Prop_x0020_1">value_x000A_line</S></MS></Obj>`,
	}
	for _, in := range inputs {
		buf := []byte(in)
		got, err := Decode(buf)
		if err != nil {
			t.Fatalf("Decode(%.40q…): %v", in, err)
		}
		for i := range buf {
			buf[i] = 'X'
		}
		want, err := Decode([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("after the input of %.40q… was overwritten, the decoded value changed:\n got %#v\nwant %#v", in, got, want)
		}
	}
}
