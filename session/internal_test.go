package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/internal/replay"
	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/wsman"
)

func TestEndpointURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target string
		opts   []Option
		want   string
		err    bool
	}{
		{target: "win01", want: "https://win01:5986/wsman"},
		{target: "win01.corp.example", opts: []Option{WithHTTP()}, want: "http://win01.corp.example:5985/wsman"},
		{target: "win01", opts: []Option{WithPort(15986)}, want: "https://win01:15986/wsman"},
		{target: "win01", opts: []Option{WithHTTP(), WithPort(8080)}, want: "http://win01:8080/wsman"},
		{target: "10.0.0.5:5999", want: "https://10.0.0.5:5999/wsman"},
		{target: "[fe80::1]", want: "https://[fe80::1]:5986/wsman"},
		{target: "[::1]:1234", want: "https://[::1]:1234/wsman"},
		{target: "::1", want: "https://[::1]:5986/wsman"},
		{target: "https://h/wsman", want: "https://h:5986/wsman"},
		{target: "http://h", want: "http://h:5985/wsman"},
		{target: "HTTP://h:1/custom", want: "http://h:1/custom"},
		{target: "https://[::1]/", want: "https://[::1]:5986/wsman"},
		{target: "", err: true},
		{target: "ftp://h/wsman", err: true},
		{target: "https://user:pw@h/wsman", err: true},
		{target: "[::1", err: true},
		{target: "[::1]x", err: true},
		{target: "h:notaport", err: true},
		{target: "h:70000", err: true},
		{target: "a/b", err: true},
		{target: "http:///wsman", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			t.Parallel()
			var c config
			for _, o := range tc.opts {
				o.apply(&c)
			}
			u, err := c.endpointURL(tc.target)
			if tc.err {
				if err == nil {
					t.Fatalf("got %v, want an error", u)
				}
				if !errors.Is(err, ErrInvalidTarget) {
					t.Errorf("err = %v, want ErrInvalidTarget", err)
				}
				if strings.Contains(err.Error(), "pw@") {
					t.Errorf("error reveals URL credentials: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.String() != tc.want {
				t.Errorf("got %s, want %s", u, tc.want)
			}
		})
	}
}

func FuzzEndpointURL(f *testing.F) {
	for _, s := range []string{"win01", "[::1]:5986", "https://h:1/wsman", "http://u:p@h", "::1", "[", "h:"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, target string, http bool) {
		var c clientConfig
		if http {
			WithHTTP()(&c)
		}
		u, err := c.endpointURL(target)
		if err != nil {
			if !errors.Is(err, ErrInvalidTarget) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Port() == "" || u.Hostname() == "" || u.User != nil {
			t.Fatalf("bad URL %q from %q", u, target)
		}
	})
}

func TestResourceURI(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, want string }{
		{"", "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"},
		{"JEAMaintenance", "http://schemas.microsoft.com/powershell/JEAMaintenance"},
		{"http://schemas.microsoft.com/powershell/Custom", "http://schemas.microsoft.com/powershell/Custom"},
	}
	for _, tc := range tests {
		c := poolConfig{configName: tc.name}
		if got := c.resourceURI(); got != tc.want {
			t.Errorf("resourceURI(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestOptionValidation(t *testing.T) {
	t.Parallel()
	bad := []Option{
		WithRunspaces(0, 1), WithRunspaces(2, 1), WithPort(0), WithPort(65536), WithHTTPClient(nil),
		WithHost(nil), WithIdleTimeout(-time.Second), WithOperationTimeout(0), WithMaxEnvelopeSize(100),
		WithConfigurationName(" "),
	}
	for i, o := range bad {
		if _, err := newConfig([]Option{o}); err == nil {
			t.Errorf("option %d accepted an invalid value", i)
		}
	}
}

func TestMaxPayloadFitsEnvelope(t *testing.T) {
	t.Parallel()
	s := &Session{url: "https://a-rather-long-host-name.corp.example.com:5986/wsman"}
	for _, env := range []int{153600, 512000} {
		s.wsc = newTestClient(env)
		n := s.maxPayload()
		// base64 of n bytes plus the overhead must stay inside the envelope.
		b64 := (n + 2) / 3 * 4
		if b64+s.envelopeOverhead() > env {
			t.Errorf("envelope %d: payload %d (base64 %d) + overhead %d overflows", env, n, b64, s.envelopeOverhead())
		}
		if n < env/2 {
			t.Errorf("envelope %d: payload %d wastes most of the envelope", env, n)
		}
	}
}

// recordingHost records what callHost passes to it.
type recordingHost struct {
	DefaultHost
	prompt  []FieldDescription
	choices []ChoiceDescription
	writes  []HostWrite
	cred    [4]string
}

func (h *recordingHost) ReadLine(context.Context) (string, error) { return "line", nil }

func (h *recordingHost) Prompt(_ context.Context, caption, message string, f []FieldDescription) (map[string]any, error) {
	h.prompt = f
	return map[string]any{"Name": "v"}, nil
}

func (h *recordingHost) PromptForChoice(_ context.Context, _, _ string, c []ChoiceDescription, def int) (int, error) {
	h.choices = c
	return def + 1, nil
}

func (h *recordingHost) PromptForCredential(_ context.Context, caption, message, user, target string) (clixml.PSCredential, error) {
	h.cred = [4]string{caption, message, user, target}
	return clixml.PSCredential{UserName: user, Password: clixml.NewSecureString("pw")}, nil
}

func (h *recordingHost) Write(_ context.Context, w HostWrite) error {
	h.writes = append(h.writes, w)
	return nil
}

// ReadKey answers a key derived from its options, so that a test sees
// the options reached it.
func (h *recordingHost) ReadKey(_ context.Context, o ReadKeyOptions) (KeyInfo, error) {
	return KeyInfo{VirtualKeyCode: int32(o), Character: 'a' + rune(o&7), KeyDown: o&ReadKeyIncludeKeyDown != 0}, nil
}

func obj(members ...clixml.Property) *clixml.Object { return &clixml.Object{Members: members} }

func TestCallHostDispatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := &recordingHost{}
	if v, err := callHost(ctx, h, psrp.HostReadLine, nil); err != nil || v != "line" {
		t.Errorf("ReadLine = %v, %v", v, err)
	}
	fields := &clixml.Object{Kind: clixml.List, Items: []any{
		obj(clixml.Property{Name: "name", Value: "Name"}, clixml.Property{Name: "label", Value: "&Name"},
			clixml.Property{Name: "parameterTypeName", Value: "String"}, clixml.Property{Name: "isMandatory", Value: true}),
	}}
	if v, err := callHost(ctx, h, psrp.HostPrompt, []any{"cap", "msg", fields}); err != nil || v.(map[string]any)["Name"] != "v" {
		t.Errorf("Prompt = %v, %v", v, err)
	}
	if len(h.prompt) != 1 || h.prompt[0].Name != "Name" || !h.prompt[0].IsMandatory || h.prompt[0].ParameterTypeName != "String" {
		t.Errorf("Prompt fields = %+v", h.prompt)
	}
	choices := &clixml.Object{Kind: clixml.List, Items: []any{
		obj(clixml.Property{Name: "label", Value: "&Yes"}, clixml.Property{Name: "helpMessage", Value: "do it"}),
		obj(clixml.Property{Name: "label", Value: "&No"}),
	}}
	if v, err := callHost(ctx, h, psrp.HostPromptForChoice, []any{"c", "m", choices, int32(0)}); err != nil || v != int32(1) {
		t.Errorf("PromptForChoice = %v, %v", v, err)
	}
	if len(h.choices) != 2 || h.choices[0].Label != "&Yes" || h.choices[0].HelpMessage != "do it" {
		t.Errorf("choices = %+v", h.choices)
	}
	v, err := callHost(ctx, h, psrp.HostPromptForCredential1, []any{"c", "m", "alice", "srv"})
	if c, ok := v.(*clixml.PSCredential); err != nil || !ok || c.UserName != "alice" {
		t.Errorf("PromptForCredential = %v, %v", v, err)
	}
	if h.cred != [4]string{"c", "m", "alice", "srv"} {
		t.Errorf("credential args = %v", h.cred)
	}
	for _, m := range []psrp.HostMethodID{psrp.HostWriteLine2, psrp.HostWriteErrorLine, psrp.HostWriteWarningLine} {
		if _, err := callHost(ctx, h, m, []any{"text"}); err != nil {
			t.Error(err)
		}
	}
	if _, err := callHost(ctx, h, psrp.HostWriteLine3, []any{int32(12), int32(0), "red"}); err != nil {
		t.Error(err)
	}
	want := []HostWrite{{Kind: HostWriteLine, Text: "text"}, {Kind: HostWriteError, Text: "text"}, {Kind: HostWriteWarning, Text: "text"},
		{Kind: HostWriteLine, Text: "red", Foreground: 12, HasColors: true}}
	if len(h.writes) != len(want) {
		t.Fatalf("writes = %+v", h.writes)
	}
	for i := range want {
		if h.writes[i] != want[i] {
			t.Errorf("write %d = %+v, want %+v", i, h.writes[i], want[i])
		}
	}
}

func TestDefaultHost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := DefaultHost{}
	for _, m := range []psrp.HostMethodID{psrp.HostReadLine, psrp.HostReadLineAsSecureString, psrp.HostPrompt,
		psrp.HostPromptForChoice, psrp.HostPromptForCredential1, psrp.HostReadKey} {
		_, err := callHost(ctx, h, m, nil)
		if !errors.Is(err, ErrHostNotSupported) {
			t.Errorf("%v: err = %v, want ErrHostNotSupported", m, err)
		}
		rec := hostErrorRecord(m, err)
		if rec.Exception.Message == "" || rec.Exception.TypeNames[0] != "System.Management.Automation.Host.HostException" {
			t.Errorf("%v: error record %+v", m, rec)
		}
	}
	v, err := callHost(ctx, h, psrp.HostGetWindowSize, nil)
	o, ok := v.(*clixml.Object)
	if err != nil || !ok {
		t.Fatalf("GetWindowSize = %v, %v", v, err)
	}
	if w, _ := o.Member("width"); w != int32(120) {
		t.Errorf("window width = %v", w)
	}
	if v, _ := callHost(ctx, h, psrp.HostGetForegroundColor, nil); v != int32(7) {
		t.Errorf("foreground = %v", v)
	}
	if v, _ := callHost(ctx, h, psrp.HostGetName, nil); v != "gopsrp" {
		t.Errorf("name = %v", v)
	}
	// Mistyped or missing parameters never panic.
	for m := psrp.HostMethodID(0); m < 60; m++ {
		_, _ = callHost(ctx, h, m, []any{nil, 42, &clixml.Object{}, "x"})
		_, _ = callHost(ctx, h, m, nil)
	}
}

func TestWatcherCoalescesAvailability(t *testing.T) {
	t.Parallel()
	w := &watcher{wake: make(chan struct{}, 1)}
	w.push(StateChange{From: StateOpening, To: StateOpened, Availability: Available})
	for i := range 1000 {
		a := Busy
		if i%2 == 1 {
			a = Available
		}
		w.push(StateChange{From: StateOpened, To: StateOpened, Availability: a})
	}
	w.push(StateChange{From: StateOpened, To: StateClosed})
	w.finish()
	if len(w.queue) > 3 {
		t.Errorf("queue holds %d changes, want them coalesced", len(w.queue))
	}
	out := make(chan StateChange)
	go w.run(context.Background(), out)
	var got []StateChange
	for c := range out {
		got = append(got, c)
	}
	if len(got) != 3 || got[0].To != StateOpened || got[1].Availability != Available || got[2].To != StateClosed {
		t.Errorf("delivered %+v", got)
	}
}

func TestPipelineErrorText(t *testing.T) {
	t.Parallel()
	e := &PipelineError{State: psrp.PipelineFailed, Record: &clixml.ErrorRecord{Exception: clixml.ExceptionInfo{Message: "boom"}}}
	if e.Error() != "session: pipeline Failed: boom" {
		t.Errorf("Error() = %q", e.Error())
	}
	if errors.Is(e, ErrStopped) {
		t.Error("failed matches ErrStopped")
	}
	if !errors.Is(&PipelineError{State: psrp.PipelineStopped}, ErrStopped) {
		t.Error("stopped does not match ErrStopped")
	}
	// .NET's ErrorRecord.ToString: ErrorDetails.Message first.
	e.Record.ErrorDetails = &clixml.ErrorDetails{Message: "details"}
	if e.Error() != "session: pipeline Failed: details" {
		t.Errorf("Error() with ErrorDetails = %q", e.Error())
	}
	// No record, or no error at all: no panic.
	if got := (&PipelineError{State: psrp.PipelineFailed}).Error(); got != "session: pipeline Failed" {
		t.Errorf("Error() without a record = %q", got)
	}
	var none *PipelineError
	if none.Error() == "" || errors.Is(none, ErrStopped) || none.Unwrap() != nil {
		t.Error("nil *PipelineError misbehaves")
	}
	if (&PoolError{}).Error() == "" || (*PoolError)(nil).Error() == "" {
		t.Error("PoolError without a record has no text")
	}
	// A denial from below matches ErrAccessDenied; other errors do not.
	for _, err := range []error{auth.ErrAccessDenied, fmt.Errorf("x: %w", auth.ErrLogonFailed), &wsman.HTTPError{StatusCode: 401}} {
		if d := accessDenied(err); !errors.Is(d, ErrAccessDenied) || !errors.Is(d, err) || d.Error() != err.Error() {
			t.Errorf("accessDenied(%v) = %v", err, d)
		}
	}
	if accessDenied(nil) != nil || errors.Is(accessDenied(context.Canceled), ErrAccessDenied) {
		t.Error("accessDenied classifies what is not a denial")
	}
	b := &brokenError{cause: context.DeadlineExceeded}
	if !errors.Is(b, ErrBroken) || !errors.Is(b, context.DeadlineExceeded) {
		t.Error("brokenError does not match its sentinels")
	}
}

func newTestClient(env int) *wsman.Client { return &wsman.Client{MaxEnvelopeSize: env} }

// FuzzCallHost feeds host calls with arbitrary parameters (as the wire may
// carry them) to the default and a recording host: no panic, and interactive
// calls fail with a typed error.
func FuzzCallHost(f *testing.F) {
	f.Add(int32(11), "caption", int64(3), true)
	f.Add(int32(23), "", int64(-1), false)
	f.Add(int32(26), "&Yes", int64(1), true)
	f.Add(int32(20), "act", int64(0), false)
	f.Add(int32(46), "", int64(4), false) // ReadKey(IncludeKeyDown), as recorded
	f.Add(int32(46), "x", int64(-1), true)
	f.Fuzz(func(t *testing.T, method int32, s string, n int64, list bool) {
		var third any = n
		if list {
			third = &clixml.Object{Kind: clixml.List, Items: []any{obj(clixml.Property{Name: "label", Value: s}), s, nil, n}}
		}
		params := []any{s, int32(n), third, n, &clixml.Object{Value: s}}
		for _, h := range []Host{DefaultHost{}, &recordingHost{}} {
			_, err := callHost(context.Background(), h, psrp.HostMethodID(method), params)
			if err != nil && !errors.Is(err, ErrHostNotSupported) {
				t.Fatalf("method %d: untyped error %v", method, err)
			}
		}
	})
}

// recordedReadKeyResponse returns the body of the PIPELINE_HOST_RESPONSE
// pypsrp sent to Windows for $Host.UI.RawUI.ReadKey() in
// test_psrp_pshost_raw_ui_mocked_methods (KeyInfo 65, 'a', CapsLockOn, key
// down), without its byte-order mark.
func recordedReadKeyResponse(t *testing.T) []byte {
	t.Helper()
	dir, err := replay.CapturesDir()
	if err != nil {
		t.Fatal(err)
	}
	conv, err := replay.Load(filepath.Join(dir, "test_psrp_pshost_raw_ui_mocked_methods.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var asm replay.Assembler
	var found [][]byte
	for _, e := range conv.Entries {
		if e.Action() != "Send" {
			continue
		}
		for _, b := range e.Req.Blobs {
			msgs, err := asm.Add(b.Data)
			if err != nil {
				t.Fatalf("entry %d: %v", e.Index, err)
			}
			for _, m := range msgs {
				if psrp.MessageType(m.Type) == psrp.MessagePipelineHostResponse {
					found = append(found, bytes.TrimPrefix(m.Data, []byte("\ufeff")))
				}
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("found %d PIPELINE_HOST_RESPONSE messages, want the one ReadKey answer", len(found))
	}
	return found[0]
}

// TestReadKeyMatchesRecording: the answer callHost builds for the recorded
// ReadKey call encodes to exactly the bytes pypsrp sent Windows, and the
// recorded call's parameters reach the Host as ReadKeyOptions.
func TestReadKeyMatchesRecording(t *testing.T) {
	t.Parallel()
	want := recordedReadKeyResponse(t)
	h := &scriptedKeyHost{key: KeyInfo{VirtualKeyCode: 65, Character: 'a', ControlKeyState: CapsLockOn, KeyDown: true}}
	// The recorded call's "mp" is an ArrayList holding <I32>4</I32>.
	v, err := callHost(context.Background(), h, psrp.HostReadKey, []any{int32(4)})
	if err != nil {
		t.Fatal(err)
	}
	if h.options != ReadKeyIncludeKeyDown {
		t.Errorf("options = %v, want IncludeKeyDown", h.options)
	}
	got, err := psrp.EncodeBody(&psrp.PipelineHostResponse{CallID: 1, Method: psrp.HostReadKey, Result: v}, clixml.MarshalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// psrp writes client bodies RefId first, as the later pypsrp recordings
	// do; this older recording has N first. XML gives attribute order no
	// meaning, so only that order is evened out before comparing bytes.
	got = objAttrOrderRE.ReplaceAll(got, []byte(`<Obj N="$2" RefId="$1">`))
	if !bytes.Equal(got, want) {
		t.Errorf("encoded ReadKey answer differs from the recording:\ngot  %s\nwant %s", got, want)
	}
	// And the recording decodes back to the same value.
	body, err := psrp.DecodeBody(psrp.MessagePipelineHostResponse, want, clixml.UnmarshalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := body.(*psrp.PipelineHostResponse)
	if !ok || r.Method != psrp.HostReadKey || r.CallID != 1 {
		t.Fatalf("decoded %#v", body)
	}
	o, ok := r.Result.(*clixml.Object)
	if !ok {
		t.Fatalf("recorded result is %T", r.Result)
	}
	for _, m := range []struct {
		name string
		want any
	}{{"virtualKeyCode", int32(65)}, {"character", clixml.Char('a')}, {"controlKeyState", int32(CapsLockOn)}, {"keyDown", true}} {
		if got, _ := o.Member(m.name); got != m.want {
			t.Errorf("recorded %s = %#v, want %#v", m.name, got, m.want)
		}
	}
}

var objAttrOrderRE = regexp.MustCompile(`<Obj RefId="([0-9]+)" N="([^"]*)">`)

// scriptedKeyHost answers ReadKey with key and records the options.
type scriptedKeyHost struct {
	DefaultHost
	key     KeyInfo
	options ReadKeyOptions
}

func (h *scriptedKeyHost) ReadKey(_ context.Context, o ReadKeyOptions) (KeyInfo, error) {
	h.options = o
	return h.key, nil
}

// TestCallHostReadKey covers the KeyInfo encoding and the ReadKey
// parameters as the wire may carry them.
func TestCallHostReadKey(t *testing.T) {
	t.Parallel()
	enumOpts := &clixml.Object{TypeNames: []string{"System.Management.Automation.Host.ReadKeyOptions", "System.Enum"},
		ToString: "NoEcho, IncludeKeyDown", HasToString: true, Value: int32(6)}
	tests := []struct {
		name     string
		params   []any
		key      KeyInfo
		wantOpts ReadKeyOptions
		wantErr  bool
		want     []any // member values in order
	}{
		{name: "plain I32", params: []any{int32(4)}, key: KeyInfo{VirtualKeyCode: 13, Character: '\r', KeyDown: true},
			wantOpts: ReadKeyIncludeKeyDown, want: []any{int32(13), clixml.Char('\r'), int32(0), true}},
		{name: "enum object", params: []any{enumOpts}, key: KeyInfo{Character: 'Z', ControlKeyState: ShiftPressed | LeftCtrlPressed},
			wantOpts: ReadKeyNoEcho | ReadKeyIncludeKeyDown, want: []any{int32(0), clixml.Char('Z'), int32(0x18), false}},
		{name: "no parameters", params: nil, key: KeyInfo{Character: 0xFFFF},
			wantOpts: ReadKeyIncludeKeyDown, want: []any{int32(0), clixml.Char(0xFFFF), int32(0), false}},
		{name: "mistyped parameter", params: []any{"x"}, wantOpts: 0, want: []any{int32(0), clixml.Char(0), int32(0), false}},
		{name: "surrogate", params: []any{int32(4)}, key: KeyInfo{Character: 0xD800}, wantOpts: ReadKeyIncludeKeyDown, wantErr: true},
		{name: "astral", params: []any{int32(4)}, key: KeyInfo{Character: 0x1F600}, wantOpts: ReadKeyIncludeKeyDown, wantErr: true},
		{name: "negative", params: []any{int32(4)}, key: KeyInfo{Character: -1}, wantOpts: ReadKeyIncludeKeyDown, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := &scriptedKeyHost{key: tt.key}
			v, err := callHost(context.Background(), h, psrp.HostReadKey, tt.params)
			if h.options != tt.wantOpts {
				t.Errorf("options = %v, want %v", h.options, tt.wantOpts)
			}
			if tt.wantErr {
				if err == nil || !strings.HasPrefix(err.Error(), "session: ") {
					t.Errorf("err = %v, want a session: error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o, ok := v.(*clixml.Object)
			if !ok || len(o.Members) != len(tt.want) || len(o.TypeNames) != 0 {
				t.Fatalf("value = %#v", v)
			}
			for i, w := range tt.want {
				if o.Members[i].Value != w {
					t.Errorf("member %s = %#v, want %#v", o.Members[i].Name, o.Members[i].Value, w)
				}
			}
		})
	}
}

// TestCallHostRawUIMethods: the raw-UI methods of the recorded scenario
// and their neighbours get the answers PowerShell expects.
func TestCallHostRawUIMethods(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := DefaultHost{}
	rect := obj(clixml.Property{Name: "left", Value: int32(1)}, clixml.Property{Name: "top", Value: int32(2)},
		clixml.Property{Name: "right", Value: int32(3)}, clixml.Property{Name: "bottom", Value: int32(4)})
	cell := obj(clixml.Property{Name: "character", Value: clixml.Char('Z')}, clixml.Property{Name: "foregroundColor", Value: int32(12)})
	coord := obj(clixml.Property{Name: "x", Value: int32(15)}, clixml.Property{Name: "y", Value: int32(15)})
	// Void methods: accepted, nothing to answer.
	for _, c := range []struct {
		m      psrp.HostMethodID
		params []any
	}{
		{psrp.HostFlushInputBuffer, nil},
		{psrp.HostSetBufferContents1, []any{rect, cell}},
		{psrp.HostSetBufferContents2, []any{coord, &clixml.Object{}}},
		{psrp.HostScrollBufferContents, []any{rect, coord, rect, cell}},
		{psrp.HostSetForegroundColor, []any{int32(10)}},
		{psrp.HostSetWindowTitle, []any{"New Window Title"}},
	} {
		if !c.m.IsVoid() {
			t.Errorf("%v is not void", c.m)
		}
		if v, err := callHost(ctx, h, c.m, c.params); v != nil || err != nil {
			t.Errorf("%v = %v, %v; want nil, nil", c.m, v, err)
		}
	}
	if v, err := callHost(ctx, h, psrp.HostGetKeyAvailable, nil); v != false || err != nil {
		t.Errorf("GetKeyAvailable = %v, %v", v, err)
	}
	if _, err := callHost(ctx, h, psrp.HostGetBufferContents, []any{rect}); !errors.Is(err, ErrHostNotSupported) ||
		!strings.Contains(err.Error(), "GetBufferContents") {
		t.Errorf("GetBufferContents err = %v", err)
	}
	if _, err := callHost(ctx, h, psrp.HostReadKey, []any{int32(4)}); !errors.Is(err, ErrHostNotSupported) ||
		!strings.Contains(err.Error(), "ReadKey") {
		t.Errorf("ReadKey err = %v", err)
	}
}
