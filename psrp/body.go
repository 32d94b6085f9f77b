package psrp

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// Body is the decoded CLIXML body of one PSRP message. Each message type of
// MS-PSRP 2.2.2 has its own struct (SessionCapability, InitRunspacePool,
// ...). Bodies the client sends also implement ClientBody, bodies the server
// sends implement ServerBody; SessionCapability implements both.
type Body interface {
	MessageType() MessageType
}

// ClientBody is a Body that clients send to servers.
type ClientBody interface {
	Body
	// ClientMessage is a no-op marking the direction.
	ClientMessage()
}

// ServerBody is a Body that servers send to clients.
type ServerBody interface {
	Body
	// ServerMessage is a no-op marking the direction.
	ServerMessage()
}

// bodyEncoder is implemented by every Body of this package: it returns the
// CLIXML of the body. Most bodies build a model tree and marshal it.
type bodyEncoder interface {
	encodeBody(opts clixml.MarshalOptions) ([]byte, error)
}

// Errors of the body layer.
var (
	// ErrMissingProperty means a required property is absent from a body.
	ErrMissingProperty = errors.New("psrp: missing property")
	// ErrPropertyType means a property has a type or value the message
	// does not allow.
	ErrPropertyType = errors.New("psrp: property has the wrong type")
)

// UnknownMessageError is returned by DecodeBody for a message type that
// MS-PSRP does not define (or this package does not know).
type UnknownMessageError struct {
	Type MessageType
}

// Error implements error.
func (e *UnknownMessageError) Error() string {
	return fmt.Sprintf("psrp: unknown message type 0x%08X", uint32(e.Type))
}

// BodyError reports a body that could not be decoded or encoded. Property
// names the offending property when there is one. Err is the cause: a
// clixml error, ErrMissingProperty or ErrPropertyType.
type BodyError struct {
	Type     MessageType
	Property string
	Err      error
}

// Error implements error.
func (e *BodyError) Error() string {
	if e.Property != "" {
		return fmt.Sprintf("psrp: %s body: property %q: %v", e.Type, e.Property, e.Err)
	}
	return fmt.Sprintf("psrp: %s body: %v", e.Type, e.Err)
}

// Unwrap returns the cause.
func (e *BodyError) Unwrap() error { return e.Err }

// EncodeBody returns the CLIXML of b (UTF-8, no BOM), ready to be the Data
// of a Message. opts carries the session key cipher for SecureStrings.
func EncodeBody(b Body, opts clixml.MarshalOptions) ([]byte, error) {
	if b == nil {
		return nil, errors.New("psrp: EncodeBody of a nil Body")
	}
	enc, ok := b.(bodyEncoder)
	if !ok {
		return nil, fmt.Errorf("psrp: EncodeBody: %T is not a body of this package", b)
	}
	// Client bodies in the attribute order of the recorded client (pypsrp),
	// so that they match the captures byte for byte.
	_, fromServer := b.(ServerBody)
	opts.RefIDFirst = !fromServer
	data, err := enc.encodeBody(opts)
	if err != nil {
		var be *BodyError
		if errors.As(err, &be) {
			return nil, err
		}
		return nil, &BodyError{Type: b.MessageType(), Err: err}
	}
	return data, nil
}

// DecodeBody decodes the CLIXML body data of a message of type t. It
// returns a pointer to the body struct of that type (e.g. *PipelineOutput).
// An unknown type gives *UnknownMessageError; a malformed body gives
// *BodyError. Decoded values may alias data only through clixml's own
// rules; data can be reused after DecodeBody returns.
func DecodeBody(t MessageType, data []byte, opts clixml.UnmarshalOptions) (Body, error) {
	var b interface {
		Body
		decodeBody(data []byte, opts clixml.UnmarshalOptions) error
	}
	switch t {
	case MessageSessionCapability:
		b = new(SessionCapability)
	case MessageInitRunspacePool:
		b = new(InitRunspacePool)
	case MessagePublicKey:
		b = new(PublicKey)
	case MessageEncryptedSessionKey:
		b = new(EncryptedSessionKey)
	case MessagePublicKeyRequest:
		b = new(PublicKeyRequest)
	case MessageConnectRunspacePool:
		b = new(ConnectRunspacePool)
	case MessageSetMaxRunspaces:
		b = new(SetMaxRunspaces)
	case MessageSetMinRunspaces:
		b = new(SetMinRunspaces)
	case MessageRunspaceAvailability:
		b = new(RunspaceAvailability)
	case MessageRunspacePoolState:
		b = new(RunspacePoolStateMessage)
	case MessageCreatePipeline:
		b = new(CreatePipeline)
	case MessageGetAvailableRunspaces:
		b = new(GetAvailableRunspaces)
	case MessageUserEvent:
		b = new(UserEvent)
	case MessageApplicationPrivateData:
		b = new(ApplicationPrivateData)
	case MessageGetCommandMetadata:
		b = new(GetCommandMetadata)
	case MessageRunspacePoolInitData:
		b = new(RunspacePoolInitData)
	case MessageResetRunspaceState:
		b = new(ResetRunspaceState)
	case MessageRunspacePoolHostCall:
		b = new(RunspacePoolHostCall)
	case MessageRunspacePoolHostResponse:
		b = new(RunspacePoolHostResponse)
	case MessagePipelineInput:
		b = new(PipelineInput)
	case MessageEndOfPipelineInput:
		b = new(EndOfPipelineInput)
	case MessagePipelineOutput:
		b = new(PipelineOutput)
	case MessageErrorRecord:
		b = new(ErrorRecord)
	case MessagePipelineState:
		b = new(PipelineState)
	case MessageDebugRecord:
		b = new(DebugRecord)
	case MessageVerboseRecord:
		b = new(VerboseRecord)
	case MessageWarningRecord:
		b = new(WarningRecord)
	case MessageProgressRecord:
		b = new(ProgressRecord)
	case MessageInformationRecord:
		b = new(InformationRecord)
	case MessagePipelineHostCall:
		b = new(PipelineHostCall)
	case MessagePipelineHostResponse:
		b = new(PipelineHostResponse)
	default:
		return nil, &UnknownMessageError{Type: t}
	}
	if err := b.decodeBody(data, opts); err != nil {
		var be *BodyError
		if errors.As(err, &be) {
			return nil, err
		}
		return nil, &BodyError{Type: t, Err: err}
	}
	return b, nil
}

// ---- building model trees ----

// prop is a shorthand for a named property.
func prop(name string, v any) clixml.Property { return clixml.Property{Name: name, Value: v} }

// msObject returns an <Obj> with only extended members (<MS>), the shape of
// almost every message body.
func msObject(members ...clixml.Property) *clixml.Object {
	return &clixml.Object{Members: members}
}

// enumTypeNames is the type list .NET writes for an enum value.
func enumTypeNames(typeName string) []string {
	return []string{typeName, "System.Enum", "System.ValueType", "System.Object"}
}

// enumObject returns an enum value as PowerShell serializes it: the type
// names, ToString and the I32 value.
func enumObject(typeName, str string, v int32) *clixml.Object {
	return &clixml.Object{TypeNames: enumTypeNames(typeName), ToString: str, HasToString: true, Value: v}
}

// Type names used by several bodies.
const (
	typeApartmentState      = "System.Management.Automation.Runspaces.ApartmentState"
	typeThreadOptions       = "System.Management.Automation.Runspaces.PSThreadOptions"
	typeRemoteStreamOptions = "System.Management.Automation.Runspaces.RemoteStreamOptions"
	typePipelineResultTypes = "System.Management.Automation.Runspaces.PipelineResultTypes"
	typeHostMethodID        = "System.Management.Automation.Remoting.RemoteHostMethodId"
	typeCommandTypes        = "System.Management.Automation.CommandTypes"
	typePrimitiveDictionary = "System.Management.Automation.PSPrimitiveDictionary"
	typeHashtable           = "System.Collections.Hashtable"
	typeArrayList           = "System.Collections.ArrayList"
	typeObject              = "System.Object"
	typePSObjectList        = "System.Collections.Generic.List`1[[System.Management.Automation.PSObject, System.Management.Automation, Version=1.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]"
)

// marshalModel marshals a model tree, mapping errors to the body type.
func marshalModel(t MessageType, opts clixml.MarshalOptions, v any) ([]byte, error) {
	data, err := opts.Marshal(v)
	if err != nil {
		return nil, &BodyError{Type: t, Err: err}
	}
	return data, nil
}

// ---- reading model trees ----

// decodeModel decodes data into the lossless model.
func decodeModel(t MessageType, data []byte, opts clixml.UnmarshalOptions) (any, error) {
	v, err := opts.Decode(data)
	if err != nil {
		return nil, &BodyError{Type: t, Err: err}
	}
	return v, nil
}

// objReader reads the properties of a body object; the first error sticks
// and later reads return zero values, so decoders read every field and
// check err once.
type objReader struct {
	t   MessageType
	obj *clixml.Object
	err error
}

// newObjReader decodes data and expects an <Obj>.
func newObjReader(t MessageType, data []byte, opts clixml.UnmarshalOptions) (*objReader, error) {
	v, err := decodeModel(t, data, opts)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(*clixml.Object)
	if !ok || obj == nil {
		return nil, &BodyError{Type: t, Err: fmt.Errorf("%w: body is %T, want an object", ErrPropertyType, v)}
	}
	return &objReader{t: t, obj: obj}, nil
}

func (r *objReader) fail(name string, err error) {
	if r.err == nil {
		r.err = &BodyError{Type: r.t, Property: name, Err: err}
	}
}

// get returns a property's value; a missing property is an error.
func (r *objReader) get(name string) any {
	if r.err != nil {
		return nil
	}
	v, ok := r.obj.Member(name)
	if !ok {
		r.fail(name, ErrMissingProperty)
		return nil
	}
	return v
}

// opt returns a property's value, or nil if it is absent.
func (r *objReader) opt(name string) any {
	if r.err != nil {
		return nil
	}
	v, _ := r.obj.Member(name)
	return v
}

// has reports whether the property exists.
func (r *objReader) has(name string) bool {
	_, ok := r.obj.Member(name)
	return ok
}

// int64Of converts any integer model value (or an enum object wrapping
// one) to int64.
func int64Of(v any) (int64, bool) {
	switch x := v.(type) {
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case *clixml.Object:
		if x == nil || x.Value == nil {
			return 0, false
		}
		if _, nested := x.Value.(*clixml.Object); nested {
			return 0, false
		}
		return int64Of(x.Value)
	}
	return 0, false
}

func (r *objReader) int64(name string) int64 {
	v := r.get(name)
	if r.err != nil {
		return 0
	}
	n, ok := int64Of(v)
	if !ok {
		r.fail(name, fmt.Errorf("%w: %T, want an integer", ErrPropertyType, v))
	}
	return n
}

// int32 reads an integer property (a plain number or an enum object) that
// must fit in 32 bits.
func (r *objReader) int32(name string) int32 {
	n := r.int64(name)
	if r.err != nil {
		return 0
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		r.fail(name, fmt.Errorf("%w: %d does not fit in 32 bits", ErrPropertyType, n))
		return 0
	}
	return int32(n)
}

func (r *objReader) bool(name string) bool {
	v := r.get(name)
	if r.err != nil {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		r.fail(name, fmt.Errorf("%w: %T, want a bool", ErrPropertyType, v))
	}
	return b
}

// optBool reads a bool that may be absent (def) or Nil (def).
func (r *objReader) optBool(name string, def bool) bool {
	v := r.opt(name)
	if v == nil || r.err != nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		r.fail(name, fmt.Errorf("%w: %T, want a bool", ErrPropertyType, v))
	}
	return b
}

// str reads a string property; Nil reads as "".
func (r *objReader) str(name string) string {
	v := r.get(name)
	if r.err != nil || v == nil {
		return ""
	}
	return r.asString(name, v)
}

// optStr reads a string that may be absent or Nil.
func (r *objReader) optStr(name string) string {
	v := r.opt(name)
	if r.err != nil || v == nil {
		return ""
	}
	return r.asString(name, v)
}

func (r *objReader) asString(name string, v any) string {
	switch s := v.(type) {
	case string:
		return s
	case *clixml.Object:
		// A string with extended members is an Obj wrapping the string.
		if str, ok := s.Value.(string); ok && s != nil {
			return str
		}
	}
	r.fail(name, fmt.Errorf("%w: %T, want a string", ErrPropertyType, v))
	return ""
}

func (r *objReader) version(name string) clixml.Version {
	v := r.get(name)
	if r.err != nil {
		return clixml.Version{}
	}
	ver, ok := v.(clixml.Version)
	if !ok {
		r.fail(name, fmt.Errorf("%w: %T, want a Version", ErrPropertyType, v))
	}
	return ver
}

// object reads a property that must be an object, or nil when Nil/absent
// and optional.
func (r *objReader) object(name string, optional bool) *clixml.Object {
	var v any
	if optional {
		v = r.opt(name)
	} else {
		v = r.get(name)
	}
	if r.err != nil || v == nil {
		if !optional && r.err == nil {
			r.fail(name, fmt.Errorf("%w: Nil, want an object", ErrPropertyType))
		}
		return nil
	}
	o, ok := v.(*clixml.Object)
	if !ok || o == nil {
		r.fail(name, fmt.Errorf("%w: %T, want an object", ErrPropertyType, v))
		return nil
	}
	return o
}

// errorRecord reads an optional ErrorRecord property (e.g.
// ExceptionAsErrorRecord); absent or Nil gives nil.
func (r *objReader) errorRecord(name string) *clixml.ErrorRecord {
	o := r.object(name, true)
	if o == nil || r.err != nil {
		return nil
	}
	rec := new(clixml.ErrorRecord)
	if err := rec.UnmarshalCLIXML(o); err != nil {
		r.fail(name, err)
		return nil
	}
	return rec
}

// listItems returns the items of a list-like object property; Nil or absent
// gives nil.
func (r *objReader) listItems(name string) []any {
	o := r.object(name, true)
	if o == nil || r.err != nil {
		return nil
	}
	if o.Kind == clixml.NotContainer || o.Kind == clixml.Dictionary {
		r.fail(name, fmt.Errorf("%w: object is not a list", ErrPropertyType))
		return nil
	}
	return o.Items
}

// ---- dictionaries ----

// PrimitiveDictionary returns m as a PowerShell PSPrimitiveDictionary
// object, with the keys sorted so that the encoding is deterministic.
// Nested map[string]any values become nested PSPrimitiveDictionaries.
func PrimitiveDictionary(m map[string]any) *clixml.Object {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	o := &clixml.Object{
		TypeNames: []string{typePrimitiveDictionary, typeHashtable, typeObject},
		Kind:      clixml.Dictionary,
		Entries:   make([]clixml.DictEntry, 0, len(keys)),
	}
	for _, k := range keys {
		v := m[k]
		if sub, ok := v.(map[string]any); ok {
			v = PrimitiveDictionary(sub)
		}
		o.Entries = append(o.Entries, clixml.DictEntry{Key: k, Value: v})
	}
	return o
}

// dictionaryMap converts a dictionary object with string keys to a map.
// Nested dictionaries with string keys become nested maps; other values
// stay in the lossless model. Each object is converted once, so shared
// references (<Ref>) cannot multiply the work, and a dictionary that
// contains itself keeps the inner occurrence as the *clixml.Object.
func dictionaryMap(o *clixml.Object) (map[string]any, error) {
	c := dictConverter{done: map[*clixml.Object]map[string]any{}, busy: map[*clixml.Object]bool{}}
	return c.convert(o)
}

type dictConverter struct {
	done map[*clixml.Object]map[string]any
	busy map[*clixml.Object]bool
}

func (c *dictConverter) convert(o *clixml.Object) (map[string]any, error) {
	if o == nil || o.Kind != clixml.Dictionary {
		return nil, fmt.Errorf("%w: object is not a dictionary", ErrPropertyType)
	}
	if m, ok := c.done[o]; ok {
		return m, nil
	}
	c.busy[o] = true
	defer delete(c.busy, o)
	m := make(map[string]any, len(o.Entries))
	for _, e := range o.Entries {
		k, ok := e.Key.(string)
		if !ok {
			return nil, fmt.Errorf("%w: dictionary key is %T, want a string", ErrPropertyType, e.Key)
		}
		v := e.Value
		if sub, ok := v.(*clixml.Object); ok && sub != nil && sub.Kind == clixml.Dictionary && !c.busy[sub] {
			if sm, err := c.convert(sub); err == nil {
				v = sm
			}
		}
		m[k] = v
	}
	c.done[o] = m
	return m, nil
}
