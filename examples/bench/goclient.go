package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"time"

	"github.com/gopsrp/gopsrp/session"
)

// childEnv marks a child process that runs one scenario with our client;
// its value is the JSON of a childJob.
const childEnv = "GOPSRP_BENCH_CHILD"

// childJob is what a client child runs; the pypsrp driver takes the same
// fields as flags.
type childJob struct {
	Scenario string `json:"scenario"`
	URL      string `json:"url"`
	Auth     string `json:"auth"`
	User     string `json:"user"`
	Password string `json:"password"`
	N        int    `json:"n"`
	Script   string `json:"script"`
	// File and Dest are the local source and remote destination of a copy.
	File       string `json:"file,omitempty"`
	Dest       string `json:"dest,omitempty"`
	CPUProfile string `json:"cpuprofile,omitempty"`
	MemProfile string `json:"memprofile,omitempty"`
}

// childResult is the line a child prints when its measured part ends.
type childResult struct {
	WallNS  int64 `json:"wall_ns"`
	CPUNS   int64 `json:"cpu_ns"`
	Objects int   `json:"objects"`
	// MaxRSS is the child's peak resident set in bytes (VmHWM), or 0.
	MaxRSS int64 `json:"max_rss"`
}

// marker is the child's side of the handshake that brackets the measured
// part: it prints "mark" and waits for the parent's "go", so that the
// parent's wire counts cover exactly that part.
type marker struct {
	in  *bufio.Reader
	out io.Writer
}

func (m marker) mark() error {
	if _, err := fmt.Fprintln(m.out, "mark"); err != nil {
		return err
	}
	_, err := m.in.ReadString('\n')
	return err
}

// runChild runs the job described by the environment with our client.
func runChild() error {
	var job childJob
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &job); err != nil {
		return fmt.Errorf("bench child: %w", err)
	}
	m := marker{in: bufio.NewReader(os.Stdin), out: os.Stdout}
	res, err := runGoScenario(context.Background(), job, m)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(res)
	_, err = fmt.Printf("result %s\n", b)
	return err
}

func goOptions(job childJob) []session.Option {
	opts := []session.Option{session.WithHTTPClient(&http.Client{Transport: &http.Transport{}})}
	if job.Auth == "ntlm" {
		return append(opts, session.WithNTLM(job.User, job.Password), session.WithTrustedHosts("127.0.0.1"))
	}
	return append(opts, session.WithBasicAuth(job.User, job.Password), session.WithTrustedHosts("127.0.0.1"), session.WithAllowUnencrypted())
}

// measure brackets fn with the handshake, the clock, getrusage and the
// optional profiles.
func measure(job childJob, m marker, fn func() (int, error)) (childResult, error) {
	if err := m.mark(); err != nil {
		return childResult{}, err
	}
	if job.CPUProfile != "" {
		f, err := os.Create(job.CPUProfile)
		if err != nil {
			return childResult{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return childResult{}, err
		}
	}
	start, cpu := time.Now(), selfCPU()
	n, err := fn()
	res := childResult{WallNS: int64(time.Since(start)), CPUNS: int64(selfCPU() - cpu), Objects: n}
	if job.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	if job.MemProfile != "" {
		if f, ferr := os.Create(job.MemProfile); ferr == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			_ = f.Close()
		}
	}
	res.MaxRSS = peakRSS()
	if err != nil {
		return res, err
	}
	return res, m.mark()
}

func runGoScenario(ctx context.Context, job childJob, m marker) (childResult, error) {
	sc, err := lookupScenario(job.Scenario)
	if err != nil {
		return childResult{}, err
	}
	if !sc.pooled {
		return measure(job, m, func() (int, error) { return sc.run(ctx, nil, job) })
	}
	s, err := session.New(ctx, job.URL, goOptions(job)...)
	if err != nil {
		return childResult{}, err
	}
	defer s.Close(ctx)
	res, err := measure(job, m, func() (int, error) { return sc.run(ctx, s, job) })
	if err != nil {
		return res, err
	}
	return res, s.Close(ctx)
}
