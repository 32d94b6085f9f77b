package wsman

import (
	"context"
	"strconv"
	"strings"
)

// Get retrieves a resource (wst:Get) and returns the raw inner XML of s:Body.
// Namespace prefixes declared on the envelope rather than on the body's
// elements are not re-declared in the returned bytes; Windows declares them
// on the body's top element (e.g. cfg:Config, rsp:Shell).
func (c *Client) Get(ctx context.Context, resourceURI string, selectors map[string]string) ([]byte, error) {
	_, raw, err := c.get(ctx, resourceURI, selectors)
	return raw, err
}

func (c *Client) get(ctx context.Context, resourceURI string, selectors map[string]string) (*envelopeXML, []byte, error) {
	r := &request{op: "Get", action: ActionGet, resourceURI: resourceURI, selectors: sortedSelectors(selectors)}
	var raw []byte
	r.rawBody = &raw
	env, err := c.call(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	return env, raw, nil
}

// GetShell retrieves one shell's state (Get on ResourceShell with its
// ShellId), the cheap "is it alive" check; a shell that is gone yields an
// error matching ErrShellNotFound.
func (c *Client) GetShell(ctx context.Context, shellID string) (*ShellInfo, error) {
	env, _, err := c.get(ctx, ResourceShell, map[string]string{"ShellId": shellID})
	if err != nil {
		return nil, err
	}
	if env.Body.Shell == nil {
		return nil, &ProtocolError{Op: "Get", Kind: ErrUnexpectedResponse, Msg: "no rsp:Shell in body"}
	}
	info := env.Body.Shell.toInfo()
	return &info, nil
}

// MaxEnvelopeSizeKB reads the server's cfg:Config/cfg:MaxEnvelopeSizekb. The
// config resource usually needs administrator rights; a non-admin gets an
// access-denied fault.
func (c *Client) MaxEnvelopeSizeKB(ctx context.Context) (int, error) {
	env, _, err := c.get(ctx, ResourceConfig, nil)
	if err != nil {
		return 0, err
	}
	if env.Body.Config == nil {
		return 0, &ProtocolError{Op: "Get", Kind: ErrUnexpectedResponse, Msg: "no cfg:Config in body"}
	}
	n, err := strconv.Atoi(strings.TrimSpace(env.Body.Config.MaxEnvelopeSizekb))
	if err != nil || n <= 0 {
		return 0, &ProtocolError{Op: "Get", Kind: ErrMalformedResponse, Msg: "invalid cfg:MaxEnvelopeSizekb", Err: err}
	}
	return n, nil
}
