package psrp

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// UserEvent is USER_EVENT (MS-PSRP 2.2.2.12): a PowerShell event forwarded
// from the server (Register-EngineEvent -Forward and the like).
type UserEvent struct {
	EventID       int32
	SourceID      string
	TimeGenerated clixml.DateTime
	// Sender, SourceArgs and MessageData are in the lossless model.
	Sender       any
	SourceArgs   any
	MessageData  any
	ComputerName string
	RunspaceID   uuid.UUID
}

// MessageType implements Body.
func (UserEvent) MessageType() MessageType { return MessageUserEvent }

// ServerMessage marks a server-to-client body.
func (UserEvent) ServerMessage() {}

func (b UserEvent) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return marshalModel(b.MessageType(), opts, msObject(
		prop("PSEventArgs.EventIdentifier", b.EventID),
		prop("PSEventArgs.SourceIdentifier", b.SourceID),
		prop("PSEventArgs.TimeGenerated", b.TimeGenerated),
		prop("PSEventArgs.Sender", b.Sender),
		prop("PSEventArgs.SourceArgs", b.SourceArgs),
		prop("PSEventArgs.MessageData", b.MessageData),
		prop("PSEventArgs.ComputerName", b.ComputerName),
		prop("PSEventArgs.RunspaceId", b.RunspaceID),
	))
}

func (b *UserEvent) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	r, err := newObjReader(MessageUserEvent, data, opts)
	if err != nil {
		return err
	}
	b.EventID = r.int32("PSEventArgs.EventIdentifier")
	b.SourceID = r.optStr("PSEventArgs.SourceIdentifier")
	if v := r.opt("PSEventArgs.TimeGenerated"); v != nil {
		dt, ok := v.(clixml.DateTime)
		if !ok {
			r.fail("PSEventArgs.TimeGenerated", fmt.Errorf("%w: %T, want a DateTime", ErrPropertyType, v))
		}
		b.TimeGenerated = dt
	}
	b.Sender = r.opt("PSEventArgs.Sender")
	b.SourceArgs = r.opt("PSEventArgs.SourceArgs")
	b.MessageData = r.opt("PSEventArgs.MessageData")
	b.ComputerName = r.optStr("PSEventArgs.ComputerName")
	if v := r.opt("PSEventArgs.RunspaceId"); v != nil {
		id, ok := v.(uuid.UUID)
		if !ok {
			r.fail("PSEventArgs.RunspaceId", fmt.Errorf("%w: %T, want a Guid", ErrPropertyType, v))
		}
		b.RunspaceID = id
	}
	return r.err
}
