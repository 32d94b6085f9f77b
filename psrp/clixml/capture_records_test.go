package clixml

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gopsrp/gopsrp/internal/captures"
)

// The record bodies under testdata/records were cut from the recorded
// Windows conversations (captures.Dir) by captureBody; run
// `go test -run TestRecordBodiesMatchCaptures -update-records` to refresh
// them.

var updateRecords = flag.Bool("update-records", false, "rewrite testdata/records from the conformance captures")

// PSRP message types of the records.
const (
	capPipelineState = 0x00041006
	capErrorRecord   = 0x00041005
	capDebug         = 0x00041007
	capVerbose       = 0x00041008
	capWarning       = 0x00041009
	capProgress      = 0x00041010
	capInformation   = 0x00041011
)

// recordBodies lists the testdata files: which capture, which message type,
// and which occurrence of it.
var recordBodies = []struct {
	file    string
	capture string
	msgType uint32
	nth     int
}{
	{"error_extended.xml", "test_psrp_merge_commands.yml", capErrorRecord, 0},
	{"error_plain.xml", "test_psrp_stream_no_output_invocation.yml", capErrorRecord, 0},
	{"state_failed_write_error.xml", "test_psrp_error_failed.yml", capPipelineState, 0},
	{"state_failed_throw.xml", "test_client_fetch_file_fail_missing.yml", capPipelineState, 0},
	{"debug_extended.xml", "test_psrp_merge_commands.yml", capDebug, 0},
	{"verbose_extended.xml", "test_psrp_merge_commands.yml", capVerbose, 0},
	{"warning_extended.xml", "test_psrp_merge_commands.yml", capWarning, 0},
	{"warning_plain.xml", "test_psrp_stream_no_output_invocation.yml", capWarning, 0},
	{"information.xml", "test_psrp_stream_no_output_invocation.yml", capInformation, 0},
	{"progress.xml", "test_psrp_clear_commands.yml", capProgress, 0},
}

type capturedMessage struct {
	msgType uint32
	body    []byte // CLIXML, BOM removed
}

// captureMessages returns the PSRP messages the server sent in a capture
// (its rsp:Stream blobs), reassembled from their fragments.
func captureMessages(t testing.TB, path string) []capturedMessage {
	t.Helper()
	c, err := captures.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []capturedMessage
	partial := map[uint64][]byte{}
	for i, m := range c.Entries {
		env, err := captures.ParseEnvelope(m.Response)
		if err != nil {
			t.Fatalf("%s: message %d: %v", path, i, err)
		}
		for _, b := range env.Blobs {
			if b.Element != "Stream" {
				continue
			}
			blob, err := b.Decode()
			if err != nil {
				t.Fatalf("%s: stream: %v", path, err)
			}
			for len(blob) > 0 {
				if len(blob) < 21 {
					t.Fatalf("%s: short fragment header", path)
				}
				oid := binary.BigEndian.Uint64(blob)
				flags := blob[16]
				n := int(binary.BigEndian.Uint32(blob[17:]))
				if n > len(blob)-21 {
					t.Fatalf("%s: fragment length %d exceeds blob", path, n)
				}
				partial[oid] = append(partial[oid], blob[21:21+n]...)
				blob = blob[21+n:]
				if flags&2 == 0 {
					continue
				}
				msg := partial[oid]
				delete(partial, oid)
				if len(msg) < 40 {
					t.Fatalf("%s: short message", path)
				}
				out = append(out, capturedMessage{
					msgType: binary.LittleEndian.Uint32(msg[4:]),
					body:    bytes.TrimPrefix(msg[40:], []byte("\xef\xbb\xbf")),
				})
			}
		}
	}
	return out
}

// captureBody returns the nth body of type msgType in a capture.
func captureBody(t testing.TB, capture string, msgType uint32, nth int) []byte {
	t.Helper()
	dir, err := captures.Dir()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range captureMessages(t, filepath.Join(dir, capture)) {
		if m.msgType != msgType {
			continue
		}
		if nth == 0 {
			return m.body
		}
		nth--
	}
	t.Fatalf("%s: no message of type %#x", capture, msgType)
	return nil
}

func TestRecordBodiesMatchCaptures(t *testing.T) {
	for _, rb := range recordBodies {
		want := captureBody(t, rb.capture, rb.msgType, rb.nth)
		path := filepath.Join("testdata", "records", rb.file)
		if *updateRecords {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s; run with -update-records", rb.file, rb.capture)
		}
	}
}

// recordBody reads a testdata record body.
func recordBody(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "records", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func osReadRecord(file string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", "records", file))
}

// fuzzTarget exercises every kind fromModel handles.
type fuzzTarget struct {
	PipelineState int8
	Count         uint16
	Ratio         float32
	Name          string
	Flag          bool
	When          DateTime
	Took          TimeSpan
	List          []string
	Arr           [2]int32
	Dict          map[string]int64
	Keys          map[int32]any
	Next          *fuzzTarget
	Any           any
	Err           *ErrorRecord `clixml:"ExceptionAsErrorRecord"`
	Bytes         []byte
}

// FuzzRecords decodes arbitrary CLIXML and maps it onto every record type
// and onto a struct with every supported kind: nothing may panic, and a
// record that decodes must encode and decode again.
func FuzzRecords(f *testing.F) {
	for _, rb := range recordBodies {
		b, err := osReadRecord(rb.file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<Obj RefId="0"><MS><Obj N="_hostDefaultData" RefId="1"><MS><Obj N="data" RefId="2"><DCT><En><I32 N="Key">5</I32><Obj N="Value" RefId="3"><MS><S N="T">System.Management.Automation.Host.Size</S><Obj N="V" RefId="4"><MS><I32 N="width">1</I32><I32 N="height">2</I32></MS></Obj></MS></Obj></En></DCT></Obj></MS></Obj><B N="_isHostNull">false</B></MS></Obj>`))
	f.Add([]byte(`<Obj RefId="0"><MS><I64 N="PipelineState">300</I64><Ref N="Next" RefId="0" /><Obj N="List" RefId="1"><LST><S>a</S><Ref RefId="1" /></LST></Obj></MS></Obj>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		for _, mk := range []func() Unmarshaler{
			func() Unmarshaler { return new(ErrorRecord) },
			func() Unmarshaler { return new(InformationalRecord) },
			func() Unmarshaler { return new(ProgressRecord) },
			func() Unmarshaler { return new(InformationRecord) },
			func() Unmarshaler { return new(HostInfo) },
			func() Unmarshaler { return new(PSCredential) },
			func() Unmarshaler { return new(CommandMetadata) },
		} {
			u := mk()
			if err := u.UnmarshalCLIXML(m); err != nil {
				continue
			}
			out, err := u.(Marshaler).MarshalCLIXML()
			if err != nil {
				continue // e.g. a host value of a type HostInfo cannot write
			}
			if err := mk().UnmarshalCLIXML(out); err != nil {
				t.Fatalf("%T: re-decoding its own output: %v", u, err)
			}
		}
		var ft fuzzTarget
		_ = fromModel(m, reflect.ValueOf(&ft).Elem())
		if r, ok := any(ft.Err).(*ErrorRecord); ok && r != nil {
			_ = r.NormalView()
		}
	})
}
