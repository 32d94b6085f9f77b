package session

import (
	"fmt"
	"slices"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// Record is one record a pipeline produced, as Pipeline.Records yields
// them: an Output, a *ErrorRecord, a Warning, Verbose or Debug, a Progress
// or an Information, and nothing else; use a type switch:
//
//	switch r := rec.(type) {
//	case session.Output:
//		fmt.Println(r.Value)
//	case *session.ErrorRecord:
//		log.Print(r) // an ErrorRecord is an error
//	}
type Record any

// Output is an object of the output stream. Value is in the clixml lossless
// model (*clixml.Object for complex objects, Go primitives otherwise).
type Output struct{ Value any }

// Decode stores the object into v, a non-nil pointer to a struct, slice,
// map or primitive, as clixml.UnmarshalValue does: struct fields are
// matched to the object's properties by name or `clixml:"Name"` tag, an
// enum fills an integer from its value and a string from its name.
func (o Output) Decode(v any) error { return clixml.UnmarshalValue(o.Value, v) }

// ErrorRecord is PowerShell's ErrorRecord: a non-terminating error of the
// error stream (Write-Error) as Records yields it and Result.Errors holds
// it, and the terminating error a PipelineError carries. It is an error.
type ErrorRecord = clixml.ErrorRecord

// Warning is a record of the warning stream (Write-Warning).
type Warning struct{ clixml.InformationalRecord }

// Verbose is a record of the verbose stream (Write-Verbose).
type Verbose struct{ clixml.InformationalRecord }

// Debug is a record of the debug stream (Write-Debug).
type Debug struct{ clixml.InformationalRecord }

// Progress is a progress record (Write-Progress).
type Progress struct{ clixml.ProgressRecord }

// Information is a record of the information stream (Write-Information,
// Write-Host on protocol 2.3).
type Information struct{ clixml.InformationRecord }

// Result is everything a pipeline produced, stream by stream, and the state
// it ended in.
type Result struct {
	Output      []any
	Errors      []*ErrorRecord
	Warnings    []Warning
	Verbose     []Verbose
	Debug       []Debug
	Progress    []Progress
	Information []Information
	// HadErrors reports, like PowerShell's PowerShell.HadErrors, that the
	// pipeline wrote to the error stream (also records consumed through
	// Records, which Errors leaves out) or ended Failed.
	HadErrors bool
	// State is Completed, Failed or Stopped for a pipeline that ended on
	// the server (also after its context ended: see Pipeline.Wait);
	// Running or Stopping if the client stopped waiting without the
	// server's word (session closed or broken, stop not confirmed in time).
	State PipelineState
}

// minOutputCap is the first capacity of Result.Output.
const minOutputCap = 64

// add appends rec to the matching stream.
func (r *Result) add(rec Record) {
	switch v := rec.(type) {
	case Output:
		if len(r.Output) == cap(r.Output) {
			// Double: append grows a large slice by about a quarter, which
			// copies a big pipeline's output (and has the GC scan the
			// copies) several times over.
			r.Output = slices.Grow(r.Output, max(len(r.Output), minOutputCap))
		}
		r.Output = append(r.Output, v.Value)
	case *ErrorRecord:
		r.Errors = append(r.Errors, v)
	case Warning:
		r.Warnings = append(r.Warnings, v)
	case Verbose:
		r.Verbose = append(r.Verbose, v)
	case Debug:
		r.Debug = append(r.Debug, v)
	case Progress:
		r.Progress = append(r.Progress, v)
	case Information:
		r.Information = append(r.Information, v)
	}
}

// Collect decodes every output object of res into a T, in order, as pgx's
// CollectRows collects rows (Output.Decode for each):
//
//	res, err := s.InvokeScript(ctx, "Get-Service")
//	if err != nil { … }
//	services, err := session.Collect[Service](res)
//
// An object that does not fit T is decoded as far as it goes; the first
// such error, naming the object's index, is returned with everything
// decoded. A nil res collects nothing.
func Collect[T any](res *Result) ([]T, error) {
	if res == nil {
		return nil, nil
	}
	out := make([]T, len(res.Output))
	var first error
	for i, v := range res.Output {
		if err := clixml.UnmarshalValue(v, &out[i]); err != nil && first == nil {
			first = fmt.Errorf("session: collect output %d: %w", i, err)
		}
	}
	return out, first
}
