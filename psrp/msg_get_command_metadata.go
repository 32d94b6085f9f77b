package psrp

import (
	"fmt"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// maxMetadataNames bounds the name and namespace lists of a decoded
// GET_COMMAND_METADATA.
const maxMetadataNames = 1 << 14

// GetCommandMetadata is GET_COMMAND_METADATA (MS-PSRP 2.2.2.14): the client
// asks for the metadata of the commands matching Names (wildcards allowed),
// as Get-Command does. The reply arrives as pipeline output.
type GetCommandMetadata struct {
	Names       []string
	CommandType CommandTypes
	// Namespace is the module names to look in; nil is written as Nil.
	Namespace []string
	// ArgumentList is passed to the commands to resolve dynamic
	// parameters; nil is written as Nil.
	ArgumentList []any
}

// MessageType implements Body.
func (GetCommandMetadata) MessageType() MessageType { return MessageGetCommandMetadata }

// ClientMessage marks a client-to-server body.
func (GetCommandMetadata) ClientMessage() {}

func stringArray(s []string) any {
	if s == nil {
		return nil
	}
	items := make([]any, len(s))
	for i, v := range s {
		items[i] = v
	}
	return &clixml.Object{TypeNames: []string{"System.String[]", "System.Array", typeObject},
		Kind: clixml.List, Items: items}
}

func (b GetCommandMetadata) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	var args any
	if b.ArgumentList != nil {
		args = &clixml.Object{TypeNames: []string{"System.Object[]", "System.Array", typeObject},
			Kind: clixml.List, Items: b.ArgumentList}
	}
	names := stringArray(b.Names)
	if names == nil {
		names = stringArray([]string{})
	}
	return marshalModel(b.MessageType(), opts, msObject(
		prop("Name", names),
		prop("CommandType", enumObject(typeCommandTypes, b.CommandType.String(), int32(b.CommandType))),
		prop("Namespace", stringArray(b.Namespace)),
		prop("ArgumentList", args),
	))
}

func (b *GetCommandMetadata) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	r, err := newObjReader(MessageGetCommandMetadata, data, opts)
	if err != nil {
		return err
	}
	b.Names = r.strings("Name")
	b.CommandType = CommandTypes(r.int32("CommandType"))
	b.Namespace = r.strings("Namespace")
	b.ArgumentList = r.listItems("ArgumentList")
	return r.err
}

// strings reads an optional list of strings; Nil gives nil.
func (r *objReader) strings(name string) []string {
	items := r.listItems(name)
	if r.err != nil || items == nil {
		return nil
	}
	if len(items) > maxMetadataNames {
		r.fail(name, fmt.Errorf("%w: %d entries", ErrPropertyType, len(items)))
		return nil
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, r.asString(name, it))
	}
	return out
}
