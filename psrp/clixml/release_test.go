package clixml

import (
	"reflect"
	"testing"
)

// TestDecoderReleaseLeavesNothing checks that a released decoder is as
// empty as a new one, after values that use every stack and table and
// after a value that fails halfway, so that decoderPool keeps no
// reference into an input or a result.
func TestDecoderReleaseLeavesNothing(t *testing.T) {
	inputs := []string{
		`<Obj RefId="0"><TN RefId="0"><T>A.B</T><T>System.Object</T></TN><ToString>x</ToString>` +
			`<Props><S N="Name">n</S><DT N="When">2024-01-02T03:04:05.5+02:00</DT></Props>` +
			`<MS><I32 N="Index">5</I32><Obj N="L" RefId="1"><TNRef RefId="0" /><LST><S>a</S><I32>1</I32></LST></Obj>` +
			`<Obj N="D" RefId="2"><DCT><En><S N="Key">k</S><S N="Value">v</S></En></DCT></Obj>` +
			`<Ref N="Self" RefId="0" /></MS></Obj>`,
		`<Obj RefId="0"><TN RefId="0"><T>A.B</T></TN><MS><S N="Name">n</S><I32 N="Bad">x</I32></MS></Obj>`,
		`<Obj RefId="0"><LST><S>a</S><Obj RefId="1"><MS><S N="x">unterminated`,
	}
	for _, in := range inputs {
		d := new(decoder)
		d.init(UnmarshalOptions{})
		d.data = []byte(in)
		_, _ = d.root()
		d.release()
		if !reflect.DeepEqual(*d, decoder{}) {
			t.Errorf("after decoding %.40q… the released decoder still holds %+v", in, *d)
		}
	}
}
