package psrp

import (
	"fmt"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// ErrorRecord is ERROR_RECORD (MS-PSRP 2.2.2.20): a record of the error
// stream.
type ErrorRecord struct {
	Record clixml.ErrorRecord
}

// MessageType implements Body.
func (ErrorRecord) MessageType() MessageType { return MessageErrorRecord }

// ServerMessage marks a server-to-client body.
func (ErrorRecord) ServerMessage() {}

func (b ErrorRecord) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return encodeRecord(b.MessageType(), opts, &b.Record)
}

func (b *ErrorRecord) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	return decodeRecord(MessageErrorRecord, data, opts, &b.Record)
}

// DebugRecord is DEBUG_RECORD (MS-PSRP 2.2.2.22).
type DebugRecord struct {
	Record clixml.InformationalRecord
}

// MessageType implements Body.
func (DebugRecord) MessageType() MessageType { return MessageDebugRecord }

// ServerMessage marks a server-to-client body.
func (DebugRecord) ServerMessage() {}

func (b DebugRecord) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return encodeRecord(b.MessageType(), opts, &b.Record)
}

func (b *DebugRecord) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	return decodeRecord(MessageDebugRecord, data, opts, &b.Record)
}

// VerboseRecord is VERBOSE_RECORD (MS-PSRP 2.2.2.23).
type VerboseRecord struct {
	Record clixml.InformationalRecord
}

// MessageType implements Body.
func (VerboseRecord) MessageType() MessageType { return MessageVerboseRecord }

// ServerMessage marks a server-to-client body.
func (VerboseRecord) ServerMessage() {}

func (b VerboseRecord) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return encodeRecord(b.MessageType(), opts, &b.Record)
}

func (b *VerboseRecord) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	return decodeRecord(MessageVerboseRecord, data, opts, &b.Record)
}

// WarningRecord is WARNING_RECORD (MS-PSRP 2.2.2.24).
type WarningRecord struct {
	Record clixml.InformationalRecord
}

// MessageType implements Body.
func (WarningRecord) MessageType() MessageType { return MessageWarningRecord }

// ServerMessage marks a server-to-client body.
func (WarningRecord) ServerMessage() {}

func (b WarningRecord) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return encodeRecord(b.MessageType(), opts, &b.Record)
}

func (b *WarningRecord) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	return decodeRecord(MessageWarningRecord, data, opts, &b.Record)
}

// ProgressRecord is PROGRESS_RECORD (MS-PSRP 2.2.2.25).
type ProgressRecord struct {
	Record clixml.ProgressRecord
}

// MessageType implements Body.
func (ProgressRecord) MessageType() MessageType { return MessageProgressRecord }

// ServerMessage marks a server-to-client body.
func (ProgressRecord) ServerMessage() {}

func (b ProgressRecord) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return encodeRecord(b.MessageType(), opts, &b.Record)
}

func (b *ProgressRecord) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	return decodeRecord(MessageProgressRecord, data, opts, &b.Record)
}

// InformationRecord is INFORMATION_RECORD (MS-PSRP 2.2.2.26, protocol 2.3
// and later): Write-Information and Write-Host output.
type InformationRecord struct {
	Record clixml.InformationRecord
}

// MessageType implements Body.
func (InformationRecord) MessageType() MessageType { return MessageInformationRecord }

// ServerMessage marks a server-to-client body.
func (InformationRecord) ServerMessage() {}

func (b InformationRecord) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	return encodeRecord(b.MessageType(), opts, &b.Record)
}

func (b *InformationRecord) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	return decodeRecord(MessageInformationRecord, data, opts, &b.Record)
}

func encodeRecord(t MessageType, opts clixml.MarshalOptions, rec clixml.Marshaler) ([]byte, error) {
	m, err := rec.MarshalCLIXML()
	if err != nil {
		return nil, &BodyError{Type: t, Err: fmt.Errorf("record: %w", err)}
	}
	return marshalModel(t, opts, m)
}

func decodeRecord(t MessageType, data []byte, opts clixml.UnmarshalOptions, rec clixml.Unmarshaler) error {
	v, err := decodeModel(t, data, opts)
	if err != nil {
		return err
	}
	if err := rec.UnmarshalCLIXML(v); err != nil {
		return &BodyError{Type: t, Err: fmt.Errorf("record: %w", err)}
	}
	return nil
}
