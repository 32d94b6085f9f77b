package clixml_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

func ExampleDecode() {
	v, err := clixml.Decode([]byte(`<Obj RefId="0"><TN RefId="0"><T>System.ConsoleColor</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>Red</ToString><I32>12</I32></Obj>`))
	if err != nil {
		panic(err)
	}
	o := v.(*clixml.Object)
	fmt.Println(o.TypeNames[0], o.ToString, o.Value)
	// Output: System.ConsoleColor Red 12
}

func ExampleMarshal() {
	b, err := clixml.Marshal(map[string]any{"Name": "WinRM", "Count": 2})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	// Output: <Obj RefId="0"><TN RefId="0"><T>System.Collections.Hashtable</T><T>System.Object</T></TN><DCT><En><S N="Key">Count</S><I32 N="Value">2</I32></En><En><S N="Key">Name</S><S N="Value">WinRM</S></En></DCT></Obj>
}

func ExampleNewDecoder() {
	file := `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S>first</S><I32>2</I32></Objs>`
	d := clixml.NewDecoder(strings.NewReader(file))
	for {
		var v any
		err := d.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Printf("%T %v\n", v, v)
	}
	// Output:
	// string first
	// int32 2
}

func ExampleEncoder_EncodeDocument() {
	var sb strings.Builder
	if err := clixml.NewEncoder(&sb).EncodeDocument("a", int64(1)); err != nil {
		panic(err)
	}
	fmt.Println(sb.String())
	// Output: <Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S>a</S><I64>1</I64></Objs>
}

// A value already decoded into the lossless model (the Value of a
// session.Output, say) goes into a struct without being encoded again.
func ExampleUnmarshalValue() {
	m, err := clixml.Decode([]byte(`<Obj RefId="0"><TN RefId="0"><T>System.ServiceProcess.ServiceController</T><T>System.Object</T></TN>` +
		`<Props><S N="Name">WinRM</S><Obj N="Status" RefId="1"><TN RefId="1"><T>System.ServiceProcess.ServiceControllerStatus</T><T>System.Enum</T></TN><ToString>Running</ToString><I32>4</I32></Obj></Props></Obj>`))
	if err != nil {
		panic(err)
	}
	var svc struct {
		Name   string
		Status string // an enum fills a string from its ToString, an integer from its value
	}
	if err := clixml.UnmarshalValue(m, &svc); err != nil {
		panic(err)
	}
	fmt.Println(svc.Name, svc.Status)

	status, _ := m.(*clixml.Object).Member("Status")
	fmt.Println(status) // prints as PowerShell would: the object's ToString
	// Output:
	// WinRM Running
	// Running
}
