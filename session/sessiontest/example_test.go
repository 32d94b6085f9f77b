package sessiontest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/gopsrp/gopsrp/session"
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
	srv := sessiontest.NewTLSServer()
	defer srv.Close()
	// Pipelines that run Get-Greeting (or a script starting with it) get
	// this handler; clients see its output, errors and state.
	srv.Handle("Get-Greeting", func(ctx context.Context, c *sessiontest.Call) error {
		name, _ := c.Arg("Name")
		return c.WriteOutput(fmt.Sprintf("Hello, %v", name))
	})

	ctx := context.Background()
	// Client trusts the server's certificate: over HTTPS that is all a
	// session needs.
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close(ctx)
	res, err := s.InvokeScript(ctx, "Get-Greeting -Name Ada")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Output...)
	// Output: Hello, Ada
}

// The commands of a statement form a pipeline: each handler reads the
// output of the one before it.
func ExampleCall_Input() {
	srv := sessiontest.NewTLSServer()
	defer srv.Close()
	srv.Handle("Get-Fruit", func(ctx context.Context, c *sessiontest.Call) error {
		return c.WriteOutput("apple", "banana", "cherry")
	})
	srv.Handle("Where-Long", func(ctx context.Context, c *sessiontest.Call) error {
		for v, err := range c.Input(ctx) {
			if err != nil {
				return err // stopped before the input ended
			}
			if s, _ := v.(string); len(s) > 5 {
				if err := c.WriteOutput(s); err != nil {
					return err
				}
			}
		}
		return nil
	})

	ctx := context.Background()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close(ctx)
	res, err := s.InvokeScript(ctx, "Get-Fruit | Where-Long")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Output...)
	_, err = s.InvokeScript(ctx, "Get-Fruit | Sort-Fruit")
	fmt.Println(err != nil)
	// Output:
	// banana cherry
	// true
}
