package session_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// keyHost answers ReadKey with a fixed key and records the options asked.
type keyHost struct {
	session.DefaultHost
	key     session.KeyInfo
	err     error
	mu      sync.Mutex
	options []session.ReadKeyOptions
}

func (h *keyHost) ReadKey(_ context.Context, o session.ReadKeyOptions) (session.KeyInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.options = append(h.options, o)
	return h.key, h.err
}

// keyInfoOutput turns the KeyInfo a server received into outputs a test can
// compare: the members in wire order as "name=value".
func keyInfoOutput(v any) ([]any, error) {
	o, ok := v.(*clixml.Object)
	if !ok || o == nil {
		return nil, fmt.Errorf("ReadKey answered %T, want an object", v)
	}
	out := make([]any, 0, len(o.Members))
	for _, m := range o.Members {
		out = append(out, fmt.Sprintf("%s=%T(%v)", m.Name, m.Value, m.Value))
	}
	return out, nil
}

// TestHostReadKey: a remote $Host.UI.RawUI.ReadKey reaches Host.ReadKey
// with its options, and the server receives the KeyInfo as PowerShell
// encodes it; a host that cannot read keys makes the remote call throw.
func TestHostReadKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		options session.ReadKeyOptions
		key     session.KeyInfo
		hostErr error
		want    []any
		wantErr string // text the server's HostError must carry
	}{
		{
			name:    "recorded key: a with CapsLock",
			options: session.ReadKeyIncludeKeyDown,
			key:     session.KeyInfo{VirtualKeyCode: 65, Character: 'a', ControlKeyState: session.CapsLockOn, KeyDown: true},
			want:    []any{"virtualKeyCode=int32(65)", "character=clixml.Char(97)", "controlKeyState=int32(128)", "keyDown=bool(true)"},
		},
		{
			name:    "key up, no echo, shift and enhanced",
			options: session.ReadKeyNoEcho | session.ReadKeyIncludeKeyUp | session.ReadKeyAllowCtrlC,
			key:     session.KeyInfo{VirtualKeyCode: 0x25, Character: 'é', ControlKeyState: session.ShiftPressed | session.EnhancedKey},
			want:    []any{"virtualKeyCode=int32(37)", "character=clixml.Char(233)", "controlKeyState=int32(272)", "keyDown=bool(false)"},
		},
		{
			name:    "host error",
			options: session.ReadKeyIncludeKeyDown,
			hostErr: errors.New("keyboard unplugged"),
			wantErr: "keyboard unplugged",
		},
		{
			name:    "character outside the BMP",
			options: session.ReadKeyIncludeKeyDown,
			key:     session.KeyInfo{Character: '😀', KeyDown: true},
			wantErr: "does not fit a .NET Char",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			srv.Handle("Read-Key", func(ctx context.Context, c *sessiontest.Call) error {
				v, err := c.HostCall(ctx, psrp.HostReadKey, int32(tt.options))
				if err != nil {
					var he *sessiontest.HostError
					if !errors.As(err, &he) {
						return err
					}
					return c.WriteOutput("error: " + he.Record.Exception.Message)
				}
				out, err := keyInfoOutput(v)
				if err != nil {
					return err
				}
				return c.WriteOutput(out...)
			})
			h := &keyHost{key: tt.key, err: tt.hostErr}
			s := open(t, srv, session.WithHost(h))
			res, err := s.InvokeScript(testContext(t), "Read-Key")
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				if len(res.Output) != 1 || !strings.Contains(fmt.Sprint(res.Output[0]), tt.wantErr) {
					t.Errorf("Output = %v, want the host error %q", res.Output, tt.wantErr)
				}
			} else if fmt.Sprint(res.Output) != fmt.Sprint(tt.want) {
				t.Errorf("Output = %v\nwant     %v", res.Output, tt.want)
			}
			if len(h.options) != 1 || h.options[0] != tt.options {
				t.Errorf("ReadKey options = %v, want [%v]", h.options, tt.options)
			}
		})
	}
}

// TestHostReadKeyDefaultHost: without WithHost the remote ReadKey throws a
// HostException saying the host cannot read keys, and the pipeline goes on.
func TestHostReadKeyDefaultHost(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Handle("Read-Key", func(ctx context.Context, c *sessiontest.Call) error {
		_, err := c.HostCall(ctx, psrp.HostReadKey, int32(session.ReadKeyIncludeKeyDown))
		var he *sessiontest.HostError
		if !errors.As(err, &he) {
			return fmt.Errorf("HostCall err = %v, want a HostError", err)
		}
		return c.WriteOutput(he.Record.FullyQualifiedErrorID, he.Record.Exception.TypeNames[0], he.Record.Exception.Message)
	})
	s := open(t, srv)
	res, err := s.InvokeScript(testContext(t), "Read-Key")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) != 3 || res.Output[0] != "HostFunctionNotImplemented" ||
		res.Output[1] != "System.Management.Automation.Host.HostException" ||
		!strings.Contains(fmt.Sprint(res.Output[2]), "ReadKey") {
		t.Errorf("Output = %v", res.Output)
	}
}

// TestDefaultHostReadKey: DefaultHost refuses with ErrHostNotSupported.
func TestDefaultHostReadKey(t *testing.T) {
	t.Parallel()
	k, err := session.DefaultHost{}.ReadKey(context.Background(), session.ReadKeyIncludeKeyDown)
	if !errors.Is(err, session.ErrHostNotSupported) {
		t.Errorf("err = %v, want ErrHostNotSupported", err)
	}
	if k != (session.KeyInfo{}) {
		t.Errorf("key = %+v, want zero", k)
	}
}
