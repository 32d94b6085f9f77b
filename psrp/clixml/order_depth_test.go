package clixml

import (
	"errors"
	"strings"
	"testing"
)

// TestEncodePropsBeforeMS pins the element order of an object with both
// adapted and extended properties: <TN>, <ToString>, the wrapped value or
// container, <Props>, then <MS>, as PowerShell's serializer writes it (an
// INFORMATION_RECORD in the Windows capture test_psrp_merge_commands.yml
// has "...</Props><MS><B N="WriteInformationStream">true</B></MS></Obj>").
func TestEncodePropsBeforeMS(t *testing.T) {
	t.Parallel()
	o := &Object{
		TypeNames:   []string{"System.Management.Automation.InformationRecord", "System.Object"},
		ToString:    "hello",
		HasToString: true,
		Props: []Property{
			{Name: "MessageData", Value: "hello"},
			{Name: "ProcessId", Value: uint32(2636)},
		},
		Members: []Property{{Name: "WriteInformationStream", Value: true}},
	}
	got, err := Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	const want = `<Obj RefId="0"><TN RefId="0"><T>System.Management.Automation.InformationRecord</T><T>System.Object</T></TN>` +
		`<ToString>hello</ToString>` +
		`<Props><S N="MessageData">hello</S><U32 N="ProcessId">2636</U32></Props>` +
		`<MS><B N="WriteInformationStream">true</B></MS></Obj>`
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// With a container, the container comes before both.
	o = &Object{Kind: List, Items: []any{int32(1)}, Props: []Property{{Name: "A", Value: "a"}}, Members: []Property{{Name: "B", Value: "b"}}}
	got, err = Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	const wantList = `<Obj RefId="0"><LST><I32>1</I32></LST><Props><S N="A">a</S></Props><MS><S N="B">b</S></MS></Obj>`
	if string(got) != wantList {
		t.Fatalf("got\n%s\nwant\n%s", got, wantList)
	}
}

// nested returns n levels of value nesting: n-1 objects holding a list,
// the innermost holding a string (each <Obj> and the <S> is one level).
func nested(n int) string {
	return strings.Repeat(`<Obj RefId="0"><LST>`, n-1) + `<S>x</S>` + strings.Repeat(`</LST></Obj>`, n-1)
}

// TestDecodeDepthBoundary checks the depth limit at its exact edge: a
// value nested exactly MaxDepth levels deep decodes, one level more is a
// *LimitError.
func TestDecodeDepthBoundary(t *testing.T) {
	t.Parallel()
	for _, max := range []int{1, 2, 7, DefaultMaxDepth} {
		opts := UnmarshalOptions{MaxDepth: max}
		if max == DefaultMaxDepth {
			opts = UnmarshalOptions{} // the default itself
		}
		if _, err := opts.Decode([]byte(nested(max))); err != nil {
			t.Errorf("MaxDepth %d: depth %d refused: %v", max, max, err)
		}
		_, err := opts.Decode([]byte(nested(max + 1)))
		var le *LimitError
		if !errors.As(err, &le) || le.Limit != "MaxDepth" || le.Max != max {
			t.Errorf("MaxDepth %d: depth %d: err = %v, want LimitError MaxDepth", max, max+1, err)
		}
	}
}
