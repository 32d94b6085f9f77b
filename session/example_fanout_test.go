package session_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"sort"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/session/sessiontest"
)

// fakeHosts starts n emulated hosts, each answering hostname with its name,
// and returns their URLs and a function that stops them.
func fakeHosts(n int) (urls []string, stop func()) {
	var servers []*sessiontest.Server
	for i := range n {
		srv := sessiontest.NewServer()
		name := fmt.Sprintf("WIN%02d", i+1)
		srv.Handle("hostname", func(ctx context.Context, c *sessiontest.Call) error {
			return c.WriteOutput(name)
		})
		servers = append(servers, srv)
		urls = append(urls, srv.URL)
	}
	return urls, func() {
		for _, s := range servers {
			s.Close()
		}
	}
}

// deadHost returns the URL of a host that refuses connections.
func deadHost() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String() + "/wsman"
}

// Invoke-Command -ComputerName a,b,c: one script on several hosts, each
// host's outcome in target order. Against real hosts, pass their names and
// the authentication options (session.WithNegotiate(user, password)).
func ExampleInvokeAll() {
	hosts, stop := fakeHosts(3)
	defer stop()
	hosts = append(hosts, deadHost())

	results, err := session.InvokeAll(context.Background(), hosts, psrp.Script("hostname"),
		session.WithAllowUnencrypted()) // the test endpoints speak plain http
	for _, r := range results {
		if r.Err != nil {
			fmt.Println("failed")
			continue
		}
		fmt.Println(r.Result.Output...)
	}
	var fe *session.FanoutError
	if errors.As(err, &fe) {
		fmt.Printf("%d of %d hosts failed\n", len(fe.Failed), fe.Total)
	}
	// Output:
	// WIN01
	// WIN02
	// WIN03
	// failed
	// 1 of 4 hosts failed
}

// The streaming form, with a throttle and progress: records arrive from all
// hosts as they are written, each tagged with its host (PSComputerName).
func ExampleFanout_Records() {
	hosts, stop := fakeHosts(4)
	defer stop()
	names := map[string]string{}
	for i, h := range hosts {
		names[h] = fmt.Sprintf("host%d", i+1) // how the example prints each URL
	}

	f := session.Fanout{
		ThrottleLimit: 2,
		Options:       []session.Option{session.WithAllowUnencrypted()},
		Progress: func(p session.FanoutProgress) {
			if p.Event == session.TargetDone && p.Done == p.Total {
				fmt.Printf("all %d hosts done, %d failed\n", p.Total, p.Failed)
			}
		},
	}
	var lines []string
	for rec, err := range f.Records(context.Background(), hosts, psrp.Script("hostname")) {
		if err != nil {
			fmt.Println(err) // a *session.TargetError: that host failed, the others go on
			continue
		}
		if out, ok := rec.Record.(session.Output); ok {
			lines = append(lines, fmt.Sprintf("%s: %v", names[rec.Target], out.Value))
		}
	}
	sort.Strings(lines) // hosts answer in any order
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// all 4 hosts done, 0 failed
	// host1: WIN01
	// host2: WIN02
	// host3: WIN03
	// host4: WIN04
}
