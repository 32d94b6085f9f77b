package sessiontest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gopsrp/gopsrp/internal/sealedbody"
)

// ConfigurationAccess describes one session configuration (the part of the
// resource URI after http://schemas.microsoft.com/powershell/) and who may
// use it.
type ConfigurationAccess struct {
	// Users lists the user names allowed to use the configuration. Nil
	// allows everyone, including unauthenticated clients when Users on the
	// Server is empty.
	Users []string
}

func (c ConfigurationAccess) allows(user string) bool {
	if c.Users == nil {
		return true
	}
	for _, u := range c.Users {
		if strings.EqualFold(u, user) {
			return true
		}
	}
	return false
}

// DefaultConfiguration is the configuration every Server offers unless
// Configurations says otherwise.
const DefaultConfiguration = "Microsoft.PowerShell"

// Server is an emulated Windows remoting endpoint: a WS-Management server on
// 127.0.0.1 that speaks the WinRM shell protocol for PowerShell. It is meant
// for tests, like net/http/httptest.Server, whose shape it copies.
//
// The exported configuration fields may be changed after NewUnstartedServer
// and before Start or StartTLS; changing them later is a data race.
// Handlers may be registered at any time.
type Server struct {
	// URL is the endpoint URL: http://127.0.0.1:port/wsman after Start,
	// https://127.0.0.1:port/wsman after StartTLS.
	URL string

	// MaxEnvelopeSizeKB is the server's MaxEnvelopeSizekb: requests larger
	// than this many KiB are refused with a w:EncodingLimit fault, and no
	// response is larger. Zero means 500, the Windows default.
	MaxEnvelopeSizeKB int
	// MaxShellsPerUser is the per-user shell quota (winrs MaxShellsPerUser).
	// Zero means 30; negative means no limit.
	MaxShellsPerUser int
	// MaxTimeout caps a request's OperationTimeout (MaxTimeoutms). Zero
	// means 60 seconds.
	MaxTimeout time.Duration
	// Users holds user name → password, the credential store of Basic,
	// NTLM (Negotiate) and CredSSP. Names compare case-insensitively, and
	// a client's DOMAIN\user or user@domain maps to user (the domain is
	// not checked). When Users, Keytab and CertificateUsers are all empty
	// and Auth is zero there is no authentication: every request is served
	// as an anonymous user.
	Users map[string]string
	// Auth selects the authentication schemes (winrm/config/service/Auth).
	// Zero means: none when no credentials are configured; else Basic,
	// Negotiate, Kerberos when Keytab is set, and Certificate when
	// CertificateUsers is set.
	Auth AuthConfig
	// AllowUnencrypted is winrm/config/service/AllowUnencrypted. When
	// false (as on Windows), over plain HTTP Basic is refused and a client
	// authenticated with Negotiate, Kerberos or CredSSP must seal every
	// SOAP message: a plaintext one is answered with HTTP 500, as Windows
	// does. When true, plaintext messages are accepted too.
	AllowUnencrypted bool
	// CbtHardeningLevel is CbtNone, CbtRelaxed or CbtStrict (empty means
	// CbtRelaxed, the Windows default): how the channel bindings of
	// Negotiate, Kerberos and CredSSP clients over HTTPS are checked.
	CbtHardeningLevel string
	// Keytab holds the keys of ServicePrincipal, for Kerberos (the
	// Kerberos scheme, and Kerberos in Negotiate).
	Keytab *keytab.Keytab
	// ServicePrincipal is the Kerberos service principal name of the
	// endpoint ("HTTP/host" or "HTTP/host@REALM") whose keytab entry
	// decrypts tickets. Empty means the principal the ticket names.
	ServicePrincipal string
	// CertificateUsers maps a client certificate, by a user principal name
	// or e-mail address of its subject alternative names or by its subject
	// common name, to a user name, for certificate authentication over
	// HTTPS (Authorization: CertificateMutualScheme). The certificate must
	// verify against ClientCAs.
	CertificateUsers map[string]string
	// ClientCAs are the roots client certificates must chain to.
	ClientCAs *x509.CertPool
	// Disabled makes the endpoint behave like a host whose PowerShell
	// remoting is disabled: every shell operation is answered with the
	// access-denied fault.
	Disabled bool
	// Configurations lists the session configurations offered, by name
	// (case-insensitive). Nil offers DefaultConfiguration to everyone.
	Configurations map[string]ConfigurationAccess
	// ProtocolVersion is the PSRP protocol version the endpoint reports.
	// Empty means "2.3".
	ProtocolVersion string
	// IdleTimeout is how long a shell with no activity survives. Zero means
	// 7200 seconds, the Windows default.
	IdleTimeout time.Duration
	// DisconnectedBufferSize is how many stream writes (output, errors,
	// warnings, progress, …) each command keeps while its shell is
	// disconnected. When it is full, a command disconnected with
	// BufferMode Block (the default) waits in its write until a client
	// picks it up again; with Drop the oldest write is forgotten. Windows
	// bounds the buffer in bytes; a count keeps tests predictable. Zero
	// means 1000.
	DisconnectedBufferSize int
	// outputBacklog overrides maxBacklog (bridge.go), for tests.
	outputBacklog int
	// AssignShellIDs makes the endpoint answer Create as older WinRM does
	// (protocol 2.1: Windows 7, Server 2008 R2): the ShellId the client
	// proposes is ignored, the shell gets an id of the server's choosing,
	// and the CreateResponse carries it in its SelectorSet only, without
	// an rsp:Shell body. See shellids.go.
	AssignShellIDs bool
	// DisableRobustConnections makes the endpoint a server without robust
	// connection support (MS-WSMV 3.1.4.1.39), as older WinRM: it ignores
	// the wsmv:OperationID of a Receive or Send and echoes none, so a
	// Receive whose answer the network lost cannot be answered again, and
	// only the fragment de-duplication keeps a repeated Send from giving
	// its input twice. See replay.go.
	DisableRobustConnections bool
	// DisableInputDeduplication makes the endpoint take every PSRP
	// fragment a Send carries, even one it already took, as a server that
	// relies on robust connections alone would: a Send repeated without a
	// retransmitted wsmv:OperationID then gives its input twice. Tests set
	// it to show that the OperationID alone keeps input from arriving
	// twice. See replay.go.
	DisableInputDeduplication bool
	// TLSCertificate is the certificate StartTLS serves (with its private
	// key). Nil means a self-signed one generated for 127.0.0.1 and
	// localhost, valid for a day.
	TLSCertificate *tls.Certificate

	ts        *httptest.Server
	ctx       context.Context
	cancel    context.CancelFunc
	tlsCert   *x509.Certificate
	isTLS     bool
	startOnce sync.Once
	listener  *pausableListener // set by Start, StartTLS (listen.go)

	mu         sync.Mutex // guards closed, shells, faults; never held while taking a shell's lock
	closed     bool
	shells     map[uuid.UUID]*shell
	faults     []*injected
	newBackend backendFactory
	delegated  []DelegatedCredential

	newAcceptor acceptorFactory // the mechanisms of Negotiate, Kerberos and CredSSP
	conns       sync.Map        // net.Conn → *connState, to release contexts when connections close

	hmu      sync.RWMutex // guards handlers and scripts
	handlers map[string]HandlerFunc
	cmdMeta  *commandMetadata // command descriptions (commandmetadata.go); guarded by hmu
	scripts  map[string]HandlerFunc

	cmd cmdState // the WinRS cmd shell resource (cmdshell.go)

	filesMu sync.Mutex
	files   *FileSystem // the emulated drives (copy.go), made on first use

	wg sync.WaitGroup // goroutines started for shells and handlers
}

// NewServer starts and returns a new Server listening on 127.0.0.1 over
// plain HTTP. The caller should call Close when finished.
func NewServer() *Server {
	s := NewUnstartedServer()
	s.Start()
	return s
}

// NewTLSServer starts and returns a new Server listening on 127.0.0.1 over
// HTTPS, with a self-signed certificate that Client trusts. The caller
// should call Close when finished.
func NewTLSServer() *Server {
	s := NewUnstartedServer()
	s.StartTLS()
	return s
}

// NewUnstartedServer returns a new Server that is not started yet. Change
// its configuration, then call Start or StartTLS.
func NewUnstartedServer() *Server {
	s := &Server{
		shells:   make(map[uuid.UUID]*shell),
		handlers: make(map[string]HandlerFunc),
		scripts:  make(map[string]HandlerFunc),
	}
	s.newBackend = defaultBackend
	s.ctx, s.cancel = context.WithCancel(context.Background())
	registerBuiltins(s)
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.ts.Config.ConnContext = s.connContext
	s.ts.Config.ConnState = s.connStateChanged
	s.newAcceptor = s.defaultAcceptor
	return s
}

// Start starts the server over plain HTTP. It panics if the server was
// already started.
func (s *Server) Start() {
	s.start(false)
}

// StartTLS starts the server over HTTPS with a self-signed certificate for
// 127.0.0.1 and localhost. It panics if the server was already started.
func (s *Server) StartTLS() {
	s.start(true)
}

func (s *Server) start(useTLS bool) {
	started := true
	s.startOnce.Do(func() { started = false })
	if started {
		panic("sessiontest: Server already started")
	}
	// URL is set before serving: handlers read it, and a client in another
	// process gives the race detector no happens-before edge.
	scheme := "http://"
	if useTLS {
		scheme = "https://"
	}
	s.URL = scheme + s.ts.Listener.Addr().String() + "/wsman"
	s.listener = newPausableListener(s.ts.Listener) // PauseListener, RestartListener
	s.ts.Listener = s.listener
	if useTLS {
		var (
			cert tls.Certificate
			leaf *x509.Certificate
		)
		if s.TLSCertificate != nil {
			cert, leaf = *s.TLSCertificate, s.TLSCertificate.Leaf
			if leaf == nil && len(cert.Certificate) > 0 {
				// Unparseable: served as is, without channel-binding checks.
				leaf, _ = x509.ParseCertificate(cert.Certificate[0])
			}
		} else {
			cert, leaf = selfSignedCert()
		}
		s.tlsCert = leaf
		s.isTLS = true
		s.ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		if s.authEnabled().Certificate {
			// Ask for a certificate without requiring one: the other
			// schemes stay usable; certificateUser verifies it.
			s.ts.TLS.ClientAuth = tls.RequestClientCert
		}
		s.ts.StartTLS()
	} else {
		s.ts.Start()
	}
}

// Certificate returns the certificate of a server started with StartTLS, or
// nil.
func (s *Server) Certificate() *x509.Certificate {
	return s.tlsCert
}

// Client returns an HTTP client configured for the server: it trusts the
// TLS certificate, and its idle connections are closed by Close.
func (s *Server) Client() *http.Client {
	return s.ts.Client()
}

// Credentials returns a user name and its password from Users (the first
// name in sorted order), or two empty strings when Users is empty. It
// suits the With*Auth options of package session, which take the two:
//
//	session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithBasicAuth(srv.Credentials()))
func (s *Server) Credentials() (user, password string) {
	if len(s.Users) == 0 {
		return "", ""
	}
	names := make([]string, 0, len(s.Users))
	for name := range s.Users {
		names = append(names, name)
	}
	slices.Sort(names)
	return names[0], s.Users[names[0]]
}

// CloseClientConnections closes every open connection to the server, as a
// network cut would. Shells survive.
func (s *Server) CloseClientConnections() {
	s.ts.CloseClientConnections()
}

// Close shuts the server down: it fails every waiting Receive, waits for all
// outstanding requests, deletes every shell, stops every command handler and
// waits for all of them to return.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	shells := make([]*shell, 0, len(s.shells))
	for id, sh := range s.shells {
		shells = append(shells, sh)
		delete(s.shells, id)
	}
	s.mu.Unlock()
	s.cancel()
	s.ts.Close()
	for _, sh := range shells {
		sh.close()
	}
	s.wg.Wait()
	s.filesMu.Lock()
	f := s.files
	s.filesMu.Unlock()
	if f != nil {
		f.release() // handlers are done with the files
	}
}

// Shells returns the IDs of the shells that exist now.
func (s *Server) Shells() []uuid.UUID {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]uuid.UUID, 0, len(s.shells))
	for id := range s.shells {
		ids = append(ids, id)
	}
	return ids
}

func (s *Server) maxEnvelope() int {
	if s.MaxEnvelopeSizeKB <= 0 {
		return 500 * 1024
	}
	return s.MaxEnvelopeSizeKB * 1024
}

func (s *Server) disconnectedBuffer() int {
	if s.DisconnectedBufferSize <= 0 {
		return 1000
	}
	return s.DisconnectedBufferSize
}

func (s *Server) maxShells() int {
	if s.MaxShellsPerUser == 0 {
		return 30
	}
	return s.MaxShellsPerUser
}

func (s *Server) maxTimeout() time.Duration {
	if s.MaxTimeout <= 0 {
		return 60 * time.Second
	}
	return s.MaxTimeout
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout <= 0 {
		return 7200 * time.Second
	}
	return s.IdleTimeout
}

func (s *Server) protocolVersion() string {
	if s.ProtocolVersion == "" {
		return "2.3"
	}
	return s.ProtocolVersion
}

// configuration looks a configuration name up.
func (s *Server) configuration(name string) (ConfigurationAccess, bool) {
	if s.Configurations == nil {
		return ConfigurationAccess{}, strings.EqualFold(name, DefaultConfiguration)
	}
	for n, c := range s.Configurations {
		if strings.EqualFold(n, name) {
			return c, true
		}
	}
	return ConfigurationAccess{}, false
}

const machineName = "127.0.0.1"

// serveHTTP is the whole HTTP side: path and method, authentication, size
// limit, parsing, fault injection and dispatch.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.URL.Path, "/wsman") {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "sessiontest: only POST is supported", http.StatusMethodNotAllowed)
		return
	}
	who, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	limit := s.maxEnvelope()
	contentType := r.Header.Get("Content-Type")
	sealed := sealedbody.IsSealed(contentType)
	readLimit := limit
	if sealed {
		// Room for the framing and per-part headers around the plaintext.
		readLimit += limit/8 + 4096
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(readLimit)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) && !sealed {
			s.writeFault(w, "", faultRequestTooLarge(limit))
			return
		}
		return // the client went away, or a sealed body far too large
	}
	// sw seals the response of a sealed request; trunc is an injected
	// truncation, which must cut the sealed bytes, so it finishes last.
	var (
		sw    *sealingWriter
		trunc *truncatingWriter
	)
	defer func() {
		if sw != nil {
			sw.finish()
		}
		if trunc != nil {
			trunc.flush()
		}
	}()
	switch {
	case sealed:
		if who.conn == nil {
			// Sealed under a context this connection never established.
			s.challenge(w, r, s.authEnabled())
			return
		}
		plain, err := who.conn.open(contentType, body)
		if err != nil {
			// Tampered, replayed or garbled: nothing is processed, and the
			// context, whose cipher state may have moved, is dropped.
			who.conn.forget()
			w.Header().Set("Connection", "close")
			http.Error(w, "sessiontest: the sealed message could not be opened", http.StatusBadRequest)
			return
		}
		body = plain
		sw = &sealingWriter{ResponseWriter: w, conn: who.conn, protocol: replyProtocol(contentType, who.scheme)}
		w = sw
	case len(body) > 0 && who.conn != nil && r.TLS == nil && !s.AllowUnencrypted:
		// Windows answers unencrypted traffic over HTTP with 500 when
		// AllowUnencrypted is false.
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if len(body) == 0 {
		// An empty POST is how clients finish authentication before
		// sending encrypted messages; there is nothing to answer.
		w.WriteHeader(http.StatusOK)
		return
	}
	if len(body) > limit {
		s.writeFault(w, "", faultRequestTooLarge(limit))
		return
	}
	req, err := parseRequest(body)
	if err != nil {
		s.writeFault(w, "", &soapFault{
			Code: "s:Sender", Subcode: "w:SchemaValidationError",
			Reason:    "The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry. ",
			WSManCode: 2150858817, // ERROR_WSMAN_SCHEMA_VALIDATION_ERROR (0x80338041)
			Message:   err.Error(),
		})
		return
	}
	if inj := s.takeFault(actionName(req.Header.Action)); inj != nil {
		if !s.applyFault(w, r, req, inj) {
			return
		}
		if inj.TruncateBody {
			if sw != nil {
				trunc = &truncatingWriter{ResponseWriter: sw.ResponseWriter}
				sw.ResponseWriter = trunc
			} else {
				trunc = &truncatingWriter{ResponseWriter: w}
				w = trunc
			}
		}
	}
	resp, f := s.dispatch(withRawBody(r.Context(), body), req, who.user, clientIP(r))
	if f != nil {
		s.writeFault(w, req.Header.MessageID, f)
		return
	}
	writeSOAP(w, http.StatusOK, resp)
}

func (s *Server) writeFault(w http.ResponseWriter, relatesTo string, f *soapFault) {
	writeSOAP(w, f.status(), f.render(relatesTo, machineName))
}

func writeSOAP(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// selfSignedCert makes an ECDSA certificate for 127.0.0.1, ::1 and
// localhost, valid for a day around now.
func selfSignedCert() (tls.Certificate, *x509.Certificate) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("sessiontest: generate key: " + err.Error())
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic("sessiontest: serial: " + err.Error())
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"gopsrp sessiontest"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic("sessiontest: create certificate: " + err.Error())
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic("sessiontest: parse certificate: " + err.Error())
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

// KillShell deletes a shell on the server side, as if its host process had
// ended: later requests for it get the invalid-selectors fault. It reports
// whether the shell existed.
func (s *Server) KillShell(id uuid.UUID) bool {
	s.mu.Lock()
	sh := s.shells[id]
	delete(s.shells, id)
	s.mu.Unlock()
	if sh == nil {
		return false
	}
	sh.close()
	return true
}
