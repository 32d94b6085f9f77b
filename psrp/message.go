package psrp

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// MessageHeaderSize is the size of a PSRP message header (MS-PSRP 2.2.1):
// Destination (4), MessageType (4), RPID (16) and PID (16).
const MessageHeaderSize = 40

// ErrShortMessage means a message is shorter than its 40-byte header.
var ErrShortMessage = errors.New("psrp: message shorter than its header")

// ErrBadDestination means a message header carries a Destination other
// than 1 (client) or 2 (server).
var ErrBadDestination = errors.New("psrp: invalid message destination")

// utf8BOM is the byte order mark servers put before the CLIXML of a message.
const utf8BOM = "\xEF\xBB\xBF"

// Destination says which side a message is for (MS-PSRP 2.2.1).
type Destination uint32

// Destinations. Client-to-server messages carry DestinationServer.
const (
	DestinationClient Destination = 1
	DestinationServer Destination = 2
)

// String returns "client" or "server".
func (d Destination) String() string {
	switch d {
	case DestinationClient:
		return "client"
	case DestinationServer:
		return "server"
	}
	return fmt.Sprintf("Destination(%d)", uint32(d))
}

// Message is one PSRP message (MS-PSRP 2.2.1): the header and the CLIXML
// body. PipelineID is the zero UUID when the message targets the pool.
type Message struct {
	Destination    Destination
	Type           MessageType
	RunspacePoolID uuid.UUID
	PipelineID     uuid.UUID
	// Data is the CLIXML body without a byte order mark. After
	// DecodeMessage it aliases the input.
	Data []byte
}

// appendGUID appends id in .NET Guid.ToByteArray order: the first three
// groups little-endian, the last two as they are.
func appendGUID(dst []byte, id uuid.UUID) []byte {
	return append(dst,
		id[3], id[2], id[1], id[0],
		id[5], id[4],
		id[7], id[6],
		id[8], id[9], id[10], id[11], id[12], id[13], id[14], id[15])
}

// readGUID reads a GUID in .NET Guid.ToByteArray order from b[:16].
func readGUID(b []byte) uuid.UUID {
	return uuid.UUID{
		b[3], b[2], b[1], b[0],
		b[5], b[4],
		b[7], b[6],
		b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]}
}

// Append appends the wire form of m (header, then Data as is, without a
// BOM) to dst.
func (m Message) Append(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(m.Destination))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(m.Type))
	dst = appendGUID(dst, m.RunspacePoolID)
	dst = appendGUID(dst, m.PipelineID)
	return append(dst, m.Data...)
}

// DecodeMessage decodes a whole reassembled message. It strips the optional
// UTF-8 BOM from the body; Data aliases b. Unknown message types are not an
// error here: DecodeBody reports them as *UnknownMessageError.
func DecodeMessage(b []byte) (Message, error) {
	if len(b) < MessageHeaderSize {
		return Message{}, fmt.Errorf("psrp: message of %d bytes: %w", len(b), ErrShortMessage)
	}
	m := Message{
		Destination:    Destination(binary.LittleEndian.Uint32(b[0:4])),
		Type:           MessageType(binary.LittleEndian.Uint32(b[4:8])),
		RunspacePoolID: readGUID(b[8:24]),
		PipelineID:     readGUID(b[24:40]),
	}
	if m.Destination != DestinationClient && m.Destination != DestinationServer {
		return Message{}, fmt.Errorf("psrp: %s message with destination %d: %w",
			m.Type, uint32(m.Destination), ErrBadDestination)
	}
	data := b[MessageHeaderSize:]
	if len(data) >= len(utf8BOM) && string(data[:len(utf8BOM)]) == utf8BOM {
		data = data[len(utf8BOM):]
	}
	m.Data = data
	return m, nil
}
