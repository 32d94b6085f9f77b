package clixml

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf16"
)

func decodeAll(t testing.TB, d *Decoder) ([]any, error) {
	t.Helper()
	var out []any
	for {
		v, err := decodeAny(d)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
}

// An Export-Clixml file as PowerShell writes it: declaration-less <Objs>
// root, indentation, RefIds and TN RefIds shared across the objects.
const exportClixml = "<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">\r\n" +
	"  <Obj RefId=\"0\">\r\n    <TN RefId=\"0\">\r\n      <T>System.Management.Automation.PSCustomObject</T>\r\n      <T>System.Object</T>\r\n    </TN>\r\n" +
	"    <MS>\r\n      <S N=\"Name\">one</S>\r\n      <I32 N=\"N\">1</I32>\r\n    </MS>\r\n  </Obj>\r\n" +
	"  <!-- between -->\r\n  <S>plain</S>\r\n" +
	"  <Obj RefId=\"1\">\r\n    <TNRef RefId=\"0\" />\r\n    <MS>\r\n      <S N=\"Name\">two</S>\r\n      <Ref N=\"Prev\" RefId=\"0\" />\r\n    </MS>\r\n  </Obj>\r\n" +
	"</Objs>\r\n"

func checkExport(t *testing.T, vals []any) {
	t.Helper()
	if len(vals) != 3 {
		t.Fatalf("got %d values: %#v", len(vals), vals)
	}
	first, ok := vals[0].(*Object)
	if !ok || !first.IsType("System.Management.Automation.PSCustomObject") {
		t.Fatalf("first: %#v", vals[0])
	}
	if name, _ := first.Member("Name"); name != "one" {
		t.Fatalf("first Name = %v", name)
	}
	if vals[1] != "plain" {
		t.Fatalf("second = %#v", vals[1])
	}
	third := vals[2].(*Object)
	if prev, _ := third.Member("Prev"); prev != first || &third.TypeNames[0] != &first.TypeNames[0] {
		t.Fatalf("document-wide Ref/TNRef not resolved")
	}
}

func TestDecoderExportClixml(t *testing.T) {
	t.Parallel()
	utf16le := func(s string, bom bool, be bool) []byte {
		var b []byte
		units := utf16.Encode([]rune(s))
		if bom {
			units = append([]uint16{0xFEFF}, units...)
		}
		for _, u := range units {
			if be {
				b = append(b, byte(u>>8), byte(u))
			} else {
				b = append(b, byte(u), byte(u>>8))
			}
		}
		return b
	}
	inputs := map[string][]byte{
		"utf8":          []byte(exportClixml),
		"utf8 bom decl": []byte("\uFEFF<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n" + exportClixml),
		"utf16le":       utf16le(exportClixml, true, false),
		"utf16be":       utf16le(exportClixml, true, true),
	}
	for name, in := range inputs {
		for rname, wrap := range map[string]func(io.Reader) io.Reader{
			"whole": func(r io.Reader) io.Reader { return r },
			"1byte": iotest.OneByteReader,
			"half":  iotest.HalfReader,
		} {
			t.Run(name+"/"+rname, func(t *testing.T) {
				t.Parallel()
				vals, err := decodeAll(t, NewDecoder(wrap(bytes.NewReader(in))))
				if err != nil {
					t.Fatal(err)
				}
				checkExport(t, vals)
			})
		}
	}
}

func TestDecoderEmptyDocument(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`<Objs Version="1.1.0.1" />`, "<?xml version=\"1.0\"?><Objs>\r\n</Objs>\r\n"} {
		vals, err := decodeAll(t, NewDecoder(strings.NewReader(in)))
		if err != nil || len(vals) != 0 {
			t.Fatalf("%q: %v %v", in, vals, err)
		}
	}
}

// Top-level values one after another (the benchmark file format), each
// with its own RefIds.
func TestDecoderValueStream(t *testing.T) {
	t.Parallel()
	data := genProcs(50)
	d := NewDecoder(iotest.HalfReader(bytes.NewReader(data)))
	vals, err := decodeAll(t, d)
	if err != nil {
		t.Fatal(err)
	}
	lines := procLines(t, 50)
	if len(vals) != 50 {
		t.Fatalf("%d values", len(vals))
	}
	for i, l := range lines {
		want, err := Decode(l)
		if err != nil {
			t.Fatal(err)
		}
		if !modelEqual(vals[i], want) {
			t.Fatalf("value %d differs", i)
		}
	}
	// Decode after the end keeps returning io.EOF.
	if _, err := decodeAny(d); err != io.EOF {
		t.Fatalf("after end: %v", err)
	}
	// An empty stream is just EOF.
	if _, err := decodeAny(NewDecoder(strings.NewReader(" \n"))); err != io.EOF {
		t.Fatalf("empty: %v", err)
	}
}

// The decoder buffers one value at a time, not the whole stream.
func TestDecoderBoundedMemory(t *testing.T) {
	t.Parallel()
	data := genProcs(3000) // ~3 MB
	d := UnmarshalOptions{MaxBytes: 4096}.NewDecoder(bytes.NewReader(data))
	n := 0
	for {
		_, err := decodeAny(d)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3000 || len(d.buf) > 256<<10 {
		t.Fatalf("n=%d buffer=%d bytes", n, len(d.buf))
	}
	// A value larger than MaxBytes is refused without buffering the rest.
	big := "<S>" + strings.Repeat("x", 1<<20) + "</S>"
	d = UnmarshalOptions{MaxBytes: 1000}.NewDecoder(strings.NewReader(big))
	_, err := decodeAny(d)
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "MaxBytes" || len(d.buf) > 200<<10 {
		t.Fatalf("err=%v buffer=%d", err, len(d.buf))
	}
	if _, err2 := decodeAny(d); err2 != err {
		t.Fatalf("error not sticky: %v", err2)
	}
}

func TestDecoderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		n        int // values before the error
	}{
		{"truncated value", `<S>a</S><Obj RefId="0"><MS>`, 1},
		{"truncated document", `<Objs><S>a</S>`, 1},
		{"text between values", `<S>a</S> junk <S>b</S>`, 1},
		{"mismatched", `<S>a</I32>`, 0},
		{"after document", `<Objs><S>a</S></Objs><S>b</S>`, 1},
		{"wrong document end", `<Objs><S>a</S></Obj>`, 1},
		{"unterminated comment", `<S>a</S><!-- `, 1},
		{"unknown tag", `<S>a</S><X />`, 1},
		{"truncated utf16", "\xff\xfe<\x00S\x00>", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vals, err := decodeAll(t, NewDecoder(iotest.OneByteReader(strings.NewReader(tt.in))))
			if err == nil || len(vals) != tt.n {
				t.Fatalf("vals=%d err=%v", len(vals), err)
			}
			if !isClixmlError(err) || !strings.HasPrefix(err.Error(), "clixml: ") {
				t.Fatalf("err = %T %v", err, err)
			}
		})
	}
	// A read error is passed through.
	boom := errors.New("boom")
	_, err := decodeAny(NewDecoder(io.MultiReader(strings.NewReader("<S>a"), iotest.ErrReader(boom))))
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

func TestEncoderDocument(t *testing.T) {
	t.Parallel()
	shared := &Object{TypeNames: []string{"X", "System.Object"}, Members: []Property{{"a", int32(1)}}}
	var buf bytes.Buffer
	e := NewEncoder(&buf)
	if err := e.EncodeDocument(shared, "s", &Object{TypeNames: []string{"X", "System.Object"}}, shared); err != nil {
		t.Fatal(err)
	}
	want := `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">` +
		`<Obj RefId="0"><TN RefId="0"><T>X</T><T>System.Object</T></TN><MS><I32 N="a">1</I32></MS></Obj>` +
		`<S>s</S><Obj RefId="1"><TNRef RefId="0" /></Obj><Ref RefId="0" /></Objs>`
	if buf.String() != want {
		t.Fatalf("got  %s\nwant %s", buf.String(), want)
	}
	vals, err := decodeAll(t, NewDecoder(&buf))
	if err != nil || len(vals) != 4 || vals[0] != vals[3] {
		t.Fatalf("read back: %v %#v", err, vals)
	}
	// Outside a document every value restarts its RefIds.
	buf.Reset()
	for range 2 {
		if err := e.Encode(shared); err != nil {
			t.Fatal(err)
		}
	}
	one := string(mustMarshal(t, shared))
	if buf.String() != one+one {
		t.Fatalf("stream: %s", buf.String())
	}
	vals, err = decodeAll(t, NewDecoder(&buf))
	if err != nil || len(vals) != 2 {
		t.Fatalf("read back: %v %d", err, len(vals))
	}
	if err := e.EndDocument(); err == nil {
		t.Fatal("EndDocument without StartDocument succeeded")
	}
	// Write errors surface.
	if err := NewEncoder(errWriter{}).Encode("x"); err == nil {
		t.Fatal("write error lost")
	}
	if err := NewEncoder(io.Discard).Encode(NewSecureString("pw")); !errors.Is(err, ErrNoCipher) {
		t.Fatalf("err = %v", err)
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("write failed") }

func TestDecoderDecodeIntoValues(t *testing.T) {
	t.Parallel()
	type proc struct {
		Name string
		ID   int32 `clixml:"Id"`
	}
	d := NewDecoder(bytes.NewReader(genProcs(2)))
	var p proc
	if err := d.Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.Name != "svchost0" || p.ID != 0 {
		t.Fatalf("got %+v", p)
	}
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if name, _ := v.(*Object).Member("Name"); name != "svchost1" {
		t.Fatalf("got %v", name)
	}
	var ie *InvalidUnmarshalError
	if err := d.Decode(p); !errors.As(err, &ie) {
		t.Fatalf("non-pointer: %v", err)
	}
	if err := d.Decode(&v); err != io.EOF {
		t.Fatalf("at end: %v", err)
	}
}

// Characters outside the BMP arrive as surrogate pairs that a short read
// may split.
func TestDecoderUTF16SurrogatePairs(t *testing.T) {
	t.Parallel()
	doc := "<Objs><S>a🎵b\U0001D11E</S></Objs>"
	units := append([]uint16{0xFEFF}, utf16.Encode([]rune(doc))...)
	var in []byte
	for _, u := range units {
		in = append(in, byte(u), byte(u>>8))
	}
	vals, err := decodeAll(t, NewDecoder(iotest.OneByteReader(bytes.NewReader(in))))
	if err != nil || len(vals) != 1 || vals[0] != "a🎵b\U0001D11E" {
		t.Fatalf("got %q, %v", vals, err)
	}
	// A lone surrogate cannot be carried by UTF-8 text and is refused.
	in = append(in[:len(in)-len("</S></Objs>")*2-2], 0x00, 0xD8)
	for _, c := range "</S></Objs>" {
		in = append(in, byte(c), 0)
	}
	if _, err := decodeAll(t, NewDecoder(bytes.NewReader(in))); !isClixmlError(err) {
		t.Fatalf("lone surrogate: %v", err)
	}
}
