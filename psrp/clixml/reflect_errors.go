package clixml

import (
	"reflect"
	"strings"
)

// UnmarshalTypeError reports a CLIXML value that cannot be stored in the Go
// value it was meant for: a string into an int, an I64 that does not fit an
// int8, a list into a struct. Unmarshal skips that value, finishes and
// returns the first such error.
type UnmarshalTypeError struct {
	// Value describes the CLIXML value: its tag ("S", "Obj", "LST"...),
	// followed by the number for numbers that are out of range.
	Value string
	// Type is the Go type it could not be stored in.
	Type reflect.Type
	// Struct is the name of the innermost struct type holding the field, or
	// "" when the value was not in a struct.
	Struct string
	// Field is the path of CLIXML property names from the root struct to
	// the field, joined by dots.
	Field string
}

// Error describes the mismatch and where it happened.
func (e *UnmarshalTypeError) Error() string {
	var b strings.Builder
	b.WriteString("clixml: cannot unmarshal ")
	b.WriteString(e.Value)
	b.WriteString(" into Go ")
	if e.Struct != "" || e.Field != "" {
		b.WriteString("struct field ")
		b.WriteString(e.Struct)
		if e.Field != "" {
			b.WriteByte('.')
			b.WriteString(e.Field)
		}
		b.WriteString(" of type ")
	} else {
		b.WriteString("value of type ")
	}
	if e.Type != nil {
		b.WriteString(e.Type.String())
	} else {
		b.WriteString("<nil>")
	}
	return b.String()
}

// UnsupportedTypeError reports a Go type that Marshal cannot encode:
// channels, functions, complex numbers, unsafe pointers.
type UnsupportedTypeError struct {
	Type reflect.Type
}

// Error names the type.
func (e *UnsupportedTypeError) Error() string {
	return "clixml: unsupported type: " + e.Type.String()
}

// UnsupportedValueError reports a Go value that Marshal cannot encode
// although its type is supported, such as a pointer cycle.
type UnsupportedValueError struct {
	Value reflect.Value
	Str   string // what is wrong
}

// Error says what is wrong with the value.
func (e *UnsupportedValueError) Error() string {
	return "clixml: unsupported value: " + e.Str
}

// MarshalerError wraps an error returned by a Marshaler or Unmarshaler.
type MarshalerError struct {
	Type   reflect.Type
	Err    error
	Method string // "MarshalCLIXML" or "UnmarshalCLIXML"
}

// Error names the method, the type and the error it returned.
func (e *MarshalerError) Error() string {
	return "clixml: error calling " + e.Method + " for type " + e.Type.String() + ": " + e.Err.Error()
}

// Unwrap returns the Marshaler's error.
func (e *MarshalerError) Unwrap() error { return e.Err }
