// Command bench runs the same PowerShell remoting scenarios with gopsrp
// and, when Python and pypsrp are at hand, with pypsrp, against one
// endpoint, and prints per client and scenario the wall time, the client's
// CPU time, the HTTP requests, the bytes on the wire and the client's peak
// RSS (and for a file copy its MB/s), with the ratios between the clients.
//
//	go run ./examples/bench                  # in-process endpoint, Basic over HTTP
//	go run ./examples/bench -auth ntlm       # NTLM, every message sealed
//	go run ./examples/bench -url http://127.0.0.1:5985/wsman -many-script '1..%d'
//
// Each client runs each scenario in a child process of its own (this
// program again, or Python with the driver script next to this file), so
// the CPU time and peak RSS are the client's alone; the endpoint runs in
// this process. A TCP relay in front of the endpoint counts the requests
// and bytes; a handshake with the child brackets the measured part, so
// opening the pool before "pipeline" and closing it after are not counted.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// config is the program's flags.
type config struct {
	url, auth, user, password string
	objects, stream, invokes  int
	copySize                  int64
	copyDest                  string
	smallScript, manyScript   string
	clients, scenarios        string
	pypsrpScenarios           string
	python, peers             string
	profileDir                string

	// copySource is the local file of the copy scenario, which run makes.
	copySource string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "", "endpoint URL (default: an in-process emulated host)")
	fs.StringVar(&c.auth, "auth", "basic", "basic (plain HTTP) or ntlm (every message sealed)")
	fs.StringVar(&c.user, "user", "bench", "user name")
	fs.StringVar(&c.password, "password", "bench-password", "password")
	fs.IntVar(&c.objects, "objects", 100_000, "objects of the pipeline scenario")
	fs.IntVar(&c.stream, "stream", 1_000_000, "objects of the stream scenario")
	fs.IntVar(&c.invokes, "invokes", 10, "invocations of the invoke-open-pool scenario")
	fs.Int64Var(&c.copySize, "copy-size", 256<<20, "bytes of the file of the copy scenario (made in a temporary directory)")
	fs.StringVar(&c.copyDest, "copy-dest", `C:\Windows\Temp\gopsrp-bench-copy.bin`, "remote path of the copy scenario's file (replaced)")
	fs.StringVar(&c.smallScript, "small-script", "Write-Output hello", "script of the open-invoke-close and invoke-open-pool scenarios")
	fs.StringVar(&c.manyScript, "many-script", "Get-Many -Count %d", "script that writes %d objects")
	fs.StringVar(&c.clients, "clients", "gopsrp,pypsrp", "clients to run")
	fs.StringVar(&c.scenarios, "scenarios", strings.Join(scenarioNames(func(scenario) bool { return true }), ","), "scenarios to run")
	fs.StringVar(&c.pypsrpScenarios, "pypsrp-scenarios", strings.Join(scenarioNames(func(sc scenario) bool { return sc.pypsrpByDefault }), ","),
		"scenarios pypsrp runs (its stream of 1,000,000 objects takes minutes)")
	fs.StringVar(&c.python, "python", "/usr/bin/python3", "Python interpreter for pypsrp")
	fs.StringVar(&c.peers, "peers", defaultPeers(), "directory holding pypsrp-0.9.1 and pyspnego-0.12.0 (default: ../shared/peers beside the checkout)")
	fs.StringVar(&c.profileDir, "profile-dir", "", "write gopsrp's CPU and allocation profiles of each scenario here")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.auth != "basic" && c.auth != "ntlm" {
		return c, fmt.Errorf("-auth %q: want basic or ntlm", c.auth)
	}
	for _, name := range append(split(c.scenarios), split(c.pypsrpScenarios)...) {
		if _, err := lookupScenario(name); err != nil {
			return c, err
		}
	}
	if c.copySize < 0 {
		return c, fmt.Errorf("-copy-size %d: want a size", c.copySize)
	}
	return c, nil
}

func main() {
	if os.Getenv(childEnv) != "" {
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	target := c.url
	r := &runner{stderr: stderr}
	if target == "" {
		srv, err := startEndpoint(c.auth, c.user, c.password)
		if err != nil {
			return err
		}
		defer srv.Close()
		target = srv.URL
		r.files = srv.Files()
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("endpoint %q: want an http:// URL", target)
	}
	wire, err := newWireCounter(u.Host)
	if err != nil {
		return err
	}
	defer wire.close()
	relayed := *u
	relayed.Host = wire.addr()
	if contains(split(c.scenarios), scenarioCopy) {
		dir, err := os.MkdirTemp("", "gopsrp-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c.copySource = filepath.Join(dir, "copy.bin")
		if r.copySum, err = writeCopySource(c.copySource, c.copySize); err != nil {
			return err
		}
		if r.files != nil {
			if err := r.prepareCopyDest(c.copyDest); err != nil {
				return err
			}
		}
	}
	r.cfg, r.url, r.wire = c, relayed.String(), wire
	var rows []row
	var notes []string
	for _, client := range split(c.clients) {
		if client == clientPypsrp {
			if why := r.pypsrpMissing(); why != "" {
				notes = append(notes, "pypsrp not run: "+why)
				continue
			}
		}
		for _, sc := range split(c.scenarios) {
			if client == clientPypsrp && !contains(split(c.pypsrpScenarios), sc) {
				continue
			}
			res, err := r.run(ctx, client, sc)
			if err != nil {
				return fmt.Errorf("%s %s: %w", client, sc, err)
			}
			rows = append(rows, res)
		}
	}
	fmt.Fprintf(stdout, "endpoint: %s, auth %s (relayed through %s)\n", target, c.auth, wire.addr())
	printTable(stdout, c, rows)
	for _, n := range notes {
		fmt.Fprintln(stdout, n)
	}
	return nil
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// defaultPeers is ../shared/peers beside the module root (the first
// directory above the working directory that holds go.mod), or "" when
// there is none.
func defaultPeers() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(dir), "shared", "peers")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
