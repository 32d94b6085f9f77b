package clixml

import (
	"math"
	"strconv"
	"time"
)

// Parsing and formatting of primitive values, as .NET's XmlConvert writes
// and reads them.

// parseSigned parses an optionally signed decimal integer (surrounding
// whitespace allowed, as XmlConvert does) into a sign and a magnitude.
func parseSigned(b []byte) (neg bool, mag uint64, ok bool) {
	b = trimSpace(b)
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	mag, ok = parseUint(b, math.MaxUint64)
	return neg, mag, ok
}

// parseInt parses a signed integer of the given bit size.
func parseInt(b []byte, bits uint) (int64, bool) {
	neg, mag, ok := parseSigned(b)
	if !ok {
		return 0, false
	}
	if neg {
		if mag > 1<<(bits-1) {
			return 0, false
		}
		return -int64(mag), true
	}
	if mag > 1<<(bits-1)-1 {
		return 0, false
	}
	return int64(mag), true
}

// parseUnsigned parses an unsigned integer of the given bit size.
func parseUnsigned(b []byte, bits uint) (uint64, bool) {
	neg, mag, ok := parseSigned(b)
	if !ok || (neg && mag != 0) {
		return 0, false
	}
	if bits < 64 && mag > 1<<bits-1 {
		return 0, false
	}
	return mag, true
}

// parseFloat accepts XmlConvert's grammar: INF, -INF, NaN, or a decimal
// number with an optional exponent (no hex, no underscores).
func parseFloat(b []byte, bits int) (float64, bool) {
	b = trimSpace(b)
	switch string(b) {
	case "INF", "+INF", "Infinity":
		return math.Inf(1), true
	case "-INF", "-Infinity":
		return math.Inf(-1), true
	case "NaN":
		return math.NaN(), true
	}
	i := 0
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		i++
	}
	digits := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
		digits++
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			i++
		}
		e := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == e {
			return 0, false
		}
	}
	if i != len(b) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b), bits)
	if err != nil {
		// Out of range: .NET Core reads it as ±Infinity or 0, as does
		// ParseFloat's result.
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return 0, false
		}
	}
	return f, true
}

// appendFloat writes f as .NET's round-trip ("R") format: the shortest
// digits that read back to the same value, scientific notation with an
// upper-case E and a two-digit-minimum exponent when the decimal exponent
// is at least the type's precision (15 for Double, 7 for Single) or below
// -4 (1E-05 but 0.0001), and INF/-INF/NaN as XmlConvert writes them.
func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "INF"...)
	case math.IsInf(f, -1):
		return append(dst, "-INF"...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0"...)
		}
		return append(dst, '0')
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, bits) // -d.ddde±XX
	neg := e[0] == '-'
	if neg {
		e = e[1:]
	}
	var digs [24]byte
	nd := 0
	k := 0
	for ; k < len(e) && e[k] != 'e'; k++ {
		if e[k] != '.' {
			digs[nd] = e[k]
			nd++
		}
	}
	exp, _ := strconv.Atoi(string(e[k+1:]))
	prec := 15
	if bits == 32 {
		prec = 7
	}
	if neg {
		dst = append(dst, '-')
	}
	if exp >= prec || exp < -4 {
		dst = append(dst, digs[0])
		if nd > 1 {
			dst = append(dst, '.')
			dst = append(dst, digs[1:nd]...)
		}
		dst = append(dst, 'E')
		if exp < 0 {
			dst = append(dst, '-')
			exp = -exp
		} else {
			dst = append(dst, '+')
		}
		if exp < 10 {
			dst = append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(exp), 10)
	}
	if exp < 0 {
		dst = append(dst, '0', '.')
		for i := -1; i > exp; i-- {
			dst = append(dst, '0')
		}
		return append(dst, digs[:nd]...)
	}
	if nd <= exp+1 {
		dst = append(dst, digs[:nd]...)
		for i := nd; i <= exp; i++ {
			dst = append(dst, '0')
		}
		return dst
	}
	dst = append(dst, digs[:exp+1]...)
	dst = append(dst, '.')
	return append(dst, digs[exp+1:nd]...)
}

func digits2(b []byte) (int, bool) {
	if len(b) < 2 || b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

// parseDateTime reads yyyy-MM-ddTHH:mm:ss[.fffffff][Z|±hh:mm].
func (d *decoder) parseDateTime(b []byte) (DateTime, bool) {
	b = trimSpace(b)
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return DateTime{}, false
	}
	y1, ok1 := digits2(b[0:])
	y2, ok2 := digits2(b[2:])
	mo, ok3 := digits2(b[5:])
	dd, ok4 := digits2(b[8:])
	hh, ok5 := digits2(b[11:])
	mi, ok6 := digits2(b[14:])
	ss, ok7 := digits2(b[17:])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) {
		return DateTime{}, false
	}
	year := y1*100 + y2
	if year < 1 || mo < 1 || mo > 12 || dd < 1 || dd > daysIn(year, mo) || hh > 23 || mi > 59 || ss > 59 {
		return DateTime{}, false
	}
	rest := b[19:]
	ns := 0
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		scale := 100000000
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			if n > 7 {
				return DateTime{}, false
			}
			ns += int(rest[n]-'0') * scale
			scale /= 10
			n++
		}
		if n == 1 {
			return DateTime{}, false
		}
		rest = rest[n:]
	}
	switch {
	case len(rest) == 0:
		return DateTime{Time: time.Date(year, time.Month(mo), dd, hh, mi, ss, ns, time.UTC), Kind: Unspecified}, true
	case len(rest) == 1 && rest[0] == 'Z':
		return DateTime{Time: time.Date(year, time.Month(mo), dd, hh, mi, ss, ns, time.UTC), Kind: UTC}, true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits2(rest[1:])
		om, ok2 := digits2(rest[4:])
		if !ok1 || !ok2 || oh > 14 || om > 59 {
			return DateTime{}, false
		}
		off := oh*3600 + om*60
		if rest[0] == '-' {
			off = -off
		}
		return DateTime{Time: time.Date(year, time.Month(mo), dd, hh, mi, ss, ns, d.zone(off)), Kind: Local}, true
	}
	return DateTime{}, false
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// zone returns a fixed zone for the offset, reusing zones already made by
// this decoder.
func (d *decoder) zone(off int) *time.Location {
	for _, z := range d.zones {
		if z.off == off {
			return z.loc
		}
	}
	loc := time.FixedZone("", off)
	if len(d.zones) < 64 {
		d.zones = append(d.zones, zoneEntry{off, loc})
	}
	return loc
}

type zoneEntry struct {
	off int
	loc *time.Location
}

// appendDateTime writes dt like XmlConvert's RoundtripKind: trailing zero
// fraction digits trimmed, "Z" for UTC, the offset for Local.
func appendDateTime(dst []byte, dt DateTime) ([]byte, error) {
	t := dt.Time
	if dt.Kind == UTC {
		t = t.UTC()
	}
	year, mo, day := t.Date()
	if year < 1 || year > 9999 {
		return dst, &EncodeError{Msg: "DateTime year " + strconv.Itoa(year) + " outside 1-9999"}
	}
	hh, mi, ss := t.Clock()
	dst = appendPad(dst, year, 4)
	dst = append(dst, '-')
	dst = appendPad(dst, int(mo), 2)
	dst = append(dst, '-')
	dst = appendPad(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendPad(dst, hh, 2)
	dst = append(dst, ':')
	dst = appendPad(dst, mi, 2)
	dst = append(dst, ':')
	dst = appendPad(dst, ss, 2)
	dst = appendFraction(dst, int64(t.Nanosecond()/100))
	switch dt.Kind {
	case UTC:
		dst = append(dst, 'Z')
	case Local:
		_, off := t.Zone()
		off /= 60
		if off < 0 {
			dst = append(dst, '-')
			off = -off
		} else {
			dst = append(dst, '+')
		}
		dst = appendPad(dst, off/60, 2)
		dst = append(dst, ':')
		dst = appendPad(dst, off%60, 2)
	}
	return dst, nil
}

func appendPad(dst []byte, v, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// appendFraction writes ".fffffff" for a count of 100 ns ticks (< 10^7),
// trailing zeros trimmed; nothing for zero.
func appendFraction(dst []byte, ticks int64) []byte {
	if ticks == 0 {
		return dst
	}
	var f [7]byte
	for i := 6; i >= 0; i-- {
		f[i] = byte('0' + ticks%10)
		ticks /= 10
	}
	n := 7
	for f[n-1] == '0' {
		n--
	}
	dst = append(dst, '.')
	return append(dst, f[:n]...)
}

const (
	ticksPerSecond = 10_000_000
	ticksPerMinute = 60 * ticksPerSecond
	ticksPerHour   = 60 * ticksPerMinute
	ticksPerDay    = 24 * ticksPerHour
)

// parseDuration reads an xs:duration as .NET's XmlConvert.ToTimeSpan does
// (a year counts 365 days, a month 30 days) into 100 ns ticks.
func parseDuration(b []byte) (TimeSpan, bool) {
	b = trimSpace(b)
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) < 2 || b[0] != 'P' {
		return 0, false
	}
	b = b[1:]
	const limit = uint64(1) << 63
	var total uint64
	add := func(n, unit uint64) bool {
		if n != 0 && unit > limit/n {
			return false
		}
		total += n * unit
		return total <= limit
	}
	inTime := false
	any := false
	lastRank := 0
	for len(b) > 0 {
		if b[0] == 'T' {
			if inTime || len(b) == 1 {
				return 0, false
			}
			inTime = true
			b = b[1:]
			continue
		}
		i := 0
		var n uint64
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if n > (limit-9)/10 {
				return 0, false
			}
			n = n*10 + uint64(b[i]-'0')
			i++
		}
		if i == 0 || i >= len(b) {
			return 0, false
		}
		var frac uint64
		if b[i] == '.' {
			if !inTime {
				return 0, false
			}
			i++
			scale := uint64(ticksPerSecond / 10)
			fs := i
			for i < len(b) && b[i] >= '0' && b[i] <= '9' {
				frac += uint64(b[i]-'0') * scale
				scale /= 10
				i++
			}
			if i == fs || i >= len(b) || b[i] != 'S' {
				return 0, false
			}
		}
		var unit uint64
		var rank int
		switch {
		case !inTime && b[i] == 'Y':
			unit, rank = 365*ticksPerDay, 1
		case !inTime && b[i] == 'M':
			unit, rank = 30*ticksPerDay, 2
		case !inTime && b[i] == 'D':
			unit, rank = ticksPerDay, 3
		case inTime && b[i] == 'H':
			unit, rank = ticksPerHour, 4
		case inTime && b[i] == 'M':
			unit, rank = ticksPerMinute, 5
		case inTime && b[i] == 'S':
			unit, rank = ticksPerSecond, 6
		default:
			return 0, false
		}
		if rank <= lastRank {
			return 0, false
		}
		lastRank = rank
		if !add(n, unit) || !add(frac, 1) {
			return 0, false
		}
		any = true
		b = b[i+1:]
	}
	if !any || (inTime && lastRank < 4) {
		return 0, false
	}
	if neg {
		return TimeSpan(-int64(total-1) - 1), true
	}
	if total == limit {
		return 0, false
	}
	return TimeSpan(total), true
}

// appendDuration writes ticks as XmlConvert.ToString(TimeSpan) does:
// PT9.0269026S, P1DT2H, -PT1S, PT0S.
func appendDuration(dst []byte, ts TimeSpan) []byte {
	v := uint64(ts)
	if ts < 0 {
		dst = append(dst, '-')
		v = -v
	}
	dst = append(dst, 'P')
	days := v / ticksPerDay
	v %= ticksPerDay
	if days != 0 {
		dst = strconv.AppendUint(dst, days, 10)
		dst = append(dst, 'D')
	}
	if v != 0 {
		dst = append(dst, 'T')
		h := v / ticksPerHour
		m := v / ticksPerMinute % 60
		s := v / ticksPerSecond % 60
		f := v % ticksPerSecond
		if h != 0 {
			dst = strconv.AppendUint(dst, h, 10)
			dst = append(dst, 'H')
		}
		if m != 0 {
			dst = strconv.AppendUint(dst, m, 10)
			dst = append(dst, 'M')
		}
		if s != 0 || f != 0 {
			dst = strconv.AppendUint(dst, s, 10)
			dst = appendFraction(dst, int64(f))
			dst = append(dst, 'S')
		}
	} else if days == 0 {
		dst = append(dst, "T0S"...)
	}
	return dst
}

// parseVersion reads 2 to 4 dot-separated non-negative Int32 components.
func parseVersion(b []byte) (Version, bool) {
	b = trimSpace(b)
	v := Version{Build: -1, Revision: -1}
	var parts [4]int32
	n := 0
	for {
		i := 0
		for i < len(b) && b[i] != '.' {
			i++
		}
		x, ok := parseUint(b[:i], math.MaxInt32)
		if !ok || n == 4 {
			return Version{}, false
		}
		parts[n] = int32(x)
		n++
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	if n < 2 {
		return Version{}, false
	}
	v.Major, v.Minor = parts[0], parts[1]
	if n > 2 {
		v.Build = parts[2]
	}
	if n > 3 {
		v.Revision = parts[3]
	}
	return v, true
}

func appendVersion(dst []byte, v Version) []byte {
	dst = strconv.AppendInt(dst, int64(v.Major), 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, int64(v.Minor), 10)
	if v.Build >= 0 {
		dst = append(dst, '.')
		dst = strconv.AppendInt(dst, int64(v.Build), 10)
		if v.Revision >= 0 {
			dst = append(dst, '.')
			dst = strconv.AppendInt(dst, int64(v.Revision), 10)
		}
	}
	return dst
}

// validDecimal checks the text of a <D>: [+-]digits[.digits].
func validDecimal(b []byte) bool {
	i := 0
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		i++
	}
	digits := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
		digits++
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			digits++
		}
	}
	return digits > 0 && i == len(b)
}
