package clixml

import (
	"io"
	"reflect"
)

// SKELETON (owned by the codec work): the entry points. Bodies are replaced.

// MarshalOptions configures encoding. The zero value is ready to use.
type MarshalOptions struct {
	// Cipher encrypts SecureString values; encoding one without a Cipher fails
	// with ErrNoCipher.
	Cipher Cipher
}

// UnmarshalOptions configures decoding. The zero value is ready to use and
// applies the default limits.
type UnmarshalOptions struct {
	// Cipher, if set, decrypts SecureString values as they are decoded.
	Cipher Cipher
	// MaxDepth bounds element nesting; zero means DefaultMaxDepth.
	MaxDepth int
	// MaxBytes bounds the input size; zero means DefaultMaxBytes.
	MaxBytes int
	// MaxRefs bounds the number of RefIds and TN RefIds; zero means DefaultMaxRefs.
	MaxRefs int
}

// Marshal returns the CLIXML encoding of v.
func Marshal(v any) ([]byte, error) { return MarshalOptions{}.Marshal(v) }

// Marshal returns the CLIXML encoding of v.
func (o MarshalOptions) Marshal(v any) ([]byte, error) { return o.Append(nil, v) }

// Append appends the CLIXML encoding of v to dst.
func (o MarshalOptions) Append(dst []byte, v any) ([]byte, error) { panic("skeleton") }

// Unmarshal decodes one CLIXML value from data into v.
func Unmarshal(data []byte, v any) error { return UnmarshalOptions{}.Unmarshal(data, v) }

// Unmarshal decodes one CLIXML value from data into v.
func (o UnmarshalOptions) Unmarshal(data []byte, v any) error { panic("skeleton") }

// Decode decodes one CLIXML value from data into the lossless model.
func (o UnmarshalOptions) Decode(data []byte) (any, error) { panic("skeleton") }

// Decoder reads a stream of CLIXML values.
type Decoder struct{ r io.Reader }

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: r} }

var _ = reflect.TypeOf
