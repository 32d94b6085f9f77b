package wsman

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReceiveOperationID checks the robust-connection headers of Receive
// (MS-WSMV 3.1.4.1.39): none without an OperationID; wsmv:OperationID with
// s:mustUnderstand="false" on the first transmission and "true" on a
// retransmission, after SessionId, with wsmv:SequenceId 1; the body is the
// plain rsp:Receive either way. It also checks that the server's echo is
// reported in ReceiveResult.OperationID.
func TestReceiveOperationID(t *testing.T) {
	bodies := make(chan string, 1)
	echo := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- string(b)
		msgID := regexp.MustCompile(`<wsa:MessageID>([^<]*)<`).FindStringSubmatch(string(b))[1]
		var hdr string
		select {
		case hdr = <-echo:
		case <-time.After(5 * time.Second): // a request the test did not expect: no echo
		}
		w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
		_, _ = io.WriteString(w, `<s:Envelope xmlns:s="`+NsSOAP+`" xmlns:a="`+NsAddressing+`" xmlns:rsp="`+NsShell+`" xmlns:p="`+NsWSMV+`"><s:Header>`+
			`<a:Action>`+ActionReceive+`Response</a:Action><a:MessageID>uuid:1</a:MessageID>`+hdr+
			`<a:RelatesTo>`+msgID+`</a:RelatesTo></s:Header><s:Body><rsp:ReceiveResponse><rsp:Stream Name="stdout">AQI=</rsp:Stream></rsp:ReceiveResponse></s:Body></s:Envelope>`)
	}))
	defer srv.Close()
	c := NewClient(srv.URL, srv.Client())
	ref := ShellRef{ID: "0D5A2D5B-3D7C-4B4E-9C4C-7F0D4A1E2B3C", ResourceURI: ResourcePowerShell}
	op := uuid.MustParse("0b6c1a52-9e3f-4d7a-8c21-5f4e3d2c1b0a")
	const opText = "uuid:0B6C1A52-9E3F-4D7A-8C21-5F4E3D2C1B0A"
	headers := regexp.MustCompile(`</wsmv:SessionId>(.*?)<wsa:To>`)
	receive := regexp.MustCompile(`<rsp:Receive[^>]*>`)
	for _, tc := range []struct {
		name    string
		o       ReceiveOptions
		echo    string
		want    string
		wantRes uuid.UUID
	}{
		{"none", ReceiveOptions{}, "", "", uuid.Nil},
		{"first", ReceiveOptions{OperationID: op}, `<p:OperationID s:mustUnderstand="false">` + opText + `</p:OperationID><p:SequenceId>1</p:SequenceId>`,
			`<wsmv:OperationID s:mustUnderstand="false">` + opText + `</wsmv:OperationID><wsmv:SequenceId s:mustUnderstand="false">1</wsmv:SequenceId>`, op},
		{"retransmit", ReceiveOptions{OperationID: op, Retransmit: true}, `<p:OperationID>` + strings.ToLower(opText) + `</p:OperationID>`,
			`<wsmv:OperationID s:mustUnderstand="true">` + opText + `</wsmv:OperationID><wsmv:SequenceId s:mustUnderstand="false">1</wsmv:SequenceId>`, op},
		{"retransmit without an id is not one", ReceiveOptions{Retransmit: true}, "", "", uuid.Nil},
		{"server without robust support", ReceiveOptions{OperationID: op}, "",
			`<wsmv:OperationID s:mustUnderstand="false">` + opText + `</wsmv:OperationID><wsmv:SequenceId s:mustUnderstand="false">1</wsmv:SequenceId>`, uuid.Nil},
		{"an echo that is not a GUID", ReceiveOptions{OperationID: op}, `<p:OperationID>uuid:{not-a-guid}</p:OperationID>`,
			`<wsmv:OperationID s:mustUnderstand="false">` + opText + `</wsmv:OperationID><wsmv:SequenceId s:mustUnderstand="false">1</wsmv:SequenceId>`, uuid.Nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			echo <- tc.echo
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := c.Receive(ctx, ref, "", tc.o)
			require.NoError(t, err)
			defer res.Release()
			assert.Equal(t, tc.wantRes, res.OperationID)
			assert.Equal(t, []byte{1, 2}, res.Streams[0].Data)
			var b string
			select {
			case b = <-bodies:
			default:
				t.Fatal("no request reached the server")
			}
			m := headers.FindStringSubmatch(b)
			require.NotNil(t, m, b)
			assert.Equal(t, tc.want, m[1])
			assert.Equal(t, `<rsp:Receive>`, receive.FindString(b))
		})
	}
}

// FuzzParseOperationID feeds arbitrary echoes to the OperationID parser:
// it never panics, and what it accepts is a GUID that reads back the same
// in the form the client writes.
func FuzzParseOperationID(f *testing.F) {
	for _, s := range []string{"uuid:0B6C1A52-9E3F-4D7A-8C21-5F4E3D2C1B0A", "0b6c1a52-9e3f-4d7a-8c21-5f4e3d2c1b0a",
		"UUID:{0b6c1a52-9e3f-4d7a-8c21-5f4e3d2c1b0a}", "urn:uuid:0b6c1a52-9e3f-4d7a-8c21-5f4e3d2c1b0a", "", "uuid:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id := parseOperationID(s)
		if id == uuid.Nil {
			return
		}
		var buf [36]byte
		encodeGUID(buf[:], id)
		if back := parseOperationID("uuid:" + string(buf[:])); back != id {
			t.Fatalf("%q parsed to %v, which reads back as %v", s, id, back)
		}
		if !strings.EqualFold(string(buf[:]), strings.TrimPrefix(strings.ToLower(s), "uuid:")) {
			t.Fatalf("%q accepted as %v: not the GUID it spells", s, id)
		}
	})
}
