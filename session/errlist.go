package session

import (
	"errors"
	"reflect"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/psrp"
)

// maxListedErrors is how many errors of one run (the bad messages of one
// Receive, say) an ErrorList keeps; the rest are only counted, so that a
// server cannot make the client build one enormous error.
const maxListedErrors = 5

// ErrorList is a run of errors reported together (for instance every bad
// message of one WS-Man Receive), bounded: it keeps the first few and
// counts the rest. errors.Is and errors.As look into the kept ones.
type ErrorList struct {
	// Errs are the first errors of the run, at most five.
	Errs []error
	// More counts the errors of the run that were not kept.
	More int
}

// Error lists the kept errors, one per line, and how many more there were.
func (e *ErrorList) Error() string {
	var b strings.Builder
	for i, err := range e.Errs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(err.Error())
	}
	if e.More > 0 {
		b.WriteString("\n… and " + strconv.Itoa(e.More) + " more")
	}
	return b.String()
}

// Unwrap returns the kept errors.
func (e *ErrorList) Unwrap() []error { return e.Errs }

// errorRun sorts the errors psrp reported for the data of one Receive by
// what they did, keeping the first few of each kind (see ErrorList).
type errorRun struct {
	pipeline uuid.UUID // the pipeline whose Receive this is, or uuid.Nil
	fatal    boundedErrors
	confined boundedErrors
	dropped  boundedErrors
}

type boundedErrors struct {
	errs []error
	more int
}

func (b *boundedErrors) add(err error) {
	if len(b.errs) < maxListedErrors {
		b.errs = append(b.errs, err)
		return
	}
	b.more++
}

func (b *boundedErrors) err() error {
	switch {
	case len(b.errs) == 0:
		return nil
	case len(b.errs) == 1 && b.more == 0:
		return b.errs[0]
	}
	return &ErrorList{Errs: b.errs, More: b.more}
}

// add classifies every error joined in err:
//   - fatal: the pool's stream is unusable (a corrupt fragment stream, a
//     protocol version the client cannot speak, anything psrp says broke
//     the pool): the session breaks;
//   - dropped: psrp ignored the message and nothing changed (a message for
//     an unknown pipeline or another pool, an unknown message type, output
//     after the final state, a discarded message's fragments): logged;
//   - confined: anything else, which concerns the message's pipeline only:
//     it fails that pipeline when it arrived on the pipeline's own Receive.
func (r *errorRun) add(err error) {
	eachJoined(err, func(e error) {
		var pe *psrp.ProtocolError
		isPE := errors.As(e, &pe)
		switch {
		case errors.Is(e, psrp.ErrStreamCorrupt), errors.Is(e, psrp.ErrUnsupportedProtocolVersion),
			isPE && pe.Effect == psrp.EffectPoolBroken:
			r.fatal.add(e)
		case isPE && pe.Effect == psrp.EffectPipelineFailed:
			if pe.PipelineID == r.pipeline {
				r.confined.add(e)
			} else {
				r.dropped.add(e) // psrp failed that pipeline; its own loop reports it
			}
		case droppedByPSRP(e):
			r.dropped.add(e)
		default:
			r.confined.add(e)
		}
	})
}

func (r *errorRun) fatalErr() error    { return r.fatal.err() }
func (r *errorRun) confinedErr() error { return r.confined.err() }
func (r *errorRun) droppedErr() error  { return r.dropped.err() }

// droppedByPSRP reports whether psrp ignored the message err is about
// without consequence.
func droppedByPSRP(err error) bool {
	if !errors.Is(err, psrp.ErrMessageDropped) {
		return false
	}
	var unknown *psrp.UnknownMessageError
	var frag *psrp.FragmentError
	return errors.Is(err, psrp.ErrUnknownPipeline) || errors.Is(err, psrp.ErrForeignRunspacePool) ||
		errors.Is(err, psrp.ErrUnexpectedMessage) || errors.Is(err, psrp.ErrTooManyHostCalls) ||
		errors.As(err, &unknown) || errors.As(err, &frag)
}

// eachJoined calls f for every error of err's errors.Join tree (err itself
// when it is not a join), without building a list of them.
func eachJoined(err error, f func(error)) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok && reflect.TypeOf(err) == joinType {
		for _, e := range j.Unwrap() {
			eachJoined(e, f)
		}
		return
	}
	f(err)
}

// joinType is the type errors.Join returns: only its trees are split, not
// errors that merely wrap several (a *psrp.VersionError, say).
var joinType = reflect.TypeOf(errors.Join(errors.New("x")))
