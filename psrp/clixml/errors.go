package clixml

import (
	"errors"
	"reflect"
	"strconv"
)

// Default limits applied by a zero UnmarshalOptions.
const (
	// DefaultMaxDepth bounds element nesting. A PowerShell object serialized
	// at the usual depth nests a few dozen elements; 128 leaves room for
	// deep hashtables while keeping recursion bounded.
	DefaultMaxDepth = 128
	// DefaultMaxBytes bounds the size of one value (64 MiB), above the
	// 50 MB PowerShell's own transport accepts.
	DefaultMaxBytes = 64 << 20
	// DefaultMaxRefs bounds the number of RefIds plus TN RefIds in a value.
	DefaultMaxRefs = 1 << 20
)

// ErrNoCipher is returned when a SecureString must be encrypted and
// MarshalOptions.Cipher is nil.
var ErrNoCipher = errors.New("clixml: SecureString needs a Cipher (the pool's session key) to be encoded")

// SyntaxError reports input that is not well-formed XML.
type SyntaxError struct {
	Msg    string // what is wrong
	Offset int64  // byte offset in the input where the problem was found
}

func (e *SyntaxError) Error() string {
	return "clixml: syntax error at offset " + strconv.FormatInt(e.Offset, 10) + ": " + e.Msg
}

// FormatError reports well-formed XML that is not valid CLIXML: an unknown
// tag, a value that does not parse as its type, a Ref or TNRef to an unknown
// id.
type FormatError struct {
	Tag    string // the element being decoded
	Msg    string // what is wrong
	Offset int64  // byte offset of the element's content
	Err    error  // underlying error, if any
}

func (e *FormatError) Error() string {
	s := "clixml: invalid <" + e.Tag + "> at offset " + strconv.FormatInt(e.Offset, 10) + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *FormatError) Unwrap() error { return e.Err }

// LimitError reports input that exceeds one of the UnmarshalOptions limits.
type LimitError struct {
	Limit  string // "MaxDepth", "MaxBytes" or "MaxRefs"
	Max    int    // the limit in force
	Offset int64  // byte offset where it was exceeded
}

func (e *LimitError) Error() string {
	return "clixml: input exceeds " + e.Limit + " (" + strconv.Itoa(e.Max) + ") at offset " + strconv.FormatInt(e.Offset, 10)
}

// InvalidUnmarshalError reports a target of Unmarshal that is not a non-nil
// pointer.
type InvalidUnmarshalError struct {
	Type reflect.Type
}

func (e *InvalidUnmarshalError) Error() string {
	if e.Type == nil {
		return "clixml: Unmarshal(nil)"
	}
	if e.Type.Kind() != reflect.Pointer {
		return "clixml: Unmarshal(non-pointer " + e.Type.String() + ")"
	}
	return "clixml: Unmarshal(nil " + e.Type.String() + ")"
}

// EncodeError reports a value that cannot be encoded.
type EncodeError struct {
	Msg string
	Err error
}

func (e *EncodeError) Error() string {
	s := "clixml: cannot encode: " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *EncodeError) Unwrap() error { return e.Err }
