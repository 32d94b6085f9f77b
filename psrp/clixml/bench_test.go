package clixml

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// genProcs ports ../shared/bench/gen_procs_clixml.py (beside the checkout): n Get-Process-like
// CLIXML bodies, one per line. TestGenProcsMatchesScript checks that the
// output is byte-identical to the script's.
func genProcs(n int) []byte {
	var b []byte
	for i := range n {
		b = append(b, `<Obj RefId="0"><TN RefId="0"><T>Deserialized.System.Diagnostics.Process</T><T>Deserialized.System.ComponentModel.Component</T>`...)
		b = append(b, `<T>Deserialized.System.MarshalByRefObject</T><T>Deserialized.System.Object</T></TN><ToString>System.Diagnostics.Process (svchost`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `)</ToString><Props><S N="Name">svchost`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `</S><I32 N="Id">`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `</I32><I32 N="Handles">`...)
		b = strconv.AppendInt(b, int64(100+i%900), 10)
		b = append(b, `</I32><I64 N="WorkingSet64">`...)
		b = strconv.AppendInt(b, int64(1000000+i*17), 10)
		b = append(b, `</I64><I64 N="PagedMemorySize64">`...)
		b = strconv.AppendInt(b, int64(2000000+i*3), 10)
		b = append(b, `</I64><Db N="CPU">`...)
		b = appendPythonFloat(b, float64(i)/7.0)
		b = append(b, `</Db><DT N="StartTime">2026-11-2`...)
		b = strconv.AppendInt(b, int64(i%10), 10)
		b = append(b, `T10:42:32.2731993-07:00</DT><TS N="TotalProcessorTime">PT`...)
		b = strconv.AppendInt(b, int64(i%60), 10)
		b = append(b, `.0269026S</TS>`...)
		b = append(b, `<S N="Path">C:\Windows\System32\svchost.exe</S><S N="Company">Microsoft Corporation</S><B N="Responding">true</B><Nil N="MainModule" />`...)
		b = append(b, `<Obj N="PriorityClass" RefId="1"><TN RefId="1"><T>System.Diagnostics.ProcessPriorityClass</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN>`...)
		b = append(b, `<ToString>Normal</ToString><I32>32</I32></Obj></Props><MS><S N="PSComputerName">server2019</S><B N="PSShowComputerName">true</B><G N="RunspaceId">4a8013c9-7387-4239-842a-b290ac4da47b</G></MS></Obj>`...)
		b = append(b, '\n')
	}
	return b
}

// appendPythonFloat writes f as Python's repr does for the magnitudes the
// generator produces (below 1e16): shortest digits, at least one decimal.
func appendPythonFloat(b []byte, f float64) []byte {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	b = append(b, s...)
	if !bytes.ContainsAny([]byte(s), ".eEn") {
		b = append(b, ".0"...)
	}
	return b
}

func TestGenProcsMatchesScript(t *testing.T) {
	t.Parallel()
	script := filepath.Join("..", "..", "..", "shared", "bench", "gen_procs_clixml.py")
	if _, err := os.Stat(script); err != nil {
		t.Skip("generator script not found:", err)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	out := filepath.Join(t.TempDir(), "procs.clixml")
	if b, err := exec.Command(py, script, "2000", out).CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := genProcs(2000); !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("Go port differs from the script at byte %d:\n got %.80q\nwant %.80q", i, got[i:], want[i:])
	}
}

func procLines(tb testing.TB, n int) [][]byte {
	tb.Helper()
	lines := bytes.Split(bytes.TrimSuffix(genProcs(n), []byte("\n")), []byte("\n"))
	if len(lines) != n {
		tb.Fatalf("got %d lines", len(lines))
	}
	return lines
}

// BenchmarkDecodeProcesses decodes each body on its own, as a PSRP client
// decodes PIPELINE_OUTPUT messages.
func BenchmarkDecodeProcesses(b *testing.B) {
	lines := procLines(b, 10000)
	var size int64
	for _, l := range lines {
		size += int64(len(l))
	}
	b.SetBytes(size / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; b.Loop(); i++ {
		if _, err := Decode(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "objs/s")
}

// BenchmarkDecodeProcessesStream reads the whole file with a Decoder.
func BenchmarkDecodeProcessesStream(b *testing.B) {
	data := genProcs(10000)
	b.SetBytes(int64(len(data))) // one op reads the whole file
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		d := NewDecoder(bytes.NewReader(data))
		for {
			if _, err := decodeAny(d); err != nil {
				break
			}
			n++
			if n%10000 == 0 {
				break
			}
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "objs/s")
}

func BenchmarkEncodeProcesses(b *testing.B) {
	lines := procLines(b, 1000)
	vals := make([]any, len(lines))
	for i, l := range lines {
		v, err := Decode(l)
		if err != nil {
			b.Fatal(err)
		}
		vals[i] = v
	}
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; b.Loop(); i++ {
		var err error
		if buf, err = (MarshalOptions{}).Append(buf[:0], vals[i%len(vals)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "objs/s")
}
