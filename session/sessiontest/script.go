package sessiontest

import "strings"

// splitScript splits script text into statements (at ; and line breaks)
// and each statement into the commands of its pipeline (at |), outside
// quotes, brackets and braces, so that "Get-Thing | Where-Thing -Like x"
// runs both handlers. A line that ends with | or a backtick continues on
// the next; comments (# to the end of the line) and empty statements are
// dropped. This is not a PowerShell parser: it finds the commands of
// simple scripts, and anything inside {…} or (…) stays one argument.
func splitScript(script string) [][]string {
	var (
		stmts [][]string
		cur   []string
		seg   strings.Builder
		depth int
		quote rune
	)
	endSegment := func() {
		cur = append(cur, strings.TrimSpace(seg.String()))
		seg.Reset()
	}
	endStatement := func() {
		endSegment()
		var keep []string
		for _, c := range cur {
			if c != "" {
				keep = append(keep, c)
			}
		}
		if len(keep) > 0 {
			stmts = append(stmts, keep)
		}
		cur = nil
	}
	rs := []rune(script)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if quote != 0 {
			seg.WriteRune(r)
			switch {
			case r == '`' && quote == '"' && i+1 < len(rs):
				i++
				seg.WriteRune(rs[i])
			case r == quote:
				quote = 0
			}
			continue
		}
		switch {
		case r == '\'' || r == '"':
			quote = r
		case r == '`' && i+1 < len(rs):
			// An escaped character, or a line continuation.
			seg.WriteRune(r)
			i++
			r = rs[i]
		case r == '(' || r == '{' || r == '[':
			depth++
		case (r == ')' || r == '}' || r == ']') && depth > 0:
			depth--
		case depth > 0:
		case r == '#' && strings.TrimSpace(seg.String()) == "" || r == '#' && i > 0 && (rs[i-1] == ' ' || rs[i-1] == '\t'):
			for i+1 < len(rs) && rs[i+1] != '\n' && rs[i+1] != '\r' {
				i++
			}
			continue
		case r == '|':
			endSegment()
			continue
		case r == ';':
			endStatement()
			continue
		case r == '\n' || r == '\r':
			if strings.TrimSpace(seg.String()) == "" && len(cur) > 0 {
				continue // after a |, the pipeline goes on
			}
			endStatement()
			continue
		}
		seg.WriteRune(r)
	}
	endStatement()
	return stmts
}
