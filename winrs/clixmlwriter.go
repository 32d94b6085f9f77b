package winrs

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
)

// CLIXMLWriter is an io.Writer for powershell.exe's stderr that writes
// readable text to another writer: error records as PowerShell formats
// them on a console, warnings, verbose and debug messages with the
// console's "WARNING: ", "VERBOSE: " and "DEBUG: " prefixes, information
// records as their text, and text outside a "#< CLIXML" document as is.
// Progress records are not written; a callback sees every record,
// progress included. Close it after the command ended to flush what is
// left and learn whether the document was readable.
type CLIXMLWriter struct {
	pw   *io.PipeWriter
	done chan struct{}
	err  error

	closeOnce sync.Once
}

// NewCLIXMLWriter returns a CLIXMLWriter writing text to w; onRecord, if
// not nil, is called with each record (from a goroutine of the writer, one
// record at a time) before its text is written.
func NewCLIXMLWriter(w io.Writer, onRecord func(Record)) *CLIXMLWriter {
	pr, pw := io.Pipe()
	cw := &CLIXMLWriter{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(cw.done)
		var err error
		for rec, derr := range DecodeCLIXML(pr) {
			if derr != nil {
				err = derr
				break
			}
			if onRecord != nil {
				onRecord(rec)
			}
			if err = writeRecord(w, rec); err != nil {
				break
			}
		}
		cw.err = err
		// Fail later Writes, and unblock the one waiting, with the cause.
		if err == nil {
			err = errors.New("winrs: CLIXMLWriter closed")
		}
		pr.CloseWithError(err)
	}()
	return cw
}

// Write feeds stderr bytes to the decoder. It fails once decoding or the
// underlying writer has failed.
func (cw *CLIXMLWriter) Write(p []byte) (int, error) {
	return cw.pw.Write(p)
}

// Close ends the input, waits until everything is decoded and written, and
// returns the first error (wrapping ErrCLIXML for a malformed document).
func (cw *CLIXMLWriter) Close() error {
	cw.closeOnce.Do(func() { cw.pw.Close() })
	<-cw.done
	return cw.err
}

// writeRecord writes the readable text of rec.
func writeRecord(w io.Writer, rec Record) error {
	prefix := ""
	switch rec.Stream {
	case StreamProgress:
		return nil
	case StreamText, StreamError:
		_, err := io.WriteString(w, rec.Text)
		return err
	case StreamWarning:
		prefix = "WARNING: "
	case StreamVerbose:
		prefix = "VERBOSE: "
	case StreamDebug:
		prefix = "DEBUG: "
	}
	text := rec.Text
	if !strings.HasSuffix(text, "\n") {
		text += "\r\n"
	}
	_, err := io.WriteString(w, prefix+text)
	return err
}

// CLIXMLText decodes powershell.exe's stderr, held whole in stderr, into
// readable text as CLIXMLWriter writes it. Stderr without a "#< CLIXML"
// document comes back unchanged.
func CLIXMLText(stderr []byte) (string, error) {
	var b bytes.Buffer
	for rec, err := range DecodeCLIXML(bytes.NewReader(stderr)) {
		if err != nil {
			return b.String(), err
		}
		_ = writeRecord(&b, rec)
	}
	return b.String(), nil
}
