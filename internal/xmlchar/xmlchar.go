// Package xmlchar decodes the entity and character references of XML 1.0
// text, for the two bounded scanners of gopsrp (wsman's SOAP scanner and
// psrp/clixml's decoder), which cannot import each other.
package xmlchar

import "unicode/utf8"

// MaxEntityLen is the longest reference name the scanners look for between
// '&' and ';' (enough for "#x10FFFF").
const MaxEntityLen = 12

// AppendEntity appends the character that the reference ent (the text
// between '&' and ';': "lt", "amp", "#60", "#x3C", …) stands for. It
// reports false for an unknown name, a malformed number, or a code point
// that is not an XML Char. It does not allocate beyond dst's growth.
func AppendEntity(dst, ent []byte) ([]byte, bool) {
	switch string(ent) { // the conversion does not allocate in a switch
	case "lt":
		return append(dst, '<'), true
	case "gt":
		return append(dst, '>'), true
	case "amp":
		return append(dst, '&'), true
	case "quot":
		return append(dst, '"'), true
	case "apos":
		return append(dst, '\''), true
	}
	r, ok := charRef(ent)
	if !ok {
		return dst, false
	}
	return utf8.AppendRune(dst, r), true
}

// charRef parses "#NN" or "#xHH" and checks that it names an XML Char.
func charRef(ent []byte) (rune, bool) {
	if len(ent) < 2 || ent[0] != '#' {
		return 0, false
	}
	var r rune
	if ent[1] == 'x' {
		if len(ent) == 2 {
			return 0, false
		}
		for _, c := range ent[2:] {
			h, ok := hexVal(c)
			if !ok || r > utf8.MaxRune {
				return 0, false
			}
			r = r<<4 | h
		}
	} else {
		for _, c := range ent[1:] {
			if c < '0' || c > '9' || r > utf8.MaxRune {
				return 0, false
			}
			r = r*10 + rune(c-'0')
		}
	}
	return r, IsChar(r)
}

// IsChar reports whether r is an XML 1.0 Char.
func IsChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD ||
		(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= utf8.MaxRune)
}

func hexVal(c byte) (rune, bool) {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0'), true
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10, true
	}
	return 0, false
}
