package kdctest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gopsrp/gopsrp/internal/kdctest"
)

func TestStartAndLogin(t *testing.T) {
	start := time.Now()
	k := kdctest.Start(t)
	k.AddUser(t, "alice", `Pa ss"w0rd!\`)
	ktPath := k.AddService(t, "HTTP/localhost")
	t.Logf("realm created and principals added in %v", time.Since(start))

	kt, err := keytab.Load(ktPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(kt.Entries) < 2 {
		t.Fatalf("keytab has %d entries, want one per enctype", len(kt.Entries))
	}

	cl := client.NewWithPassword("alice", k.Realm, `Pa ss"w0rd!\`, k.Config(t), client.DisablePAFXFAST(true))
	defer cl.Destroy()
	if err := cl.Login(); err != nil {
		t.Fatalf("login: %v", err)
	}
	tkt, _, err := cl.GetServiceTicket("HTTP/localhost")
	if err != nil {
		t.Fatalf("service ticket: %v", err)
	}
	if got := strings.Join(tkt.SName.NameString, "/"); got != "HTTP/localhost" {
		t.Fatalf("ticket for %q", got)
	}

	bad := client.NewWithPassword("alice", k.Realm, "wrong", k.Config(t), client.DisablePAFXFAST(true))
	defer bad.Destroy()
	if err := bad.Login(); err == nil || !strings.Contains(err.Error(), "PREAUTH_FAILED") {
		t.Fatalf("wrong password: got %v, want KDC_ERR_PREAUTH_FAILED", err)
	}
}

func TestKinitWithEnv(t *testing.T) {
	kinit := kdctest.SkipUnlessAvailable(t, "kinit", "krb5-user")
	k := kdctest.Start(t)
	k.AddUser(t, "bob", "secret")
	cc := filepath.Join(k.Dir, "ccache")
	cmd := exec.Command(kinit, "-c", "FILE:"+cc, "bob@"+k.Realm)
	cmd.Env = append(os.Environ(), k.Env()...)
	cmd.Stdin = strings.NewReader("secret\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v\n%s", err, out)
	}
	if fi, err := os.Stat(cc); err != nil || fi.Size() == 0 {
		t.Fatalf("ccache not written: %v", err)
	}
}

func TestStopReleasesPort(t *testing.T) {
	var port int
	t.Run("run", func(t *testing.T) {
		k := kdctest.Start(t)
		port = k.Port
	})
	if port == 0 {
		t.Skip("KDC did not start")
	}
	// The cleanup waited for the process, so its port is free again.
	k := &kdctest.KDC{Port: port}
	if c, err := (&netDialer{}).dial(k.Addr()); err == nil {
		c.Close()
		t.Fatalf("KDC still listening on %s after cleanup", k.Addr())
	}
}
