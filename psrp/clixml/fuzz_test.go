package clixml

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode and to the streaming Decoder.
// Neither may panic; whatever decodes must encode, and decoding the
// encoding must give an equal value whose encoding is the same bytes.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"receive1_stream2_application_private_data.b64", "creationXml_no_profile.b64",
		"command_create_pipeline.b64", "receive1_stream1_session_capability.b64"} {
		for _, body := range psrpMessages(f, readVector(f, name)) {
			f.Add(body)
		}
	}
	for _, l := range procLines(f, 3) {
		f.Add(l)
	}
	for _, s := range []string{
		exportClixml,
		`<S>treble clef_x000A_ _x005F_x0000_ _xD834__xDD1E_ café _xD83C_ _x005F_x001G_</S>`,
		`<Obj RefId="0"><MS><Ref N="self" RefId="0" /></MS></Obj>`,
		`<Obj RefId="0"><TN RefId="0"><T>A</T></TN><LST><Obj RefId="1"><TNRef RefId="0" /></Obj></LST></Obj>`,
		`<PR><AV>A</AV><AI>0</AI><S>op</S><PI>-1</PI><PC>-1</PC><T>Processing</T><SR>-1</SR><SD>S</SD></PR>`,
		`<DT>2008-04-11T10:42:32.2731993-07:00</DT>`, `<TS>-P1DT2H3M4.5S</TS>`, `<Db>-1.5E-300</Db>`, `<Sg>NaN</Sg>`,
		`<Version>1.2.3.4</Version>`, `<D>-1.50</D>`, `<BA>AAECAw==</BA>`, `<SS>AQI=</SS>`, `<C>55296</C>`,
		`<Obj RefId="0"><DCT><En><I32 N="Key">1</I32><Nil N="Value" /></En></DCT></Obj>`,
		`<S><![CDATA[x]]>&#x1F3B5;&lt;</S>`, `<Obj RefId="0"><STK><QUE /></STK></Obj>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := UnmarshalOptions{MaxDepth: 64, MaxRefs: 1000}
		v, err := opts.Decode(data)
		if o, ok := v.(*Object); ok && err == nil {
			if s := o.String(); len(s) > toStringMax+len(o.ToString)+len("…") {
				t.Fatalf("String is %d bytes", len(s))
			}
		}
		if err == nil {
			enc, err := Marshal(v)
			if err != nil {
				t.Fatalf("decoded value does not encode: %v", err)
			}
			v2, err := opts.Decode(enc)
			if err != nil {
				t.Fatalf("re-decode of %q: %v", enc, err)
			}
			if !modelEqual(v, v2) {
				t.Fatalf("round trip differs:\n%#v\n%#v\nvia %q", v, v2, enc)
			}
			if enc2 := mustMarshal(t, v2); !bytes.Equal(enc, enc2) {
				t.Fatalf("encoding not stable:\n%q\n%q", enc, enc2)
			}
		} else if !isClixmlError(err) || !strings.HasPrefix(err.Error(), "clixml: ") {
			t.Fatalf("untyped error %T: %v", err, err)
		}
		// The stream decoder must agree with Decode on a single value.
		d := opts.NewDecoder(bytes.NewReader(data))
		for range 100 {
			_, err := decodeAny(d)
			if err == io.EOF {
				break
			}
			if err != nil {
				if !isClixmlError(err) {
					t.Fatalf("stream: untyped error %T: %v", err, err)
				}
				break
			}
		}
		if err == nil && !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n\ufeff"), []byte("<Objs")) {
			sv, serr := decodeAny(opts.NewDecoder(bytes.NewReader(data)))
			if serr != nil && !errors.Is(serr, io.EOF) {
				t.Fatalf("stream rejects what Decode accepts: %v", serr)
			}
			if serr == nil && !modelEqual(sv, v) {
				t.Fatalf("stream and Decode disagree")
			}
		}
	})
}
