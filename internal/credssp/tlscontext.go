package credssp

import (
	"context"
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// tlsContext is the part of a CredSSP context that the Client and the
// Server share: the TLS channel, which seals the messages once the
// credentials are delegated, and the failure that ends the context.
type tlsContext struct {
	ch          *tlsChannel
	err         error
	established bool
}

// Close releases the context: it ends the TLS handshake goroutine if the
// handshake is still running. Wrap and Unwrap fail afterwards.
func (x *tlsContext) Close() error {
	if x.err == nil {
		x.err = fmt.Errorf("credssp: context closed: %w", gss.ErrNotEstablished)
	}
	x.established = false
	x.ch.close()
	return nil
}

// Established reports whether the credentials were delegated.
func (x *tlsContext) Established() bool { return x.established }

// advance runs one step of the side's state machine unless the context
// has already failed. A failure ends the context: the TLS channel is
// closed and every later step returns the same error. The step's token is
// returned with its error (a server's errorCode for the client).
func (x *tlsContext) advance(ctx context.Context, in []byte, step func(context.Context, []byte) ([]byte, error)) ([]byte, error) {
	if x.err != nil {
		return nil, x.err
	}
	out, err := step(ctx, in)
	if err != nil {
		x.err = err
		x.ch.close()
	}
	return out, err
}

// Wrap implements gss.Sealer: msg becomes TLS application-data records,
// split into the header and data of a WinRM sealed part.
func (x *tlsContext) Wrap(msg []byte) (header, data []byte, err error) {
	if !x.established {
		return nil, nil, fmt.Errorf("credssp: wrap: %w", gss.ErrNotEstablished)
	}
	rec, err := x.ch.seal(msg)
	if err != nil {
		return nil, nil, err
	}
	header, data = splitSealed(rec, x.ch.trailerLen(len(msg)))
	return header, data, nil
}

// Unwrap implements gss.Sealer: header and data together are TLS records.
func (x *tlsContext) Unwrap(header, data []byte) ([]byte, error) {
	if !x.established {
		return nil, fmt.Errorf("credssp: unwrap: %w", gss.ErrNotEstablished)
	}
	return x.ch.open(header, data)
}
