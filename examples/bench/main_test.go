package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestMain lets the test binary serve as the gopsrp client child, as the
// bench program re-executes itself.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tiny are flags that make every scenario quick; the copy is of more than
// one chunk.
var tiny = []string{"-objects", "50", "-stream", "300", "-invokes", "2", "-copy-size", "1048576"}

// rowRe matches a figures line: scenario, client, objects, wall, CPU,
// requests, wire bytes, RSS, MB/s.
var rowRe = regexp.MustCompile(`^\s*(\S+(?: x\d+| \d+MiB)?)\s+(gopsrp|pypsrp)\s+(\d+)\s+\d+\.\d{3}s\s+\d+\.\d{3}s\s+(\d+)\s+(\d+)\s+\d+\.\dMiB\s+(-|\d+\.\d)$`)

type parsedRow struct {
	scenario, client  string
	objects, requests int
	wireBytes         int64
	rate              string
}

func runBench(t *testing.T, args ...string) (string, []parsedRow) {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), append(append([]string{}, tiny...), args...), &out, &errb); err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, errb.String())
	}
	var rows []parsedRow
	for _, line := range strings.Split(out.String(), "\n") {
		m := rowRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var r parsedRow
		r.scenario, r.client = m[1], m[2]
		fmt.Sscan(m[3], &r.objects)
		fmt.Sscan(m[4], &r.requests)
		fmt.Sscan(m[5], &r.wireBytes)
		r.rate = m[6]
		rows = append(rows, r)
	}
	return out.String(), rows
}

func checkRows(t *testing.T, out string, rows []parsedRow, client string) {
	t.Helper()
	want := map[string]int{"open-invoke-close": 1, "invoke-open-pool x2": 2, "pipeline": 50, "stream": 300, "copy 1MiB": 1}
	seen := 0
	for _, r := range rows {
		if r.client != client {
			continue
		}
		n, ok := want[r.scenario]
		if !ok {
			t.Errorf("unexpected scenario %q", r.scenario)
			continue
		}
		seen++
		if r.objects != n {
			t.Errorf("%s %s: %d objects, want %d", client, r.scenario, r.objects, n)
		}
		if r.requests < 1 || r.wireBytes < 500 {
			t.Errorf("%s %s: %d requests, %d bytes: the relay counted nothing", client, r.scenario, r.requests, r.wireBytes)
		}
		if isCopy := strings.HasPrefix(r.scenario, "copy "); isCopy != (r.rate != "-") {
			t.Errorf("%s %s: MB/s %q", client, r.scenario, r.rate)
		}
		// The file went over the wire as base64 (4/3 of its size).
		if r.scenario == "copy 1MiB" && r.wireBytes < 4<<20/3 {
			t.Errorf("%s copy: %d wire bytes for a 1 MiB file", client, r.wireBytes)
		}
	}
	if seen != len(want) {
		t.Errorf("%d %s rows, want %d:\n%s", seen, client, len(want), out)
	}
}

func TestBenchGopsrpBasic(t *testing.T) {
	out, rows := runBench(t, "-clients", "gopsrp")
	checkRows(t, out, rows, "gopsrp")
	if !strings.Contains(out, "auth basic") {
		t.Errorf("output does not name the auth:\n%s", out)
	}
}

func TestBenchGopsrpNTLM(t *testing.T) {
	out, rows := runBench(t, "-clients", "gopsrp", "-auth", "ntlm")
	checkRows(t, out, rows, "gopsrp")
}

func TestBenchWithPypsrp(t *testing.T) {
	r := runner{cfg: config{python: "/usr/bin/python3", peers: defaultPeers()}}
	if why := r.pypsrpMissing(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pypsrp peer needed under CI=true: %s", why)
		}
		t.Skipf("pypsrp peer not available: %s", why)
	}
	out, rows := runBench(t, "-pypsrp-scenarios", strings.Join(scenarioNames(func(scenario) bool { return true }), ","))
	checkRows(t, out, rows, "gopsrp")
	checkRows(t, out, rows, "pypsrp")
	for _, sc := range []string{"open-invoke-close", "pipeline", "stream", "copy 1MiB"} {
		if !regexp.MustCompile(`(?m)^\s*` + sc + `\s+pypsrp/gopsrp\s+\d`).MatchString(out) {
			t.Errorf("no ratio line for %s:\n%s", sc, out)
		}
	}
}

func TestBenchRejectsBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"-auth", "kerberos"}, &out, &errb); err == nil {
		t.Error("-auth kerberos accepted")
	}
	if err := run(context.Background(), []string{"-url", "https://127.0.0.1:1/wsman", "-clients", "gopsrp"}, &out, &errb); err == nil {
		t.Error("an https endpoint accepted: the relay counts plain HTTP only")
	}
	if err := run(context.Background(), []string{"-scenarios", "pipeline,nope"}, &out, &errb); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("an unknown scenario: %v", err)
	}
}
