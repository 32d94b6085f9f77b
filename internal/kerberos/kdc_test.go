package kerberos_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gopsrp/gopsrp/internal/gss"
	"github.com/gopsrp/gopsrp/internal/kdctest"
	"github.com/gopsrp/gopsrp/internal/kerberos"
)

const (
	testUser     = "alice"
	testPassword = "Passw0rd!"
	testSPN      = "HTTP/localhost"
)

// realm is a started KDC with a user and a service.
type realm struct {
	kdc    *kdctest.KDC
	keytab *keytab.Keytab
	ktPath string
}

func startRealm(t *testing.T) *realm {
	t.Helper()
	k := kdctest.Start(t)
	k.AddUser(t, testUser, testPassword)
	ktPath := k.AddService(t, testSPN)
	kt, err := keytab.Load(ktPath)
	if err != nil {
		t.Fatal(err)
	}
	return &realm{kdc: k, keytab: kt, ktPath: ktPath}
}

// configWithEnctype restricts the tickets' session keys to one enctype.
func configWithEnctype(t *testing.T, k *kdctest.KDC, id int32) *config.Config {
	c := k.Config(t)
	if id != 0 {
		c.LibDefaults.DefaultTktEnctypeIDs = []int32{id}
		c.LibDefaults.DefaultTGSEnctypeIDs = []int32{id}
	}
	return c
}

// handshake runs a full context establishment between c and s.
func handshake(t *testing.T, c *kerberos.Client, s *kerberos.Server) {
	t.Helper()
	ctx := context.Background()
	tok, err := c.Step(ctx, nil)
	if err != nil {
		t.Fatalf("client step 1: %v", err)
	}
	rep, err := s.Step(ctx, tok)
	if err != nil {
		t.Fatalf("server step: %v", err)
	}
	if len(rep) != 0 {
		if c.Established() {
			t.Fatal("client established before the AP-REP")
		}
		if out, err := c.Step(ctx, rep); err != nil || len(out) != 0 {
			t.Fatalf("client step 2: %q, %v", out, err)
		}
	}
	if !c.Established() || !s.Established() {
		t.Fatalf("established: client %v server %v", c.Established(), s.Established())
	}
}

func TestHandshakeAndWrap(t *testing.T) {
	r := startRealm(t)
	for _, tc := range []struct {
		name  string
		etype int32
	}{{"aes256", etypeID.AES256_CTS_HMAC_SHA1_96}, {"aes128", etypeID.AES128_CTS_HMAC_SHA1_96}} {
		for _, mutual := range []bool{true, false} {
			t.Run(tc.name+map[bool]string{true: "/mutual", false: "/nomutual"}[mutual], func(t *testing.T) {
				c, err := kerberos.NewClient(kerberos.ClientConfig{
					Username: testUser + "@" + r.kdc.Realm, Password: testPassword,
					Config: configWithEnctype(t, r.kdc, tc.etype), SPN: testSPN, DisableMutual: !mutual,
				})
				if err != nil {
					t.Fatal(err)
				}
				s, err := kerberos.NewServer(kerberos.ServerConfig{Keytab: r.keytab})
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := c.Wrap([]byte("x")); !errors.Is(err, gss.ErrNotEstablished) {
					t.Fatalf("wrap before establishment: %v", err)
				}
				handshake(t, c, s)
				if c.ServerAuthenticated() != mutual {
					t.Fatalf("ServerAuthenticated = %v", c.ServerAuthenticated())
				}
				if got := s.UserName(); got != "alice@EXAMPLE.TEST" {
					t.Fatalf("UserName = %q", got)
				}
				for i := range 3 {
					msg := bytes.Repeat([]byte{byte(i)}, 100*i+1)
					h, d, err := c.Wrap(msg)
					if err != nil {
						t.Fatal(err)
					}
					if len(h) != 60 {
						t.Fatalf("header %d bytes, want 60", len(h))
					}
					wantFlags := byte(0x02)
					if mutual {
						wantFlags |= 0x04
					}
					if h[2] != wantFlags {
						t.Fatalf("client token flags %#x, want %#x", h[2], wantFlags)
					}
					if got, err := s.Unwrap(h, d); err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("server unwrap: %v", err)
					}
					h, d, err = s.Wrap(msg)
					if err != nil {
						t.Fatal(err)
					}
					if got, err := c.Unwrap(h, d); err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("client unwrap: %v", err)
					}
				}
				mic, err := c.MIC([]byte("mechListMIC"))
				if err != nil {
					t.Fatal(err)
				}
				if err := s.VerifyMIC([]byte("mechListMIC"), mic); err != nil {
					t.Fatalf("verify MIC: %v", err)
				}
				// Tampered, replayed and truncated tokens.
				h, d, _ := c.Wrap([]byte("payload"))
				bad := append([]byte{}, d...)
				bad[0] ^= 1
				if _, err := s.Unwrap(h, bad); !errors.Is(err, gss.ErrIntegrity) {
					t.Fatalf("tampered: %v", err)
				}
				if _, err := s.Unwrap(h[:20], nil); !errors.Is(err, gss.ErrBadToken) {
					t.Fatalf("truncated: %v", err)
				}
				if _, err := s.Unwrap(h, d); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Unwrap(h, d); !errors.Is(err, gss.ErrSequence) {
					t.Fatalf("replayed: %v", err)
				}
			})
		}
	}
}

func TestServerRejectsReplayedAPReq(t *testing.T) {
	r := startRealm(t)
	c, _ := kerberos.NewClient(kerberos.ClientConfig{Username: testUser, Password: testPassword, Config: r.kdc.Config(t), SPN: testSPN})
	tok, err := c.Step(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := kerberos.NewServer(kerberos.ServerConfig{Keytab: r.keytab})
	if _, err := s1.Step(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	s2, _ := kerberos.NewServer(kerberos.ServerConfig{Keytab: r.keytab})
	_, err = s2.Step(context.Background(), tok)
	var ke *kerberos.KRBError
	if !errors.As(err, &ke) || ke.Code != errorcode.KRB_AP_ERR_REPEAT || !errors.Is(err, gss.ErrAuthFailed) {
		t.Fatalf("replayed AP-REQ: %v", err)
	}
	// A truncated AP-REQ and a wrong-token are malformed.
	s3, _ := kerberos.NewServer(kerberos.ServerConfig{Keytab: r.keytab})
	if _, err := s3.Step(context.Background(), tok[:len(tok)/2]); !errors.Is(err, gss.ErrBadToken) {
		t.Fatalf("truncated AP-REQ: %v", err)
	}
	// A tampered client AP-REP.
	c2, _ := kerberos.NewClient(kerberos.ClientConfig{Username: testUser, Password: testPassword, Config: r.kdc.Config(t), SPN: testSPN})
	tok, _ = c2.Step(context.Background(), nil)
	s4, _ := kerberos.NewServer(kerberos.ServerConfig{Keytab: r.keytab})
	rep, err := s4.Step(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	rep[len(rep)-3] ^= 0x40
	if _, err := c2.Step(context.Background(), rep); !errors.Is(err, gss.ErrIntegrity) && !errors.Is(err, gss.ErrBadToken) {
		t.Fatalf("tampered AP-REP: %v", err)
	}
	if c2.Established() || c2.ServerAuthenticated() {
		t.Fatal("established after a bad AP-REP")
	}
}

func TestChannelBindings(t *testing.T) {
	r := startRealm(t)
	cb := &gss.ChannelBindings{ApplicationData: []byte("tls-server-end-point:0123456789abcdef")}
	other := &gss.ChannelBindings{ApplicationData: []byte("tls-server-end-point:fedcba9876543210")}
	for _, tc := range []struct {
		name           string
		client, server *gss.ChannelBindings
		require        bool
		wantErr        error
	}{
		{"match", cb, cb, false, nil},
		{"mismatch", other, cb, false, gss.ErrChannelBindings},
		{"client none allowed", nil, cb, false, nil},
		{"client none required", nil, cb, true, gss.ErrChannelBindings},
		{"server none", cb, nil, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := kerberos.NewClient(kerberos.ClientConfig{Username: testUser, Password: testPassword, Config: r.kdc.Config(t), SPN: testSPN, ChannelBindings: tc.client})
			s, _ := kerberos.NewServer(kerberos.ServerConfig{Keytab: r.keytab, ChannelBindings: tc.server, RequireChannelBindings: tc.require})
			tok, err := c.Step(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Step(context.Background(), tok)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestLoginFailures(t *testing.T) {
	r := startRealm(t)
	for _, tc := range []struct {
		name     string
		cfg      kerberos.ClientConfig
		wantCode int32
	}{
		{"wrong password", kerberos.ClientConfig{Username: testUser, Password: "wrong"}, errorcode.KDC_ERR_PREAUTH_FAILED},
		{"unknown user", kerberos.ClientConfig{Username: "mallory", Password: "x"}, errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN},
		{"unknown SPN", kerberos.ClientConfig{Username: testUser, Password: testPassword, SPN: "HTTP/nosuchhost"}, errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Config = r.kdc.Config(t)
			if cfg.SPN == "" {
				cfg.SPN = testSPN
			}
			c, err := kerberos.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Step(context.Background(), nil)
			var ke *kerberos.KRBError
			if !errors.Is(err, gss.ErrAuthFailed) || !errors.As(err, &ke) || ke.Code != tc.wantCode {
				t.Fatalf("got %v, want code %d", err, tc.wantCode)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Fatalf("error reveals the password: %v", err)
			}
		})
	}
}

func TestKeytabLogin(t *testing.T) {
	r := startRealm(t)
	userKT := r.kdc.AddService(t, "svcuser") // a principal with random keys in a keytab
	kt, err := keytab.Load(userKT)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kerberos.NewClient(kerberos.ClientConfig{Username: "svcuser", Keytab: kt, Config: r.kdc.Config(t), SPN: testSPN})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := kerberos.NewServer(kerberos.ServerConfig{Keytab: r.keytab, ServicePrincipal: testSPN})
	handshake(t, c, s)
	if s.UserName() != "svcuser@EXAMPLE.TEST" {
		t.Fatalf("UserName %q", s.UserName())
	}
}

func TestCCacheLogin(t *testing.T) {
	kinit := kdctest.SkipUnlessAvailable(t, "kinit", "krb5-user")
	r := startRealm(t)
	ccPath := filepath.Join(r.kdc.Dir, "krb5cc_test")
	cmd := exec.Command(kinit, "-c", "FILE:"+ccPath, testUser+"@"+r.kdc.Realm)
	cmd.Env = append(os.Environ(), r.kdc.Env()...)
	cmd.Stdin = strings.NewReader(testPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v\n%s", err, out)
	}
	t.Setenv("KRB5_CONFIG", r.kdc.ConfPath)
	t.Setenv("KRB5CCNAME", "FILE:"+ccPath)
	cfg, cc, err := kerberos.LoadClientConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	c, err := kerberos.NewClient(kerberos.ClientConfig{CCache: cc, Config: cfg, SPN: testSPN})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := kerberos.NewServer(kerberos.ServerConfig{Keytab: r.keytab})
	handshake(t, c, s)
	if s.UserName() != "alice@EXAMPLE.TEST" {
		t.Fatalf("UserName %q", s.UserName())
	}
}

func TestLoadClientConfigFromEnvMissing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KRB5_CONFIG", filepath.Join(dir, "nope.conf"))
	if _, _, err := kerberos.LoadClientConfigFromEnv(); !errors.Is(err, kerberos.ErrNoCredentials) {
		t.Fatalf("missing krb5.conf: %v", err)
	}
	conf := filepath.Join(dir, "krb5.conf")
	os.WriteFile(conf, []byte("[libdefaults]\n default_realm = X.TEST\n"), 0o600)
	t.Setenv("KRB5_CONFIG", conf)
	t.Setenv("KRB5CCNAME", filepath.Join(dir, "nocache"))
	if _, _, err := kerberos.LoadClientConfigFromEnv(); !errors.Is(err, kerberos.ErrNoCredentials) {
		t.Fatalf("missing ccache: %v", err)
	}
	t.Setenv("KRB5CCNAME", "KEYRING:persistent:0")
	if _, _, err := kerberos.LoadClientConfigFromEnv(); !errors.Is(err, kerberos.ErrNoCredentials) {
		t.Fatalf("keyring ccache: %v", err)
	}
	var _ *credentials.CCache
}

func TestNewClientValidates(t *testing.T) {
	cfg := config.New()
	cfg.LibDefaults.DefaultRealm = "EXAMPLE.TEST"
	for _, cc := range []kerberos.ClientConfig{
		{Username: "a", Password: "p", SPN: "HTTP/x"}, // no Config
		{Username: "a", Password: "p", Config: cfg},   // no SPN
		{Username: "a", Config: cfg, SPN: "HTTP/x"},   // no credentials
	} {
		if _, err := kerberos.NewClient(cc); err == nil {
			t.Errorf("NewClient(%+v) succeeded", cc.SPN)
		}
	}
}
