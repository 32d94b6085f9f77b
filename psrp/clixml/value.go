package clixml

import (
	"strings"
	"time"
)

// The lossless model. When the target of Unmarshal is an *any, or Marshal is
// given one of these types, CLIXML maps to Go as follows:
//
//	S        string            C        Char             B     bool
//	DT       DateTime          TS       TimeSpan         By    uint8
//	SB       int8              U16      uint16           I16   int16
//	U32      uint32            I32      int32            U64   uint64
//	I64      int64             Sg       float32          Db    float64
//	D        Decimal           BA       []byte           G     uuid.UUID
//	URI      URI               Nil      nil              Version Version
//	XD       XMLDocument       SBK      ScriptBlock      SS    SecureString
//	PR       ProgressRecord    Obj      *Object          Ref   the same *Object
//
// An <Obj> always decodes to *Object, even when it only wraps a primitive
// (an enum, or a string with extended members), so that type names,
// ToString and members survive a round trip.

// Object is a complex CLIXML object (<Obj>): a PSObject with its type names,
// ToString, an optional base value, adapted and extended properties and an
// optional container.
type Object struct {
	// TypeNames lists the type hierarchy, most specific first (<TN>).
	// Objects that share a <TNRef>, or decode equal lists, may share the
	// same slice; do not modify it.
	TypeNames []string
	// ToString is the object's string form (<ToString>); valid when HasToString.
	ToString    string
	HasToString bool
	// Kind says which container the object is, if any. (It sits beside
	// HasToString so that the two share a word: a stream of objects is
	// mostly Objects.)
	Kind ContainerKind
	// Value is the primitive the object wraps (an enum's I32, a string with
	// notes), or nil.
	Value any
	// Props holds the adapted properties (<Props>), in wire order.
	Props []Property
	// Members holds the extended properties (<MS>), in wire order.
	Members []Property
	// Items holds the elements of a list, enumerable, stack or queue.
	Items []any
	// Entries holds the entries of a dictionary.
	Entries []DictEntry
}

// Property is one named property of an Object.
type Property struct {
	Name  string
	Value any
}

// DictEntry is one key/value pair of a dictionary (<DCT><En>).
type DictEntry struct {
	Key   any
	Value any
}

// ContainerKind says which kind of collection an Object is.
type ContainerKind uint8

// Container kinds (MS-PSRP 2.2.5.2.6).
const (
	NotContainer ContainerKind = iota
	List                       // <LST>: arrays, ArrayList, List<T>
	Enumerable                 // <IE>: any other IEnumerable
	Stack                      // <STK>
	Queue                      // <QUE>
	Dictionary                 // <DCT>: Hashtable, PSPrimitiveDictionary
)

// Member returns the value of the property name, looking in the extended
// members first and then the adapted properties, as PowerShell does. Names
// match exactly first and then case-insensitively.
func (o *Object) Member(name string) (any, bool) {
	if o == nil {
		return nil, false
	}
	for _, set := range [2][]Property{o.Members, o.Props} {
		for i := range set {
			if set[i].Name == name {
				return set[i].Value, true
			}
		}
	}
	for _, set := range [2][]Property{o.Members, o.Props} {
		for i := range set {
			if strings.EqualFold(set[i].Name, name) {
				return set[i].Value, true
			}
		}
	}
	return nil, false
}

// IsType reports whether typeName (with or without the "Deserialized."
// prefix) is among the object's type names.
func (o *Object) IsType(typeName string) bool {
	if o == nil {
		return false
	}
	for _, t := range o.TypeNames {
		if t == typeName || strings.TrimPrefix(t, "Deserialized.") == typeName {
			return true
		}
	}
	return false
}

// Char is a .NET System.Char: one UTF-16 code unit (<C>).
type Char uint16

// DateTimeKind is .NET's DateTimeKind: how a DateTime relates to UTC.
type DateTimeKind uint8

// DateTime kinds. The kind decides the suffix on the wire: none, "Z" or an
// offset.
const (
	Unspecified DateTimeKind = iota
	UTC
	Local
)

// DateTime is a .NET System.DateTime (<DT>). Time carries the instant and,
// for Local, the offset that was written; Kind is kept so that re-encoding
// writes the same form.
type DateTime struct {
	Time time.Time
	Kind DateTimeKind
}

// TimeSpan is a .NET System.TimeSpan (<TS>) in ticks of 100 ns; it covers
// the whole .NET range, which time.Duration does not.
type TimeSpan int64

// Duration converts t to a time.Duration, saturating at its limits.
func (t TimeSpan) Duration() time.Duration {
	const max = int64(^uint64(0)>>1) / 100
	switch {
	case int64(t) > max:
		return time.Duration(1<<63 - 1)
	case int64(t) < -max:
		return time.Duration(-1 << 63)
	}
	return time.Duration(int64(t) * 100)
}

// TimeSpanOf converts d to a TimeSpan, truncating below 100 ns.
func TimeSpanOf(d time.Duration) TimeSpan { return TimeSpan(d / 100) }

// Decimal is a .NET System.Decimal (<D>), kept as its decimal text so that
// no digit is lost.
type Decimal string

// URI is a .NET System.Uri (<URI>).
type URI string

// XMLDocument is a .NET System.Xml.XmlDocument (<XD>), as its XML text.
type XMLDocument string

// ScriptBlock is a PowerShell script block (<SBK>), as its source text.
type ScriptBlock string

// Version is a .NET System.Version (<Version>). Build and Revision are -1
// when absent, as in .NET.
type Version struct {
	Major, Minor, Build, Revision int32
}

// SecureString is a PowerShell SecureString (<SS>). On the wire it is
// encrypted with the session key of the runspace pool; see Cipher.
type SecureString struct {
	// Ciphertext is the encrypted form, as received or as last encoded.
	Ciphertext []byte
	// Plaintext is the clear text; set by the caller to send a secret, or by
	// a decoder that was given a Cipher.
	Plaintext []byte
	// Decrypted reports whether Plaintext holds the clear text.
	Decrypted bool
}

// NewSecureString returns a SecureString holding s, to be encrypted when it
// is encoded.
func NewSecureString(s string) SecureString {
	return SecureString{Plaintext: []byte(s), Decrypted: true}
}

// String never reveals the secret.
func (SecureString) String() string { return "System.Security.SecureString" }

// GoString never reveals the secret.
func (SecureString) GoString() string { return "clixml.SecureString{…}" }

// Cipher encrypts and decrypts SecureString values with the session key of a
// runspace pool; the psrp package provides one after the key exchange.
// It works on bytes: the encoder hands Encrypt the text as UTF-16LE, as .NET
// does, and the decoder expects UTF-16LE back from Decrypt.
type Cipher interface {
	Encrypt(plaintext []byte) ([]byte, error)
	Decrypt(ciphertext []byte) ([]byte, error)
}

// Marshaler is implemented by types that turn themselves into the lossless
// model (any of the types listed above, usually an *Object).
type Marshaler interface {
	MarshalCLIXML() (any, error)
}

// Unmarshaler is implemented by types that fill themselves from a value of
// the lossless model.
type Unmarshaler interface {
	UnmarshalCLIXML(v any) error
}
