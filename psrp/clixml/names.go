package clixml

// wellKnown returns a constant string for names that appear in almost
// every PSRP message (common type names and PowerShell's own note
// properties), so that decoding them allocates nothing. A switch, unlike a
// map, needs no mutable package state.
func wellKnown(b []byte) (string, bool) {
	switch string(b) {
	case "Key":
		return "Key", true
	case "Value":
		return "Value", true
	case "System.Object":
		return "System.Object", true
	case "System.Enum":
		return "System.Enum", true
	case "System.ValueType":
		return "System.ValueType", true
	case "System.Array":
		return "System.Array", true
	case "System.Object[]":
		return "System.Object[]", true
	case "System.String":
		return "System.String", true
	case "System.Collections.Hashtable":
		return "System.Collections.Hashtable", true
	case "System.Collections.ArrayList":
		return "System.Collections.ArrayList", true
	case "System.Management.Automation.PSCustomObject":
		return "System.Management.Automation.PSCustomObject", true
	case "System.Management.Automation.PSPrimitiveDictionary":
		return "System.Management.Automation.PSPrimitiveDictionary", true
	case "Deserialized.System.Object":
		return "Deserialized.System.Object", true
	case "Deserialized.System.Enum":
		return "Deserialized.System.Enum", true
	case "Deserialized.System.ValueType":
		return "Deserialized.System.ValueType", true
	case "Deserialized.System.MarshalByRefObject":
		return "Deserialized.System.MarshalByRefObject", true
	case "Deserialized.System.ComponentModel.Component":
		return "Deserialized.System.ComponentModel.Component", true
	case "Deserialized.System.Management.Automation.PSCustomObject":
		return "Deserialized.System.Management.Automation.PSCustomObject", true
	case "PSComputerName":
		return "PSComputerName", true
	case "PSShowComputerName":
		return "PSShowComputerName", true
	case "RunspaceId":
		return "RunspaceId", true
	case "PSSourceJobInstanceId":
		return "PSSourceJobInstanceId", true
	case "Name":
		return "Name", true
	case "Id":
		return "Id", true
	case "N":
		return "N", true
	case "V":
		return "V", true
	case "Cmd":
		return "Cmd", true
	case "IsScript":
		return "IsScript", true
	case "UseLocalScope":
		return "UseLocalScope", true
	case "Args":
		return "Args", true
	case "PipelineState":
		return "PipelineState", true
	case "RunspaceState":
		return "RunspaceState", true
	case "ExceptionAsErrorRecord":
		return "ExceptionAsErrorRecord", true
	case "MinRunspaces":
		return "MinRunspaces", true
	case "MaxRunspaces":
		return "MaxRunspaces", true
	case "ci":
		return "ci", true
	case "mi":
		return "mi", true
	case "mp":
		return "mp", true
	}
	return "", false
}
