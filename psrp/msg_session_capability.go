package psrp

import "github.com/gopsrp/gopsrp/psrp/clixml"

// SessionCapability is SESSION_CAPABILITY (MS-PSRP 2.2.2.1), the first
// message of each side: the protocol, PowerShell and serialization versions
// it speaks. Both sides send it.
type SessionCapability struct {
	ProtocolVersion      clixml.Version
	PSVersion            clixml.Version
	SerializationVersion clixml.Version
	// TimeZone is the optional serialized client time zone (<BA N="TimeZone">);
	// nil leaves it out, as pypsrp and PowerShell 7 do.
	TimeZone []byte
}

// MessageType implements Body.
func (SessionCapability) MessageType() MessageType { return MessageSessionCapability }

// ClientMessage marks a client-to-server body.
func (SessionCapability) ClientMessage() {}

// ServerMessage marks a server-to-client body.
func (SessionCapability) ServerMessage() {}

func (b SessionCapability) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	o := msObject(
		prop("protocolversion", b.ProtocolVersion),
		prop("PSVersion", b.PSVersion),
		prop("SerializationVersion", b.SerializationVersion),
	)
	if b.TimeZone != nil {
		o.Members = append(o.Members, prop("TimeZone", b.TimeZone))
	}
	return marshalModel(b.MessageType(), opts, o)
}

func (b *SessionCapability) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	r, err := newObjReader(MessageSessionCapability, data, opts)
	if err != nil {
		return err
	}
	b.ProtocolVersion = r.version("protocolversion")
	b.PSVersion = r.version("PSVersion")
	b.SerializationVersion = r.version("SerializationVersion")
	if tz := r.opt("TimeZone"); tz != nil {
		if ba, ok := tz.([]byte); ok {
			b.TimeZone = ba
		} else {
			r.fail("TimeZone", ErrPropertyType)
		}
	}
	return r.err
}
