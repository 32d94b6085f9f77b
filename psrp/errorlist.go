package psrp

import (
	"errors"
	"strconv"
)

// maxReportedErrors is how many errors one Receive or Write reports in
// full; the others are counted, so that a flood of bad input cannot build
// an error of unbounded size.
const maxReportedErrors = 8

// errorList collects the errors of one call: the first few, the fatal one
// whatever its rank, and a count of the rest.
type errorList struct {
	errs []error
	more int
}

// add records err; keep forces it in (a fatal error must not be lost).
func (l *errorList) add(err error, keep bool) {
	if err == nil {
		return
	}
	if keep || len(l.errs) < maxReportedErrors {
		l.errs = append(l.errs, err)
		return
	}
	l.more++
}

// err returns nil, the only error, or all of them joined, with a
// *ProtocolError counting those left out.
func (l *errorList) err() error {
	switch {
	case len(l.errs) == 0:
		return nil
	case len(l.errs) == 1 && l.more == 0:
		return l.errs[0]
	}
	errs := l.errs
	if l.more > 0 {
		errs = append(errs, &ProtocolError{Msg: strconv.Itoa(l.more) + " more errors in the same data, not shown"})
	}
	return errors.Join(errs...)
}
