package winrs_test

import (
	"bytes"
	"testing"

	"github.com/gopsrp/gopsrp/winrs"
)

// windowsStderr is powershell.exe's stderr for a script that wrote
// progress, an error and a warning, in the layout Windows PowerShell 5.1
// writes (a type list defined once and referred to by later records).
const windowsStderr = "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">" +
	"<Obj S=\"progress\" RefId=\"0\"><TN RefId=\"0\"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN><MS><I64 N=\"SourceId\">1</I64><PR N=\"Record\"><AV>Preparing modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>" +
	"<Obj S=\"progress\" RefId=\"1\"><TNRef RefId=\"0\" /><MS><I64 N=\"SourceId\">2</I64><PR N=\"Record\"><AV>Copying</AV><AI>0</AI><Nil /><PI>-1</PI><PC>50</PC><T>Processing</T><SR>-1</SR><SD>half</SD></PR></MS></Obj>" +
	"<S S=\"Error\">Write-Error : bad thing_x000D__x000A_</S><S S=\"Error\">    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException_x000D__x000A_</S>" +
	"<S S=\"Error\">    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException_x000D__x000A_</S><S S=\"Error\"> _x000D__x000A_</S>" +
	"<S S=\"warning\">careful</S><S S=\"verbose\">details</S></Objs>"

func TestDecodeCLIXMLWindows(t *testing.T) {
	var streams []string
	var progress []string
	for rec, err := range winrs.DecodeCLIXML(bytes.NewReader([]byte(windowsStderr))) {
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, rec.Stream)
		if rec.Progress != nil {
			progress = append(progress, rec.Progress.Activity)
		}
	}
	want := []string{"Progress", "Progress", "Error", "Error", "Error", "Error", "Warning", "Verbose"}
	if len(streams) != len(want) {
		t.Fatalf("streams %q, want %q", streams, want)
	}
	for i := range want {
		if streams[i] != want[i] {
			t.Fatalf("streams %q, want %q", streams, want)
		}
	}
	if len(progress) != 2 || progress[1] != "Copying" {
		t.Fatalf("progress %q", progress)
	}
	text, err := winrs.CLIXMLText([]byte("plain line\r\n" + windowsStderr + "\r\ntrailing"))
	if err != nil {
		t.Fatal(err)
	}
	wantText := "plain line\r\nWrite-Error : bad thing\r\n    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException\r\n" +
		"    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException\r\n \r\nWARNING: careful\r\nVERBOSE: details\r\n\r\ntrailing"
	if text != wantText {
		t.Fatalf("text\n%q\nwant\n%q", text, wantText)
	}
	// Through the writer, in small pieces, with progress surfaced.
	var out bytes.Buffer
	var seen int
	w := winrs.NewCLIXMLWriter(&out, func(r winrs.Record) {
		if r.Stream == winrs.StreamProgress {
			seen++
		}
	})
	for _, b := range []byte(windowsStderr) {
		if _, err := w.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if seen != 2 || !bytes.Contains(out.Bytes(), []byte("Write-Error : bad thing\r\n")) || bytes.Contains(out.Bytes(), []byte("Copying")) {
		t.Fatalf("writer: %d progress, text %q", seen, out.String())
	}
	// Malformed documents are typed errors.
	for _, bad := range []string{"#< CLIXML\r\n<Objs><S S=\"Error\">x</Objs>", "#< CLIXML\r\n<Nope/>", "#< CLIXML\r\n<Objs><Obj><TNRef RefId=\"9\"/></Obj></Objs>"} {
		if _, err := winrs.CLIXMLText([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzDecodeCLIXML(f *testing.F) {
	f.Add([]byte(windowsStderr))
	f.Add([]byte("plain\r\n#< CLIXML\r\n<Objs><S S=\"Error\">a_x000D__x000A_</S></Objs>more"))
	f.Add([]byte("#< CLIXML\n<Objs><Obj S=\"information\" RefId=\"0\"><TN RefId=\"0\"><T>X</T></TN><ToString>hi</ToString></Obj><Obj RefId=\"1\"><TNRef RefId=\"0\"/></Obj></Objs>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		for rec, err := range winrs.DecodeCLIXML(bytes.NewReader(data)) {
			if err != nil {
				break
			}
			if rec.Stream == winrs.StreamText && rec.Text == "" {
				t.Fatal("empty text record")
			}
			n++
		}
		_, _ = winrs.CLIXMLText(data)
	})
}
