package winrmtransport

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gopsrp/gopsrp/internal/captures"
)

// FuzzReadResponse feeds responses (status, Content-Type, body) to what
// turns them into masterzen/winrm's answer: a 200 SOAP envelope, or a typed
// error of bounded size. Seeds are the fault and plain responses of the
// Windows captures.
func FuzzReadResponse(f *testing.F) {
	dir, err := captures.Dir()
	if err != nil {
		f.Fatal(err)
	}
	convs, err := captures.LoadAll(dir)
	if err != nil {
		f.Fatal(err)
	}
	faults := 0
	for _, c := range convs {
		for _, e := range c.Entries {
			if strings.Contains(e.Response, "Fault>") && faults < 20 {
				f.Add(500, "application/soap+xml;charset=UTF-8", []byte(e.Response))
				faults++
			}
		}
	}
	f.Add(200, "application/soap+xml;charset=UTF-8", []byte(convs[0].Entries[0].Response))
	f.Add(200, "text/html", []byte("<html>proxy login</html>"))
	f.Add(307, "", []byte{})
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {ct}}, Body: io.NopCloser(strings.NewReader(string(body)))}
		got, err := readResponse(resp)
		if err == nil {
			if status != 200 || got != string(body) {
				t.Fatalf("status %d accepted", status)
			}
			return
		}
		var he *HTTPError
		switch {
		case errors.As(err, &he):
			if he.StatusCode != status || len(he.Body) > maxErrorBody+64 {
				t.Fatalf("HTTPError %d with %d bytes of body", he.StatusCode, len(he.Body))
			}
			if !strings.HasPrefix(err.Error(), "http error ") {
				t.Fatalf("error text %q", err)
			}
		case errors.Is(err, ErrNotSOAP):
			if status != 200 || len(err.Error()) > 512 {
				t.Fatalf("ErrNotSOAP for status %d, %d bytes", status, len(err.Error()))
			}
		default:
			t.Fatalf("untyped error %v", err)
		}
	})
}
