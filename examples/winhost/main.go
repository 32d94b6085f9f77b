// Command winhost serves the emulated Windows remoting endpoint of package
// session/sessiontest on 127.0.0.1, for clients in any language: our
// session package and psrun, pypsrp, pywinrm, Ansible's psrp and winrm
// connections.
//
// Usage:
//
//	go run ./examples/winhost [flags]
//
// By default it behaves as a default Windows host does: plain HTTP on port
// 5985 (-http-port), Negotiate authentication (NTLM inside SPNEGO, or raw
// NTLMSSP as pywinrm sends it), every message encrypted. -https-port adds
// HTTPS with a generated self-signed certificate (or -cert and -key); the
// two ports serve separate shells. Port 0 picks a free port; -1 turns the
// listener off.
//
// -user name:password adds a user (repeatable); without one, winhost makes
// the user "winhost" with a random password and prints it. -auth lists
// the schemes offered: negotiate, ntlm (an alias of negotiate), basic,
// kerberos (with -keytab), credssp. -allow-unencrypted
// accepts plaintext messages (and Basic) over HTTP. -configuration
// name[=user,user] offers a session configuration, only to the users
// listed (repeatable; default Microsoft.PowerShell for everyone).
// -max-shells is the per-user shell quota. -fault Action:kind[:count]
// makes the next requests whose action ends with Action fail (kind drop,
// truncate, delay=DURATION or status=CODE).
//
// Commands are served by the endpoint's built-in handlers, documented in
// package sessiontest: Get-Date, Write-Output, Write-Error, the other
// Write-* streams, Invoke-Expression, Out-String, Out-Null, Select-Object
// -First, Get-Process -Count N and 1..N, whose output is deterministic
// for benchmarks. winhost prints its URLs and how to sign in with psrun
// and pypsrp, and stops cleanly on Ctrl-C (SIGINT) or SIGTERM.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gopsrp/gopsrp/session/sessiontest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C during shutdown ends the process at once
	}()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "winhost:", err)
		os.Exit(2)
	}
}

// config is what the flags say.
type config struct {
	httpPort, httpsPort int
	certFile, keyFile   string
	users               map[string]string
	userOrder           []string
	auth                sessiontest.AuthConfig
	allowUnencrypted    bool
	configurations      map[string]sessiontest.ConfigurationAccess
	maxShells           int
	keytabFile, spn     string
	faults              []sessiontest.Fault
	generatedPassword   bool
}

// parseFlags reads args into a config.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{users: map[string]string{}}
	fs := flag.NewFlagSet("winhost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.httpPort, "http-port", 5985, "plain HTTP port on 127.0.0.1 (0 picks one, -1 turns HTTP off)")
	fs.IntVar(&c.httpsPort, "https-port", -1, "HTTPS port on 127.0.0.1 (0 picks one, -1 turns HTTPS off)")
	fs.StringVar(&c.certFile, "cert", "", "PEM certificate for HTTPS (default: a generated self-signed one)")
	fs.StringVar(&c.keyFile, "key", "", "PEM private key of -cert")
	fs.Func("user", "a user, `name:password` (repeatable; default: \"winhost\" with a random password)", func(v string) error {
		name, pw, ok := strings.Cut(v, ":")
		if !ok || name == "" {
			return errors.New("want name:password")
		}
		if _, dup := c.users[name]; !dup {
			c.userOrder = append(c.userOrder, name)
		}
		c.users[name] = pw
		return nil
	})
	authList := fs.String("auth", "negotiate", "comma-separated schemes offered: negotiate, ntlm, basic, kerberos, credssp, certificate")
	fs.BoolVar(&c.allowUnencrypted, "allow-unencrypted", false, "accept plaintext messages and Basic over plain HTTP")
	fs.Func("configuration", "offer a session configuration, `name[=user,user]` (repeatable; default Microsoft.PowerShell for everyone)", func(v string) error {
		name, users, hasUsers := strings.Cut(v, "=")
		if name == "" {
			return errors.New("empty configuration name")
		}
		if c.configurations == nil {
			c.configurations = map[string]sessiontest.ConfigurationAccess{}
		}
		var access sessiontest.ConfigurationAccess
		if hasUsers {
			access.Users = strings.Split(users, ",")
		}
		c.configurations[name] = access
		return nil
	})
	fs.IntVar(&c.maxShells, "max-shells", 30, "shells per user (MaxShellsPerUser; negative: no limit)")
	fs.StringVar(&c.keytabFile, "keytab", "", "keytab of the service principal, for kerberos (and Kerberos in negotiate)")
	fs.StringVar(&c.spn, "spn", "", "service principal whose keytab entry decrypts tickets (default: the one the ticket names)")
	fs.Func("fault", "fail the next requests whose action ends with Action: `Action:kind[:count]`, kind drop, truncate, delay=DURATION or status=CODE (repeatable)", func(v string) error {
		f, err := parseFault(v)
		if err == nil {
			c.faults = append(c.faults, f)
		}
		return err
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, a := range strings.Split(*authList, ",") {
		switch strings.ToLower(strings.TrimSpace(a)) {
		case "negotiate", "ntlm":
			c.auth.Negotiate = true
		case "basic":
			c.auth.Basic = true
		case "kerberos":
			c.auth.Kerberos = true
		case "credssp":
			c.auth.CredSSP = true
		case "certificate":
			c.auth.Certificate = true
		case "":
		default:
			return nil, fmt.Errorf("-auth: unknown scheme %q", a)
		}
	}
	if c.auth == (sessiontest.AuthConfig{}) {
		return nil, errors.New("-auth: no scheme")
	}
	if c.auth.Kerberos && c.keytabFile == "" {
		return nil, errors.New("-auth kerberos needs -keytab")
	}
	if c.auth.Certificate {
		return nil, errors.New("-auth certificate: mapping client certificates to users is not offered by winhost yet")
	}
	if c.httpPort < 0 && c.httpsPort < 0 {
		return nil, errors.New("both -http-port and -https-port are off")
	}
	if (c.certFile == "") != (c.keyFile == "") {
		return nil, errors.New("-cert and -key go together")
	}
	if len(c.users) == 0 {
		pw, err := randomPassword()
		if err != nil {
			return nil, err
		}
		c.users["winhost"], c.userOrder, c.generatedPassword = pw, []string{"winhost"}, true
	}
	return c, nil
}

// parseFault reads Action:kind[:count].
func parseFault(v string) (sessiontest.Fault, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return sessiontest.Fault{}, errors.New("want Action:kind[:count]")
	}
	f := sessiontest.Fault{Action: parts[0]}
	kind, arg, _ := strings.Cut(parts[1], "=")
	var err error
	switch kind {
	case "drop":
		f.DropConnection = true
	case "truncate":
		f.TruncateBody = true
	case "delay":
		f.Delay, err = time.ParseDuration(arg)
	case "status":
		f.Status, err = strconv.Atoi(arg)
		f.Message = "fault injected by winhost"
	default:
		err = fmt.Errorf("unknown fault kind %q", kind)
	}
	if err == nil && len(parts) == 3 {
		f.Count, err = strconv.Atoi(parts[2])
	}
	return f, err
}

func randomPassword() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// host is a running winhost: one endpoint per listener.
type host struct {
	servers []*sessiontest.Server
	// certPath is a PEM file of the HTTPS certificate, for clients.
	certPath string
	tempDir  string
}

// start starts the endpoints c describes.
func start(c *config) (_ *host, err error) {
	h := &host{}
	defer func() {
		if err != nil {
			h.close()
		}
	}()
	var kt *keytab.Keytab
	if c.keytabFile != "" {
		if kt, err = keytab.Load(c.keytabFile); err != nil {
			return nil, fmt.Errorf("-keytab: %w", err)
		}
	}
	var cert *tls.Certificate
	if c.certFile != "" {
		pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("-cert: %w", err)
		}
		cert = &pair
	}
	for _, tc := range []struct {
		port   int
		useTLS bool
	}{{c.httpPort, false}, {c.httpsPort, true}} {
		if tc.port < 0 {
			continue
		}
		srv := sessiontest.NewUnstartedServer()
		h.servers = append(h.servers, srv)
		if err := srv.Listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(tc.port))); err != nil {
			return nil, err
		}
		srv.Users, srv.Auth, srv.AllowUnencrypted = c.users, c.auth, c.allowUnencrypted
		srv.Configurations, srv.MaxShellsPerUser = c.configurations, c.maxShells
		srv.Keytab, srv.ServicePrincipal = kt, c.spn
		srv.TLSCertificate = cert
		if tc.useTLS {
			srv.StartTLS()
			if h.certPath, err = h.writeCert(c, srv); err != nil {
				return nil, err
			}
		} else {
			srv.Start()
		}
		for _, f := range c.faults {
			srv.InjectFault(f)
		}
	}
	return h, nil
}

// writeCert returns a PEM file of the HTTPS certificate for clients to
// trust: -cert itself, or the generated one in a directory close removes.
func (h *host) writeCert(c *config, srv *sessiontest.Server) (string, error) {
	if c.certFile != "" {
		return c.certFile, nil
	}
	dir, err := os.MkdirTemp("", "winhost-")
	if err != nil {
		return "", err
	}
	h.tempDir = dir
	path := filepath.Join(dir, "winhost.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return path, os.WriteFile(path, data, 0o644)
}

// close stops every endpoint and removes the generated files.
func (h *host) close() {
	for _, s := range h.servers {
		s.Close()
	}
	if h.tempDir != "" {
		_ = os.RemoveAll(h.tempDir)
	}
}

// run serves until ctx ends, printing URLs and sign-in instructions to
// stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	h, err := start(c)
	if err != nil {
		return err
	}
	defer h.close()
	printInstructions(stdout, c, h)
	<-ctx.Done()
	fmt.Fprintln(stdout, "winhost: stopping")
	return nil
}

// printInstructions tells how to reach the endpoints.
func printInstructions(w io.Writer, c *config, h *host) {
	user := c.userOrder[0]
	pw := c.users[user]
	fmt.Fprintln(w, "winhost: an emulated Windows remoting endpoint (package session/sessiontest)")
	if c.generatedPassword {
		fmt.Fprintf(w, "user %s, password %s (generated; give -user name:password to choose)\n", user, pw)
	} else {
		fmt.Fprintf(w, "users: %s\n", strings.Join(c.userOrder, ", "))
	}
	pyAuth := "ntlm"
	if !c.auth.Negotiate && c.auth.Basic {
		pyAuth = "basic"
	}
	for _, srv := range h.servers {
		u, _ := url.Parse(srv.URL)
		tlsOn := u.Scheme == "https"
		fmt.Fprintf(w, "\nlistening on %s\n", srv.URL)
		psrun := fmt.Sprintf("GOPSRP_PASSWORD=%s go run ./examples/psrun -host 127.0.0.1 -port %s -user %s", shellQuote(pw), u.Port(), user)
		if tlsOn {
			psrun += " -cacert " + shellQuote(h.certPath)
		} else {
			psrun += " -http -trusted-hosts 127.0.0.1"
		}
		if !c.auth.Negotiate && c.auth.Basic {
			psrun += " -auth basic"
			if !tlsOn {
				psrun += " -allow-unencrypted"
			}
		}
		fmt.Fprintf(w, "  psrun:  %s 'Get-Date'\n", psrun)
		fmt.Fprintf(w, "  pypsrp: PYTHONPATH=<pypsrp>/src:<pyspnego>/src python3 -c 'from pypsrp.client import Client; "+
			"print(Client(\"127.0.0.1\", port=%s, ssl=%s, cert_validation=False, auth=\"%s\", username=\"%s\", password=%q).execute_ps(\"Get-Date\")[0])'\n",
			u.Port(), pyBool(tlsOn), pyAuth, user, pw)
	}
	fmt.Fprintln(w, "\nCtrl-C stops it.")
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
