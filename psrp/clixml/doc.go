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
// struct tags (their grammar is documented with the reflection code of this
// package). Types can take over with the Marshaler and Unmarshaler
// interfaces; the typed records (ErrorRecord, ProgressRecord,
// InformationRecord, ...) do.
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
