package auth

import (
	"bytes"
	"net/http"
	"testing"
)

// FuzzWWWAuthenticate feeds arbitrary WWW-Authenticate values to the
// parsers of the server's handshake answers: never a panic, a bounded
// token, and a token only for the asked scheme.
func FuzzWWWAuthenticate(f *testing.F) {
	for _, seed := range []string{
		"Negotiate",
		"Negotiate TlRMTVNTUAACAAAA",
		"negotiate  oYG2MIGzoAMKAQGhDAYKKwYBBAGCNwICCqKBnQSBmk5UTE1TU1AAAgAAAA==",
		"Kerberos YIIC",
		"CredSSP FgMDAG0=",
		"Basic realm=\"WSMAN\", Negotiate",
		"Negotiate !!!not base64",
		"",
	} {
		f.Add(seed, "Negotiate")
	}
	f.Fuzz(func(t *testing.T, value, scheme string) {
		h := http.Header{}
		h.Add("WWW-Authenticate", value)
		_ = offersScheme(h, scheme)
		_ = offeredSchemes(h)
		tok, err := tokenFor(h, scheme)
		if err != nil && tok != nil {
			t.Fatal("token with an error")
		}
		if len(tok) > maxTokenSize {
			t.Fatalf("token of %d bytes", len(tok))
		}
		if len(tok) > 0 && !bytes.Contains([]byte(value), []byte(" ")) {
			t.Fatal("token without a scheme separator")
		}
	})
}
