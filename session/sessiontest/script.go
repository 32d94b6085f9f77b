package sessiontest

import (
	"regexp"
	"strconv"
	"strings"
)

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

// assignmentPattern matches a statement that assigns a value to a variable
// ($Name = value, $scope:Name = value), not a comparison (==).
var assignmentPattern = regexp.MustCompile(`^\$(?:[A-Za-z]+:)?[A-Za-z_][A-Za-z0-9_]*\s*=([^=].*)$`)

// literalAssignment reports whether stmt assigns a literal to a variable:
// a quoted string without expansion, a number, $true, $false or $null
// ("$ProgressPreference = 'SilentlyContinue'", "$n = 1"). Such a statement
// runs without any visible effect: the endpoint keeps no variables.
func literalAssignment(stmt string) bool {
	m := assignmentPattern.FindStringSubmatch(strings.TrimSpace(stmt))
	if m == nil {
		return false
	}
	v := strings.TrimSpace(m[1])
	switch strings.ToLower(v) {
	case "$true", "$false", "$null":
		return true
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return true
	}
	return rangeHandler(v) == nil && expressionHandler(v) != nil
}

// cutLiteralAssignments returns script without the literal assignments
// (see literalAssignment) its first statements are, and whether it cut
// any; the rest is then served as a script of its own. A script of
// nothing but such assignments is returned whole, to run as statements
// that do nothing.
func cutLiteralAssignments(script string) (string, bool) {
	rest, cut := script, false
	for {
		end := statementEnd(rest)
		if end < 0 || !literalAssignment(rest[:end]) || strings.TrimSpace(rest[end+1:]) == "" {
			return rest, cut
		}
		rest, cut = rest[end+1:], true
	}
}

// statementEnd returns the index of the ; or line break that ends the
// first statement of script, outside quotes, or -1 if there is none.
func statementEnd(script string) int {
	var quote rune
	for i, r := range script {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == ';' || r == '\n' || r == '\r':
			return i
		}
	}
	return -1
}
