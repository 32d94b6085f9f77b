package session

import (
	"context"
	"errors"
	"fmt"
)

// ErrNoOuterPipeline is returned by a Start with WithNested when no
// pipeline of the session is running for the nested one to run in.
var ErrNoOuterPipeline = errors.New("session: a nested pipeline needs a running pipeline to nest in")

// WithNested starts the pipeline nested in a pipeline of the session that
// is running (CREATE_PIPELINE with IsNested=true, MS-PSRP 2.2.2.10), as a
// host servicing a call of that pipeline, or a debugger stopped in it,
// does: the nested pipeline runs in the outer pipeline's runspace while
// the outer one waits. It therefore takes no free runspace (Start does
// not wait for one even when all MaxRunspaces are busy), and Start
// returns ErrNoOuterPipeline when no pipeline of the session runs.
//
// A server runs a nested pipeline only while the outer pipeline is
// blocked (in a host call, or stopped in the debugger); started otherwise,
// Windows fails it with an InvalidOperation error record.
func WithNested() StartOption { return func(c *startConfig) { c.nested = true } }

// acquireSlotFor takes a runspace for a new pipeline: a free one
// (acquireSlot), or for a nested pipeline the runspace of a running
// pipeline, counted so that finishPipeline's releaseSlot balances it.
func (s *Session) acquireSlotFor(ctx context.Context, nested bool) error {
	if !nested {
		return s.acquireSlot(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(); err != nil {
		return err
	}
	if s.running == 0 {
		return fmt.Errorf("session: start: %w", ErrNoOuterPipeline)
	}
	s.slotsUsed++
	return nil
}
