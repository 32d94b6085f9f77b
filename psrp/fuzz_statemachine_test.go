package psrp_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/psrp"
)

// smFuzzSeeds returns the PSRP blobs of a few captures, split by direction:
// what servers sent and what clients sent.
func smFuzzSeeds(f *testing.F) (fromServer, fromClient [][]byte) {
	f.Helper()
	names := []string{"test_psrp_no_profile.yml", "test_psrp_merge_commands.yml", "test_psrp_with_input.yml", "test_psrp_pshost_methods.yml", "test_psrp_set_runspaces.yml", "test_psrp_key_exchange_timeout.yml", "test_psrp_disconnect_runspaces.yml"}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(smCaptureDir(f), n)); err != nil {
			continue
		}
		c := smLoadCapture(f, n)
		for _, m := range c.Messages {
			fromClient = append(fromClient, smBlobs(f, m.Request)...)
			fromServer = append(fromServer, smBlobs(f, m.Response)...)
		}
	}
	return fromServer, fromClient
}

// FuzzClientPoolReceive feeds arbitrary server data to an opening client
// pool with one pipeline: it must never panic, and errors must be typed.
func FuzzClientPoolReceive(f *testing.F) {
	fromServer, _ := smFuzzSeeds(f)
	for _, b := range fromServer {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := psrp.NewClientPool(psrp.ClientPoolConfig{ID: noProfileRPID, MaxMessageSize: 1 << 20})
		if err := c.Open(); err != nil {
			t.Fatal(err)
		}
		for {
			if _, ok := c.DataToSend(1 << 20); !ok {
				break
			}
		}
		// Split the input in two to exercise partial fragments.
		half := len(data) / 2
		for _, part := range [][]byte{data[:half], data[half:]} {
			broken := c.State() == psrp.RunspacePoolBroken
			err := c.Receive(part)
			if broken && err != nil {
				t.Fatalf("a broken pool reported %v", err)
			}
			// Every error is typed, and a fatal one broke the pool.
			var errs []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			} else if err != nil {
				errs = []error{err}
			}
			for _, e := range errs {
				var pe *psrp.ProtocolError
				if !errors.As(e, &pe) {
					t.Fatalf("untyped error %T: %v", e, e)
				}
				if pe.Fatal() && c.State() != psrp.RunspacePoolBroken {
					t.Fatalf("fatal error %v, pool %v", e, c.State())
				}
			}
		}
		for {
			if _, ok := c.NextEvent(); !ok {
				break
			}
		}
		_ = c.State().String()
	})
}

// FuzzServerPoolReceive feeds arbitrary client data to a server pool.
func FuzzServerPoolReceive(f *testing.F) {
	_, fromClient := smFuzzSeeds(f)
	for _, b := range fromClient {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := psrp.NewServerPool(psrp.ServerPoolConfig{MaxMessageSize: 1 << 20})
		half := len(data) / 2
		_ = s.Receive(data[:half], psrp.StreamDefault, uuid.Nil)
		_ = s.Receive(data[half:], psrp.StreamDefault, uuid.Nil)
		for {
			ev, ok := s.NextEvent()
			if !ok {
				break
			}
			if pc, ok := ev.(psrp.PipelineCreated); ok {
				// Drive the pipeline like an endpoint would.
				_ = pc.Pipeline.WriteOutput(strings.Repeat("x", 3))
				_ = pc.Pipeline.Complete()
			}
		}
		for {
			if _, ok := s.DataToSend(4096); !ok {
				break
			}
		}
	})
}
