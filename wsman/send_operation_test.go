package wsman

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSendOperationID checks the robust-connection headers of Send (MS-WSMV
// 3.1.4.1.39), the same as Receive's: none by default (the call sites that
// pass no SendOptions send what they always sent); wsmv:OperationID with
// s:mustUnderstand="false" on the first transmission and "true" on a
// retransmission, after SessionId, with wsmv:SequenceId 1; the body is the
// same rsp:Send either way, so a retransmission carries the same input.
func TestSendOperationID(t *testing.T) {
	bodies := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case bodies <- string(b):
		default: // the test reads each before the next Send
		}
		msgID := regexp.MustCompile(`<wsa:MessageID>([^<]*)<`).FindStringSubmatch(string(b))[1]
		w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
		_, _ = io.WriteString(w, `<s:Envelope xmlns:s="`+NsSOAP+`" xmlns:a="`+NsAddressing+`" xmlns:rsp="`+NsShell+`"><s:Header>`+
			`<a:Action>`+ActionSend+`Response</a:Action><a:MessageID>uuid:1</a:MessageID>`+
			`<a:RelatesTo>`+msgID+`</a:RelatesTo></s:Header><s:Body><rsp:SendResponse/></s:Body></s:Envelope>`)
	}))
	defer srv.Close()
	c := NewClient(srv.URL, srv.Client())
	ref := ShellRef{ID: "0D5A2D5B-3D7C-4B4E-9C4C-7F0D4A1E2B3C", ResourceURI: ResourcePowerShell}
	op := uuid.MustParse("0b6c1a52-9e3f-4d7a-8c21-5f4e3d2c1b0a")
	other := uuid.MustParse("1c7d2b63-0f4a-4e8b-9d32-6a5f4e3d2c1b")
	const (
		opText  = "uuid:0B6C1A52-9E3F-4D7A-8C21-5F4E3D2C1B0A"
		first   = `<wsmv:OperationID s:mustUnderstand="false">` + opText + `</wsmv:OperationID><wsmv:SequenceId s:mustUnderstand="false">1</wsmv:SequenceId>`
		again   = `<wsmv:OperationID s:mustUnderstand="true">` + opText + `</wsmv:OperationID><wsmv:SequenceId s:mustUnderstand="false">1</wsmv:SequenceId>`
		wantRsp = `<rsp:Send><rsp:Stream Name="stdin" CommandId="C1">aW4=</rsp:Stream></rsp:Send>`
	)
	headers := regexp.MustCompile(`</wsmv:SessionId>(.*?)<wsa:To>`)
	send := regexp.MustCompile(`<rsp:Send>.*</rsp:Send>`)
	for _, tc := range []struct {
		name string
		opts []SendOptions
		want string
	}{
		{"none", nil, ""},
		{"zero options", []SendOptions{{}}, ""},
		{"first", []SendOptions{{OperationID: op}}, first},
		{"retransmit", []SendOptions{{OperationID: op, Retransmit: true}}, again},
		{"retransmit without an id is not one", []SendOptions{{Retransmit: true}}, ""},
		{"the last options count", []SendOptions{{OperationID: other}, {OperationID: op}}, first},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, c.Send(context.Background(), ref, "C1", "stdin", []byte("in"), false, tc.opts...))
			var b string
			select {
			case b = <-bodies:
			default:
				t.Fatal("no request reached the server")
			}
			m := headers.FindStringSubmatch(b)
			require.NotNil(t, m, b)
			assert.Equal(t, tc.want, m[1])
			assert.Equal(t, wantRsp, send.FindString(b))
		})
	}
}
