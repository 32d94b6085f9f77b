package wsman

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"github.com/gopsrp/gopsrp/internal/xsduration"
	"time"
)

// Buffer modes of a disconnected shell (MS-WSMV 2.2.5.10).
const (
	BufferModeBlock = "Block"
	BufferModeDrop  = "Drop"
)

// DisconnectOptions configure Disconnect; the zero value keeps the server's
// settings.
type DisconnectOptions struct {
	// IdleTimeout overrides the shell's idle timeout while disconnected;
	// zero omits it.
	IdleTimeout time.Duration
	// BufferMode is BufferModeBlock or BufferModeDrop; empty omits it.
	BufferMode string
}

// Disconnect disconnects the shell, leaving it running on the server
// (MS-PSRP 3.1.5.3.16). The response body is empty.
func (c *Client) Disconnect(ctx context.Context, shell ShellRef, o DisconnectOptions) error {
	if err := shell.check("Disconnect"); err != nil {
		return err
	}
	r := &request{op: "Disconnect", action: ActionDisconnect, resourceURI: shell.resource(), selectors: shell.selectors(),
		body: func(b *bytes.Buffer) {
			if o.BufferMode == "" && o.IdleTimeout <= 0 {
				b.WriteString(`<rsp:Disconnect />`)
				return
			}
			b.WriteString(`<rsp:Disconnect>`)
			if o.BufferMode != "" {
				b.WriteString(`<rsp:BufferMode>`)
				esc(b, o.BufferMode)
				b.WriteString(`</rsp:BufferMode>`)
			}
			if o.IdleTimeout > 0 {
				b.WriteString(`<rsp:IdleTimeOut>` + xsduration.Format(o.IdleTimeout) + `</rsp:IdleTimeOut>`)
			}
			b.WriteString(`</rsp:Disconnect>`)
		}}
	_, err := c.call(ctx, r)
	return err
}

// Reconnect reconnects this client (same SessionId) to a shell it
// disconnected (MS-PSRP 3.1.5.3.18); the request body is empty.
func (c *Client) Reconnect(ctx context.Context, shell ShellRef) error {
	if err := shell.check("Reconnect"); err != nil {
		return err
	}
	_, err := c.call(ctx, &request{op: "Reconnect", action: ActionReconnect, resourceURI: shell.resource(), selectors: shell.selectors()})
	return err
}

// ReconnectCommand reconnects one command of a shell after Reconnect: MS-PSRP
// 3.1.5.3.18 says a shell Reconnect does not reconnect its commands, and that
// a second Reconnect carrying the CommandID must be sent for each. The body,
// <rsp:Reconnect><rsp:CommandId>…</rsp:CommandId></rsp:Reconnect>, follows
// the spec's wording; no Windows capture of it exists in the conformance set.
func (c *Client) ReconnectCommand(ctx context.Context, shell ShellRef, commandID string) error {
	if err := shell.check("Reconnect"); err != nil {
		return err
	}
	if commandID == "" {
		return errors.New("wsman: Reconnect: empty CommandId")
	}
	r := &request{op: "Reconnect", action: ActionReconnect, resourceURI: shell.resource(), selectors: shell.selectors(),
		body: func(b *bytes.Buffer) {
			b.WriteString(`<rsp:Reconnect><rsp:CommandId>`)
			esc(b, commandID)
			b.WriteString(`</rsp:CommandId></rsp:Reconnect>`)
		}}
	_, err := c.call(ctx, r)
	return err
}

// ConnectOptions configure Connect.
type ConnectOptions struct {
	// ProtocolVersion is the MustComply "protocolversion" option; empty
	// means "2.3".
	ProtocolVersion string
	// Options are extra OptionSet entries.
	Options []Option
}

// ConnectResult is the decoded rsp:ConnectResponse.
type ConnectResult struct {
	// Data is the decoded connectResponseXml (PSRP fragments:
	// SESSION_CAPABILITY + RUNSPACEPOOL_INIT_DATA).
	Data          []byte
	InputStreams  string
	OutputStreams string
}

// Connect attaches a new client to a disconnected shell (MS-PSRP
// 3.1.5.3.15). connectXML holds the PSRP fragments (SESSION_CAPABILITY +
// CONNECT_RUNSPACEPOOL) and is sent base64-encoded.
func (c *Client) Connect(ctx context.Context, shell ShellRef, connectXML []byte, o ConnectOptions) (*ConnectResult, error) {
	if err := shell.check("Connect"); err != nil {
		return nil, err
	}
	opts := append([]Option{{Name: "protocolversion", Value: orDefault(o.ProtocolVersion, "2.3"), MustComply: true}}, o.Options...)
	r := &request{op: "Connect", action: ActionConnect, resourceURI: shell.resource(), selectors: shell.selectors(), options: opts,
		body: func(b *bytes.Buffer) {
			b.WriteString(`<rsp:Connect><connectXml xmlns="` + NsPowerShell + `">`)
			writeB64(b, connectXML)
			b.WriteString(`</connectXml></rsp:Connect>`)
		}}
	env, err := c.call(ctx, r)
	if err != nil {
		return nil, err
	}
	cr := env.Body.ConnectResponse
	if cr == nil {
		return nil, &ProtocolError{Op: "Connect", Kind: ErrUnexpectedResponse, Msg: "no rsp:ConnectResponse in body"}
	}
	data, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(cr.Data)))
	if err != nil {
		return nil, &ProtocolError{Op: "Connect", Kind: ErrMalformedResponse, Msg: "connectResponseXml is not base64", Err: err}
	}
	return &ConnectResult{Data: data, InputStreams: cr.InputStreams, OutputStreams: cr.OutputStreams}, nil
}
