package psrp

import (
	"fmt"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// ApplicationPrivateData is APPLICATION_PRIVATE_DATA (MS-PSRP 2.2.2.13):
// data the server's session configuration hands to the client, among it
// the server's PSVersionTable.
type ApplicationPrivateData struct {
	// Data is the ApplicationPrivateData dictionary, kept as the lossless
	// model (a PSPrimitiveDictionary object), or nil when the server sent
	// Nil. Build one from a map with PrimitiveDictionary.
	Data *clixml.Object
}

// MessageType implements Body.
func (ApplicationPrivateData) MessageType() MessageType { return MessageApplicationPrivateData }

// ServerMessage marks a server-to-client body.
func (ApplicationPrivateData) ServerMessage() {}

// Map returns the data as a map; nested dictionaries become nested maps,
// other values stay in the clixml model. It returns nil for Nil data.
func (b ApplicationPrivateData) Map() (map[string]any, error) {
	if b.Data == nil {
		return nil, nil
	}
	return dictionaryMap(b.Data)
}

// PSVersionTable returns the server's PSVersionTable entry, if present.
func (b ApplicationPrivateData) PSVersionTable() (map[string]any, bool) {
	m, err := b.Map()
	if err != nil || m == nil {
		return nil, false
	}
	t, ok := m["PSVersionTable"].(map[string]any)
	return t, ok
}

func (b ApplicationPrivateData) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	var data any
	if b.Data != nil {
		data = b.Data
	}
	return marshalModel(b.MessageType(), opts, msObject(prop("ApplicationPrivateData", data)))
}

func (b *ApplicationPrivateData) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	r, err := newObjReader(MessageApplicationPrivateData, data, opts)
	if err != nil {
		return err
	}
	b.Data = r.object("ApplicationPrivateData", true)
	if r.err == nil && b.Data != nil && b.Data.Kind != clixml.Dictionary {
		r.fail("ApplicationPrivateData", fmt.Errorf("%w: not a dictionary", ErrPropertyType))
	}
	return r.err
}
