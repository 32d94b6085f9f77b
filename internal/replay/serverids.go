package replay

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"
)

// createdShellRE finds the rsp:Shell element of a CreateResponse.
var createdShellRE = regexp.MustCompile(`(?s)<(?:[\w.-]+:)?Shell\b[^>]*>.*</(?:[\w.-]+:)?Shell>`)

// WithServerShellIDs returns a copy of c as an older WinRM (the hosts of
// protocol 2.1, Windows 7 and Server 2008 R2) would have recorded it: the
// server ignores the ShellId each PowerShell Create proposes and answers
// with an id of its own in the CreateResponse's SelectorSet, without an
// rsp:Shell body, and every later exchange names that id. The runspace pool
// ID inside the PSRP messages stays the client's. c is unchanged.
func (c *Conversation) WithServerShellIDs() (*Conversation, error) {
	out := &Conversation{Name: c.Name + "+server-shellids", Entries: make([]*Entry, len(c.Entries))}
	type swap struct {
		re  *regexp.Regexp
		new string
	}
	var swaps []swap
	apply := func(s string) string {
		for _, w := range swaps {
			s = w.re.ReplaceAllLiteralString(s, w.new)
		}
		return s
	}
	for i, e := range c.Entries {
		cp := *e
		out.Entries[i] = &cp
		if e.Req.Action == "Create" && e.Req.ShellID != "" && strings.HasPrefix(e.Req.ResourceURI, nsPowerShell) && e.Resp.Fault == nil && e.Response != "" {
			// The request keeps the client's proposal; from the answer on,
			// the server's id replaces it.
			id := strings.ToUpper(uuid.NewString())
			swaps = append(swaps, swap{regexp.MustCompile(`(?i)` + regexp.QuoteMeta(e.Req.ShellID)), id})
			cp.Response = apply(createdShellRE.ReplaceAllString(e.Response, ""))
			continue
		}
		cp.Request, cp.Response = apply(e.Request), apply(e.Response)
	}
	for i, e := range out.Entries {
		var err error
		if e.Req, err = ParseEnvelope([]byte(e.Request)); err != nil {
			return nil, fmt.Errorf("replay: server shell ids %s: message %d: request: %w", c.Name, i, err)
		}
		if e.Resp.Action != "" || e.Resp.Fault != nil {
			if e.Resp, err = ParseEnvelope([]byte(e.Response)); err != nil {
				return nil, fmt.Errorf("replay: server shell ids %s: message %d: response: %w", c.Name, i, err)
			}
		}
		e.Shell, e.Command = -1, -1
	}
	out.assignTargets()
	return out, nil
}
