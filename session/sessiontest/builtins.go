package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// registerBuiltins installs the built-in handlers: a few cmdlets so that a
// demo shows real output. Tests override them with Handle.
func registerBuiltins(s *Server) {
	s.handlers["get-date"] = builtinGetDate
	s.handlers["write-output"] = builtinWriteOutput
	s.handlers["echo"] = builtinWriteOutput
	s.handlers["write-error"] = builtinWriteError
	s.handlers["write-warning"] = builtinWriteInformational((*Call).WriteWarning)
	s.handlers["write-verbose"] = builtinWriteInformational((*Call).WriteVerbose)
	s.handlers["write-debug"] = builtinWriteInformational((*Call).WriteDebug)
	s.handlers["write-information"] = builtinWriteInformation
	s.handlers["write-host"] = builtinWriteHost
	s.handlers["write-progress"] = builtinWriteProgress
	s.handlers["start-sleep"] = builtinStartSleep
	s.handlers["read-host"] = builtinReadHost
	s.handlers["$psversiontable"] = builtinPSVersionTable
	s.handlers["get-host"] = builtinGetHost
	s.handlers["get-process"] = builtinGetProcess
	s.handlers["out-null"] = builtinOutNull
	s.handlers["out-string"] = builtinOutString
	s.handlers["select-object"] = builtinSelectObject
	s.handlers["invoke-expression"] = s.builtinInvokeExpression
	s.handlers["iex"] = s.builtinInvokeExpression
	registerCopy(s) // file transfer scripts (copy_handlers.go)
}

// text renders an argument value as PowerShell would bind it to a string.
func text(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case *clixml.Object:
		if t.HasToString {
			return t.ToString
		}
		if t.Value != nil {
			return text(t.Value)
		}
		parts := make([]string, 0, len(t.Items))
		for _, it := range t.Items {
			parts = append(parts, text(it))
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprint(v)
}

// number reads an integer argument.
func number(v any) (float64, bool) {
	switch t := v.(type) {
	case int32:
		return float64(t), true
	case int64:
		return float64(t), true
	case int:
		return float64(t), true
	case float64:
		return t, true
	case float32:
		return float64(t), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		return f, err == nil
	case *clixml.Object:
		if t.Value != nil {
			return number(t.Value)
		}
	}
	return 0, false
}

// message returns the named argument or else the first positional one.
func message(c *Call, name string) (string, bool) {
	if v, ok := c.Arg(name); ok {
		return text(v), true
	}
	if p := c.Positional(); len(p) > 0 {
		return text(p[0]), true
	}
	return "", false
}

func builtinGetDate(ctx context.Context, c *Call) error {
	now := time.Now()
	if f, ok := c.Arg("Format"); ok {
		switch text(f) {
		case "o", "O":
			return c.WriteOutput(now.Format("2006-01-02T15:04:05.0000000-07:00"))
		case "s":
			return c.WriteOutput(now.Format("2006-01-02T15:04:05"))
		default:
			return c.WriteOutput(now.Format(time.RFC1123))
		}
	}
	// PowerShell's default display of a DateTime (en-US long date + time).
	return c.WriteOutput(&clixml.Object{
		TypeNames:   []string{"System.DateTime", "System.ValueType", "System.Object"},
		ToString:    now.Format("Monday, January 2, 2006 3:04:05 PM"),
		HasToString: true,
		Value:       clixml.DateTime{Time: now, Kind: clixml.Local},
		Members:     []clixml.Property{{Name: "DisplayHint", Value: &clixml.Object{TypeNames: []string{"Microsoft.PowerShell.Commands.DisplayHintType", "System.Enum", "System.ValueType", "System.Object"}, ToString: "DateTime", HasToString: true, Value: int32(2)}}},
	})
}

func builtinWriteOutput(ctx context.Context, c *Call) error {
	if v, ok := c.Arg("InputObject"); ok {
		return c.WriteOutput(flatten(v)...)
	}
	if p := c.Positional(); len(p) > 0 {
		for _, v := range p {
			if err := c.WriteOutput(flatten(v)...); err != nil {
				return err
			}
		}
		return nil
	}
	for v, err := range c.Input(ctx) {
		if err != nil {
			return err
		}
		if err := c.WriteOutput(v); err != nil {
			return err
		}
	}
	return nil
}

// builtinOutNull reads its input and discards it.
func builtinOutNull(ctx context.Context, c *Call) error {
	for _, err := range c.Input(ctx) {
		if err != nil {
			return err
		}
	}
	return nil
}

// flatten unrolls a list, as PowerShell enumerates arrays written to output.
func flatten(v any) []any {
	if o, ok := v.(*clixml.Object); ok && o.Kind == clixml.List {
		return o.Items
	}
	return []any{v}
}

func builtinWriteError(ctx context.Context, c *Call) error {
	msg, _ := message(c, "Message")
	id := "Microsoft.PowerShell.Commands.WriteErrorException"
	if v, ok := c.Arg("ErrorId"); ok {
		id = text(v)
	}
	category := CategoryNotSpecified
	if v, ok := c.Arg("Category"); ok {
		var known bool
		if category, known = errorCategory(v); !known {
			return &TerminatingError{Record: &clixml.ErrorRecord{
				Exception: clixml.ExceptionInfo{
					TypeNames: []string{"System.Management.Automation.ParameterBindingException", "System.Management.Automation.RuntimeException", "System.SystemException", "System.Exception", "System.Object"},
					Message:   fmt.Sprintf("Cannot bind parameter 'Category'. Cannot convert value %q to type \"System.Management.Automation.ErrorCategory\".", text(v)),
				},
				FullyQualifiedErrorID: "CannotConvertArgumentNoMessage,Microsoft.PowerShell.Commands.WriteErrorCommand",
				CategoryInfo:          clixml.ErrorCategoryInfo{Category: CategoryInvalidArgument, Reason: "ParameterBindingException"},
			}}
		}
	}
	rec := NewErrorRecord(msg, id, category)
	if v, ok := c.Arg("TargetObject"); ok {
		rec.TargetObject = v
	}
	return c.WriteError(rec)
}

// errorCategories are the names of System.Management.Automation.ErrorCategory,
// by value.
var errorCategories = []string{
	"NotSpecified", "OpenError", "CloseError", "DeviceError", "DeadlockDetected",
	"InvalidArgument", "InvalidData", "InvalidOperation", "InvalidResult", "InvalidType",
	"MetadataError", "NotImplemented", "NotInstalled", "ObjectNotFound", "OperationStopped",
	"OperationTimeout", "SyntaxError", "ParserError", "PermissionDenied", "ResourceBusy",
	"ResourceExists", "ResourceUnavailable", "ReadError", "WriteError", "FromStdErr",
	"SecurityError", "ProtocolError", "ConnectionError", "AuthenticationError",
	"LimitsExceeded", "QuotaExceeded", "NotEnabled",
}

// errorCategory binds a -Category argument, a name (case-insensitive) or a
// number, as PowerShell converts it to the enum.
func errorCategory(v any) (clixml.ErrorCategory, bool) {
	if n, ok := number(v); ok {
		if n >= 0 && int(n) < len(errorCategories) && n == float64(int(n)) {
			return clixml.ErrorCategory(n), true
		}
		return 0, false
	}
	name := strings.TrimSpace(text(v))
	for i, c := range errorCategories {
		if strings.EqualFold(c, name) {
			return clixml.ErrorCategory(i), true
		}
	}
	return 0, false
}

func builtinWriteInformational(write func(*Call, string) error) HandlerFunc {
	return func(ctx context.Context, c *Call) error {
		msg, _ := message(c, "Message")
		return write(c, msg)
	}
}

func builtinWriteInformation(ctx context.Context, c *Call) error {
	var data any
	if v, ok := c.Arg("MessageData"); ok {
		data = v
	} else if p := c.Positional(); len(p) > 0 {
		data = p[0]
	}
	var tags []string
	if v, ok := c.Arg("Tags"); ok {
		for _, t := range flatten(v) {
			tags = append(tags, text(t))
		}
	}
	return c.WriteInformation(data, tags...)
}

// builtinWriteHost writes its objects as Write-Host does: -Object and
// every positional argument (Write-Host a b c), lists item by item, joined
// by -Separator (a space by default).
func builtinWriteHost(ctx context.Context, c *Call) error {
	var parts []string
	add := func(v any) {
		for _, x := range flatten(v) {
			parts = append(parts, text(x))
		}
	}
	if v, ok := c.Arg("Object"); ok {
		add(v)
	}
	for _, v := range c.Positional() {
		add(v)
	}
	sep := " "
	if v, ok := c.Arg("Separator"); ok {
		sep = text(v)
	}
	return c.WriteHost(strings.Join(parts, sep))
}

func builtinWriteProgress(ctx context.Context, c *Call) error {
	activity, _ := message(c, "Activity")
	rec := clixml.ProgressRecord{Activity: activity, ParentActivityID: -1, PercentComplete: -1, SecondsRemaining: -1, StatusDescription: "Processing"}
	if v, ok := c.Arg("Status"); ok {
		rec.StatusDescription = text(v)
	}
	if v, ok := c.Arg("Id"); ok {
		if n, ok := number(v); ok {
			rec.ActivityID = int32(n)
		}
	}
	if v, ok := c.Arg("PercentComplete"); ok {
		if n, ok := number(v); ok {
			rec.PercentComplete = int32(n)
		}
	}
	if v, ok := c.Arg("CurrentOperation"); ok {
		rec.CurrentOperation = text(v)
	}
	if _, ok := c.Arg("Completed"); ok {
		rec.RecordType = clixml.ProgressCompleted
	}
	return c.WriteProgress(rec)
}

func builtinStartSleep(ctx context.Context, c *Call) error {
	var d time.Duration
	if v, ok := c.Arg("Milliseconds"); ok {
		n, _ := number(v)
		d = time.Duration(n * float64(time.Millisecond))
	} else if v, ok := c.Arg("Seconds"); ok {
		n, _ := number(v)
		d = time.Duration(n * float64(time.Second))
	} else if p := c.Positional(); len(p) > 0 {
		n, _ := number(p[0])
		d = time.Duration(n * float64(time.Second))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// builtinReadHost reads a line from the client's host, or with
// -AsSecureString a SecureString (the host reads it without echo). When
// the host cannot read (the client has no interactive host, or no input
// left) it fails with a record that says so.
func builtinReadHost(ctx context.Context, c *Call) error {
	prompt, _ := message(c, "Prompt")
	secure := false
	if v, ok := c.Arg("AsSecureString"); ok {
		secure = v == nil || v == true
	}
	var line any
	var err error
	if secure {
		if prompt != "" {
			if _, err = c.HostCall(ctx, psrp.HostWrite1, prompt+": "); err != nil {
				return err
			}
		}
		line, err = c.HostCall(ctx, psrp.HostReadLineAsSecureString)
	} else {
		line, err = c.ReadLine(ctx, prompt)
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return &TerminatingError{Record: readHostFailed(err)}
	}
	return c.WriteOutput(line)
}

// readHostFailed is the record of a Read-Host whose host could not read.
func readHostFailed(err error) *clixml.ErrorRecord {
	reason := err.Error()
	var he *HostError
	if errors.As(err, &he) && he.Record != nil {
		reason = he.Record.Exception.Message
	}
	return &clixml.ErrorRecord{
		Exception: clixml.ExceptionInfo{
			TypeNames: []string{"System.Management.Automation.Host.HostException", "System.Management.Automation.RuntimeException", "System.SystemException", "System.Exception", "System.Object"},
			Message:   "Read-Host could not read from the client's host: " + reason,
		},
		FullyQualifiedErrorID: "HostException,Microsoft.PowerShell.Commands.ReadHostCommand",
		CategoryInfo:          clixml.ErrorCategoryInfo{Category: CategoryResourceUnavailable, Reason: "HostException"},
	}
}

func builtinPSVersionTable(ctx context.Context, c *Call) error {
	entries := []clixml.DictEntry{
		{Key: "PSVersion", Value: clixml.Version{Major: 5, Minor: 1, Build: 26236, Revision: 5000}},
		{Key: "PSEdition", Value: "Desktop"},
		{Key: "BuildVersion", Value: clixml.Version{Major: 10, Minor: 0, Build: 26236, Revision: 5000}},
		{Key: "CLRVersion", Value: clixml.Version{Major: 4, Minor: 0, Build: 30319, Revision: 42000}},
		{Key: "WSManStackVersion", Value: clixml.Version{Major: 3, Minor: 0, Build: -1, Revision: -1}},
		{Key: "PSRemotingProtocolVersion", Value: clixml.Version{Major: 2, Minor: 3, Build: -1, Revision: -1}},
		{Key: "SerializationVersion", Value: clixml.Version{Major: 1, Minor: 1, Build: 0, Revision: 1}},
	}
	return c.WriteOutput(&clixml.Object{
		TypeNames: []string{"System.Management.Automation.PSVersionHashTable", "System.Collections.Hashtable", "System.Object"},
		Kind:      clixml.Dictionary, Entries: entries,
	})
}

func builtinGetHost(ctx context.Context, c *Call) error {
	return c.WriteOutput(&clixml.Object{
		TypeNames:   []string{"System.Management.Automation.Internal.Host.InternalHost", "System.Management.Automation.Host.PSHost", "System.Object"},
		ToString:    "System.Management.Automation.Internal.Host.InternalHost",
		HasToString: true,
		Props: []clixml.Property{
			{Name: "Name", Value: "ServerRemoteHost"},
			{Name: "Version", Value: clixml.Version{Major: 1, Minor: 0, Build: 0, Revision: 0}},
			{Name: "CurrentCulture", Value: "en-US"},
			{Name: "CurrentUICulture", Value: "en-US"},
		},
	})
}

func builtinGetProcess(ctx context.Context, c *Call) error {
	if v, ok := c.Arg("Count"); ok {
		return benchProcesses(ctx, c, v)
	}
	procs := []struct {
		name string
		id   int32
		ws   int64
	}{{"System", 4, 143360}, {"svchost", 812, 24580096}, {"wsmprovhost", 4242, 71692288}, {"powershell", 5120, 98435072}}
	var filter string
	if v, ok := message(c, "Name"); ok {
		filter = strings.ToLower(v)
	}
	found := false
	for _, p := range procs {
		if filter != "" && strings.ToLower(p.name) != filter {
			continue
		}
		found = true
		if err := c.WriteOutput(&clixml.Object{
			TypeNames:   []string{"System.Diagnostics.Process", "System.ComponentModel.Component", "System.MarshalByRefObject", "System.Object"},
			ToString:    "System.Diagnostics.Process (" + p.name + ")",
			HasToString: true,
			Props: []clixml.Property{
				{Name: "Name", Value: p.name}, {Name: "Id", Value: p.id},
				{Name: "WorkingSet64", Value: p.ws}, {Name: "ProcessName", Value: p.name},
			},
		}); err != nil {
			return err
		}
	}
	if !found {
		rec := NewErrorRecord("Cannot find a process with the name \""+filter+"\". Verify the process name and call the cmdlet again.", "NoProcessFoundForGivenName,Microsoft.PowerShell.Commands.GetProcessCommand", CategoryObjectNotFound)
		return c.WriteError(rec)
	}
	return nil
}
