package wsman

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gopsrp/gopsrp/internal/captures"
)

// captureDir holds the recorded Windows conversations (captures.Dir:
// $GOPSRP_CAPTURES_DIR or the shared captures beside the module). It is
// set once; on error it is empty, so that loading fails.
var captureDir = func() string {
	d, _ := captures.Dir()
	return d
}()

// captureMsg is one recorded exchange.
type captureMsg = captures.Entry

func readCapture(name string) ([]captureMsg, error) {
	dir, err := captures.Dir()
	if err != nil {
		return nil, err
	}
	c, err := captures.Load(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	return c.Entries, nil
}

func loadCapture(t testing.TB, name string) []captureMsg {
	t.Helper()
	msgs, err := readCapture(name)
	if err != nil {
		t.Fatalf("loading capture: %v", err)
	}
	return msgs
}

func loadVector(t testing.TB, name string) []byte {
	t.Helper()
	out, err := captures.ReadVector(name)
	if err != nil {
		t.Fatalf("loading vector: %v", err)
	}
	return out
}

// field returns the first submatch of re in s, failing the test when absent.
func field(t testing.TB, s, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("capture has no match for %s", re)
	}
	return m[1]
}

func b64field(t testing.TB, s, re string) []byte {
	t.Helper()
	out, err := base64.StdEncoding.DecodeString(field(t, s, re))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var relatesToRE = regexp.MustCompile(`(<a:RelatesTo>)[^<]*(</a:RelatesTo>)`)

// messageIDOf extracts wsa:MessageID from a request envelope.
func messageIDOf(body []byte) string {
	m := regexp.MustCompile(`<wsa:MessageID>([^<]*)</wsa:MessageID>`).FindSubmatch(body)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// withRelatesTo rewrites a recorded response to relate to messageID.
func withRelatesTo(resp, messageID string) string {
	return relatesToRE.ReplaceAllString(resp, "${1}"+messageID+"${2}")
}

// replayServer serves recorded responses in order, rewriting RelatesTo, and
// records the request bodies it receives.
type replayServer struct {
	*httptest.Server
	mu       sync.Mutex
	msgs     []captureMsg
	next     int
	requests [][]byte
}

func newReplayServer(t testing.TB, msgs ...captureMsg) *replayServer {
	t.Helper()
	rs := &replayServer{msgs: msgs}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rs.mu.Lock()
		rs.requests = append(rs.requests, body)
		if rs.next >= len(rs.msgs) {
			rs.mu.Unlock()
			http.Error(w, "no more recorded responses", http.StatusTeapot)
			return
		}
		m := rs.msgs[rs.next]
		rs.next++
		rs.mu.Unlock()
		if ct := r.Header.Get("Content-Type"); ct != "application/soap+xml;charset=UTF-8" {
			http.Error(w, "bad content type "+ct, http.StatusUnsupportedMediaType)
			return
		}
		w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
		status := http.StatusOK
		if m.TransportError != nil && m.TransportError.Code != 0 {
			status = m.TransportError.Code
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, withRelatesTo(m.Response, messageIDOf(body)))
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *replayServer) request(t testing.TB, i int) []byte {
	t.Helper()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if i >= len(rs.requests) {
		t.Fatalf("server saw %d requests, want at least %d", len(rs.requests), i+1)
	}
	return rs.requests[i]
}

// xmlPaths flattens an XML document into one line per element: its path of
// namespace-qualified names, its attributes (namespace declarations
// excluded) and its trimmed text. Two documents with the same lines have the
// same element structure whatever their prefixes. MessageID and To are
// normalised since they differ per request and per server.
func xmlPaths(t testing.TB, doc []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	type frame struct {
		path  string
		attrs string
		text  strings.Builder
	}
	var stack []*frame
	var out []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("xml: %v\n%s", err, doc)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1].path
			}
			var attrs []string
			for _, a := range tk.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				attrs = append(attrs, "{"+a.Name.Space+"}"+a.Name.Local+"="+a.Value)
			}
			sort.Strings(attrs)
			stack = append(stack, &frame{path: parent + "/{" + tk.Name.Space + "}" + tk.Name.Local, attrs: strings.Join(attrs, " ")})
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(tk)
			}
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			text := strings.TrimSpace(f.text.String())
			switch {
			case strings.HasSuffix(f.path, "}MessageID"):
				text = "<message-id>"
			case strings.HasSuffix(f.path, "}To"):
				text = "<to>"
			}
			out = append(out, f.path+" ["+f.attrs+"] "+text)
		}
	}
	return out
}
