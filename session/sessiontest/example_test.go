package sessiontest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// getConfig is the WS-Man Get of the WinRM configuration, as pypsrp sends it.
const getConfig = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>` +
	`<wsa:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</wsa:Action>` +
	`<wsa:MessageID>uuid:D4909985-CE1E-48D4-9AEC-DAB0C34BD421</wsa:MessageID>` +
	`<wsman:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/config</wsman:ResourceURI>` +
	`</s:Header><s:Body/></s:Envelope>`

func post(c *http.Client, url string) (int, string) {
	resp, err := c.Post(url, "application/soap+xml;charset=UTF-8", strings.NewReader(getConfig))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func ExampleServer() {
	srv := sessiontest.NewUnstartedServer()
	srv.MaxEnvelopeSizeKB = 150
	srv.StartTLS()
	defer srv.Close()

	_, body := post(srv.Client(), srv.URL)
	fmt.Println(regexp.MustCompile(`<cfg:MaxEnvelopeSizekb>\d+<`).FindString(body))
	// Output: <cfg:MaxEnvelopeSizekb>150<
}

func ExampleServer_InjectFault() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	srv.InjectFault(sessiontest.Fault{Action: "Get", Status: 503, Code: 2150859174, Message: "too busy"})

	status, body := post(srv.Client(), srv.URL)
	fmt.Println(status, regexp.MustCompile(`Code="\d+"`).FindString(body))
	status, _ = post(srv.Client(), srv.URL)
	fmt.Println(status)
	// Output:
	// 503 Code="2150859174"
	// 200
}

func ExampleServer_Handle() {
	srv := sessiontest.NewServer()
	defer srv.Close()
	// Pipelines that run Get-Greeting (or a script starting with it) get
	// this handler; clients see its output, errors and state.
	srv.Handle("Get-Greeting", func(ctx context.Context, c *sessiontest.Call) error {
		name, _ := c.Arg("Name")
		return c.WriteOutput(fmt.Sprintf("Hello, %v", name))
	})
	fmt.Println(strings.HasSuffix(srv.URL, "/wsman"))
	// Output: true
}
