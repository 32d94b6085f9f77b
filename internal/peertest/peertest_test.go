package peertest_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/internal/peertest"
)

// recorder is a testing.TB that records how it was stopped instead of
// stopping.
type recorder struct {
	testing.TB
	stops []string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.stops = append(r.stops, "fatal: "+fmt.Sprintf(format, args...))
}
func (r *recorder) Skipf(format string, args ...any) {
	r.stops = append(r.stops, "skip: "+fmt.Sprintf(format, args...))
}

func TestNeedSkipsOutsideCI(t *testing.T) {
	for _, ci := range []string{"", "false", "1"} {
		t.Setenv("CI", ci)
		r := &recorder{}
		peertest.Need(r, "krb5kdc", "not on PATH")
		if len(r.stops) != 1 || !strings.HasPrefix(r.stops[0], "skip: krb5kdc not available (not on PATH)") {
			t.Errorf("CI=%q: %q", ci, r.stops)
		}
	}
}

func TestNeedFailsUnderCI(t *testing.T) {
	t.Setenv("CI", "true")
	r := &recorder{}
	peertest.Need(r, "krb5kdc", "not on PATH")
	if len(r.stops) == 0 || r.stops[0] != "fatal: krb5kdc is required under CI=true: not on PATH" {
		t.Errorf("%q", r.stops)
	}
}

func TestPython(t *testing.T) {
	py := peertest.Python(t, "", "sys", "os.path")
	if py != peertest.DebianPython {
		t.Fatalf("Python = %q", py)
	}
	t.Setenv("CI", "")
	r := &recorder{}
	peertest.Python(r, t.TempDir(), "sys", "no_such_module_of_peertest")
	if len(r.stops) != 1 || !strings.Contains(r.stops[0], "no_such_module_of_peertest") {
		t.Errorf("a missing module: %q", r.stops)
	}
}

func TestPeerSource(t *testing.T) {
	src := peertest.PeerSource(t, peertest.Pyspnego, "spnego/_credssp.py")
	if filepath.Base(src) != "src" || !strings.Contains(src, filepath.Join("peers", peertest.Pyspnego)) {
		t.Errorf("PeerSource = %q", src)
	}
	t.Setenv("CI", "")
	r := &recorder{}
	peertest.PeerSource(r, peertest.Pyspnego, "spnego/no_such_file.py")
	if len(r.stops) != 1 || !strings.HasPrefix(r.stops[0], "skip: "+peertest.Pyspnego+" in ../shared/peers") {
		t.Errorf("a missing file: %q", r.stops)
	}
}

func TestEncodeDecode(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, []byte("hello, peer")} {
		s := peertest.Encode(b)
		if strings.ContainsAny(s, " \n") {
			t.Errorf("Encode(%q) = %q, not one field", b, s)
		}
		if got := peertest.Decode(t, s); !bytes.Equal(got, b) {
			t.Errorf("Decode(Encode(%q)) = %q", b, got)
		}
	}
	if peertest.Encode([]byte{}) != "-" {
		t.Error(`an empty argument is not "-"`)
	}
}

func TestChildCall(t *testing.T) {
	var cmd *exec.Cmd
	t.Run("run", func(t *testing.T) {
		// cat answers each line with itself: "ok …" succeeds, anything
		// else is an error.
		cmd = exec.Command("sh", "-c", "echo started >&2; exec cat")
		c := peertest.Start(t, "cat", cmd)
		got, err := c.Call("ok", "a", peertest.Encode([]byte("b")))
		if err != nil || len(got) != 2 || got[0] != "a" || string(peertest.Decode(t, got[1])) != "b" {
			t.Fatalf("Call = %q, %v", got, err)
		}
		if _, err := c.Call("err", "bad", "input"); err == nil || err.Error() != "cat: err bad input" {
			t.Fatalf("an err answer: %v", err)
		}
		c.Send("raw line")
		if line := c.ReadLine(); line != "raw line" {
			t.Fatalf("ReadLine = %q", line)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(c.Stderr(), "started") {
			if time.Now().After(deadline) {
				t.Fatalf("stderr %q", c.Stderr())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	// The cleanup closed cat's stdin and waited for it.
	if cmd.ProcessState == nil || !cmd.ProcessState.Exited() {
		t.Fatalf("child not waited for: %v", cmd.ProcessState)
	}
}
