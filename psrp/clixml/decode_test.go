package clixml

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/internal/captures"
)

func TestDecodePrimitives(t *testing.T) {
	t.Parallel()
	pst := time.FixedZone("", -7*3600)
	tests := []struct {
		in   string
		want any
	}{
		{`<S>hello</S>`, "hello"},
		{`<S />`, ""},
		{`<S></S>`, ""},
		{`<S N="x">a &amp; b &lt;c&gt; &quot;&apos; &#65;&#x42;</S>`, `a & b <c> "' AB`},
		{`<S>Order_x000A_Details</S>`, "Order\nDetails"},
		{`<S><![CDATA[<raw> & ]]>tail</S>`, "<raw> & tail"},
		{"<S>a\r\nb\rc</S>", "a\nb\nc"},
		{`<S>a<!-- comment -->b</S>`, "ab"},
		{"<S><![CDATA[a\r\nb\rc]]><?pi x?>d</S>", "a\nb\ncd"},
		{`<C>97</C>`, Char('a')},
		{`<B>true</B>`, true},
		{`<B>false</B>`, false},
		{`<B> 1 </B>`, true},
		{`<By>255</By>`, uint8(255)},
		{`<SB>-128</SB>`, int8(-128)},
		{`<U16>65535</U16>`, uint16(65535)},
		{`<I16>-32768</I16>`, int16(-32768)},
		{`<U32>4294967295</U32>`, uint32(math.MaxUint32)},
		{`<I32>-2147483648</I32>`, int32(math.MinInt32)},
		{`<I32>+5</I32>`, int32(5)},
		{`<U64>18446744073709551615</U64>`, uint64(math.MaxUint64)},
		{`<I64>-9223372036854775808</I64>`, int64(math.MinInt64)},
		{`<I64>9223372036854775807</I64>`, int64(math.MaxInt64)},
		{`<Sg>1.5</Sg>`, float32(1.5)},
		{`<Db>1.0</Db>`, 1.0},
		{`<Db>1E+20</Db>`, 1e20},
		{`<Db>-2.5E-05</Db>`, -2.5e-5},
		{`<Db>INF</Db>`, math.Inf(1)},
		{`<Db>-INF</Db>`, math.Inf(-1)},
		{`<Db>NaN</Db>`, math.NaN()},
		{`<Sg>INF</Sg>`, float32(math.Inf(1))},
		{`<D>1</D>`, Decimal("1")},
		{`<D>-79228162514264337593543950335.5</D>`, Decimal("-79228162514264337593543950335.5")},
		{`<BA>AAECAw==</BA>`, []byte{0, 1, 2, 3}},
		{`<BA />`, []byte{}},
		{`<G>00000000-0000-0000-0000-000000000000</G>`, uuid.UUID{}},
		{`<G>4a8013c9-7387-4239-842a-b290ac4da47b</G>`, uuid.MustParse("4a8013c9-7387-4239-842a-b290ac4da47b")},
		{`<URI>http://x/_x0020_</URI>`, URI("http://x/ ")},
		{`<Nil />`, nil},
		{`<Nil N="x"></Nil>`, nil},
		{`<Version>1.2</Version>`, Version{1, 2, -1, -1}},
		{`<Version>1.2.3</Version>`, Version{1, 2, 3, -1}},
		{`<Version>5.1.26236.5000</Version>`, Version{5, 1, 26236, 5000}},
		{`<XD>&lt;a/&gt;</XD>`, XMLDocument("<a/>")},
		{`<SBK>Get-Item</SBK>`, ScriptBlock("Get-Item")},
		{`<DT>2008-04-11T10:42:32.2731993-07:00</DT>`, DateTime{time.Date(2008, 4, 11, 10, 42, 32, 273199300, pst), Local}},
		{`<DT>1970-01-01T00:00:00</DT>`, DateTime{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), Unspecified}},
		{`<DT>2024-02-29T23:59:59.1Z</DT>`, DateTime{time.Date(2024, 2, 29, 23, 59, 59, 100000000, time.UTC), UTC}},
		{`<DT>0001-01-01T00:00:00+14:00</DT>`, DateTime{time.Date(1, 1, 1, 0, 0, 0, 0, time.FixedZone("", 14*3600)), Local}},
		{`<TS>PT9.0269026S</TS>`, TimeSpan(90269026)},
		{`<TS>P1D</TS>`, TimeSpan(ticksPerDay)},
		{`<TS>-PT1S</TS>`, TimeSpan(-ticksPerSecond)},
		{`<TS>PT0S</TS>`, TimeSpan(0)},
		{`<TS>P1DT2H3M4.5S</TS>`, TimeSpan(ticksPerDay + 2*ticksPerHour + 3*ticksPerMinute + 45*ticksPerSecond/10)},
		{`<TS>P10675199DT2H48M5.4775807S</TS>`, TimeSpan(math.MaxInt64)},
		{`<TS>-P10675199DT2H48M5.4775808S</TS>`, TimeSpan(math.MinInt64)},
		{`<TS>PT0.00000001S</TS>`, TimeSpan(0)},
		{`<TS>P1Y2M</TS>`, TimeSpan(425 * ticksPerDay)},
		{`<PR><AV>Act</AV><AI>1</AI><Nil /><PI>-1</PI><PC>50</PC><T>Completed</T><SR>10</SR><SD>Half</SD></PR>`,
			ProgressRecord{ActivityID: 1, ParentActivityID: -1, Activity: "Act", StatusDescription: "Half", PercentComplete: 50, SecondsRemaining: 10, RecordType: ProgressCompleted}},
		{`<PR><AV>A</AV><AI>0</AI><S>op_x000A_</S><PI>-1</PI><PC>-1</PC><T>Processing</T><SR>-1</SR><SD>S</SD></PR>`,
			ProgressRecord{ParentActivityID: -1, Activity: "A", StatusDescription: "S", CurrentOperation: "op\n", PercentComplete: -1, SecondsRemaining: -1}},
		// XML declaration, BOM, comments and a namespace prefix are accepted.
		{"\uFEFF<?xml version=\"1.0\"?>\n<!-- c --><ps:I32 xmlns:ps=\"urn:x\">7</ps:I32>\n", int32(7)},
		{`<S N='single'>q</S>`, "q"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !modelEqual(got, tt.want) {
				t.Fatalf("Decode = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeSecureString(t *testing.T) {
	t.Parallel()
	in := []byte(`<SS>u1HQw6XnGcp+dvRujpjX+09zvUIBtQcKD+7HimAYKLk=</SS>`)
	v, err := UnmarshalOptions{Cipher: newTestCipher()}.Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	ss := v.(SecureString)
	if !ss.Decrypted || string(ss.Plaintext) != "password" || len(ss.Ciphertext) != 32 {
		t.Fatalf("got %q decrypted=%v", ss.Plaintext, ss.Decrypted)
	}
	// Without a cipher the ciphertext is kept and nothing is revealed.
	v, err = Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	ss = v.(SecureString)
	if ss.Decrypted || ss.Plaintext != nil || len(ss.Ciphertext) != 32 {
		t.Fatalf("got %#v", ss)
	}
	// A wrong key is a FormatError that does not leak the ciphertext.
	bad := testCipher{key: make([]byte, 32)}
	_, err = UnmarshalOptions{Cipher: bad}.Decode(in)
	var fe *FormatError
	if !errors.As(err, &fe) || errors.Unwrap(fe) == nil || strings.Contains(err.Error(), "u1HQ") {
		t.Fatalf("err = %v", err)
	}
}

func TestDecodeObjectShapes(t *testing.T) {
	t.Parallel()
	in := `<Obj RefId="0"><TN RefId="0"><T>System.Management.Automation.Runspaces.PSThreadOptions</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>Default</ToString><I32>0</I32>` +
		`<Props><S N="A_x005F_b">1</S></Props><MS><Obj N="o" RefId="1"><TNRef RefId="0" /><ToString>UseNewThread</ToString><I32>1</I32></Obj><Ref N="self" RefId="0" /></MS></Obj>`
	v, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*Object)
	if !o.IsType("System.Enum") || o.ToString != "Default" || !o.HasToString || o.Value != int32(0) {
		t.Fatalf("enum: %#v", o)
	}
	if len(o.Props) != 1 || o.Props[0].Name != "A_b" {
		t.Fatalf("props: %#v", o.Props)
	}
	inner, _ := o.Member("o")
	io := inner.(*Object)
	if &io.TypeNames[0] != &o.TypeNames[0] {
		t.Fatalf("TNRef does not share the type-name slice")
	}
	if self, _ := o.Member("SELF"); self != o {
		t.Fatalf("Ref to the enclosing object (a cycle) = %p, want %p", self, o)
	}

	in = `<Obj RefId="0"><TN RefId="0"><T>System.Collections.Stack</T></TN><STK><I32>1</I32><S>x</S></STK></Obj>`
	v, err = Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if o := v.(*Object); o.Kind != Stack || !modelEqual(o.Items, []any{int32(1), "x"}) {
		t.Fatalf("stack: %#v", o)
	}
	for tag, kind := range map[string]ContainerKind{"LST": List, "IE": Enumerable, "QUE": Queue, "DCT": Dictionary} {
		v, err := Decode([]byte(`<Obj RefId="0"><` + tag + ` /></Obj>`))
		if err != nil || v.(*Object).Kind != kind {
			t.Fatalf("%s: %v %#v", tag, err, v)
		}
	}
}

// TestDecodeApplicationPrivateData decodes the real APPLICATION_PRIVATE_DATA
// message of a Windows PowerShell 5.1 server and re-encodes it byte for byte.
func TestDecodeApplicationPrivateData(t *testing.T) {
	t.Parallel()
	msgs := psrpMessages(t, readVector(t, "receive1_stream2_application_private_data.b64"))
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	body := msgs[0]
	if string(body[:3]) != "\uFEFF" {
		t.Fatalf("no BOM")
	}
	v, err := Decode(body[3:])
	if err != nil {
		t.Fatal(err)
	}
	apd, ok := v.(*Object).Member("ApplicationPrivateData")
	if !ok {
		t.Fatal("no ApplicationPrivateData")
	}
	var table *Object
	for _, e := range apd.(*Object).Entries {
		if e.Key == "PSVersionTable" {
			table = e.Value.(*Object)
		}
	}
	if table == nil || !table.IsType("System.Management.Automation.PSPrimitiveDictionary") {
		t.Fatalf("PSVersionTable: %#v", table)
	}
	found := map[string]any{}
	for _, e := range table.Entries {
		found[e.Key.(string)] = e.Value
	}
	if found["PSRemotingProtocolVersion"] != (Version{2, 3, -1, -1}) || found["PSVersion"] != (Version{5, 1, 26236, 5000}) || found["PSEdition"] != "Desktop" {
		t.Fatalf("entries: %#v", found)
	}
	out, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(body[3:]) {
		t.Fatalf("re-encoding differs:\n got %s\nwant %s", out, body[3:])
	}
}

// TestDecodeVectors decodes and re-encodes byte for byte every message of
// the client-side vectors (written by pypsrp, accepted by Windows).
func TestDecodeVectors(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"creationXml_no_profile.b64", "command_create_pipeline.b64", "receive1_stream1_session_capability.b64"} {
		for i, body := range psrpMessages(t, readVector(t, name)) {
			body = []byte(strings.TrimPrefix(string(body), "\uFEFF"))
			v, err := Decode(body)
			if err != nil {
				t.Fatalf("%s message %d: %v", name, i, err)
			}
			v2, err := Decode(mustMarshal(t, v))
			if err != nil || !modelEqual(v, v2) {
				t.Fatalf("%s message %d: round trip: %v", name, i, err)
			}
		}
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// captureBodies returns every PSRP message body found in the recorded
// Windows conversations, keyed by file and direction. Missing captures
// fail the test.
func captureBodies(t testing.TB) map[string][][]byte {
	t.Helper()
	dir, err := captures.Dir()
	if err != nil {
		t.Fatal(err)
	}
	all, err := captures.LoadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]byte{}
	for _, c := range all {
		// Fragments of one message may span Receive responses: reassemble
		// per direction across the conversation. Blobs that are not PSRP
		// fragments (WinRS output) are skipped.
		for _, dir := range []string{"request", "response"} {
			partial := map[uint64][]byte{}
			key := c.File() + ":" + dir
			for i, m := range c.Entries {
				s := m.Request
				if dir == "response" {
					s = m.Response
				}
				env, err := captures.ParseEnvelope(s)
				if err != nil {
					t.Fatalf("%s message %d: %v", key, i, err)
				}
				for _, b := range env.Blobs {
					blob := strings.Join(strings.Fields(b.Base64), "")
					d, err := decodeBase64([]byte(blob))
					if err != nil {
						continue
					}
					out[key] = append(out[key], reassemble(d, partial)...)
				}
			}
		}
	}
	return out
}

// reassemble parses the fragments in raw, returning the bodies of the
// messages they complete; it returns nothing for data that is not a
// sequence of well-formed fragments.
func reassemble(raw []byte, partial map[uint64][]byte) [][]byte {
	var out [][]byte
	for len(raw) >= 21 {
		id := binary.BigEndian.Uint64(raw)
		flags := raw[16]
		n := int(binary.BigEndian.Uint32(raw[17:21]))
		if len(raw) < 21+n || flags&^3 != 0 {
			return out
		}
		if flags&1 != 0 {
			partial[id] = nil
		}
		partial[id] = append(partial[id], raw[21:21+n]...)
		raw = raw[21+n:]
		if flags&2 != 0 {
			msg := partial[id]
			delete(partial, id)
			if len(msg) >= 40 {
				out = append(out, msg[40:])
			}
		}
	}
	return out
}

// TestDecodeCaptures decodes every CLIXML message of the recorded Windows
// conversations, and checks that decode, encode, decode is stable.
func TestDecodeCaptures(t *testing.T) {
	t.Parallel()
	n := 0
	for name, bodies := range captureBodies(t) {
		for i, body := range bodies {
			body = []byte(strings.TrimPrefix(string(body), "\uFEFF"))
			if len(strings.TrimSpace(string(body))) == 0 {
				continue // END_OF_PIPELINE_INPUT and friends
			}
			v, err := Decode(body)
			if err != nil {
				t.Errorf("%s message %d: %v\n%.300s", name, i, err, body)
				continue
			}
			n++
			enc, err := MarshalOptions{}.Marshal(v)
			if errors.Is(err, ErrNoCipher) {
				continue
			}
			if err != nil {
				t.Errorf("%s message %d: encode: %v", name, i, err)
				continue
			}
			v2, err := Decode(enc)
			if err != nil || !modelEqual(v, v2) {
				t.Errorf("%s message %d: round trip differs (%v)", name, i, err)
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d messages decoded from the captures", n)
	}
	t.Logf("%d captured messages decoded", n)
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	type kind int
	const (
		syntax kind = iota
		format
		limit
	)
	tests := []struct {
		name string
		in   string
		want kind
	}{
		{"empty", ``, syntax},
		{"invalid utf8", "<S>ab\xffc</S>", syntax},
		{"invalid utf8 surrogate", "<S>\xed\xa0\x80</S>", syntax},
		{"text only", `hello`, syntax},
		{"unclosed", `<S>abc`, syntax},
		{"unclosed obj", `<Obj RefId="0"><MS>`, syntax},
		{"mismatched end", `<S>abc</I32>`, syntax},
		{"mismatched nested", `<Obj RefId="0"><MS></Obj></MS>`, syntax},
		{"bad entity", `<S>&bogus;</S>`, syntax},
		{"unterminated entity", `<S>& x</S>`, syntax},
		{"bad char ref", `<S>&#0;</S>`, syntax},
		{"surrogate char ref", `<S>&#xD800;</S>`, syntax},
		{"two roots", `<S>a</S><S>b</S>`, syntax},
		{"trailing text", `<S>a</S>x`, syntax},
		{"unquoted attr", `<S N=x>a</S>`, syntax},
		{"unterminated attr", `<S N="x>a</S>`, syntax},
		{"lt in attr", `<S N="<">a</S>`, syntax},
		{"doctype", `<!DOCTYPE x [<!ENTITY a "b">]><S>&a;</S>`, syntax},
		{"unterminated comment", `<S>a<!-- </S>`, syntax},
		{"text in obj", `<Obj RefId="0">junk</Obj>`, syntax},
		{"bad int", `<I32>12x</I32>`, format},
		{"int overflow", `<I32>2147483648</I32>`, format},
		{"byte negative", `<By>-1</By>`, format},
		{"u64 overflow", `<U64>18446744073709551616</U64>`, format},
		{"bad bool", `<B>yes</B>`, format},
		{"bad double", `<Db>0x1p3</Db>`, format},
		{"bad double 2", `<Db>1e</Db>`, format},
		{"bad decimal", `<D>1e5</D>`, format},
		{"bad guid", `<G>xyz</G>`, format},
		{"bad base64", `<BA>!!!</BA>`, format},
		{"bad version", `<Version>1</Version>`, format},
		{"bad version 5", `<Version>1.2.3.4.5</Version>`, format},
		{"bad datetime", `<DT>2024-13-01T00:00:00</DT>`, format},
		{"bad datetime feb", `<DT>2023-02-29T00:00:00</DT>`, format},
		{"bad datetime frac", `<DT>2024-01-01T00:00:00.12345678</DT>`, format},
		{"bad duration", `<TS>P1H</TS>`, format},
		{"bad duration T", `<TS>PT</TS>`, format},
		{"bad duration order", `<TS>PT1S2M</TS>`, format},
		{"duration overflow", `<TS>P10675199DT2H48M5.4775808S</TS>`, format},
		{"nil content", `<Nil>x</Nil>`, format},
		{"unknown tag", `<Foo>1</Foo>`, format},
		{"unknown tag in list", `<Obj RefId="0"><LST><Bar /></LST></Obj>`, format},
		{"child in primitive", `<S><I32>1</I32></S>`, format},
		{"ref unknown", `<Obj RefId="0"><MS><Ref N="x" RefId="5" /></MS></Obj>`, format},
		{"ref without id", `<Ref />`, format},
		{"tnref unknown", `<Obj RefId="0"><TNRef RefId="3" /></Obj>`, format},
		{"bad refid", `<Obj RefId="x" />`, format},
		{"dict entry without value", `<Obj RefId="0"><DCT><En><S N="Key">a</S></En></DCT></Obj>`, format},
		{"dict bad child", `<Obj RefId="0"><DCT><S>a</S></DCT></Obj>`, format},
		{"tn bad child", `<Obj RefId="0"><TN RefId="0"><S>a</S></TN></Obj>`, format},
		{"objs document", `<Objs Version="1.1.0.1"><S>a</S></Objs>`, format},
		{"pr bad int", `<PR><AI>x</AI></PR>`, format},
		{"deep", strings.Repeat(`<Obj RefId="0"><LST>`, 200), limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("Decode(%q) = %#v, want an error", tt.in, v)
			}
			if !strings.HasPrefix(err.Error(), "clixml: ") {
				t.Errorf("error %q lacks the clixml: prefix", err)
			}
			var se *SyntaxError
			var fe *FormatError
			var le *LimitError
			ok := false
			switch tt.want {
			case syntax:
				ok = errors.As(err, &se)
			case format:
				ok = errors.As(err, &fe)
			case limit:
				ok = errors.As(err, &le)
			}
			if !ok {
				t.Fatalf("Decode(%q) error %T %v, want kind %d", tt.in, err, err, tt.want)
			}
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`<Obj RefId="0"><LST>`, 10) + strings.Repeat(`</LST></Obj>`, 10)
	many := `<Obj RefId="0"><LST>` + strings.Repeat(`<Obj RefId="1" />`, 20) + `</LST></Obj>`
	tests := []struct {
		name  string
		opts  UnmarshalOptions
		in    string
		limit string
	}{
		{"depth", UnmarshalOptions{MaxDepth: 5}, deep, "MaxDepth"},
		{"refs", UnmarshalOptions{MaxRefs: 10}, many, "MaxRefs"},
		{"tn refs", UnmarshalOptions{MaxRefs: 1}, `<Obj RefId="0"><TN RefId="0"><T>a</T></TN></Obj>`, "MaxRefs"},
		{"bytes", UnmarshalOptions{MaxBytes: 10}, `<S>0123456789</S>`, "MaxBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.opts.Decode([]byte(tt.in))
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != tt.limit {
				t.Fatalf("err = %v, want LimitError %s", err, tt.limit)
			}
		})
	}
	// Within the limits the same inputs decode.
	if _, err := (UnmarshalOptions{MaxDepth: 21}).Decode([]byte(deep)); err != nil {
		t.Fatalf("deep within limit: %v", err)
	}
	if _, err := (UnmarshalOptions{MaxRefs: 21}).Decode([]byte(many)); err != nil {
		t.Fatalf("refs within limit: %v", err)
	}
	// The default depth stops a pathological nesting without exhausting
	// the stack.
	_, err := Decode([]byte(strings.Repeat(`<Obj RefId="0"><LST>`, 100000)))
	var le *LimitError
	if !errors.As(err, &le) || le.Max != DefaultMaxDepth {
		t.Fatalf("err = %v", err)
	}
}

func TestUnmarshalTargets(t *testing.T) {
	t.Parallel()
	// A struct target goes through the struct-tag mapping.
	var rs struct {
		Min int32 `clixml:"MinRunspaces"`
		Max int32 `clixml:"MaxRunspaces"`
	}
	if err := Unmarshal([]byte(`<Obj RefId="0"><MS><I32 N="MinRunspaces">1</I32><I32 N="MaxRunspaces">4</I32></MS></Obj>`), &rs); err != nil || rs.Min != 1 || rs.Max != 4 {
		t.Fatalf("Unmarshal(struct) = %+v, %v", rs, err)
	}
	var v any
	if err := Unmarshal([]byte(`<I32>5</I32>`), &v); err != nil || v != int32(5) {
		t.Fatalf("Unmarshal(*any) = %v, %v", v, err)
	}
	for _, target := range []any{nil, 5, (*int)(nil), struct{}{}} {
		err := Unmarshal([]byte(`<I32>5</I32>`), target)
		var ie *InvalidUnmarshalError
		if !errors.As(err, &ie) || !strings.HasPrefix(err.Error(), "clixml: Unmarshal(") {
			t.Fatalf("Unmarshal(%T) err = %v", target, err)
		}
	}
	// Syntax is checked before the target is touched.
	v = "keep"
	if err := Unmarshal([]byte(`<I32>5`), &v); err == nil || v != "keep" {
		t.Fatalf("v = %v, err = %v", v, err)
	}
}
