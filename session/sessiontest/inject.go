package sessiontest

import (
	"net/http"
	"strings"
	"time"

	"github.com/gopsrp/gopsrp/wsman"
)

// Fault describes a failure to inject into the next matching requests.
type Fault struct {
	// Action is the suffix of the wsa:Action to match, e.g. "Receive",
	// "Create" or "Command" (case-insensitive). Empty matches any request.
	Action string
	// Count is how many matching requests are affected. Zero means one.
	Count int
	// Delay holds the request back this long before anything else happens
	// (it ends early if the client gives up or the server closes).
	Delay time.Duration
	// DropConnection closes the connection without answering.
	DropConnection bool
	// Status, when non-zero, answers with this HTTP status and a SOAP fault
	// carrying Code and Message instead of serving the request.
	Status int
	// Code is the f:WSManFault Code of the injected fault; zero means
	// 2150858754, an internal error. wsman.CodeOperationTimeout also sets
	// the w:TimedOut subcode.
	Code uint32
	// Subcode is the SOAP subcode of the injected fault; empty means
	// "w:InternalError".
	Subcode string
	// Message is the fault's message.
	Message string
	// TruncateBody serves the request but sends only the first half of the
	// response body, then closes the connection.
	TruncateBody bool
}

type injected struct {
	Fault
	left int
}

// InjectFault arranges for the next matching requests to fail as f says.
// Faults are matched in the order they were injected.
func (s *Server) InjectFault(f Fault) {
	n := f.Count
	if n <= 0 {
		n = 1
	}
	s.mu.Lock()
	s.faults = append(s.faults, &injected{Fault: f, left: n})
	s.mu.Unlock()
}

// takeFault returns the first injected fault matching action and uses one
// of its counts.
func (s *Server) takeFault(action string) *injected {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Action != "" && !strings.EqualFold(f.Action, action) {
			continue
		}
		f.left--
		if f.left <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return f
	}
	return nil
}

// applyFault carries out f. It reports whether the request should still be
// served.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, req *request, f *injected) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		case <-s.ctx.Done():
			t.Stop()
			return false
		}
	}
	if f.DropConnection {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return false
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without a reply
	}
	if f.Status != 0 {
		code := f.Code
		if code == 0 {
			code = 2150858754
		}
		sub := f.Subcode
		if sub == "" {
			sub = "w:InternalError"
		}
		msg := f.Message
		if msg == "" {
			msg = "sessiontest: injected fault"
		}
		sf := &soapFault{Status: f.Status, Code: "s:Receiver", Subcode: sub, Reason: msg, WSManCode: code, Message: msg}
		if code == wsman.CodeOperationTimeout {
			sf.Subcode = "w:TimedOut"
		}
		s.writeFault(w, req.Header.MessageID, sf)
		return false
	}
	return true
}

// truncatingWriter keeps the response and sends only half of its body,
// with the full Content-Length, so the client sees an unexpected EOF.
type truncatingWriter struct {
	http.ResponseWriter
	status int
	buf    []byte
}

func (t *truncatingWriter) WriteHeader(code int) { t.status = code }

func (t *truncatingWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	return len(p), nil
}

func (t *truncatingWriter) flush() {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	t.ResponseWriter.WriteHeader(t.status)
	_, _ = t.ResponseWriter.Write(t.buf[:len(t.buf)/2])
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	// Returning with fewer bytes than Content-Length makes net/http close
	// the connection; abort makes sure of it.
	panic(http.ErrAbortHandler)
}
