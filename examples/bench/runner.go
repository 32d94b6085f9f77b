package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// The clients the program knows.
const (
	clientGopsrp = "gopsrp"
	clientPypsrp = "pypsrp"
)

//go:embed pypsrp_driver.py
var pypsrpDriver string

// row is one client's figures for one scenario.
type row struct {
	client, scenario string
	objects          int
	// bytes is the file data moved, for the throughput; 0 for none.
	bytes     int64
	wall, cpu time.Duration
	wire      counts
	maxRSS    int64
}

// runner starts the client children and measures them.
type runner struct {
	cfg    config
	url    string
	wire   *wireCounter
	stderr io.Writer
	// files is the in-process endpoint's disk, on which a copy is
	// checked; nil for another endpoint.
	files *sessiontest.FileSystem
	// copySum is the SHA-256 of the copy scenario's file.
	copySum [sha256.Size]byte
}

func (r *runner) pypsrpMissing() string {
	if _, err := os.Stat(r.cfg.python); err != nil {
		return r.cfg.python + " is not installed"
	}
	if _, err := os.Stat(filepath.Join(r.cfg.peers, "pypsrp-0.9.1", "src", "pypsrp")); err != nil {
		return "no pypsrp-0.9.1 under " + r.cfg.peers
	}
	return ""
}

// job is the scenario's work for a client.
func (r *runner) job(sc scenario) childJob {
	j := childJob{Scenario: sc.name, URL: r.url, Auth: r.cfg.auth, User: r.cfg.user, Password: r.cfg.password}
	sc.job(r.cfg, &j)
	return j
}

func (r *runner) command(ctx context.Context, client string, j childJob) (*exec.Cmd, error) {
	switch client {
	case clientGopsrp:
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		if r.cfg.profileDir != "" {
			j.CPUProfile = filepath.Join(r.cfg.profileDir, j.Scenario+".cpu.prof")
			j.MemProfile = filepath.Join(r.cfg.profileDir, j.Scenario+".mem.prof")
		}
		b, err := json.Marshal(j)
		if err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, exe)
		cmd.Env = append(os.Environ(), childEnv+"="+string(b))
		return cmd, nil
	case clientPypsrp:
		cmd := exec.CommandContext(ctx, r.cfg.python, "-c", pypsrpDriver,
			"--scenario", j.Scenario, "--url", j.URL, "--auth", j.Auth, "--user", j.User,
			"--password", j.Password, "--script", j.Script, "--n", strconv.Itoa(j.N),
			"--file", j.File, "--dest", j.Dest)
		src := filepath.Join(r.cfg.peers, "pypsrp-0.9.1", "src") + string(os.PathListSeparator) +
			filepath.Join(r.cfg.peers, "pyspnego-0.12.0", "src")
		cmd.Env = append(os.Environ(), "PYTHONPATH="+src)
		return cmd, nil
	}
	return nil, fmt.Errorf("unknown client %q", client)
}

// run runs one scenario with one client in a child process and collects
// its figures: wall and CPU time from the child, wire counts between its
// two marks, peak RSS from the child's rusage.
func (r *runner) run(ctx context.Context, client, name string) (row, error) {
	sc, err := lookupScenario(name)
	if err != nil {
		return row{}, err
	}
	j := r.job(sc)
	cmd, err := r.command(ctx, client, j)
	if err != nil {
		return row{}, err
	}
	cmd.Stderr = r.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return row{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return row{}, err
	}
	if err := cmd.Start(); err != nil {
		return row{}, err
	}
	res, protoErr := r.converse(stdin, stdout)
	_ = stdin.Close()
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		return row{}, fmt.Errorf("client exited: %w", err)
	}
	if protoErr != nil {
		return row{}, protoErr
	}
	if want := sc.objects(j); want >= 0 && res.objects != want {
		return row{}, fmt.Errorf("%d objects, want %d", res.objects, want)
	}
	if sc.bytes != nil {
		res.bytes = sc.bytes(r.cfg)
		if err := r.checkCopy(j.Dest); err != nil {
			return row{}, err
		}
	}
	res.client, res.scenario = client, name
	if res.maxRSS == 0 {
		res.maxRSS = maxRSS(cmd.ProcessState)
	}
	return res, nil
}

// converse answers the child's two marks and reads its result line.
func (r *runner) converse(stdin io.Writer, stdout io.Reader) (row, error) {
	var res row
	var marks []counts
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "mark":
			marks = append(marks, r.wire.snapshot())
			if _, err := io.WriteString(stdin, "go\n"); err != nil {
				return res, err
			}
		case strings.HasPrefix(line, "result "):
			var cr childResult
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "result ")), &cr); err != nil {
				return res, fmt.Errorf("result line %q: %w", line, err)
			}
			if len(marks) != 2 {
				return res, fmt.Errorf("result after %d marks, want 2", len(marks))
			}
			res.wall, res.cpu, res.objects, res.maxRSS = time.Duration(cr.WallNS), time.Duration(cr.CPUNS), cr.Objects, cr.MaxRSS
			res.wire = marks[1].sub(marks[0])
			return res, nil
		}
	}
	if err := sc.Err(); err != nil {
		return res, err
	}
	return res, fmt.Errorf("client ended without a result")
}
