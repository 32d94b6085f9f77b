package kerberos_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/kdctest"
	"github.com/gopsrp/gopsrp/internal/kerberos"
	"github.com/gopsrp/gopsrp/internal/peertest"
)

// backendSPN is the second hop's service.
const backendSPN = "HTTP/backend.example.test"

// secondHop uses a delegated TGT the way a service would: it asks the KDC
// for a ticket to backendSPN in the user's name, and checks that the
// backend's keytab decrypts it and that it names the user. A gokrb5
// client serves only as the transport to the KDC; its password is unused.
func secondHop(t *testing.T, r *realm, backendKT *keytab.Keytab, d *kerberos.DelegatedCredential) {
	t.Helper()
	cfg := r.kdc.Config(t)
	sname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, backendSPN)
	req, err := messages.NewTGSReq(d.Client, d.ClientRealm, cfg, d.Ticket, d.SessionKey, sname, false)
	if err != nil {
		t.Fatal(err)
	}
	transport := krbclient.NewWithPassword("transport-only", r.kdc.Realm, "unused", cfg, krbclient.DisablePAFXFAST(true))
	defer transport.Destroy()
	_, rep, err := transport.TGSExchange(req, r.kdc.Realm, d.Ticket, d.SessionKey, 0)
	if err != nil {
		t.Fatalf("TGS exchange with the delegated TGT: %v", err)
	}
	tkt := rep.Ticket
	if err := tkt.DecryptEncPart(backendKT, nil); err != nil {
		t.Fatalf("the backend's keytab does not decrypt the second-hop ticket: %v", err)
	}
	if got := strings.Join(tkt.DecryptedEncPart.CName.NameString, "/") + "@" + tkt.DecryptedEncPart.CRealm; got != "alice@EXAMPLE.TEST" {
		t.Fatalf("second-hop ticket is for %q", got)
	}
	if !types.IsFlagSet(&tkt.DecryptedEncPart.Flags, flags.Forwarded) {
		t.Fatal("second-hop ticket lacks the FORWARDED flag")
	}
}

func addBackend(t *testing.T, r *realm) *keytab.Keytab {
	t.Helper()
	kt, err := keytab.Load(r.kdc.AddService(t, backendSPN))
	if err != nil {
		t.Fatal(err)
	}
	return kt
}

func checkDelegated(t *testing.T, s *kerberos.Server) *kerberos.DelegatedCredential {
	t.Helper()
	d, ok := s.DelegatedCredential()
	if !ok || !s.Delegated() || d == nil {
		t.Fatal("the server received no delegated credential")
	}
	if got := strings.Join(d.Client.NameString, "/") + "@" + d.ClientRealm; got != "alice@EXAMPLE.TEST" {
		t.Fatalf("delegated credential for %q", got)
	}
	if !d.IsTGT() || d.Ticket.SName.NameString[1] != "EXAMPLE.TEST" || !d.Forwarded() {
		t.Fatalf("delegated %v, want a forwarded TGT krbtgt/EXAMPLE.TEST", d)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", d, d, d), string(d.SessionKey.KeyValue)) {
		t.Fatal("formatting the credential shows its key")
	}
	return d
}

func TestDelegation(t *testing.T) {
	r := startRealm(t)
	backendKT := addBackend(t, r)
	for _, mutual := range []bool{true, false} {
		t.Run(map[bool]string{true: "mutual", false: "nomutual"}[mutual], func(t *testing.T) {
			c, err := kerberos.NewClient(kerberos.ClientConfig{
				Username: testUser, Password: testPassword, Config: r.kdc.Config(t), SPN: testSPN,
				Delegate: true, DisableMutual: !mutual,
			})
			if err != nil {
				t.Fatal(err)
			}
			s, _ := kerberos.NewServer(kerberos.ServerConfig{Keytab: r.keytab})
			tok, err := c.Step(context.Background(), nil)
			if err != nil {
				t.Fatalf("client step: %v", err)
			}
			if s.Delegated() {
				t.Fatal("Delegated before the context is established")
			}
			rep, err := s.Step(context.Background(), tok)
			if err != nil {
				t.Fatalf("server step: %v", err)
			}
			if len(rep) != 0 {
				if _, err := c.Step(context.Background(), rep); err != nil {
					t.Fatal(err)
				}
			}
			secondHop(t, r, backendKT, checkDelegated(t, s))
			// The context works as usual.
			h, d, err := c.Wrap([]byte("after delegation"))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := s.Unwrap(h, d); err != nil || string(got) != "after delegation" {
				t.Fatalf("unwrap: %q %v", got, err)
			}
		})
	}
}

func TestNoDelegationByDefault(t *testing.T) {
	r := startRealm(t)
	c, _ := kerberos.NewClient(kerberos.ClientConfig{Username: testUser, Password: testPassword, Config: r.kdc.Config(t), SPN: testSPN})
	s, _ := kerberos.NewServer(kerberos.ServerConfig{Keytab: r.keytab})
	handshake(t, c, s)
	if d, ok := s.DelegatedCredential(); ok || d != nil || s.Delegated() {
		t.Fatalf("delegated without Delegate: %v", d)
	}
}

func TestDelegationNotForwardable(t *testing.T) {
	r := startRealm(t)
	r.kdc.AddUser(t, "carol", testPassword)
	r.kdc.Kadmin(t, "modprinc -allow_forwardable carol")
	cfg := kerberos.ClientConfig{Username: "carol", Password: testPassword, Config: r.kdc.Config(t), SPN: testSPN, Delegate: true}
	c, err := kerberos.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Step(context.Background(), nil)
	if !errors.Is(err, kerberos.ErrNotForwardable) || !errors.Is(err, gss.ErrAuthFailed) {
		t.Fatalf("non-forwardable user: got %v, want ErrNotForwardable", err)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Fatalf("error reveals the password: %v", err)
	}
	t.Logf("error: %v", err)
	// Without delegation the same user logs in.
	cfg.Delegate = false
	c, _ = kerberos.NewClient(cfg)
	s, _ := kerberos.NewServer(kerberos.ServerConfig{Keytab: r.keytab})
	handshake(t, c, s)
	if s.Delegated() {
		t.Fatal("delegated without Delegate")
	}
}

// kinitCache runs kinit for user with extra flags into a new ticket cache.
func kinitCache(t *testing.T, r *realm, user, name string, args ...string) string {
	t.Helper()
	kinit := kdctest.SkipUnlessAvailable(t, "kinit", "krb5-user")
	ccPath := filepath.Join(r.kdc.Dir, name)
	cmd := exec.Command(kinit, append(append([]string{"-c", "FILE:" + ccPath}, args...), user+"@"+r.kdc.Realm)...)
	cmd.Env = append(os.Environ(), r.kdc.Env()...)
	cmd.Stdin = strings.NewReader(testPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v\n%s", err, out)
	}
	return ccPath
}

func TestDelegationFromCCache(t *testing.T) {
	r := startRealm(t)
	backendKT := addBackend(t, r)
	for _, tc := range []struct {
		name       string
		kinitFlags []string
		wantErr    error
	}{
		{"forwardable", []string{"-f"}, nil},
		{"not forwardable", []string{"-F"}, kerberos.ErrNotForwardable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KRB5_CONFIG", r.kdc.ConfPath)
			t.Setenv("KRB5CCNAME", "FILE:"+kinitCache(t, r, testUser, "cc-"+strings.ReplaceAll(tc.name, " ", "-"), tc.kinitFlags...))
			cfg, cc, err := kerberos.LoadClientConfigFromEnv()
			if err != nil {
				t.Fatal(err)
			}
			c, _ := kerberos.NewClient(kerberos.ClientConfig{CCache: cc, Config: cfg, SPN: testSPN, Delegate: true})
			if tc.wantErr != nil {
				if _, err := c.Step(context.Background(), nil); !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			s, _ := kerberos.NewServer(kerberos.ServerConfig{Keytab: r.keytab})
			handshake(t, c, s)
			secondHop(t, r, backendKT, checkDelegated(t, s))
		})
	}
}

// TestDelegationRefusedByKDC: the KDC refuses to forward a TGT that is
// not forwardable (KDC_ERR_BADOPTION). The cache's record of the flags is
// altered to say forwardable, so that the client's own check passes and
// the request reaches the KDC.
func TestDelegationRefusedByKDC(t *testing.T) {
	r := startRealm(t)
	t.Setenv("KRB5_CONFIG", r.kdc.ConfPath)
	t.Setenv("KRB5CCNAME", "FILE:"+kinitCache(t, r, testUser, "cc-noforward", "-F"))
	cfg, cc, err := kerberos.LoadClientConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, cred := range cc.Credentials {
		types.SetFlag(&cred.TicketFlags, flags.Forwardable)
	}
	c, _ := kerberos.NewClient(kerberos.ClientConfig{CCache: cc, Config: cfg, SPN: testSPN, Delegate: true})
	_, err = c.Step(context.Background(), nil)
	var ke *kerberos.KRBError
	if !errors.Is(err, kerberos.ErrNotForwardable) || !errors.Is(err, gss.ErrAuthFailed) || !errors.As(err, &ke) || ke.Code != errorcode.KDC_ERR_BADOPTION {
		t.Fatalf("got %v, want ErrNotForwardable with KDC_ERR_BADOPTION", err)
	}
	t.Logf("error: %v", err)
}

// TestMITInitiatorDelegation: MIT's own KRB-CRED (python3-gssapi with
// delegate_to_peer) is decoded by our acceptor, and the TGT works.
func TestMITInitiatorDelegation(t *testing.T) {
	r := startRealm(t)
	backendKT := addBackend(t, r)
	py := peertest.Python(t, "", "gssapi")
	ccPath := kinitCache(t, r, testUser, "cc-mit", "-f")
	cmd := exec.Command(py, "testdata/mit_initiator.py", testSPN+"@"+r.kdc.Realm)
	cmd.Env = append(append(os.Environ(), r.kdc.Env()...), "KRB5CCNAME=FILE:"+ccPath)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("mit_initiator.py: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	s, _ := kerberos.NewServer(kerberos.ServerConfig{Keytab: r.keytab})
	if _, err := s.Step(context.Background(), peertest.Decode(t, strings.TrimSpace(string(out)))); err != nil {
		t.Fatalf("accept MIT's delegating AP-REQ: %v", err)
	}
	secondHop(t, r, backendKT, checkDelegated(t, s))
}
