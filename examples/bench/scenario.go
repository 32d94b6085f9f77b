package main

import (
	"context"
	"fmt"

	"github.com/gopsrp/gopsrp/session"
)

// The scenarios' names.
const (
	scenarioOpenInvokeClose = "open-invoke-close"
	scenarioInvokeOpenPool  = "invoke-open-pool"
	scenarioPipeline        = "pipeline"
	scenarioStream          = "stream"
	scenarioCopy            = "copy"
)

// scenario is one piece of work both clients do. The table below is the
// only place that knows what a scenario is: the flags, the jobs, the
// checks, the labels and our client's work all come from it; the pypsrp
// driver does the same work under the same names.
type scenario struct {
	name string
	// job sets the job's count, script and files from the flags.
	job func(c config, j *childJob)
	// label is the name as printed, with its count when that is not in a
	// column of its own.
	label func(c config) string
	// objects is how many output objects (files, for a copy) the job
	// must yield, or -1 when that depends on the script.
	objects func(j childJob) int
	// bytes is the file data the scenario moves, for the MB/s column; 0
	// when it moves none.
	bytes func(c config) int64
	// pooled scenarios run on a session opened before the measured part
	// and closed after it; the others open and close their own.
	pooled bool
	// pypsrpByDefault is whether pypsrp runs it without -pypsrp-scenarios.
	pypsrpByDefault bool
	// run is our client's measured work; s is the open session when the
	// scenario is pooled, else nil. It returns the objects it saw.
	run func(ctx context.Context, s *session.Session, j childJob) (int, error)
}

// scenarios are run and printed in this order.
var scenarios = []scenario{
	{
		name:            scenarioOpenInvokeClose,
		job:             func(c config, j *childJob) { j.N, j.Script = 1, c.smallScript },
		objects:         anyObjects,
		pypsrpByDefault: true,
		run: func(ctx context.Context, _ *session.Session, j childJob) (int, error) {
			s, err := session.New(ctx, j.URL, goOptions(j)...)
			if err != nil {
				return 0, err
			}
			res, err := s.InvokeScript(ctx, j.Script)
			if err != nil {
				_ = s.Close(ctx)
				return 0, err
			}
			return len(res.Output), s.Close(ctx)
		},
	},
	{
		name:            scenarioInvokeOpenPool,
		job:             func(c config, j *childJob) { j.N, j.Script = c.invokes, c.smallScript },
		label:           func(c config) string { return fmt.Sprintf("%s x%d", scenarioInvokeOpenPool, c.invokes) },
		objects:         anyObjects,
		pooled:          true,
		pypsrpByDefault: true,
		run: func(ctx context.Context, s *session.Session, j childJob) (int, error) {
			objects := 0
			for range j.N {
				r, err := s.InvokeScript(ctx, j.Script)
				if err != nil {
					return objects, err
				}
				objects += len(r.Output)
			}
			return objects, nil
		},
	},
	{
		name:            scenarioPipeline,
		job:             func(c config, j *childJob) { j.N, j.Script = c.objects, fmt.Sprintf(c.manyScript, c.objects) },
		objects:         func(j childJob) int { return j.N },
		pooled:          true,
		pypsrpByDefault: true,
		run: func(ctx context.Context, s *session.Session, j childJob) (int, error) {
			r, err := s.InvokeScript(ctx, j.Script)
			if err != nil {
				return 0, err
			}
			return len(r.Output), nil
		},
	},
	{
		// 1,000,000 objects take pypsrp minutes, so it runs this one only
		// when asked.
		name:    scenarioStream,
		job:     func(c config, j *childJob) { j.N, j.Script = c.stream, fmt.Sprintf(c.manyScript, c.stream) },
		objects: func(j childJob) int { return j.N },
		pooled:  true,
		run: func(ctx context.Context, s *session.Session, j childJob) (int, error) {
			p, err := s.StartScript(ctx, j.Script)
			if err != nil {
				return 0, err
			}
			objects := 0
			for r, err := range p.Records() {
				if err != nil {
					return objects, err
				}
				if _, ok := r.(session.Output); ok {
					objects++
				}
			}
			return objects, nil
		},
	},
	{
		// Both clients open their own pool for a copy (pypsrp's
		// Client.copy always does), so that is measured too; next to the
		// file it costs little.
		name:            scenarioCopy,
		job:             func(c config, j *childJob) { j.N, j.File, j.Dest = 1, c.copySource, c.copyDest },
		label:           func(c config) string { return scenarioCopy + " " + sizeLabel(c.copySize) },
		objects:         func(j childJob) int { return j.N },
		bytes:           func(c config) int64 { return c.copySize },
		pypsrpByDefault: true,
		run: func(ctx context.Context, _ *session.Session, j childJob) (int, error) {
			s, err := session.New(ctx, j.URL, goOptions(j)...)
			if err != nil {
				return 0, err
			}
			if err := s.CopyTo(ctx, j.File, j.Dest); err != nil {
				_ = s.Close(ctx)
				return 0, err
			}
			return 1, s.Close(ctx)
		},
	},
}

func anyObjects(childJob) int { return -1 }

// lookupScenario finds a scenario of the table by name.
func lookupScenario(name string) (scenario, error) {
	for _, sc := range scenarios {
		if sc.name == name {
			return sc, nil
		}
	}
	return scenario{}, fmt.Errorf("unknown scenario %q", name)
}

// scenarioNames are the names of the scenarios for which keep is true,
// in the table's order.
func scenarioNames(keep func(scenario) bool) []string {
	var names []string
	for _, sc := range scenarios {
		if keep(sc) {
			names = append(names, sc.name)
		}
	}
	return names
}

func (sc scenario) labelFor(c config) string {
	if sc.label == nil {
		return sc.name
	}
	return sc.label(c)
}

// sizeLabel is n in whole MiB when it is that, else in bytes.
func sizeLabel(n int64) string {
	if n > 0 && n%(1<<20) == 0 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dB", n)
}
