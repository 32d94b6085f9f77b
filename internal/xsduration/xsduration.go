// Package xsduration reads and writes the xs:duration values of WS-Management
// (OperationTimeout, IdleTimeOut, ShellRunTime): one parser for the client,
// the emulated endpoint and the replay harness.
package xsduration

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Format renders d as an xs:duration in seconds, the form WinRM
// expects for OperationTimeout and IdleTimeOut: "PT20S", "PT1.5S". Precision is
// one millisecond (what the server reports back, e.g. "PT7200.000S"); a
// negative d is clamped to zero because WinRM rejects negative timeouts with a
// fault (InvalidMessageInformationHeader).
func Format(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	ms := d.Milliseconds()
	sec, frac := ms/1000, ms%1000
	if frac == 0 {
		return "PT" + strconv.FormatInt(sec, 10) + "S"
	}
	f := strings.TrimRight(fmt.Sprintf("%03d", frac), "0")
	return "PT" + strconv.FormatInt(sec, 10) + "." + f + "S"
}

// ErrInvalid is returned (wrapped) by Parse for text that is
// not an xs:duration this package understands.
var ErrInvalid = errors.New("invalid xs:duration")

// Parse parses the xs:duration forms WinRM sends: "PT7200.000S",
// "P0DT0H0M9S", "-PT1S". Years and months have no fixed length and are
// rejected; so are values that overflow time.Duration.
func Parse(s string) (time.Duration, error) {
	in := s
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	if !strings.HasPrefix(s, "P") || len(s) < 2 {
		return 0, fmt.Errorf("%w: %q", ErrInvalid, in)
	}
	s = s[1:]
	var total time.Duration
	inTime := false
	seen := false
	lastRank := 0 // units must appear once each, in order D, H, M, S
	for len(s) > 0 {
		if s[0] == 'T' {
			if inTime {
				return 0, fmt.Errorf("%w: %q", ErrInvalid, in)
			}
			inTime, s = true, s[1:]
			if s == "" {
				return 0, fmt.Errorf("%w: %q", ErrInvalid, in)
			}
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, fmt.Errorf("%w: %q", ErrInvalid, in)
		}
		num, unit := s[:i], s[i]
		s = s[i+1:]
		var scale time.Duration
		var rank int
		switch {
		case !inTime && unit == 'D':
			scale, rank = 24*time.Hour, 1
		case inTime && unit == 'H':
			scale, rank = time.Hour, 2
		case inTime && unit == 'M':
			scale, rank = time.Minute, 3
		case inTime && unit == 'S':
			scale, rank = time.Second, 4
		default:
			return 0, fmt.Errorf("%w: unsupported unit %q in %q", ErrInvalid, unit, in)
		}
		if rank <= lastRank {
			return 0, fmt.Errorf("%w: unit %q out of order in %q", ErrInvalid, unit, in)
		}
		lastRank = rank
		if strings.Contains(num, ".") && unit != 'S' {
			return 0, fmt.Errorf("%w: fraction outside seconds in %q", ErrInvalid, in)
		}
		v, err := parseScaled(num, scale)
		if err != nil || total > time.Duration(1<<63-1)-v {
			return 0, fmt.Errorf("%w: out of range %q", ErrInvalid, in)
		}
		total += v
		seen = true
	}
	if !seen {
		return 0, fmt.Errorf("%w: %q", ErrInvalid, in)
	}
	if neg {
		total = -total
	}
	return total, nil
}

// parseScaled converts a decimal number of units to a Duration without
// floating point, so "7200.000" seconds is exact.
func parseScaled(num string, scale time.Duration) (time.Duration, error) {
	whole, frac, _ := strings.Cut(num, ".")
	if whole == "" && frac == "" || strings.Contains(frac, ".") {
		return 0, ErrInvalid
	}
	var w int64
	if whole != "" {
		var err error
		w, err = strconv.ParseInt(whole, 10, 64)
		if err != nil {
			return 0, err
		}
	}
	if w > int64(time.Duration(1<<63-1)/scale) {
		return 0, ErrInvalid
	}
	d := time.Duration(w) * scale
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9] // beyond nanoseconds
		}
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil {
			return 0, err
		}
		for i := len(frac); i < 9; i++ {
			f *= 10
		}
		fd := time.Duration(f) * scale / time.Second
		if d > time.Duration(1<<63-1)-fd {
			return 0, ErrInvalid
		}
		d += fd
	}
	return d, nil
}
