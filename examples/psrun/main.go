// Command psrun runs a PowerShell script on a remote host over PowerShell
// remoting and prints its output and streams the way PowerShell does.
//
// Usage:
//
//	psrun [flags] SCRIPT...
//
// The words of SCRIPT are joined with spaces, as ssh joins the words of its
// command, so psrun Get-Process -Name svchost runs "Get-Process -Name
// svchost". psrun's flags go before the script; a psrun flag spelled
// exactly after it is refused (put -- before the script to pass such a
// word to PowerShell).
//
// With no -host, psrun starts the emulated endpoint of package
// session/sessiontest in-process on 127.0.0.1, set up like a default
// Windows host (plain HTTP, Negotiate authentication, every message
// encrypted), and runs SCRIPT there, so that
//
//	go run ./examples/psrun 'Get-Date'
//
// prints a date on any machine. Against a real host:
//
//	GOPSRP_PASSWORD=secret psrun -host win01.corp -http -user CORP\\alice 'Get-Service WinRM'
//
// -auth picks the mechanism: negotiate (the default, as in PowerShell:
// Kerberos, else NTLM), ntlm, kerberos (with -user, or the ticket cache of
// kinit), credssp, basic, or certificate (-cert and -key). Over -http,
// negotiate, ntlm, kerberos and credssp encrypt every message; NTLM and
// CredSSP cannot prove who the server is, so the host must be listed in
// -trusted-hosts, as in WinRM's TrustedHosts. Basic over -http also needs
// -allow-unencrypted.
//
// The password is read from the environment variable GOPSRP_PASSWORD, or
// prompted for on the terminal; there is no flag for it, so it never shows in
// a process list or a shell history.
//
// Errors print in red on a terminal, progress as a bar on stderr, warnings,
// verbose and debug messages with their prefixes. The exit code is 1 when the
// pipeline failed or wrote errors, 2 when it could not run, 130 when it was
// interrupted. Ctrl-C stops the remote pipeline; a second Ctrl-C quits at once.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/gopsrp/gopsrp/auth"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// passwordEnv names the environment variable psrun reads the password from.
const passwordEnv = "GOPSRP_PASSWORD"

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitCannotRun   = 2
	exitInterrupted = 130
)

type options struct {
	host             string
	port             int
	useHTTP          bool
	caFile           string
	user             string
	configuration    string
	allowUnencrypted bool
	timeout          time.Duration
	auth             string
	trustedHosts     string
	certFile         string
	keyFile          string
}

func main() {
	// The first Ctrl-C cancels ctx, which stops the remote pipeline; the
	// second one, after stop() restores the default handler, kills psrun.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	go func() {
		<-ctx.Done()
		stop()
	}()
	a := app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, endpoint: defaultEndpoint}
	code := a.run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// app is one run of psrun with its standard streams. endpoint starts the
// emulated endpoint used when no -host is given, with one user.
type app struct {
	stdin          *os.File
	stdout, stderr io.Writer
	endpoint       func(user, password string) *sessiontest.Server
}

// The built-in endpoint's user; its password is made anew for each run.
const demoUser = "demo"

// defaultEndpoint starts the built-in emulated endpoint as a default
// Windows host is set up: plain HTTP, Negotiate (and CredSSP, for
// -auth credssp), encryption required.
func defaultEndpoint(user, password string) *sessiontest.Server {
	srv := sessiontest.NewUnstartedServer()
	srv.Users = map[string]string{user: password}
	srv.Auth = sessiontest.AuthConfig{Negotiate: true, CredSSP: true}
	srv.Start()
	return srv
}

// run parses args, runs the script and returns the exit code. Cancelling
// ctx stops the remote pipeline.
func (a app) run(ctx context.Context, args []string) int {
	stdin, stdout, stderr := a.stdin, a.stdout, a.stderr
	fs := flag.NewFlagSet("psrun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.host, "host", "", "target: a host name, host:port or WS-Man URL (default: the built-in emulated endpoint)")
	fs.IntVar(&o.port, "port", 0, "port, when -host does not name one (default 5986, or 5985 with -http)")
	fs.BoolVar(&o.useHTTP, "http", false, "use plain http (port 5985, as a default Windows host); messages are encrypted by negotiate, ntlm, kerberos and credssp")
	fs.StringVar(&o.caFile, "cacert", "", "PEM file of CA certificates to trust for https (default: the system's)")
	fs.StringVar(&o.user, "user", "", "user name (user, DOMAIN\\user or user@domain); the password comes from $"+passwordEnv+" or a prompt")
	fs.StringVar(&o.auth, "auth", "negotiate", "authentication: negotiate, ntlm, kerberos, credssp, basic or certificate")
	fs.StringVar(&o.trustedHosts, "trusted-hosts", "", "comma-separated hosts (or *.domain, *) that may be sent NTLM, CredSSP or Basic credentials over plain http, like WinRM's TrustedHosts")
	fs.StringVar(&o.certFile, "cert", "", "PEM client certificate, for -auth certificate")
	fs.StringVar(&o.keyFile, "key", "", "PEM private key of -cert")
	fs.StringVar(&o.configuration, "configuration", "", "session configuration name, e.g. a JEA endpoint (default Microsoft.PowerShell)")
	fs.BoolVar(&o.allowUnencrypted, "allow-unencrypted", false, "allow unencrypted traffic over plain http (dangerous: everything, passwords included, crosses the network in clear text)")
	fs.DurationVar(&o.timeout, "timeout", 0, "give up after this long (default: no limit)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: psrun [flags] [--] SCRIPT...\n\nRuns SCRIPT over PowerShell remoting and prints its output. The words of\nSCRIPT are joined with spaces, as ssh joins its command; flags go before it.\n\n")
		fs.PrintDefaults()
		fmt.Fprint(stderr, usageTrailer)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitCannotRun
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitCannotRun
	}
	words := fs.Args()
	if !endedFlags(args, words) {
		if f := flagAfterScript(fs, words[1:]); f != "" {
			fmt.Fprintf(stderr, "psrun: %s comes after the script: put psrun's flags before it, or -- before the script to pass %s to PowerShell\n", f, f)
			return exitCannotRun
		}
	}
	script := strings.Join(words, " ")
	interrupted := ctx
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}

	target, sessOpts, cleanup, err := a.connectOptions(o)
	if err != nil {
		fmt.Fprintf(stderr, "psrun: %v\n", err)
		return exitCannotRun
	}
	defer cleanup()

	p := newPrinter(stdout, stderr)
	sessOpts = append(sessOpts, session.WithHost(&consoleHost{in: stdin, out: stderr, printer: p}))
	s, err := session.New(ctx, target, sessOpts...)
	if err != nil {
		fmt.Fprintf(stderr, "psrun: %v\n", err)
		if hint := hintFor(err); hint != "" {
			fmt.Fprintf(stderr, "psrun: %s\n", hint)
		}
		if interrupted.Err() != nil {
			return exitInterrupted
		}
		return exitCannotRun
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Close(closeCtx); err != nil {
			fmt.Fprintf(stderr, "psrun: close: %v\n", err)
		}
	}()

	pipe, err := s.StartScript(ctx, script)
	if err != nil {
		if interrupted.Err() != nil {
			fmt.Fprintln(stderr, "psrun: interrupted; the remote pipeline was stopped")
			return exitInterrupted
		}
		fmt.Fprintf(stderr, "psrun: %v\n", err)
		return exitCannotRun
	}
	wroteErrors := false
	var runErr error
	for rec, err := range pipe.Records() {
		if err != nil {
			runErr = err
			break
		}
		if _, ok := rec.(*session.ErrorRecord); ok {
			wroteErrors = true
		}
		p.record(rec)
	}
	p.endProgress()
	if runErr == nil {
		_, runErr = pipe.Wait()
	}
	switch {
	case interrupted.Err() != nil:
		fmt.Fprintln(stderr, "psrun: interrupted; the remote pipeline was stopped")
		return exitInterrupted
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "psrun: timed out after %v; the remote pipeline was stopped\n", o.timeout)
		return exitFailed
	case runErr != nil:
		var pe *session.PipelineError
		if errors.As(runErr, &pe) && pe.Record != nil {
			p.errorRecord(pe.Record)
		} else {
			fmt.Fprintf(stderr, "psrun: %v\n", runErr)
		}
		return exitFailed
	case wroteErrors:
		return exitFailed
	}
	return exitOK
}

// usageTrailer ends -h: exit codes and environment variables.
const usageTrailer = `
Exit status:
  0    the pipeline completed and wrote no error records
  1    the pipeline failed, wrote error records, or timed out
  2    psrun could not run it (usage, connection, authentication)
  130  interrupted (Ctrl-C); the remote pipeline was stopped

Environment:
  ` + passwordEnv + `  the password for -user (there is no flag for it; without it psrun
                   prompts on a terminal, and fails when stdin is not one)
`

// endedFlags reports whether the flags ended with "--" before the script
// words.
func endedFlags(args, words []string) bool {
	n := len(args) - len(words)
	return n > 0 && args[n-1] == "--"
}

// flagAfterScript returns the first of words that spells one of psrun's
// flags exactly (-name, --name or -name=value), or "". PowerShell's own
// parameters (-Name, -Port) are capitalized, psrun's are not, so a match
// is almost surely a psrun flag put in the wrong place.
func flagAfterScript(fs *flag.FlagSet, words []string) string {
	for _, w := range words {
		name, ok := strings.CutPrefix(w, "-")
		if !ok {
			continue
		}
		name = strings.TrimPrefix(name, "-")
		name, _, _ = strings.Cut(name, "=")
		if name == "h" || name == "help" || fs.Lookup(name) != nil {
			return w
		}
	}
	return ""
}

// connectOptions turns the flags into a target and session options. With no
// host it starts the emulated endpoint; cleanup stops it.
func (a app) connectOptions(o options) (string, []session.Option, func(), error) {
	var opts []session.Option
	if o.configuration != "" {
		opts = append(opts, session.WithConfigurationName(o.configuration))
	}
	if o.host == "" {
		// The built-in endpoint trusts itself: it is this process.
		password := rand.Text()
		var authOpt session.Option
		switch o.auth {
		case "negotiate":
			authOpt = session.WithNegotiate(demoUser, password)
		case "ntlm":
			authOpt = session.WithNTLM(demoUser, password)
		case "credssp":
			authOpt = session.WithCredSSP(demoUser, password)
		default:
			return "", nil, nil, fmt.Errorf("the built-in endpoint takes -auth negotiate, ntlm or credssp, not %q", o.auth)
		}
		srv := a.endpoint(demoUser, password)
		opts = append(opts, authOpt, session.WithTrustedHosts("127.0.0.1"))
		return srv.URL, opts, srv.Close, nil
	}

	if o.useHTTP {
		opts = append(opts, session.WithHTTP())
	}
	if o.port != 0 {
		opts = append(opts, session.WithPort(o.port))
	}
	if o.allowUnencrypted {
		opts = append(opts, session.WithAllowUnencrypted())
	}
	if o.trustedHosts != "" {
		opts = append(opts, session.WithTrustedHosts(strings.Split(o.trustedHosts, ",")...))
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return "", nil, nil, fmt.Errorf("read -cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return "", nil, nil, fmt.Errorf("-cacert %s holds no PEM certificate", o.caFile)
		}
		tlsCfg.RootCAs = pool
	}
	opts = append(opts, session.WithTLSConfig(tlsCfg))
	authOpt, err := a.authOption(o)
	if err != nil {
		return "", nil, nil, err
	}
	if authOpt != nil {
		opts = append(opts, authOpt)
	}
	return o.host, opts, func() {}, nil
}

// authOption turns -auth, -user, -cert and -key into the session option.
func (a app) authOption(o options) (session.Option, error) {
	if o.auth == "certificate" {
		if o.certFile == "" || o.keyFile == "" {
			return nil, errors.New("-auth certificate needs -cert and -key")
		}
		cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			return nil, fmt.Errorf("load -cert/-key: %w", err)
		}
		return session.WithCertificate(cert), nil
	}
	if o.certFile != "" || o.keyFile != "" {
		return nil, errors.New("-cert and -key go with -auth certificate")
	}
	password := ""
	switch {
	case o.user != "":
		pw, err := readPassword(o.user, a.stdin, a.stderr)
		if err != nil {
			return nil, err
		}
		password = pw
	case o.auth != "kerberos":
		return nil, fmt.Errorf("-auth %s needs -user (only kerberos can use the ticket cache of kinit)", o.auth)
	}
	switch o.auth {
	case "negotiate":
		return session.WithNegotiate(o.user, password), nil
	case "ntlm":
		return session.WithNTLM(o.user, password), nil
	case "kerberos":
		return session.WithKerberos(o.user, password), nil
	case "credssp":
		return session.WithCredSSP(o.user, password), nil
	case "basic":
		return session.WithBasicAuth(o.user, password), nil
	}
	return nil, fmt.Errorf("unknown -auth %q (want negotiate, ntlm, kerberos, credssp, basic or certificate)", o.auth)
}

// hintFor says which psrun flag answers a refusal of the session package,
// whose errors name its Go options.
func hintFor(err error) string {
	switch {
	case errors.Is(err, auth.ErrUntrustedHost):
		return "the server's identity cannot be verified: add the host to -trusted-hosts, or use https (no -http) or -auth kerberos"
	case errors.Is(err, session.ErrUnencrypted):
		return "traffic over plain http would be unencrypted: use -auth negotiate, ntlm, kerberos or credssp, https (no -http), or -allow-unencrypted on a trusted test network"
	case errors.Is(err, auth.ErrAccessDenied), errors.Is(err, auth.ErrLogonFailed):
		return "the credentials were refused: check -user, $" + passwordEnv + " and -auth"
	}
	return ""
}

// readPassword takes the password from the environment, or prompts for it on
// the terminal with echo turned off.
func readPassword(user string, stdin *os.File, stderr io.Writer) (string, error) {
	if pw, ok := os.LookupEnv(passwordEnv); ok {
		return pw, nil
	}
	if !isTerminal(stdin) {
		return "", fmt.Errorf("no password: set $%s or run psrun on a terminal", passwordEnv)
	}
	fmt.Fprintf(stderr, "Password for %s: ", user)
	restore := disableEcho(stdin)
	line, err := readLine(stdin)
	restore()
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
