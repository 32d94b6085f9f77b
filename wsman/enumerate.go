package wsman

import (
	"bytes"
	"context"
	"fmt"
	"strings"
)

// Bounds of an enumeration: a hostile or broken server cannot keep a client
// pulling forever nor make it hold unbounded items.
const (
	maxPulls        = 1000
	maxEnumItems    = 100000
	enumMaxElements = 32000
	enumOpEnumerate = "Enumerate"
	enumOpPull      = "Pull"
)

// Item is one enumerated element: a shell (resource ResourceShell) or a
// command (resource ResourceCommand).
type Item struct {
	// Shell is set for rsp:Shell items.
	Shell *ShellInfo
	// CommandID is set for rsp:Command items.
	CommandID string
}

// Enumerate lists the instances of resourceURI (wsen:Enumerate with
// OptimizeEnumeration, then wsen:Pull until EndOfSequence). filter, if
// non-empty, is sent as a SelectorFilter, e.g. {"ShellId": id} to list the
// commands of a shell.
func (c *Client) Enumerate(ctx context.Context, resourceURI string, filter map[string]string) ([]Item, error) {
	sel := sortedSelectors(filter)
	r := &request{op: enumOpEnumerate, action: ActionEnumerate, resourceURI: resourceURI, body: func(b *bytes.Buffer) {
		fmt.Fprintf(b, `<wsen:Enumerate><wsman:OptimizeEnumeration /><wsman:MaxElements>%d</wsman:MaxElements>`, enumMaxElements)
		if len(sel) > 0 {
			b.WriteString(`<wsman:Filter Dialect="` + FilterSelectorDialect + `">`)
			writeSelectorSet(b, sel)
			b.WriteString(`</wsman:Filter>`)
		}
		b.WriteString(`</wsen:Enumerate>`)
	}}
	env, err := c.call(ctx, r)
	if err != nil {
		return nil, err
	}
	resp := env.Body.EnumerateResponse
	if resp == nil {
		return nil, &ProtocolError{Op: enumOpEnumerate, Kind: ErrUnexpectedResponse, Msg: "no wsen:EnumerateResponse in body"}
	}
	var items []Item
	for pulls := 0; ; pulls++ {
		items = appendItems(items, resp.Items)
		if len(items) > maxEnumItems {
			return nil, &ProtocolError{Op: enumOpEnumerate, Kind: ErrUnexpectedResponse, Msg: fmt.Sprintf("more than %d items", maxEnumItems)}
		}
		ectx := strings.TrimSpace(resp.Context)
		if resp.EndOfSequence || ectx == "" {
			return items, nil
		}
		if pulls >= maxPulls {
			return nil, &ProtocolError{Op: enumOpPull, Kind: ErrUnexpectedResponse, Msg: fmt.Sprintf("no EndOfSequence after %d pulls", maxPulls)}
		}
		pr := &request{op: enumOpPull, action: ActionPull, resourceURI: resourceURI, body: func(b *bytes.Buffer) {
			b.WriteString(`<wsen:Pull><wsen:EnumerationContext>`)
			esc(b, ectx)
			fmt.Fprintf(b, `</wsen:EnumerationContext><wsman:MaxElements>%d</wsman:MaxElements></wsen:Pull>`, enumMaxElements)
		}}
		env, err = c.call(ctx, pr)
		if err != nil {
			return nil, err
		}
		if resp = env.Body.PullResponse; resp == nil {
			return nil, &ProtocolError{Op: enumOpPull, Kind: ErrUnexpectedResponse, Msg: "no wsen:PullResponse in body"}
		}
	}
}

func appendItems(items []Item, x *itemsXML) []Item {
	if x == nil {
		return items
	}
	shells := x.Shells.all()
	for i := range shells {
		info := shells[i].toInfo()
		items = append(items, Item{Shell: &info})
	}
	for _, id := range x.Commands.all() {
		items = append(items, Item{CommandID: id})
	}
	return items
}

// EnumerateShells lists the shells of resourceURI's kind visible to the
// caller (empty means all shells, ResourceShell), connected or disconnected.
// To list PowerShell pools only, filter the result by ShellInfo.ResourceURI.
func (c *Client) EnumerateShells(ctx context.Context, resourceURI string) ([]ShellInfo, error) {
	items, err := c.Enumerate(ctx, orDefault(resourceURI, ResourceShell), nil)
	if err != nil {
		return nil, err
	}
	out := make([]ShellInfo, 0, len(items))
	for _, it := range items {
		if it.Shell != nil {
			out = append(out, *it.Shell)
		}
	}
	return out, nil
}

// EnumerateCommands lists the CommandIds of a shell (for PSRP, the pipelines
// of a pool).
func (c *Client) EnumerateCommands(ctx context.Context, shellID string) ([]string, error) {
	if shellID == "" {
		return nil, fmt.Errorf("wsman: EnumerateCommands: empty ShellId")
	}
	items, err := c.Enumerate(ctx, ResourceCommand, map[string]string{"ShellId": shellID})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		if it.CommandID != "" {
			out = append(out, it.CommandID)
		}
	}
	return out, nil
}
