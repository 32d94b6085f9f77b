package winrs

import "strings"

// QuoteArg quotes s so that CommandLineToArgvW (and the Microsoft C
// runtime's argument parser, which most Windows programs use) reads it back
// as one argument equal to s:
//
//   - an argument without space, tab, newline, vertical tab or double
//     quote, and not empty, is sent as is;
//   - otherwise it is enclosed in double quotes, each double quote in it
//     becomes \", and backslashes are doubled where they precede a double
//     quote (an escaped one, or the closing one); other backslashes are
//     literal.
//
// cmd.exe has rules of its own for & | < > ^ and %, which quoting for
// CommandLineToArgvW does not cover; see Cmd.Raw.
func QuoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\v\"") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			slashes++
		case '"':
			// n backslashes before a quote: 2n+1 of them, then the quote.
			b.WriteString(strings.Repeat(`\`, slashes+1))
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(c)
	}
	// Backslashes before the closing quote are doubled.
	b.WriteString(strings.Repeat(`\`, slashes))
	b.WriteByte('"')
	return b.String()
}
