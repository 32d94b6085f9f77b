package sessiontest

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gopsrp/gopsrp/internal/sealedbody"
	"github.com/gopsrp/gopsrp/wsman"
)

// FuzzAuthorization sends an arbitrary Authorization header, then an
// arbitrary body (sealed or not) on the same connection, through the
// whole handler with every scheme enabled. It must never panic, and only
// answer with the statuses documented.
func FuzzAuthorization(f *testing.F) {
	// PROTOCOL.md §4.5: a sealed body under the MS-NLMP 4.2.4 keys.
	vector, _ := hex.DecodeString("2d2d456e6372797074656420426f756e646172790d0a09436f6e74656e742d547970653a206170706c69636174696f6e2f485454502d53504e45474f2d73657373696f6e2d656e637279707465640d0a094f726967696e616c436f6e74656e743a20747970653d6170706c69636174696f6e2f736f61702b786d6c3b636861727365743d5554462d383b4c656e6774683d31380d0a2d2d456e6372797074656420426f756e646172790d0a09436f6e74656e742d547970653a206170706c69636174696f6e2f6f637465742d73747265616d0d0a10000000010000007fb38ec5c55d49760000000054e50165bf1936dc996020c1811b0f06fb5f2d2d456e6372797074656420426f756e646172792d2d0d0a")
	sealedCT := sealedbody.ContentType(sealedbody.ProtocolSPNEGO, false)
	get := env{action: wsman.ActionGet, resourceURI: wsman.ResourceConfig}.bytes()
	f.Add("Negotiate "+ntlmAuthNegotiate, sealedCT, vector)
	f.Add("Negotiate YIIBnwYGKwYBBQUCoIIBkzCCAY+gGjAYBgorBgEEAYI3AgIeBgorBgEEAYI3AgIK", sealedCT, vector)
	f.Add("Kerberos YIIBnwYJKoZIhvcSAQICAQBuggGO", "application/soap+xml;charset=UTF-8", get)
	f.Add("CredSSP FgMBAgABAAH8AwM=", sealedCT, vector)
	f.Add("Basic YWxpY2U6cHctYQ==", "application/soap+xml;charset=UTF-8", get)
	f.Add(CertificateMutualScheme, "", []byte(nil))
	f.Add("", sealedCT, vector)
	s := NewUnstartedServer()
	s.Users = map[string]string{"alice": "pw-a"}
	s.Auth = AuthConfig{Basic: true, Negotiate: true, Kerberos: true, CredSSP: true, Certificate: true}
	s.AllowUnencrypted = true
	s.Start()
	f.Cleanup(s.Close)
	f.Fuzz(func(t *testing.T, authorization, contentType string, body []byte) {
		cs := &connState{}
		defer cs.forget()
		ctx := context.WithValue(context.Background(), connStateKey{}, cs)
		send := func(header string, ct string, b []byte) int {
			r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/wsman", bytes.NewReader(b))
			if header != "" {
				r.Header.Set("Authorization", header)
			}
			r.Header.Set("Content-Type", ct)
			w := httptest.NewRecorder()
			s.serveHTTP(w, r)
			return w.Code
		}
		for _, code := range []int{send(authorization, contentType, body), send("", contentType, body)} {
			switch code {
			case 200, 400, 401, 413, 500:
			default:
				t.Fatalf("status %d", code)
			}
		}
	})
}

// FuzzUserPrincipalNames parses arbitrary subjectAltName extensions.
func FuzzUserPrincipalNames(f *testing.F) {
	f.Add(sanWithUPN(f, "alice@example.test"))
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x05, 0xa0, 0x03, 0x06, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, ext []byte) {
		c := &x509.Certificate{Extensions: []pkix.Extension{{Id: oidSubjectAltName, Value: ext}}}
		for _, n := range userPrincipalNames(c) {
			if len(n) > len(ext) {
				t.Fatalf("a name longer than its extension: %q", n)
			}
		}
	})
}
