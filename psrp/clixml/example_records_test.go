package clixml_test

import (
	"fmt"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// exampleService is a Go view of a Windows service.
type exampleService struct {
	Name    string
	Status  int32  `clixml:"Status"`
	Display string `clixml:"DisplayName,omitempty"`
	Token   string `clixml:"-"`
}

// CLIXMLTypeNames gives the marshalled object its type names.
func (exampleService) CLIXMLTypeNames() []string {
	return []string{"Example.Service", "System.Object"}
}

// A Go struct maps to an object with extended members; tags rename and
// skip fields, TypeNamer adds type names, and Unmarshal reads members and
// properties back by name (an enum into an integer from its value).
func ExampleTypeNamer() {
	data, err := clixml.Marshal(exampleService{Name: "WinRM", Status: 4, Token: "not sent"})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(data))

	var s exampleService
	err = clixml.Unmarshal([]byte(`<Obj RefId="0"><TN RefId="0"><T>Deserialized.System.ServiceProcess.ServiceController</T></TN>`+
		`<Props><S N="Name">WinRM</S><Obj N="Status" RefId="1"><ToString>Running</ToString><I32>4</I32></Obj><S N="DisplayName">Windows Remote Management</S></Props></Obj>`), &s)
	fmt.Printf("%+v %v\n", s, err)
	// Output:
	// <Obj RefId="0"><TN RefId="0"><T>Example.Service</T><T>System.Object</T></TN><MS><S N="Name">WinRM</S><I32 N="Status">4</I32></MS></Obj>
	// {Name:WinRM Status:4 Display:Windows Remote Management Token:} <nil>
}

// An error record renders the way Windows PowerShell's console shows it.
func ExampleErrorRecord_NormalView() {
	r := clixml.ErrorRecord{
		Exception:             clixml.ExceptionInfo{Message: "Cannot find path 'C:\\nope' because it does not exist."},
		FullyQualifiedErrorID: "PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand",
		CategoryInfo: clixml.ErrorCategoryInfo{
			Category: clixml.CategoryObjectNotFound, Activity: "Get-Item",
			Reason: "ItemNotFoundException", TargetName: "C:\\nope", TargetType: "String",
		},
		InvocationInfo: &clixml.InvocationInfo{
			MyCommand: "Get-Item", InvocationName: "Get-Item",
			PositionMessage: "At line:1 char:1\r\n+ Get-Item C:\\nope\r\n+ ~~~~~~~~~~~~~~~~",
		},
	}
	fmt.Println(r.NormalView())
	// Output:
	// Get-Item : Cannot find path 'C:\nope' because it does not exist.
	// At line:1 char:1
	// + Get-Item C:\nope
	// + ~~~~~~~~~~~~~~~~
	//     + CategoryInfo          : ObjectNotFound: (C:\nope:String) [Get-Item], ItemNotFoundException
	//     + FullyQualifiedErrorId : PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand
}
