//go:build unix

package session_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// The client-CPU benchmark runs the endpoint in a child process (this test
// binary again), so that the figure is the client's CPU alone: getrusage
// of this process around each pipeline.
const benchEndpointEnv = "GOPSRP_BENCH_ENDPOINT"

const benchObjects = 100_000

func init() {
	childMain = func() bool {
		mode := os.Getenv(benchEndpointEnv)
		if mode == "" {
			return false
		}
		srv := sessiontest.NewUnstartedServer()
		if mode == "ntlm" {
			srv.Users = map[string]string{authUser: authPassword}
			srv.Auth = sessiontest.AuthConfig{Negotiate: true}
		}
		srv.Handle("Get-Many", func(ctx context.Context, c *sessiontest.Call) error {
			for i := range int32(benchObjects) {
				if err := c.WriteOutput(i); err != nil {
					return err
				}
			}
			return nil
		})
		srv.Start()
		fmt.Println(srv.URL)
		_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
		srv.Close()
		return true
	}
}

// startBenchEndpoint starts the child endpoint in mode ("plain" or "ntlm").
func startBenchEndpoint(b *testing.B, mode string) string {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchEndpointEnv+"="+mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("bench endpoint: %v", err)
	}
	return strings.TrimSpace(line)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPipeline100kClientCPU compares the client's CPU for a pipeline
// of 100,000 objects over plain HTTP and over NTLM-sealed HTTP (every
// request and response sealed with RC4/HMAC-MD5), the endpoint in another
// process.
func BenchmarkPipeline100kClientCPU(b *testing.B) {
	for _, mode := range []string{"plain", "ntlm"} {
		b.Run(mode, func(b *testing.B) {
			url := startBenchEndpoint(b, mode)
			ctx := context.Background()
			opts := []session.Option{session.WithHTTPClient(&http.Client{Transport: &http.Transport{}})}
			if mode == "ntlm" {
				opts = append(opts, session.WithNTLM(authUser, authPassword), session.WithTrustedHosts("127.0.0.1"))
			} else {
				opts = append(opts, session.WithAllowUnencrypted())
			}
			s, err := session.New(ctx, url, opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(ctx)
			var cpu time.Duration
			b.ReportAllocs()
			for b.Loop() {
				start := cpuTime()
				res, err := s.InvokeScript(ctx, "Get-Many")
				cpu += cpuTime() - start
				if err != nil || len(res.Output) != benchObjects {
					b.Fatalf("%d objects, %v", len(res.Output), err)
				}
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "client-cpu-ms/op")
		})
	}
}
