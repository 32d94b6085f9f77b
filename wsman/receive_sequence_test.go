package wsman

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReceiveSequenceID checks that ReceiveOptions.SequenceID goes on the
// wire as the SequenceId attribute of rsp:Receive, and only when set.
func TestReceiveSequenceID(t *testing.T) {
	bodies := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- string(b)
		http.Error(w, "no", http.StatusBadRequest) // the answer does not matter
	}))
	defer srv.Close()
	c := NewClient(srv.URL, srv.Client())
	ref := ShellRef{ID: "0D5A2D5B-3D7C-4B4E-9C4C-7F0D4A1E2B3C", ResourceURI: ResourcePowerShell}
	re := regexp.MustCompile(`<rsp:Receive[^>]*>`)
	for _, tc := range []struct {
		seq  uint64
		want string
	}{{0, `<rsp:Receive>`}, {18446744073709551615, `<rsp:Receive SequenceId="18446744073709551615">`}} {
		_, err := c.Receive(context.Background(), ref, "", ReceiveOptions{SequenceID: tc.seq})
		require.Error(t, err)
		select {
		case b := <-bodies:
			assert.Equal(t, tc.want, re.FindString(b))
		default:
			t.Fatal("no request reached the server")
		}
	}
}
