package wsman

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scanAll returns "{space}local" for every start tag and the decoded text of
// the root's direct character data.
func scanAll(data []byte) (starts []string, err error) {
	s := newXMLScanner(data)
	for {
		k, err := s.next()
		if err != nil {
			return starts, err
		}
		switch k {
		case tokEOF:
			return starts, nil
		case tokStart:
			starts = append(starts, "{"+string(s.space)+"}"+string(s.local))
		}
	}
}

// goStarts is scanAll done by encoding/xml, up to the root's end.
func goStarts(data []byte) ([]string, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var starts []string
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return starts, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			starts = append(starts, "{"+t.Name.Space+"}"+t.Name.Local)
		case xml.EndElement:
			if depth--; depth == 0 {
				return starts, nil
			}
		}
	}
}

func TestXMLScanner(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		starts   []string
		err      string
		limit    bool
	}{
		{"namespaces scoped", `<?xml version="1.0" encoding="UTF-8"?><!-- c --><a xmlns="u1" xmlns:p="u2"><p:b xmlns:p="u3"><p:c/></p:b><p:d/><e xmlns=""/></a>trailing <garbage`,
			[]string{"{u1}a", "{u3}b", "{u3}c", "{u2}d", "{}e"}, "", false},
		{"xml prefix and unbound prefix", `<q:a xml:lang="en"/>`, []string{"{q}a"}, "", false},
		{"BOM", "\ufeff<a/>", []string{"{}a"}, "", false},
		{"mismatched end", `<a><b></a></b>`, nil, "</a> closes <b>", false},
		{"unterminated", `<a><b>`, nil, "unexpected end of input inside <b>", false},
		{"DTD refused", `<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, nil, "document type declarations are not allowed", false},
		{"UTF-16 refused", `<?xml version="1.0" encoding="UTF-16"?><a/>`, nil, `unsupported encoding "UTF-16"`, false},
		{"text before root", `hello<a/>`, nil, "text outside the root element", false},
		{"empty", ``, nil, "no root element", false},
		{"attribute without quotes", `<a b=c/>`, nil, "unquoted attribute value", false},
		{"attributes glued", `<a b="1"c="2"/>`, nil, "missing space before attribute", false},
		{"bad name", `<1a/>`, nil, "invalid name", false},
		{"empty prefix", `<:a/>`, nil, "invalid name", false},
		{"depth 64 accepted", strings.Repeat("<a>", 64) + strings.Repeat("</a>", 64), nil, "", false},
		{"depth 65 refused", strings.Repeat("<a>", 65) + strings.Repeat("</a>", 65), nil, "nested deeper than 64", true},
		{"64 attributes accepted", "<a" + strings.Repeat(` b="1"`, 64) + "/>", []string{"{}a"}, "", false},
		{"65 attributes refused", "<a" + strings.Repeat(` b="1"`, 65) + "/>", nil, "more than 64 attributes", true},
		{"tokens bounded", "<a>" + strings.Repeat("<!---->", maxResponseTokens) + "</a>", nil, "more than 1048576 XML tokens", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			starts, err := scanAll([]byte(tt.in))
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				var se *scanError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tt.limit, se.limit)
				return
			}
			require.NoError(t, err)
			if tt.starts != nil {
				assert.Equal(t, tt.starts, starts)
			}
		})
	}
}

func TestXMLScannerText(t *testing.T) {
	t.Parallel()
	text := func(in string, max int) (string, int, error) {
		s := newXMLScanner([]byte(in))
		if _, err := s.next(); err != nil {
			return "", 0, err
		}
		b, total, err := s.textBytes(max)
		return string(b), total, err
	}
	tests := []struct {
		in, want string
		max      int
		total    int
		err      string
	}{
		{`<a>plain</a>`, "plain", -1, 5, ""},
		{`<a>x &lt;&gt;&amp;&apos;&quot; &#65;&#x42;&#x1F600;</a>`, "x <>&'\" AB😀", -1, 14, ""},
		{"<a>l1\r\nl2\rl3</a>", "l1\nl2\nl3", -1, 8, ""},
		{`<a>one<b>skipped</b><![CDATA[<two>&amp;]]><!-- c -->three</a>`, "one<two>&amp;three", -1, 18, ""},
		{`<a>` + strings.Repeat("x", 100) + `</a>`, strings.Repeat("x", 10), 10, 100, ""},
		{`<a>&amp;` + strings.Repeat("x", 100) + `<b/>` + strings.Repeat("y", 50) + `</a>`, "&" + strings.Repeat("x", 9), 10, 151, ""},
		{`<a>&bogus;</a>`, "", -1, 0, "invalid entity reference"},
		{`<a>&#0;</a>`, "", -1, 0, "invalid entity reference"},
		{`<a>&amp</a>`, "", -1, 0, "malformed entity reference"},
		{"<a>\x01</a>", "", -1, 0, "illegal character"},
		{"<a>\xff</a>", "", -1, 0, "invalid UTF-8"},
	}
	for _, tt := range tests {
		got, total, err := text(tt.in, tt.max)
		if tt.err != "" {
			require.Error(t, err, tt.in)
			assert.Contains(t, err.Error(), tt.err)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
		assert.Equal(t, tt.total, total, tt.in)
	}
}

// TestXMLScannerMatchesEncodingXML checks the namespace resolution against
// encoding/xml on the recorded Windows responses.
func TestXMLScannerMatchesEncodingXML(t *testing.T) {
	t.Parallel()
	for _, m := range loadCapture(t, "test_psrp_no_profile.yml") {
		if m.Response == "" {
			continue
		}
		mine, err := scanAll([]byte(m.Response))
		require.NoError(t, err)
		theirs, err := goStarts([]byte(m.Response))
		require.NoError(t, err)
		assert.Equal(t, theirs, mine)
	}
}

// FuzzXMLScanner: the scanner never panics, fails only with a *scanError,
// keeps its stacks within bounds, and on a document both it and encoding/xml
// accept, sees the same elements in the same namespaces.
func FuzzXMLScanner(f *testing.F) {
	for _, seed := range []string{
		`<a xmlns="u1" xmlns:p="u2"><p:b xmlns:p="u3"><p:c/></p:b><p:d x="1" p:y='2'>t&amp;<![CDATA[c]]></p:d><e xmlns=""/></a>`,
		`<?xml version="1.0" encoding="utf-8"?><!-- c --><s:Envelope xmlns:s="` + NsSOAP + `"><s:Body/></s:Envelope>`,
		faultEnvelope("x", "w:TimedOut", CodeOperationTimeout, "m"),
		strings.Repeat("<a>", 70),
		"<a" + strings.Repeat(` b="1"`, 70) + "/>",
		`<a>&#x1F600;&#0;&bogus;</a>`,
		"\ufeff<a>\r\n</a>",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mine, err := scanAll(data)
		if err != nil {
			var se *scanError
			if !errors.As(err, &se) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		theirs, gerr := goStarts(data)
		if gerr != nil || gerr == io.EOF {
			return // encoding/xml is stricter on some input (names, characters)
		}
		if strings.Join(mine, "\n") != strings.Join(theirs, "\n") {
			t.Fatalf("scanner %q\nencoding/xml %q", mine, theirs)
		}
	})
}

// plainASCIIReference is plainASCII one byte at a time.
func plainASCIIReference(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x80 || c == '&' {
			return false
		}
	}
	return true
}

func TestPlainASCII(t *testing.T) {
	base := []byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo+/=~ !\x7f")
	if !plainASCII(base) {
		t.Fatalf("plainASCII(%q) = false", base)
	}
	// Every position and every byte value: the word test must agree with
	// the byte loop whatever the neighbours are.
	for pos := range base {
		for c := range 256 {
			b := bytes.Clone(base)
			b[pos] = byte(c)
			if got, want := plainASCII(b), plainASCIIReference(b); got != want {
				t.Fatalf("plainASCII with %#x at %d = %v, want %v", c, pos, got, want)
			}
		}
	}
}

func FuzzPlainASCII(f *testing.F) {
	f.Add([]byte("PHM6RW52ZWxvcGU+"))
	f.Add([]byte("a&b\r\n\t\x00\x1f\x20\x7f\x80\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := plainASCII(b), plainASCIIReference(b); got != want {
			t.Fatalf("plainASCII(%q) = %v, want %v", b, got, want)
		}
		if plainASCII(b) && checkChars(b) != nil {
			t.Fatalf("checkChars refuses plain %q", b)
		}
	})
}
