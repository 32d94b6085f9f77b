package sessiontest

import "github.com/google/uuid"

// Older WinRM (protocol 2.1) treats the ShellId attribute of a Create as a
// suggestion it does not take: the shell gets an id of the server's, sent
// back in the CreateResponse's SelectorSet alone, and a client must name
// that id in every later request of the shell (Receive, Command, Send,
// Signal, Disconnect, Reconnect, Delete). Server.AssignShellIDs turns this
// behaviour on, so that tests can check a client takes the server's answer.
// The runspace pool ID inside the PSRP messages stays the client's: the
// endpoint, like Windows, does not tie it to the ShellId.

// shellIDFor returns the id of a new shell whose client proposed proposed
// (or nothing, when proposed is a fresh id).
func (s *Server) shellIDFor(proposed uuid.UUID) uuid.UUID {
	if !s.AssignShellIDs {
		return proposed
	}
	for {
		id := uuid.New()
		if id != proposed {
			return id
		}
	}
}

// createdBody renders the body of a CreateResponse from the
// x:ResourceCreated reference: with the rsp:Shell description, or without
// it as older WinRM answers.
func (s *Server) createdBody(ref string, sh *shell) string {
	if s.AssignShellIDs {
		return ref
	}
	return ref + sh.describe(false)
}
