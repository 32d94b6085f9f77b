// Package replay serves recorded WS-Management conversations (the pypsrp
// captures of real Windows hosts in ../shared/conformance) to the project's
// own client, so that the client can be checked against what Windows really
// sent without a Windows host.
//
// A [Conversation] is loaded from a capture file with [Load] or [Parse]. A
// [Server] answers the client's requests with the recorded responses: it
// matches requests by action and target (the shell and command, by order of
// creation) rather than by exact bytes, and rewrites the identifiers in each
// response (RelatesTo, ShellId, CommandId and the RPID/PID of every PSRP
// message) to those the client chose. Requests the recording has no
// counterpart for get a generic answer and are reported by
// [Server.Unmatched]; recorded exchanges the client never asked for are
// reported by [Server.Unserved].
//
// The package is test infrastructure: only tests import it.
package replay

import (
	"fmt"
	"strings"
	"time"

	"github.com/gopsrp/gopsrp/internal/captures"
)

// Limits applied to capture files (those of package captures, which reads
// them), kept here for the package's users.
const (
	// MaxCaptureBytes bounds the size of one capture file.
	MaxCaptureBytes = captures.MaxFileBytes
	// MaxEntries bounds the number of exchanges in one capture.
	MaxEntries = captures.MaxEntries
)

// ErrCapture is wrapped by every error about a malformed capture file; it is
// the captures package's sentinel, so either matches.
var ErrCapture = captures.ErrMalformed

// Conversation is one recorded WS-Man conversation: the exchanges of one
// capture file, in the order they happened.
type Conversation struct {
	// Name is the capture's base name without extension (the scenario).
	Name string
	// Entries holds the exchanges in recorded order.
	Entries []*Entry
}

// TransportError is a recorded HTTP failure status (the capture's
// transport_error key).
type TransportError = captures.TransportError

// Override is a hand-written change the original suite applied to a request
// before comparing it (the capture's overrides key). The replay server does
// not compare request bytes, so overrides are kept for reference only.
type Override = captures.Override

// Entry is one recorded request/response exchange, with the routing facts
// the server matches on already extracted.
type Entry struct {
	// Index is the entry's position in the capture, from 0.
	Index int
	// Request and Response are the recorded SOAP envelopes.
	Request, Response string
	// Req and Resp are the facts extracted from Request and Response.
	Req, Resp Envelope

	// TransportError, when set, makes the server answer with that HTTP
	// status and the recorded body.
	TransportError *TransportError
	// HTTPError makes the server drop the connection without answering.
	HTTPError bool
	// AuthError makes the server answer 401.
	AuthError bool
	// Timeout delays the answer.
	Timeout time.Duration
	// Overrides are kept for reference; see Override.
	Overrides []Override

	// Shell is the position (from 0, by order of Create/Connect) of the
	// shell the exchange targets, or -1 when it targets none (Enumerate,
	// Get on the config resource).
	Shell int
	// Command is the position (from 0, by order of Command requests across
	// the conversation) of the command the exchange targets, or -1 when it
	// targets the shell itself.
	Command int
}

// Action returns the short name of the request's action ("Create",
// "Receive", ...).
func (e *Entry) Action() string { return e.Req.Action }

// Load reads and parses the capture file at path.
func Load(path string) (*Conversation, error) {
	c, err := captures.Load(path)
	if err != nil {
		return nil, wrapCaptureErr(err)
	}
	return fromCapture(c)
}

// Parse parses capture data; name becomes the conversation's Name.
func Parse(name string, data []byte) (*Conversation, error) {
	c, err := captures.Parse(name, data)
	if err != nil {
		return nil, wrapCaptureErr(err)
	}
	return fromCapture(c)
}

// wrapCaptureErr gives a loading error this package's prefix.
func wrapCaptureErr(err error) error {
	return fmt.Errorf("replay: %w", err)
}

// fromCapture extracts the routing facts of every exchange of c.
func fromCapture(c *captures.Conversation) (*Conversation, error) {
	name := c.Name
	conv := &Conversation{Name: name, Entries: make([]*Entry, 0, len(c.Entries))}
	for i, m := range c.Entries {
		e := &Entry{
			Index:          i,
			Request:        m.Request,
			Response:       m.Response,
			TransportError: m.TransportError,
			HTTPError:      m.HTTPError,
			AuthError:      m.AuthError,
			Timeout:        m.Timeout,
			Overrides:      m.Overrides,
			Shell:          -1,
			Command:        -1,
		}
		var err error
		if e.Req, err = ParseEnvelope([]byte(m.Request)); err != nil {
			return nil, fmt.Errorf("replay: %w: %s: message %d: request: %v", ErrCapture, name, i, err)
		}
		if e.Req.Action == "" {
			return nil, fmt.Errorf("replay: %w: %s: message %d: request has no wsa:Action", ErrCapture, name, i)
		}
		if !e.HTTPError && !e.AuthError && strings.TrimSpace(m.Response) != "" {
			if e.Resp, err = ParseEnvelope([]byte(m.Response)); err != nil {
				return nil, fmt.Errorf("replay: %w: %s: message %d: response: %v", ErrCapture, name, i, err)
			}
		}
		conv.Entries = append(conv.Entries, e)
	}
	conv.assignTargets()
	return conv, nil
}

// assignTargets numbers the recorded shells and commands in order of
// creation and attributes every entry to one of them. A recorded CommandId
// can be reused (pypsrp invokes the same PowerShell object twice with one
// ID), so an entry belongs to the most recent command created with its ID.
func (c *Conversation) assignTargets() {
	shells := map[string]int{}   // recorded ShellId (upper) → position
	commands := map[string]int{} // recorded CommandId (upper) → latest position
	nShells, nCommands := 0, 0
	for _, e := range c.Entries {
		shellID := e.Req.ShellID
		switch e.Req.Action {
		case "Create":
			// The shell's identity is what the server answered: a WinRS
			// client proposes none, and older WinRM (protocol 2.1)
			// ignores the one a PSRP client proposes and answers with
			// its own, which every later request names.
			if e.Resp.ShellID != "" {
				shellID = e.Resp.ShellID
			}
			if shellID == "" {
				shellID = fmt.Sprintf("#shell%d", nShells)
			}
			shells[strings.ToUpper(shellID)] = nShells
			nShells++
		case "Connect":
			if _, ok := shells[strings.ToUpper(shellID)]; !ok && shellID != "" {
				shells[strings.ToUpper(shellID)] = nShells
				nShells++
			}
		}
		if pos, ok := shells[strings.ToUpper(shellID)]; ok && shellID != "" {
			e.Shell = pos
		} else if e.Req.Action == "Create" {
			e.Shell = nShells - 1
		}
		cmdID := e.Req.CommandID
		if e.Req.Action == "Command" {
			if cmdID == "" {
				cmdID = e.Resp.CommandID
			}
			if cmdID == "" {
				cmdID = fmt.Sprintf("#cmd%d", nCommands)
			}
			commands[strings.ToUpper(cmdID)] = nCommands
			e.Command = nCommands
			nCommands++
			continue
		}
		if cmdID != "" {
			if pos, ok := commands[strings.ToUpper(cmdID)]; ok {
				e.Command = pos
			} else {
				// A command the recording never created (a deliberate bad
				// ID): give it a position of its own so it cannot be
				// matched by a real command.
				commands[strings.ToUpper(cmdID)] = nCommands
				e.Command = nCommands
				nCommands++
			}
		}
	}
}

// recordedCommandID returns the recorded CommandId of the command at
// position pos, or "" when none is known.
func (c *Conversation) recordedCommandID(pos int) string {
	for _, e := range c.Entries {
		if e.Command == pos && e.Req.Action == "Command" {
			if e.Req.CommandID != "" {
				return e.Req.CommandID
			}
			return e.Resp.CommandID
		}
	}
	for _, e := range c.Entries {
		if e.Command == pos && e.Req.CommandID != "" {
			return e.Req.CommandID
		}
	}
	return ""
}

// recordedShellID returns the recorded ShellId of the shell at position
// pos: the one the server answered to its Create, else the one its
// requests name.
func (c *Conversation) recordedShellID(pos int) string {
	for _, e := range c.Entries {
		if e.Shell == pos && e.Req.Action == "Create" && e.Resp.ShellID != "" {
			return e.Resp.ShellID
		}
	}
	for _, e := range c.Entries {
		if e.Shell != pos {
			continue
		}
		if e.Req.ShellID != "" {
			return e.Req.ShellID
		}
		if e.Resp.ShellID != "" {
			return e.Resp.ShellID
		}
	}
	return ""
}

// recordedPoolID returns the runspace pool ID the recorded client chose
// for the shell at position pos: the ShellId it proposed in Create, which
// is the RPID of its PSRP messages even when the server gave the shell
// another id. It is the shell's id when the client proposed none.
func (c *Conversation) recordedPoolID(pos int) string {
	for _, e := range c.Entries {
		if e.Shell == pos && e.Req.Action == "Create" && e.Req.ShellID != "" {
			return e.Req.ShellID
		}
	}
	return c.recordedShellID(pos)
}

// ServerAssigned reports whether the server gave the shell created by e
// an id of its own rather than the one the client proposed (WinRS, and
// PowerShell shells on older WinRM).
func (e *Entry) ServerAssigned() bool {
	return e.Req.Action == "Create" && e.Resp.ShellID != "" && !strings.EqualFold(e.Resp.ShellID, e.Req.ShellID)
}

// isPSRPShell reports whether the shell at position pos is a PowerShell
// runspace pool (whose streams carry PSRP fragments) rather than a WinRS
// cmd shell.
func (c *Conversation) isPSRPShell(pos int) bool {
	for _, e := range c.Entries {
		if e.Shell == pos && (e.Req.Action == "Create" || e.Req.Action == "Connect") {
			return strings.HasPrefix(e.Req.ResourceURI, "http://schemas.microsoft.com/powershell")
		}
	}
	return false
}

// EnvCapturesDir names the environment variable that overrides the
// directory of capture files.
const EnvCapturesDir = captures.EnvDir

// CapturesDir returns the directory of capture files: $GOPSRP_CAPTURES_DIR
// if set, else the shared captures beside the module root (see
// captures.Dir).
func CapturesDir() (string, error) {
	d, err := captures.Dir()
	if err != nil {
		return "", fmt.Errorf("replay: %w", err)
	}
	return d, nil
}

// Splice returns a copy of c in which the answer to entry index (response,
// error keys and delay) is taken from donor: a way to inject a fault that
// Windows really sent into another recorded conversation. c is unchanged.
func (c *Conversation) Splice(index int, donor *Entry) (*Conversation, error) {
	if index < 0 || index >= len(c.Entries) || donor == nil {
		return nil, fmt.Errorf("replay: splice %s: no entry %d", c.Name, index)
	}
	out := &Conversation{Name: c.Name + "+splice", Entries: make([]*Entry, len(c.Entries))}
	for i, e := range c.Entries {
		cp := *e
		out.Entries[i] = &cp
	}
	e := out.Entries[index]
	e.Response, e.Resp = donor.Response, donor.Resp
	e.TransportError, e.HTTPError, e.AuthError, e.Timeout = donor.TransportError, donor.HTTPError, donor.AuthError, donor.Timeout
	return out, nil
}
