package psrp

import (
	"fmt"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// InitRunspacePool is INIT_RUNSPACEPOOL (MS-PSRP 2.2.2.2): the client asks
// the server to open the pool.
type InitRunspacePool struct {
	MinRunspaces   int32
	MaxRunspaces   int32
	ThreadOptions  PSThreadOptions
	ApartmentState ApartmentState
	HostInfo       clixml.HostInfo
	// ApplicationArguments are sent to the server as $PSSenderInfo
	// .ApplicationArguments. nil is written as <Nil N="ApplicationArguments" />;
	// otherwise a PSPrimitiveDictionary with sorted keys. Decoded nested
	// dictionaries become map[string]any; other values stay in the clixml model.
	ApplicationArguments map[string]any
}

// MessageType implements Body.
func (InitRunspacePool) MessageType() MessageType { return MessageInitRunspacePool }

// ClientMessage marks a client-to-server body.
func (InitRunspacePool) ClientMessage() {}

func (b InitRunspacePool) encodeBody(opts clixml.MarshalOptions) ([]byte, error) {
	hi, err := hostInfoModel(b.HostInfo)
	if err != nil {
		return nil, &BodyError{Type: b.MessageType(), Property: "HostInfo", Err: err}
	}
	var args any
	if b.ApplicationArguments != nil {
		args = PrimitiveDictionary(b.ApplicationArguments)
	}
	o := msObject(
		prop("MinRunspaces", b.MinRunspaces),
		prop("MaxRunspaces", b.MaxRunspaces),
		prop("PSThreadOptions", enumObject(typeThreadOptions, b.ThreadOptions.String(), int32(b.ThreadOptions))),
		prop("ApartmentState", enumObject(typeApartmentState, b.ApartmentState.wireString(), int32(b.ApartmentState))),
		prop("HostInfo", hi),
		prop("ApplicationArguments", args),
	)
	return marshalModel(b.MessageType(), opts, o)
}

func (b *InitRunspacePool) decodeBody(data []byte, opts clixml.UnmarshalOptions) error {
	r, err := newObjReader(MessageInitRunspacePool, data, opts)
	if err != nil {
		return err
	}
	b.MinRunspaces = r.int32("MinRunspaces")
	b.MaxRunspaces = r.int32("MaxRunspaces")
	b.ThreadOptions = PSThreadOptions(r.int32("PSThreadOptions"))
	b.ApartmentState = ApartmentState(r.int32("ApartmentState"))
	b.HostInfo = r.hostInfo("HostInfo")
	if args := r.object("ApplicationArguments", true); args != nil && r.err == nil {
		m, err := dictionaryMap(args)
		if err != nil {
			r.fail("ApplicationArguments", err)
		}
		b.ApplicationArguments = m
	}
	return r.err
}

// hostInfoModel returns the HostInfo object (MS-PSRP 2.2.3.14). The usual
// "no host" form, without default data, is built here so that the bytes
// are exactly those of real clients; anything else is the record's own
// encoding.
func hostInfoModel(h clixml.HostInfo) (any, error) {
	if h.HostDefaultData == nil {
		return msObject(
			prop("_isHostNull", h.IsHostNull),
			prop("_isHostUINull", h.IsHostUINull),
			prop("_isHostRawUINull", h.IsHostRawUINull),
			prop("_useRunspaceHost", h.UseRunspaceHost),
		), nil
	}
	return h.MarshalCLIXML()
}

// hostInfo reads a HostInfo property; the form without _hostDefaultData is
// read here, anything richer by the record's own decoder.
func (r *objReader) hostInfo(name string) clixml.HostInfo {
	o := r.object(name, false)
	if o == nil || r.err != nil {
		return clixml.HostInfo{}
	}
	if _, ok := o.Member("_hostDefaultData"); !ok {
		sub := &objReader{t: r.t, obj: o}
		h := clixml.HostInfo{
			IsHostNull:      sub.optBool("_isHostNull", true),
			IsHostUINull:    sub.optBool("_isHostUINull", true),
			IsHostRawUINull: sub.optBool("_isHostRawUINull", true),
			UseRunspaceHost: sub.optBool("_useRunspaceHost", true),
		}
		if sub.err != nil {
			r.fail(name, sub.err)
		}
		return h
	}
	var h clixml.HostInfo
	if err := h.UnmarshalCLIXML(o); err != nil {
		r.fail(name, fmt.Errorf("host info: %w", err))
	}
	return h
}
