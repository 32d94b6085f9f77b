package winrs

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// CLIXMLHeader is the line powershell.exe writes to stderr before the
// Export-Clixml document of its error, warning, verbose, debug, information
// and progress records, when its stderr is not a console (as in a WinRS
// shell).
const CLIXMLHeader = "#< CLIXML"

// Streams of a Record, after the S attribute powershell.exe gives each
// element of its stderr document. Text outside a document has StreamText.
const (
	StreamText        = ""
	StreamError       = "Error"
	StreamWarning     = "Warning"
	StreamVerbose     = "Verbose"
	StreamDebug       = "Debug"
	StreamInformation = "Information"
	StreamProgress    = "Progress"
)

// ErrCLIXML is wrapped by the errors DecodeCLIXML reports for a stderr
// document it cannot read: malformed XML, a record over the size limit,
// CLIXML that does not decode.
var ErrCLIXML = errors.New("winrs: malformed CLIXML on stderr")

// Limits of the decoder, so that hostile output cannot make it allocate
// without bound.
const (
	// MaxCLIXMLRecordBytes bounds one record of the document.
	MaxCLIXMLRecordBytes = 4 << 20
	// maxTypeNames bounds the <TN> lists a document may define for later
	// records to refer to, and maxTypeNameTokens each list.
	maxTypeNames      = 4096
	maxTypeNameTokens = 256
	// maxLine bounds the text read at once outside a document.
	maxLine = 64 << 10
)

// Record is one record of powershell.exe's stderr.
type Record struct {
	// Stream is one of the Stream constants, or the S attribute as
	// written for a stream this package does not know.
	Stream string
	// Text is the record's text: for StreamError the lines PowerShell
	// formats an error into (each ending in CRLF), for StreamText a line
	// of plain text (with its line break).
	Text string
	// Progress and SourceID are set for StreamProgress.
	Progress *clixml.ProgressRecord
	SourceID int64
	// Value is the decoded CLIXML value (lossless model; see package
	// clixml), nil for StreamText.
	Value any
}

// DecodeCLIXML reads powershell.exe's stderr from r and yields its records
// in order: those of each "#< CLIXML" document, and any other text as
// StreamText records (a line, or up to 64 KiB of a longer one). It stops
// after the first error, which wraps ErrCLIXML for a document that cannot
// be read. Memory is bounded by the largest record (MaxCLIXMLRecordBytes)
// and the type-name lists the document defines.
func DecodeCLIXML(r io.Reader) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		br := bufio.NewReaderSize(r, maxLine)
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 {
				if bytes.HasPrefix(line, []byte(CLIXMLHeader)) && strings.TrimSpace(string(line)) == CLIXMLHeader {
					if !decodeDocument(br, yield) {
						return
					}
				} else if !yield(Record{Stream: StreamText, Text: string(line)}, nil) {
					return
				}
			}
			switch {
			case err == nil, errors.Is(err, bufio.ErrBufferFull):
			case err == io.EOF:
				return
			default:
				yield(Record{}, fmt.Errorf("winrs: read stderr: %w", err))
				return
			}
		}
	}
}

// decodeDocument reads one <Objs> document from br and yields its
// records; it reports whether to go on.
func decodeDocument(br *bufio.Reader, yield func(Record, error) bool) bool {
	fail := func(format string, args ...any) bool {
		yield(Record{}, fmt.Errorf("%w: "+format, append([]any{ErrCLIXML}, args...)...))
		return false
	}
	// br is an io.ByteReader, so the xml.Decoder reads no further than the
	// document: text after it stays in br.
	d := xml.NewDecoder(br)
	d.Strict = true
	tns := map[string][]xml.Token{}
	var (
		buf   bytes.Buffer
		depth int
		root  bool
	)
	for {
		start := d.InputOffset()
		tok, err := d.RawToken()
		if err == io.EOF {
			if root {
				return fail("document ends before </Objs>")
			}
			return true
		}
		if err != nil {
			return fail("%v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !root {
				if t.Name.Local != "Objs" {
					return fail("document root is <%s>, not <Objs>", t.Name.Local)
				}
				root, depth = true, 1
				continue
			}
			rec, err := decodeRecord(d, t, start, tns, &buf)
			if err != nil {
				return fail("%v", err)
			}
			if !yield(rec, nil) {
				return false
			}
		case xml.EndElement:
			if root && depth == 1 {
				return true // </Objs>
			}
			return fail("unexpected </%s>", t.Name.Local)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 && root {
				return fail("text between records")
			}
		}
	}
}

// decodeRecord reads the element started by first (a child of <Objs>) and
// decodes it. <TN> lists are remembered in tns and <TNRef> to them
// replaced by a copy, so that each record decodes on its own although the
// document shares type names across records.
func decodeRecord(d *xml.Decoder, first xml.StartElement, offset int64, tns map[string][]xml.Token, buf *bytes.Buffer) (Record, error) {
	buf.Reset()
	enc := xml.NewEncoder(buf)
	stream := ""
	for _, a := range first.Attr {
		if a.Name.Space == "" && a.Name.Local == "S" {
			stream = a.Value
		}
	}
	var (
		depth    int
		tnID     string // RefId of the <TN> being read
		tnDepth  int
		tnTokens []xml.Token
		skipEnd  int // depth of a <TNRef> replaced, whose end is skipped
	)
	tok := xml.Token(first)
	for {
		if d.InputOffset()-offset > MaxCLIXMLRecordBytes {
			return Record{}, fmt.Errorf("record over %d bytes", MaxCLIXMLRecordBytes)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case t.Name.Local == "TNRef" && t.Name.Space == "":
				list, ok := tns[attr(t, "RefId")]
				if !ok {
					return Record{}, fmt.Errorf("<TNRef> to an undefined type list %q", attr(t, "RefId"))
				}
				for _, lt := range list {
					if err := enc.EncodeToken(lt); err != nil {
						return Record{}, err
					}
				}
				skipEnd = depth
				tok = nil
			case t.Name.Local == "TN" && t.Name.Space == "" && tnDepth == 0:
				tnID, tnDepth, tnTokens = attr(t, "RefId"), depth, nil
			}
		case xml.EndElement:
			if skipEnd == depth {
				skipEnd = 0
				depth--
				tok = nil
				break
			}
			if tnDepth == depth {
				tnTokens = append(tnTokens, xml.CopyToken(t))
				if tnID != "" && len(tns) < maxTypeNames && len(tnTokens) <= maxTypeNameTokens {
					tns[tnID] = tnTokens
				}
				tnDepth, tnTokens = 0, nil
				tok = nil
				if err := enc.EncodeToken(t); err != nil {
					return Record{}, err
				}
			}
			depth--
		case xml.CharData:
		default:
			tok = nil // comments, processing instructions, directives
		}
		if tok != nil {
			if tnDepth > 0 && len(tnTokens) <= maxTypeNameTokens {
				tnTokens = append(tnTokens, xml.CopyToken(tok))
			}
			if err := enc.EncodeToken(tok); err != nil {
				return Record{}, err
			}
		}
		if depth == 0 {
			break
		}
		var err error
		if tok, err = d.RawToken(); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Record{}, err
		}
	}
	if err := enc.Flush(); err != nil {
		return Record{}, err
	}
	v, err := clixml.UnmarshalOptions{MaxBytes: MaxCLIXMLRecordBytes}.Decode(buf.Bytes())
	if err != nil {
		return Record{}, err
	}
	return classify(stream, v), nil
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// classify turns a decoded record into a Record by its S attribute.
func classify(stream string, v any) Record {
	rec := Record{Stream: stream, Value: v}
	for _, s := range []string{StreamError, StreamWarning, StreamVerbose, StreamDebug, StreamInformation, StreamProgress} {
		if strings.EqualFold(stream, s) {
			rec.Stream = s
		}
	}
	switch x := v.(type) {
	case string:
		rec.Text = x
	case *clixml.Object:
		if rec.Stream == StreamProgress {
			if pr, ok := x.Member("Record"); ok {
				switch p := pr.(type) {
				case clixml.ProgressRecord:
					rec.Progress = &p
				case *clixml.ProgressRecord:
					rec.Progress = p
				}
			}
			if id, ok := x.Member("SourceId"); ok {
				if n, ok := id.(int64); ok {
					rec.SourceID = n
				}
			}
			if rec.Progress != nil {
				rec.Text = rec.Progress.Activity
			}
			break
		}
		rec.Text = x.String()
	case nil:
	default:
		rec.Text = fmt.Sprint(x)
	}
	return rec
}
