// Package kdctest starts a real MIT Kerberos KDC (krb5kdc) with a throwaway
// realm for tests, in the manner of net/http/httptest: everything lives in
// the test's temporary directory, the KDC listens on 127.0.0.1 only, and the
// process is stopped when the test ends.
//
// The system's /etc/krb5.conf is never read: the KDC and the child
// processes of Env get private KRB5_CONFIG and KRB5_KDC_PROFILE files.
//
// When the MIT programs (Debian packages krb5-kdc, krb5-admin-server,
// krb5-user) are missing, Start skips the test, or fails it when the
// environment variable CI is "true".
package kdctest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"

	"github.com/gopsrp/gopsrp/internal/peertest"
)

// Realm is the realm every KDC of this package serves.
const Realm = "EXAMPLE.TEST"

// masterPassword protects the throwaway database; it is no secret.
const masterPassword = "kdctest-master"

// KDC is a running krb5kdc with its realm's files.
type KDC struct {
	// Realm is the realm name, EXAMPLE.TEST.
	Realm string
	// Dir is the temporary directory holding the database, the
	// configuration, the keytabs and the KDC's log (kdc.out, kdc.log).
	Dir string
	// ConfPath is the client configuration (krb5.conf).
	ConfPath string
	// ProfilePath is the KDC configuration (kdc.conf).
	ProfilePath string
	// Port is the KDC's TCP and UDP port on 127.0.0.1.
	Port int

	kadmin string
	cmd    *exec.Cmd
}

// programs are the MIT binaries a KDC needs.
var programs = []string{"krb5kdc", "kdb5_util", "kadmin.local"}

// lookPath finds an MIT program on PATH or in the sbin directories, which
// are not on PATH for every user.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("kdctest: %s not found", name)
}

// SkipUnlessAvailable skips t (or fails it when CI=true, by the rule of
// peertest.Need) with a clear message when the program is missing, and
// returns its path otherwise.
func SkipUnlessAvailable(t testing.TB, program, packages string) string {
	t.Helper()
	p, err := lookPath(program)
	if err != nil {
		peertest.Need(t, program+" (Debian packages "+packages+")", err.Error())
	}
	return p
}

// Start creates the realm EXAMPLE.TEST in a temporary directory, starts
// krb5kdc on a free 127.0.0.1 port, waits until it accepts connections and
// registers a cleanup that stops it. Principals are created with
// pre-authentication required, so that a wrong password is refused by the
// KDC (KDC_ERR_PREAUTH_FAILED).
func Start(t testing.TB) *KDC {
	t.Helper()
	paths := make(map[string]string, len(programs))
	for _, p := range programs {
		paths[p] = SkipUnlessAvailable(t, p, "krb5-kdc krb5-admin-server krb5-user")
	}
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatalf("kdctest: %v", err)
	}
	k := &KDC{
		Realm:       Realm,
		Dir:         dir,
		ConfPath:    filepath.Join(dir, "krb5.conf"),
		ProfilePath: filepath.Join(dir, "kdc.conf"),
		Port:        port,
		kadmin:      paths["kadmin.local"],
	}
	if err := os.WriteFile(k.ConfPath, []byte(k.krb5Conf()), 0o600); err != nil {
		t.Fatalf("kdctest: %v", err)
	}
	if err := os.WriteFile(k.ProfilePath, []byte(k.kdcConf()), 0o600); err != nil {
		t.Fatalf("kdctest: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kadm5.acl"), nil, 0o600); err != nil {
		t.Fatalf("kdctest: %v", err)
	}
	// -W: take the master key's randomness from the fast pool; the
	// database is thrown away.
	if out, err := k.run(paths["kdb5_util"], "create", "-s", "-W", "-r", Realm, "-P", masterPassword); err != nil {
		t.Fatalf("kdctest: kdb5_util create: %v\n%s", err, out)
	}
	k.start(t, paths["krb5kdc"])
	return k
}

// start runs krb5kdc in the foreground (-n) with its output in kdc.out and
// waits until its TCP port answers.
func (k *KDC) start(t testing.TB, krb5kdc string) {
	t.Helper()
	out, err := os.Create(filepath.Join(k.Dir, "kdc.out"))
	if err != nil {
		t.Fatalf("kdctest: %v", err)
	}
	cmd := exec.Command(krb5kdc, "-n", "-P", filepath.Join(k.Dir, "kdc.pid"))
	cmd.Env = append(os.Environ(), k.Env()...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("kdctest: start krb5kdc: %v", err)
	}
	k.cmd = cmd
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(k.Port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(k.Dir, "kdc.out"))
			t.Fatalf("kdctest: krb5kdc exited early:\n%s", log)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kdctest: krb5kdc not listening on %s after 10 s: %v", addr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// AddUser creates the principal name@REALM with the given password.
func (k *KDC) AddUser(t testing.TB, name, password string) {
	t.Helper()
	// The password goes through kadmin's prompt (twice) rather than its
	// command line, whose quoting has no escapes.
	k.kadminQuery(t, fmt.Sprintf("addprinc %s@%s", name, k.Realm), password+"\n"+password+"\n")
}

// AddService creates the service principal spn@REALM (for example
// "HTTP/localhost") with random keys and exports them to a new keytab
// file, whose path it returns.
func (k *KDC) AddService(t testing.TB, spn string) (keytabPath string) {
	t.Helper()
	princ := spn + "@" + k.Realm
	keytabPath = filepath.Join(k.Dir, strings.NewReplacer("/", "_", "@", "_").Replace(spn)+".keytab")
	k.kadminQuery(t, "addprinc -randkey "+princ, "")
	k.kadminQuery(t, fmt.Sprintf("ktadd -k %s %s", keytabPath, princ), "")
	return keytabPath
}

// Kadmin runs one kadmin.local query (for example "modprinc
// +requires_preauth user") against the realm's database.
func (k *KDC) Kadmin(t testing.TB, query string) {
	t.Helper()
	k.kadminQuery(t, query, "")
}

// kadminFailure matches kadmin.local's complaints ("add_principal: ... while
// ...", "kadmin.local: Unbalanced quotes ..."): it exits 0 on most failures.
var kadminFailure = regexp.MustCompile(`(?m)^[a-z_.]+: |^usage: `)

func (k *KDC) kadminQuery(t testing.TB, query, stdin string) {
	t.Helper()
	cmd := exec.Command(k.kadmin, "-r", k.Realm, "-q", query)
	cmd.Env = append(os.Environ(), k.Env()...)
	cmd.Dir = k.Dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil || kadminFailure.Match(out) {
		t.Fatalf("kdctest: kadmin.local %q: %v\n%s", query, err, out)
	}
}

// Config loads the realm's krb5.conf as a gokrb5 configuration.
func (k *KDC) Config(t testing.TB) *config.Config {
	t.Helper()
	c, err := config.Load(k.ConfPath)
	if err != nil {
		t.Fatalf("kdctest: load %s: %v", k.ConfPath, err)
	}
	return c
}

// Env returns the environment variables that point a child process (kinit,
// python3-gssapi) at this realm: KRB5_CONFIG and KRB5_KDC_PROFILE, and
// KRB5RCACHETYPE=none so that acceptors write no replay cache outside Dir.
func (k *KDC) Env() []string {
	return []string{
		"KRB5_CONFIG=" + k.ConfPath,
		"KRB5_KDC_PROFILE=" + k.ProfilePath,
		"KRB5RCACHETYPE=none",
	}
}

// Addr is the KDC's address, 127.0.0.1:port.
func (k *KDC) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(k.Port))
}

func (k *KDC) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), k.Env()...)
	cmd.Dir = k.Dir
	return cmd.CombinedOutput()
}

func (k *KDC) krb5Conf() string {
	return fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	udp_preference_limit = 1
	allow_rc4 = true
	allow_weak_crypto = false
	default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 arcfour-hmac
	default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 arcfour-hmac
	permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 arcfour-hmac
	forwardable = true
	ticket_lifetime = 1h
	kdc_timesync = 0

[realms]
	%[1]s = {
		kdc = 127.0.0.1:%[2]d
		admin_server = 127.0.0.1:%[2]d
	}

[domain_realm]
	localhost = %[1]s
	.example.test = %[1]s
	example.test = %[1]s
`, k.Realm, k.Port)
}

func (k *KDC) kdcConf() string {
	return fmt.Sprintf(`[kdcdefaults]
	kdc_listen = 127.0.0.1:%[2]d
	kdc_tcp_listen = 127.0.0.1:%[2]d

[realms]
	%[1]s = {
		database_name = %[3]s/principal
		key_stash_file = %[3]s/stash
		acl_file = %[3]s/kadm5.acl
		max_life = 1h
		max_renewable_life = 2h
		default_principal_flags = +preauth +forwardable
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal arcfour-hmac:normal
		master_key_type = aes256-cts-hmac-sha1-96
	}

[logging]
	kdc = FILE:%[3]s/kdc.log
`, k.Realm, k.Port, k.Dir)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// whose UDP twin is free too (krb5kdc binds both).
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, errors.New("no free port on 127.0.0.1")
}
