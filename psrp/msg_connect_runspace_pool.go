package psrp

import (
	"fmt"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// ConnectRunspacePool is CONNECT_RUNSPACEPOOL (MS-PSRP 2.2.2.29): the client
// connects to an existing (disconnected) pool. With both counts zero the
// body is "<S />", as PowerShell sends for the default pool; otherwise an
// object with the new minimum and maximum.
type ConnectRunspacePool struct {
	MinRunspaces int32
	MaxRunspaces int32
}

// MessageType implements Body.
func (ConnectRunspacePool) MessageType() MessageType { return MessageConnectRunspacePool }

// ClientMessage marks a client-to-server body.
func (ConnectRunspacePool) ClientMessage() {}

func (b ConnectRunspacePool) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	if b.MinRunspaces == 0 && b.MaxRunspaces == 0 {
		return []byte(sEmpty), nil
	}
	return marshalModel(b.MessageType(), opts, msObject(
		prop("MinRunspaces", b.MinRunspaces),
		prop("MaxRunspaces", b.MaxRunspaces),
	))
}

func (b *ConnectRunspacePool) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	v, err := decodeModel(MessageConnectRunspacePool, data, opts)
	if err != nil {
		return err
	}
	switch x := v.(type) {
	case string:
		*b = ConnectRunspacePool{}
		return nil
	case *clixml.Object:
		r := &objReader{t: MessageConnectRunspacePool, obj: x}
		b.MinRunspaces = r.int32("MinRunspaces")
		b.MaxRunspaces = r.int32("MaxRunspaces")
		return r.err
	}
	return &BodyError{Type: MessageConnectRunspacePool, Err: fmt.Errorf("%w: body is %T", ErrPropertyType, v)}
}
