package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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
				o(&c)
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
		var c config
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
		c := config{configName: tc.name}
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
		var c config
		o(&c)
		if len(c.errs) == 0 {
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
