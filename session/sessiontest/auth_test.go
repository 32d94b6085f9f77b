package sessiontest

import (
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/sealedbody"
	"github.com/gopsrp/gopsrp/wsman"
)

// newAuthServer starts a fake-backend server with alice and bob, configured
// further by configure, over HTTP or HTTPS.
func newAuthServer(t *testing.T, useTLS bool, configure func(*Server)) *Server {
	t.Helper()
	s := NewUnstartedServer()
	s.newBackend = newFakeFactory(nil, nil)
	s.Users = map[string]string{"alice": "pw-a", "Bob": "pw-b"}
	if configure != nil {
		configure(s)
	}
	if useTLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// shellLifecycle creates a shell, reads its first output and deletes it,
// every message sealed with ini; it returns the shell's owner as Enumerate
// reports it.
func shellLifecycle(t *testing.T, rc *rawConn, ini interface {
	Wrap([]byte) ([]byte, []byte, error)
	Unwrap([]byte, []byte) ([]byte, error)
}, protocol string) string {
	t.Helper()
	id := strings.ToUpper(uuid.NewString())
	r := rc.sealed(ini, protocol, env{action: wsman.ActionCreate, body: createBody(id, "pool")}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	require.Equal(t, id, r.tree.find("Body", "Shell", "ShellId").Text)

	r = rc.sealed(ini, protocol, env{action: wsman.ActionReceive, shellID: id, body: receiveBody("")}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	require.Equal(t, [][]byte{[]byte("opened:pool")}, r.streams(t))

	r = rc.sealed(ini, protocol, env{action: wsman.ActionEnumerate, resourceURI: wsman.ResourceShell, body: `<wsen:Enumerate/>`}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	require.Len(t, r.tree.all("Shell"), 1)
	owner := r.tree.all("Shell")[0].find("Owner").Text

	r = rc.sealed(ini, protocol, env{action: wsman.ActionDelete, resourceURI: wsman.ResourcePowerShell, shellID: id}.bytes())
	require.Equal(t, 200, r.status, string(r.body))
	return owner
}

func TestAuthChallenges(t *testing.T) {
	t.Parallel()
	get := env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes()
	tests := []struct {
		name   string
		tls    bool
		config func(*Server)
		want   []string
	}{
		{"defaults over http", false, nil, []string{"Negotiate"}},
		{"defaults over https", true, nil, []string{"Negotiate", `Basic realm="WSMAN"`}},
		{"defaults, unencrypted allowed", false, func(s *Server) { s.AllowUnencrypted = true }, []string{"Negotiate", `Basic realm="WSMAN"`}},
		{"all", true, func(s *Server) {
			s.Auth = AuthConfig{Basic: true, Kerberos: true, Negotiate: true, CredSSP: true, Certificate: true}
		}, []string{"Negotiate", "Kerberos", "CredSSP", `Basic realm="WSMAN"`}},
		{"negotiate only", false, func(s *Server) { s.Auth = AuthConfig{Negotiate: true} }, []string{"Negotiate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newAuthServer(t, tt.tls, tt.config)
			r := dial(t, s).plain(nil, get)
			assert.Equal(t, 401, r.status)
			assert.Equal(t, tt.want, r.header.Values("WWW-Authenticate"))
			assert.Empty(t, r.body)
		})
	}
}

func TestAuthAnonymousWhenNothingConfigured(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t, false, func(s *Server) { s.Users = nil })
	r := dial(t, s).plain(nil, env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes())
	assert.Equal(t, 200, r.status)
	assert.Contains(t, string(r.body), `<cfg:Auth><cfg:Basic>false</cfg:Basic><cfg:Kerberos>false</cfg:Kerberos><cfg:Negotiate>false</cfg:Negotiate>`)
}

func TestAuthConfigReported(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t, false, func(s *Server) {
		s.Auth = AuthConfig{Negotiate: true, CredSSP: true}
		s.AllowUnencrypted = true
		s.CbtHardeningLevel = "strict"
	})
	r := dial(t, s).plain(http.Header{"Authorization": {"Basic YWxpY2U6cHctYQ=="}}, env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes())
	assert.Equal(t, 401, r.status, "Basic is off")

	useFakeMechanism(s)
	rc := dial(t, s)
	ini := &fakeInitiator{user: "alice", pass: "pw-a"}
	require.Equal(t, 200, rc.handshake("Negotiate", ini).status)
	r = rc.plain(nil, env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes())
	require.Equal(t, 200, r.status)
	cfg := string(r.body)
	assert.Contains(t, cfg, `<cfg:AllowUnencrypted>true</cfg:AllowUnencrypted><cfg:Auth><cfg:Basic>false</cfg:Basic><cfg:Kerberos>false</cfg:Kerberos>`+
		`<cfg:Negotiate>true</cfg:Negotiate><cfg:Certificate>false</cfg:Certificate><cfg:CredSSP>true</cfg:CredSSP><cfg:CbtHardeningLevel>Strict</cfg:CbtHardeningLevel></cfg:Auth>`)
}

func TestAuthSealedShellLifecycle(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"Negotiate", "Kerberos", "CredSSP"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			s := newAuthServer(t, false, func(s *Server) {
				s.Auth = AuthConfig{Negotiate: true, Kerberos: true, CredSSP: true}
				useFakeMechanism(s)
			})
			rc := dial(t, s)
			// DOMAIN\user and case differences map to the local user.
			ini := &fakeInitiator{user: `WORKGROUP\BOB`, pass: "pw-b"}
			r := rc.handshake(scheme, ini)
			require.Equal(t, 200, r.status)
			require.True(t, ini.Established(), "the final token comes on the 200")
			assert.Equal(t, "Bob", shellLifecycle(t, rc, ini, protocolOf(scheme)))
		})
	}
}

func TestAuthSealedLargeCredSSPIsChunked(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t, false, func(s *Server) {
		s.Auth = AuthConfig{CredSSP: true}
		useFakeMechanism(s)
	})
	rc := dial(t, s)
	ini := &fakeInitiator{user: "alice", pass: "pw-a"}
	require.Equal(t, 200, rc.handshake("CredSSP", ini).status)
	// A 40 KB envelope goes in three parts and comes back as several.
	big := strings.Repeat("x", 40000)
	ct, body, err := sealedbody.Seal(ini, sealedbody.ProtocolCredSSP, env{action: wsman.ActionCreate, body: createBody("", big)}.bytes(), sealedbody.CredSSPChunkSize)
	require.NoError(t, err)
	require.Contains(t, ct, sealedbody.TypeMultiEncrypted)
	resp := rc.post(nil, ct, body)
	require.Equal(t, 200, resp.status)
	rep := rc.openReply(ini, resp)
	id := rep.tree.find("Body", "Shell", "ShellId").Text
	require.NotEmpty(t, id)
	r := rc.sealed(ini, sealedbody.ProtocolCredSSP, env{action: wsman.ActionReceive, shellID: id, body: receiveBody("")}.bytes())
	require.Equal(t, [][]byte{[]byte("opened:" + big)}, r.streams(t))
}

func TestAuthPlaintextAfterNegotiate(t *testing.T) {
	t.Parallel()
	get := env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes()
	for _, allow := range []bool{false, true} {
		t.Run(map[bool]string{false: "refused", true: "allowed"}[allow], func(t *testing.T) {
			t.Parallel()
			s := newAuthServer(t, false, func(s *Server) {
				s.AllowUnencrypted = allow
				useFakeMechanism(s)
			})
			rc := dial(t, s)
			ini := &fakeInitiator{user: "alice", pass: "pw-a"}
			require.Equal(t, 200, rc.handshake("Negotiate", ini).status)
			r := rc.plain(nil, get)
			if !allow {
				// What Windows answers (pywinrm#129, winrm4j#151).
				assert.Equal(t, 500, r.status)
				assert.Empty(t, r.body)
				// The connection stays authenticated: sealing works.
				rep := rc.sealed(ini, sealedbody.ProtocolSPNEGO, get)
				assert.Equal(t, 200, rep.status)
				return
			}
			assert.Equal(t, 200, r.status)
			assert.Contains(t, r.header.Get("Content-Type"), "soap+xml")
			// Sealed requests still get sealed answers.
			rep := rc.sealed(ini, sealedbody.ProtocolSPNEGO, get)
			assert.Equal(t, 200, rep.status)
		})
	}
}

func TestAuthPlaintextOverHTTPSAfterNegotiate(t *testing.T) {
	t.Parallel()
	// TLS protects the message: AllowUnencrypted concerns plain HTTP only.
	s := newAuthServer(t, true, useFakeMechanism)
	rc := dial(t, s)
	require.Equal(t, 200, rc.handshake("Negotiate", &fakeInitiator{user: "alice", pass: "pw-a"}).status)
	r := rc.plain(nil, env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes())
	assert.Equal(t, 200, r.status)
}

func TestAuthWrongCredentials(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, user, pass string }{
		{"wrong password", "alice", "nope"},
		{"unknown user", "mallory", "pw-a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newAuthServer(t, false, useFakeMechanism)
			rc := dial(t, s)
			r := rc.handshake("Negotiate", &fakeInitiator{user: c.user, pass: c.pass})
			assert.Equal(t, 401, r.status)
			assert.Equal(t, []string{"Negotiate"}, r.header.Values("WWW-Authenticate"), "a fresh challenge, no detail")
			assert.Empty(t, r.body)
			// Nothing was established on the connection.
			r = rc.plain(nil, env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes())
			assert.Equal(t, 401, r.status)
		})
	}
}

func TestAuthSealedOnUnauthenticatedConnection(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t, false, useFakeMechanism)
	rc := dial(t, s)
	ini := &fakeInitiator{user: "alice", pass: "pw-a"}
	require.Equal(t, 200, rc.handshake("Negotiate", ini).status)
	ct, body, err := sealedbody.Seal(ini, sealedbody.ProtocolSPNEGO, env{action: wsman.ActionCreate, body: createBody("", "pool")}.bytes(), 0)
	require.NoError(t, err)
	// The same sealed bytes on another connection: no context there.
	r := dial(t, s).post(nil, ct, body)
	assert.Equal(t, 401, r.status)
	assert.Empty(t, s.Shells())
	// A Basic-authenticated connection has no context either.
	s2 := newAuthServer(t, true, nil)
	r = dial(t, s2).post(http.Header{"Authorization": {"Basic YWxpY2U6cHctYQ=="}}, ct, body)
	assert.Equal(t, 401, r.status)
}

func TestAuthTamperedSealedBody(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t, false, useFakeMechanism)
	rc := dial(t, s)
	ini := &fakeInitiator{user: "alice", pass: "pw-a"}
	require.Equal(t, 200, rc.handshake("Negotiate", ini).status)
	ct, body, err := sealedbody.Seal(ini, sealedbody.ProtocolSPNEGO, env{action: wsman.ActionCreate, body: createBody("", "pool")}.bytes(), 0)
	require.NoError(t, err)
	body[len(body)-40] ^= 1 // a byte of the sealed data
	r := rc.post(nil, ct, body)
	assert.Equal(t, 400, r.status)
	assert.True(t, r.close, "the connection and its context are dropped")
	assert.Empty(t, s.Shells(), "nothing was processed")

	// Garbage framing is refused the same way.
	rc = dial(t, s)
	ini = &fakeInitiator{user: "alice", pass: "pw-a"}
	require.Equal(t, 200, rc.handshake("Negotiate", ini).status)
	r = rc.post(nil, sealedbody.ContentType(sealedbody.ProtocolSPNEGO, false), []byte("--Encrypted Boundary\r\nnonsense"))
	assert.Equal(t, 400, r.status)
}

func TestAuthReplayedSealedBody(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t, false, useFakeMechanism)
	rc := dial(t, s)
	ini := &fakeInitiator{user: "alice", pass: "pw-a"}
	require.Equal(t, 200, rc.handshake("Negotiate", ini).status)
	get := env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes()
	ct, body, err := sealedbody.Seal(ini, sealedbody.ProtocolSPNEGO, get, 0)
	require.NoError(t, err)
	r := rc.post(nil, ct, body)
	require.Equal(t, 200, r.status)
	rc.openReply(ini, r)
	r = rc.post(nil, ct, body)
	assert.Equal(t, 400, r.status)
}

func TestAuthChannelBindingHardening(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level     string
		sendCB    bool
		wrongCB   bool
		wantOK    bool
		overHTTPS bool
	}{
		{CbtStrict, false, false, false, true},
		{CbtStrict, true, false, true, true},
		{CbtStrict, true, true, false, true},
		{CbtRelaxed, false, false, true, true},
		{CbtRelaxed, true, false, true, true},
		{CbtRelaxed, true, true, false, true},
		{CbtNone, true, true, true, true},
		{CbtStrict, false, false, true, false}, // no channel over HTTP
	}
	for _, tt := range tests {
		name := tt.level
		if tt.sendCB {
			name += " with bindings"
		}
		if tt.wrongCB {
			name += " (wrong)"
		}
		if !tt.overHTTPS {
			name += " over http"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newAuthServer(t, tt.overHTTPS, func(s *Server) {
				s.CbtHardeningLevel = tt.level
				useFakeMechanism(s)
			})
			ini := &fakeInitiator{user: "alice", pass: "pw-a"}
			if tt.sendCB {
				ini.cb = "00ff"
				if !tt.wrongCB {
					ini.cb = hex.EncodeToString(s.bindings(&http.Request{TLS: dialTLSState(t, s)}).bindings.ApplicationData)
				}
			}
			r := dial(t, s).handshake("Negotiate", ini)
			if tt.wantOK {
				assert.Equal(t, 200, r.status)
			} else {
				assert.Equal(t, 401, r.status)
			}
		})
	}
}

func TestAuthBasicMapsDomainUser(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t, true, nil)
	for _, u := range []string{`WORKGROUP\alice`, "ALICE@example.test", "alice"} {
		req, _ := http.NewRequest(http.MethodPost, s.URL, nil)
		req.SetBasicAuth(u, "pw-a")
		rc := dial(t, s)
		r := rc.plain(req.Header, env{action: wsman.ActionCreate, body: createBody("", "pool")}.bytes())
		require.Equal(t, 200, r.status, u)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL, nil)
	req.SetBasicAuth("alice", "pw-a")
	r := dial(t, s).plain(req.Header, env{action: wsman.ActionEnumerate, resourceURI: wsman.ResourceShell, body: `<wsen:Enumerate/>`}.bytes())
	require.Equal(t, 200, r.status)
	assert.Equal(t, 3, strings.Count(string(r.body), "<rsp:Owner>alice</rsp:Owner>"))
}
