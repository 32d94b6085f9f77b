// Package clixml reads and writes CLIXML, the XML serialization PowerShell
// uses for remoting (MS-PSRP 2.2.5) and for Export-Clixml/Import-Clixml
// files.
//
// # Two ways in and out
//
// The lossless path maps CLIXML onto a small set of Go types (the model)
// that keep everything the wire carries: type names, ToString, adapted and
// extended properties in order, the container kind, the DateTime kind and
// offset, Decimal digits, Ref identity. Decode (or Unmarshal into a *any)
// returns it; Marshal accepts it and writes the same CLIXML back:
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
// An <Obj> always decodes to *Object: enums (a TN list, a ToString with the
// name and an <I32>), deserialized objects, lists (<LST>, <IE>, <STK>,
// <QUE>) and dictionaries (<DCT>). Object.Member finds a property the way
// PowerShell does.
//
// The friendly path works like encoding/json: Unmarshal into a struct,
// map or slice, and Marshal of ordinary Go values, with `clixml:"Name"`
// struct tags. Types can take over with the Marshaler and Unmarshaler
// interfaces; the typed records (ErrorRecord, ProgressRecord,
// InformationRecord, ...) do.
//
// # Go values
//
// Marshal maps Go values to CLIXML as follows:
//
//   - the model types (listed above) are written as they are;
//   - a type implementing Marshaler (also through a pointer receiver) is
//     written as whatever its MarshalCLIXML returns;
//   - bool, string and the sized integers and floats become B, S, SB, By,
//     I16, U16, I32, U32, I64, U64, Sg, Db; int and uint
//     become I32 and U32 when the value fits, else I64 and U64 (PowerShell
//     types integer literals the same way);
//     named types are written as their underlying kind (a named integer
//     type with a String method is still a plain integer);
//   - time.Time becomes DT (UTC kind for times in time.UTC, an offset
//     otherwise) and time.Duration becomes TS;
//   - []byte becomes BA; other slices and arrays become a list
//     (System.Object[]); maps become a Hashtable whose entries are sorted
//     by key; a nil slice, map, pointer or interface becomes Nil;
//   - a struct becomes an Obj whose extended members (MS) are its fields in
//     declaration order. Type names come from a CLIXMLTypeNames method (see
//     TypeNamer); without one the object has none.
//
// Struct fields are named and chosen with the "clixml" tag, like the "json"
// tag: `clixml:"Name"` renames, `clixml:"-"` skips, `clixml:",omitempty"`
// leaves out false, 0, "", nil and empty slices and maps, and zero structs
// (such as a zero time.Time). Untagged exported fields use the field name.
// Fields of embedded structs are promoted as encoding/json promotes them.
//
// Unmarshal into a Go value reverses this. A struct is filled from an Obj's
// extended members and then its adapted properties, matched by name exactly
// and then case-insensitively; unknown properties are ignored. An Obj that
// wraps a primitive (an enum) fills an integer or bool from the primitive
// and a string from its ToString. Integers are range checked. A value that
// does not fit its target is skipped with an *UnmarshalTypeError, and the
// first such error is returned once everything else is filled in.
//
// # Streams and files
//
// NewDecoder reads values one at a time from an io.Reader: successive
// top-level values, or the children of an Export-Clixml <Objs> document
// (UTF-8 or UTF-16, as Windows PowerShell writes them). NewEncoder writes
// values, and EncodeDocument (or StartDocument/EndDocument) writes a
// document Import-Clixml reads.
//
// # Limits and errors
//
// Decoding is bounded by UnmarshalOptions (depth, bytes per value, number
// of RefIds) and never panics. Malformed XML gives *SyntaxError, XML that is
// not CLIXML (an unknown tag, a value that does not parse, a Ref to an
// unknown id) gives *FormatError, a limit gives *LimitError, all with the
// byte offset and a "clixml:" prefix.
//
// # SecureString
//
// SecureString values are encrypted with the runspace pool's session key.
// A Cipher (the psrp package provides one) sees the UTF-16LE bytes that
// .NET encrypts; SecureString.Plaintext holds UTF-8, and the conversion is
// done here. Without a Cipher, decoding keeps the ciphertext and encoding
// a new secret fails with ErrNoCipher.
package clixml
