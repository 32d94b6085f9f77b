package winrs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gopsrp/gopsrp/wsman"
)

// DefaultCodePage is the code page a Shell asks for unless WithCodePage
// says otherwise: 65001, UTF-8, so that text in any language survives.
// Windows' own default is the host's OEM code page (437 on US hosts).
const DefaultCodePage = 65001

// ErrClosed is returned by operations on a Shell after Close.
var ErrClosed = errors.New("winrs: shell closed")

// Shell is a WinRS cmd shell open on the host: the environment its
// commands run in. It is safe for concurrent use; several commands may run
// in it at once.
type Shell struct {
	c   *wsman.Client
	ref wsman.ShellRef

	mu     sync.Mutex
	closed bool
}

// Option configures Open.
type Option func(*config)

type config struct {
	wsman.ShellOptions
	codePageSet bool
}

// WithWorkingDirectory sets the directory commands start in (rsp:WorkingDirectory).
func WithWorkingDirectory(dir string) Option {
	return func(c *config) { c.WorkingDirectory = dir }
}

// WithEnv adds environment variables, each "NAME=value" as in
// os/exec.Cmd.Env, to the shell's environment (rsp:Environment). A
// variable without "=" gets an empty value. Windows adds them to the
// user's environment; they do not replace it.
func WithEnv(vars ...string) Option {
	return func(c *config) {
		for _, v := range vars {
			name, value, _ := strings.Cut(v, "=")
			c.Environment = append(c.Environment, wsman.EnvVar{Name: name, Value: value})
		}
	}
}

// WithCodePage sets the console code page of the shell (WINRS_CODEPAGE),
// in which the host encodes output and decodes input. Zero sends none,
// leaving the host's default (its OEM code page).
func WithCodePage(cp uint32) Option {
	return func(c *config) { c.Codepage, c.codePageSet = cp, true }
}

// WithNoProfile asks the host not to load the user's profile
// (WINRS_NOPROFILE), which makes shells quicker to open.
func WithNoProfile() Option {
	return func(c *config) { c.NoProfile = true }
}

// WithIdleTimeout sets how long the shell survives without activity
// (rsp:IdleTimeOut); zero keeps the host's default (2 hours).
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) { c.IdleTimeout = d }
}

// WithName gives the shell a name (the rsp:Name element of rsp:Shell,
// MS-WSMV 2.2.4.37), which Enumerate shows.
func WithName(name string) Option {
	return func(c *config) { c.Name = name }
}

// WithLifetime sets how long the shell may exist (rsp:Lifetime, MS-WSMV
// 2.2.4.37); zero sends none, leaving it to the host.
func WithLifetime(d time.Duration) Option {
	return func(c *config) { c.Lifetime = d }
}

// Open creates a cmd shell on the host c talks to.
func Open(ctx context.Context, c *wsman.Client, opts ...Option) (*Shell, error) {
	if c == nil {
		return nil, errors.New("winrs: open: nil wsman client")
	}
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if !cfg.codePageSet {
		cfg.Codepage = DefaultCodePage
	}
	cfg.ResourceURI = wsman.ResourceCmd
	cfg.InputStreams = "stdin"
	cfg.OutputStreams = "stdout stderr"
	created, err := c.Create(ctx, cfg.ShellOptions)
	if err != nil {
		return nil, fmt.Errorf("winrs: open: %w", err)
	}
	ref := created.Ref()
	if ref.ResourceURI == "" {
		ref.ResourceURI = wsman.ResourceCmd
	}
	return &Shell{c: c, ref: ref}, nil
}

// ID returns the ShellId the host gave the shell.
func (sh *Shell) ID() string { return sh.ref.ID }

// Ref returns the shell's reference, for calls at the wsman layer.
func (sh *Shell) Ref() wsman.ShellRef { return sh.ref }

// Command returns a Cmd that runs name with args in the shell, as
// exec.Command does: Path is name and Args is name followed by args.
func (sh *Shell) Command(name string, args ...string) *Cmd {
	return &Cmd{Path: name, Args: append([]string{name}, args...), sh: sh}
}

// Close deletes the shell on the host; commands still running in it end.
// Closing a closed shell returns nil.
func (sh *Shell) Close(ctx context.Context) error {
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		return nil
	}
	sh.closed = true
	sh.mu.Unlock()
	if err := sh.c.Delete(ctx, sh.ref); err != nil {
		return fmt.Errorf("winrs: close: %w", err)
	}
	return nil
}

func (sh *Shell) isClosed() bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.closed
}
