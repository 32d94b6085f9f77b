package sessiontest

import (
	"github.com/google/uuid"
)

// backend is what runs inside one shell: the PSRP server side. The WS-Man
// layer feeds it the bytes that arrive (creationXml, Arguments, Send streams,
// connectXml) and drains what it has to send. A backend is used under the
// shell's lock, so it need not be safe for concurrent use by the WS-Man
// layer; it calls notify (from any goroutine, without holding the shell's
// lock) when new output may be ready so that a waiting Receive wakes up.
type backend interface {
	// Command starts the command id with the first data of its Arguments.
	Command(id uuid.UUID, args []byte) error
	// Input takes data sent on stream ("stdin" or "pr") to the pool
	// (id == uuid.Nil) or to a command.
	Input(id uuid.UUID, stream string, data []byte) error
	// Output returns the next chunk queued for the pool (uuid.Nil) or a
	// command, of at most max bytes, or nil when there is none. When the
	// next chunk cannot be made to fit in max bytes it returns an
	// *errChunkTooLarge. It takes only the target's own output: what
	// is queued for other targets waits for their Receives.
	Output(id uuid.UUID, max int) ([]byte, error)
	// Done reports whether the command has finished and all its output was
	// handed out.
	Done(id uuid.UUID) bool
	// Signal delivers a Signal code to a command.
	Signal(id uuid.UUID, code string) error
	// Disconnect follows the WS-Man Disconnect of the shell: every command
	// is detached, and what its handler writes from then on is buffered
	// as bufferMode (wsman.BufferModeBlock or wsman.BufferModeDrop) says
	// until ReconnectCommand.
	Disconnect(bufferMode string) error
	// Reconnect follows the WS-Man Reconnect of the shell by the client
	// that disconnected it; commands stay detached.
	Reconnect() error
	// ReconnectCommand reattaches a command (per-command Reconnect or
	// Connect) and releases the output buffered while it was detached.
	ReconnectCommand(id uuid.UUID) error
	// Connect answers a Connect's connectXml with connectResponseXml.
	Connect(data []byte) ([]byte, error)
	// Close stops everything the backend runs and waits for it.
	Close()
}

// backendFactory makes the backend of a new shell from its creationXml.
// notify wakes the shell's waiting Receives.
type backendFactory func(s *Server, shellID uuid.UUID, creationXML []byte, notify func()) (backend, error)
