package wsman_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"

	"github.com/gopsrp/gopsrp/wsman"
)

// fakeReceive answers every request with one stdout stream relating to the
// request's MessageID, like a WinRM server with output waiting.
func fakeReceive(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := regexp.MustCompile(`<wsa:MessageID>([^<]+)<`).FindSubmatch(body)[1]
	fmt.Fprintf(w, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header><a:RelatesTo>%s</a:RelatesTo></s:Header><s:Body><rsp:ReceiveResponse><rsp:Stream Name="stdout">%s</rsp:Stream></rsp:ReceiveResponse></s:Body></s:Envelope>`,
		id, base64.StdEncoding.EncodeToString([]byte("hello")))
}

// A Receive loop: an operation timeout only means "nothing yet".
func ExampleClient_Receive() {
	srv := httptest.NewServer(http.HandlerFunc(fakeReceive))
	defer srv.Close()

	c := wsman.NewClient(srv.URL+"/wsman", srv.Client())
	shell := wsman.ShellRef{ID: "4A8013C9-7387-4239-842A-B290AC4DA47B"}
	for {
		res, err := c.Receive(context.Background(), shell, "", wsman.ReceiveOptions{KeepAlive: true})
		if errors.Is(err, wsman.ErrOperationTimeout) {
			continue
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, s := range res.Streams {
			fmt.Printf("%s: %s\n", s.Name, s.Data)
		}
		return
	}
	// Output: stdout: hello
}
