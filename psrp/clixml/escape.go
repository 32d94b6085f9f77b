package clixml

import (
	"bytes"
	"unicode/utf8"
)

// CLIXML string escaping (MS-PSRP 2.2.5.3.2): control characters, C1
// characters, surrogates and characters outside the BMP are written as
// _xHHHH_ (UTF-16 code units); an underscore that starts "_x"/"_X" is written
// as _x005F_ so that it is not read back as an escape. XML entity escaping
// is applied on top.
//
// Go strings are UTF-8 and cannot hold a lone UTF-16 surrogate, which .NET
// strings can. A decoded lone surrogate is kept in the WTF-8 form (the three
// bytes a UTF-8 encoder would produce for it) and written back as _xHHHH_,
// so such strings survive a round trip.

const hexDigits = "0123456789ABCDEF"

func appendX(dst []byte, u uint16) []byte {
	return append(dst, '_', 'x', hexDigits[u>>12], hexDigits[u>>8&0xF], hexDigits[u>>4&0xF], hexDigits[u&0xF], '_')
}

// appendEscaped appends s with CLIXML and XML escaping. attr selects
// escaping for a double-quoted attribute value.
func appendEscaped(dst []byte, s string, attr bool) []byte {
	last := 0 // s[last:i] is pending literal output
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			var rep string
			switch {
			case c < 0x20 || c == 0x7F:
				dst = append(dst, s[last:i]...)
				dst = appendX(dst, uint16(c))
				i++
				last = i
				continue
			case c == '_':
				if i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X') {
					rep = "_x005F_"
				}
			case c == '&':
				rep = "&amp;"
			case c == '<':
				rep = "&lt;"
			case c == '>':
				rep = "&gt;"
			case c == '"' && attr:
				rep = "&quot;"
			}
			if rep != "" {
				dst = append(dst, s[last:i]...)
				dst = append(dst, rep...)
				last = i + 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[last:i]...)
			if u, ok := wtf8Surrogate(s[i:]); ok {
				dst = appendX(dst, u)
				i += 3
			} else {
				// Not representable in a .NET string: replace.
				dst = append(dst, "\uFFFD"...)
				i++
			}
			last = i
		case r <= 0x9F || r == 0xFFFE || r == 0xFFFF:
			dst = append(dst, s[last:i]...)
			dst = appendX(dst, uint16(r))
			i += size
			last = i
		case r > 0xFFFF:
			dst = append(dst, s[last:i]...)
			r -= 0x10000
			dst = appendX(dst, uint16(0xD800+(r>>10)))
			dst = appendX(dst, uint16(0xDC00+(r&0x3FF)))
			i += size
			last = i
		default:
			i += size
		}
	}
	return append(dst, s[last:]...)
}

// wtf8Surrogate reports whether b starts with the 3-byte generalized UTF-8
// form of a surrogate code unit, and returns it.
func wtf8Surrogate(b string) (uint16, bool) {
	if len(b) >= 3 && b[0] == 0xED && b[1] >= 0xA0 && b[1] <= 0xBF && b[2] >= 0x80 && b[2] <= 0xBF {
		return 0xD000 | uint16(b[1]&0x3F)<<6 | uint16(b[2]&0x3F), true
	}
	return 0, false
}

func appendWTF8(dst []byte, u uint16) []byte {
	if u >= 0xD800 && u <= 0xDFFF {
		return append(dst, 0xED, byte(0x80|(u>>6)&0x3F), byte(0x80|u&0x3F))
	}
	return utf8.AppendRune(dst, rune(u))
}

func hexVal(c byte) (uint16, bool) {
	switch {
	case c >= '0' && c <= '9':
		return uint16(c - '0'), true
	case c >= 'a' && c <= 'f':
		return uint16(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return uint16(c-'A') + 10, true
	}
	return 0, false
}

// parseX reads an escape _xHHHH_ at the start of b.
func parseX(b []byte) (uint16, bool) {
	if len(b) < 7 || b[0] != '_' || (b[1] != 'x' && b[1] != 'X') || b[6] != '_' {
		return 0, false
	}
	var u uint16
	for _, c := range b[2:6] {
		h, ok := hexVal(c)
		if !ok {
			return 0, false
		}
		u = u<<4 | h
	}
	return u, true
}

// needsUnescape reports whether b may contain an _xHHHH_ escape.
func needsUnescape(b []byte) bool {
	if len(b) <= shortText {
		// Names and short values: a plain loop costs less than the call.
		for i := 0; i+6 < len(b); i++ {
			if b[i] == '_' && (b[i+1] == 'x' || b[i+1] == 'X') {
				return true
			}
		}
		return false
	}
	for {
		i := bytes.IndexByte(b, '_')
		if i < 0 || i+6 >= len(b) {
			return false
		}
		if b[i+1] == 'x' || b[i+1] == 'X' {
			return true
		}
		b = b[i+1:]
	}
}

// appendUnescaped appends b with _xHHHH_ escapes decoded. Anything that is
// not a complete escape is kept as is. A high surrogate followed by a low
// one becomes one character.
func appendUnescaped(dst, b []byte) []byte {
	last := 0
	for i := 0; i+6 < len(b); {
		if b[i] != '_' {
			i++
			continue
		}
		u, ok := parseX(b[i:])
		if !ok {
			i++
			continue
		}
		dst = append(dst, b[last:i]...)
		i += 7
		if u >= 0xD800 && u <= 0xDBFF {
			if lo, ok := parseX(b[i:]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				dst = utf8.AppendRune(dst, 0x10000+(rune(u)-0xD800)<<10+(rune(lo)-0xDC00))
				i += 7
				last = i
				continue
			}
		}
		dst = appendWTF8(dst, u)
		last = i
	}
	return append(dst, b[last:]...)
}

// EscapeString returns s as CLIXML writes it in element text: _xHHHH_
// escapes for characters XML or PowerShell cannot carry, and XML entities.
func EscapeString(s string) string { return string(appendEscaped(nil, s, false)) }

// UnescapeString decodes the _xHHHH_ escapes of CLIXML text (after XML
// entities have been decoded).
func UnescapeString(s string) string {
	b := []byte(s)
	if !needsUnescape(b) {
		return s
	}
	return string(appendUnescaped(nil, b))
}

func appendRune(dst []byte, r rune) []byte { return utf8.AppendRune(dst, r) }
