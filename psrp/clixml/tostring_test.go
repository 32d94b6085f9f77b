package clixml_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// serviceXML is a deserialized Get-Service object as Windows sends it
// (trimmed): its Status is an enum object with a ToString.
const serviceXML = `<Obj RefId="0"><TN RefId="0"><T>System.ServiceProcess.ServiceController</T><T>System.ComponentModel.Component</T><T>System.Object</T></TN>` +
	`<ToString>System.ServiceProcess.ServiceController</ToString><Props><S N="Name">WinRM</S><S N="DisplayName">Windows Remote Management (WS-Management)</S>` +
	`<Obj N="Status" RefId="1"><TN RefId="1"><T>System.ServiceProcess.ServiceControllerStatus</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>Running</ToString><I32>4</I32></Obj>` +
	`<B N="CanStop">true</B></Props></Obj>`

func TestObjectStringIsToString(t *testing.T) {
	v, err := clixml.Decode([]byte(serviceXML))
	if err != nil {
		t.Fatal(err)
	}
	svc := v.(*clixml.Object)
	status, _ := svc.Member("Status")
	if got := fmt.Sprint(status); got != "Running" {
		t.Errorf("fmt.Sprint(Status) = %q, want Running", got)
	}
	if got := fmt.Sprintf("%v", svc); got != "System.ServiceProcess.ServiceController" {
		t.Errorf("service prints %q", got)
	}
	cases := []struct {
		name string
		o    *clixml.Object
		want string
	}{
		{"nil", nil, ""},
		{"ToString wins", &clixml.Object{ToString: "x", HasToString: true, Value: int32(1)}, "x"},
		{"empty ToString", &clixml.Object{HasToString: true, TypeNames: []string{"T"}}, ""},
		{"wrapped bool", &clixml.Object{Value: true}, "True"},
		{"wrapped char", &clixml.Object{Value: clixml.Char('é')}, "é"},
		{"wrapped double", &clixml.Object{Value: 1.5}, "1.5"},
		{"wrapped version", &clixml.Object{Value: clixml.Version{Major: 5, Minor: 1, Build: 17763, Revision: -1}}, "5.1.17763"},
		{"type name", &clixml.Object{TypeNames: []string{"Deserialized.System.IO.FileInfo", "Deserialized.System.Object"}, Props: []clixml.Property{{Name: "Length", Value: int64(3)}}}, "System.IO.FileInfo"},
		{"custom object", &clixml.Object{
			TypeNames: []string{"System.Management.Automation.PSCustomObject", "System.Object"},
			Members:   []clixml.Property{{Name: "a", Value: int32(1)}, {Name: "b", Value: "x"}, {Name: "c", Value: nil}, {Name: "d", Value: false}},
		}, "@{a=1; b=x; c=; d=False}"},
		{"untyped members", &clixml.Object{Members: []clixml.Property{{Name: "n", Value: &clixml.Object{Value: int32(7)}}}}, "@{n=7}"},
		{"bare list", &clixml.Object{Kind: clixml.List, Items: []any{"a"}}, "System.Object[]"},
		{"bare dictionary", &clixml.Object{Kind: clixml.Dictionary}, "System.Collections.Hashtable"},
		{"nothing", &clixml.Object{}, "System.Object"},
	}
	for _, tc := range cases {
		if got := tc.o.String(); got != tc.want {
			t.Errorf("%s: String() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A property bag that contains itself (through Refs) prints in bounded
// space.
func TestObjectStringCycle(t *testing.T) {
	o := &clixml.Object{}
	o.Members = []clixml.Property{{Name: "self", Value: o}}
	got := o.String()
	if len(got) > 200 {
		t.Errorf("String of a cycle is %d bytes: %q", len(got), got)
	}
}

func TestErrorRecordIsAnError(t *testing.T) {
	rec := &clixml.ErrorRecord{
		Exception:             clixml.ExceptionInfo{Message: "Cannot find path 'C:\\nope'.", TypeNames: []string{"Deserialized.System.Management.Automation.ItemNotFoundException"}},
		FullyQualifiedErrorID: "PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand",
	}
	var err error = fmt.Errorf("remote: %w", rec)
	var got *clixml.ErrorRecord
	if !errors.As(err, &got) || got != rec {
		t.Fatalf("errors.As did not find the record in %v", err)
	}
	if rec.Error() != "Cannot find path 'C:\\nope'." {
		t.Errorf("Error() = %q", rec.Error())
	}
	rec.ErrorDetails = &clixml.ErrorDetails{Message: "details first"}
	if rec.Error() != "details first" {
		t.Errorf("Error() with ErrorDetails = %q, want the details' message (as .NET)", rec.Error())
	}
	rec.ErrorDetails.Message = ""
	rec.Exception.Message = ""
	if rec.Error() != "System.Management.Automation.ItemNotFoundException" {
		t.Errorf("Error() without messages = %q, want the exception's type", rec.Error())
	}
	rec.Exception.TypeNames = nil
	if rec.Error() != rec.FullyQualifiedErrorID {
		t.Errorf("Error() without exception = %q, want the FullyQualifiedErrorId", rec.Error())
	}
	var none *clixml.ErrorRecord
	if none.Message() != "" || none.Error() == "" {
		t.Errorf("nil record: Message %q, Error %q", none.Message(), none.Error())
	}
}

// Objects shared through Refs cannot blow String up: a thousand members
// referring to an object of a thousand members referring to another one
// print in bounded space.
func TestObjectStringShared(t *testing.T) {
	leaf := &clixml.Object{}
	for i := range 1000 {
		leaf.Members = append(leaf.Members, clixml.Property{Name: fmt.Sprint("leaf", i), Value: "some text"})
	}
	mid := &clixml.Object{}
	for i := range 1000 {
		mid.Members = append(mid.Members, clixml.Property{Name: fmt.Sprint("m", i), Value: leaf})
	}
	top := &clixml.Object{}
	for i := range 1000 {
		top.Members = append(top.Members, clixml.Property{Name: fmt.Sprint("t", i), Value: mid})
	}
	if got := top.String(); len(got) > 20<<10 {
		t.Errorf("String is %d bytes", len(got))
	}
}
