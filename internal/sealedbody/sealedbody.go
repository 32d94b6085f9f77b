// Package sealedbody reads and writes the multipart/encrypted HTTP bodies
// of WinRM message-level encryption (MS-WSMV 2.2.9.1.1.2): each part names
// the protocol and the length of the original SOAP body, then carries
// <uint32 LE header length><header><sealed data>.
//
// The layout is written exactly as Windows and the other clients write it
// (header lines start with a TAB; no CRLF between the sealed bytes and the
// next boundary) and read tolerantly, as the variants Windows and Exchange
// emit require: a space after the leading dashes of a boundary, a final
// boundary without its closing dashes. MIME parsers cannot read these
// bodies, so the parser here splits on the boundary by hand.
package sealedbody

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// Boundary is the MIME boundary every WinRM peer uses.
const Boundary = "Encrypted Boundary"

// Protocol strings of the three mechanisms (MS-WSMV 2.2.9.1).
const (
	ProtocolSPNEGO   = "application/HTTP-SPNEGO-session-encrypted"
	ProtocolKerberos = "application/HTTP-Kerberos-session-encrypted"
	ProtocolCredSSP  = "application/HTTP-CredSSP-session-encrypted"
)

// Content types of sealed bodies: one part, or (CredSSP) one part per
// chunk of CredSSPChunkSize plaintext bytes.
const (
	TypeEncrypted      = "multipart/encrypted"
	TypeMultiEncrypted = "multipart/x-multi-encrypted"
	// CredSSPChunkSize is the largest plaintext sealed in one CredSSP part.
	CredSSPChunkSize = 16384
)

// SOAPContentType is the content type of the plaintext SOAP body.
const SOAPContentType = "application/soap+xml;charset=UTF-8"

// ErrMalformed is wrapped by every error about a body that is not a
// well-formed sealed body.
var ErrMalformed = errors.New("sealedbody: malformed multipart/encrypted body")

// ErrLength is wrapped when an opened part does not have the length its
// OriginalContent header announced.
var ErrLength = errors.New("sealedbody: plaintext length does not match OriginalContent")

// IsSealed reports whether contentType is that of a sealed body.
func IsSealed(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == TypeEncrypted || mt == TypeMultiEncrypted)
}

// ContentType returns the Content-Type header of a sealed body.
func ContentType(protocol string, multi bool) string {
	t := TypeEncrypted
	if multi {
		t = TypeMultiEncrypted
	}
	return t + `;protocol="` + protocol + `";boundary="` + Boundary + `"`
}

// Seal seals body with s into a multipart/encrypted body for protocol and
// returns it with its Content-Type. chunk > 0 splits the plaintext into
// parts of at most chunk bytes (CredSSP; the content type is then
// multipart/x-multi-encrypted when there is more than one part).
func Seal(s gss.Sealer, protocol string, body []byte, chunk int) (contentType string, out []byte, err error) {
	n := 1
	if chunk > 0 && len(body) > chunk {
		n = (len(body) + chunk - 1) / chunk
	}
	out = make([]byte, 0, len(body)+n*(160+len(protocol)+64)+32)
	for i := 0; i < n; i++ {
		part := body
		if n > 1 {
			part = body[i*chunk : min((i+1)*chunk, len(body))]
		}
		header, data, err := s.Wrap(part)
		if err != nil {
			return "", nil, fmt.Errorf("sealedbody: wrap: %w", err)
		}
		out = append(out, "--"+Boundary+"\r\n"...)
		out = append(out, "\tContent-Type: "+protocol+"\r\n"...)
		out = append(out, "\tOriginalContent: type="+SOAPContentType+";Length="...)
		out = strconv.AppendInt(out, int64(len(part)), 10)
		out = append(out, "\r\n--"+Boundary+"\r\n\tContent-Type: application/octet-stream\r\n"...)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(header)))
		out = append(out, header...)
		out = append(out, data...)
	}
	out = append(out, "--"+Boundary+"--\r\n"...)
	return ContentType(protocol, n > 1), out, nil
}

// Part is one sealed part of a body, as parsed.
type Part struct {
	// Protocol is the Content-Type line of the part's first half.
	Protocol string
	// Length is the plaintext length OriginalContent announced.
	Length int
	// Header and Data are the per-message header and the sealed bytes;
	// they alias the parsed body.
	Header, Data []byte
}

// Parse splits a sealed body into its parts without opening them.
// contentType is the HTTP Content-Type; its boundary parameter is used when
// present. maxLength bounds each part's announced length (0: no bound
// beyond the body's own size).
func Parse(contentType string, body []byte, maxLength int) ([]Part, error) {
	boundary := Boundary
	if _, params, err := mime.ParseMediaType(contentType); err == nil && params["boundary"] != "" {
		boundary = params["boundary"]
	}
	var parts []Part
	rest := body
	for {
		// Each part: boundary, headers, boundary, octet-stream header, payload.
		var ok bool
		rest, ok = skipBoundary(rest, boundary)
		if !ok {
			return nil, fmt.Errorf("%w: expected a boundary at byte %d", ErrMalformed, len(body)-len(rest))
		}
		if len(rest) == 0 || bytes.HasPrefix(rest, []byte("--")) {
			break // the closing boundary ("--B--", or "--B" at the end)
		}
		var p Part
		hend := indexBoundary(rest, boundary)
		if hend < 0 {
			return nil, fmt.Errorf("%w: a part has no second boundary", ErrMalformed)
		}
		headers := rest[:hend]
		rest = rest[hend:]
		if err := p.parseHeaders(headers, maxLength, len(body)); err != nil {
			return nil, err
		}
		rest, ok = skipBoundary(rest, boundary)
		if !ok {
			return nil, fmt.Errorf("%w: expected the octet-stream boundary", ErrMalformed)
		}
		line, after2, ok := cutLine(rest)
		if !ok || !strings.EqualFold(strings.TrimSpace(headerValue(line, "content-type")), "application/octet-stream") {
			return nil, fmt.Errorf("%w: the second half of a part is not application/octet-stream", ErrMalformed)
		}
		rest = after2
		if len(rest) < 4 {
			return nil, fmt.Errorf("%w: truncated header length", ErrMalformed)
		}
		hlen := binary.LittleEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(hlen) > uint64(len(rest)) {
			return nil, fmt.Errorf("%w: header length %d exceeds the body", ErrMalformed, hlen)
		}
		p.Header, rest = rest[:hlen], rest[hlen:]
		// The sealed data runs to the next boundary line.
		end := indexBoundary(rest, boundary)
		if end < 0 {
			return nil, fmt.Errorf("%w: no boundary after the sealed data", ErrMalformed)
		}
		p.Data, rest = rest[:end], rest[end:]
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no part", ErrMalformed)
	}
	return parts, nil
}

// Open parses a sealed body and opens every part with s, returning the
// concatenated plaintext. maxLength bounds the plaintext (0: no bound
// beyond the body's size). s may open parts in place (NTLM does), so body
// must not be used afterwards; the plaintext of a one-part body may alias
// it.
func Open(s gss.Sealer, contentType string, body []byte, maxLength int) ([]byte, error) {
	parts, err := Parse(contentType, body, maxLength)
	if err != nil {
		return nil, err
	}
	var out []byte
	if len(parts) > 1 {
		// The announced lengths are bounded by Parse; one allocation
		// takes every part's plaintext.
		total := 0
		for _, p := range parts {
			total += p.Length
		}
		out = make([]byte, 0, min(total, len(body)))
	}
	for i, p := range parts {
		plain, err := s.Unwrap(p.Header, p.Data)
		if err != nil {
			return nil, fmt.Errorf("sealedbody: part %d: unwrap: %w", i, err)
		}
		switch {
		case len(plain) == p.Length:
		case len(plain) > p.Length && len(plain)-p.Length < 64:
			// Kerberos RC4 and some peers count padding in the sealed
			// data but not in Length: drop it.
			plain = plain[:p.Length]
		default:
			return nil, fmt.Errorf("%w: part %d: announced %d, got %d", ErrLength, i, p.Length, len(plain))
		}
		if maxLength > 0 && len(out)+len(plain) > maxLength {
			return nil, fmt.Errorf("%w: plaintext exceeds %d bytes", ErrMalformed, maxLength)
		}
		if len(parts) == 1 {
			return plain, nil
		}
		out = append(out, plain...)
	}
	return out, nil
}

// parseHeaders reads the first half of a part: its protocol and the
// OriginalContent length.
func (p *Part) parseHeaders(h []byte, maxLength, bodyLen int) error {
	// h is the text between the first boundary line and the next "--".
	lengthSeen := false
	for len(h) > 0 {
		line, rest, _ := cutLine(h)
		h = rest
		if v := headerValue(line, "content-type"); v != "" {
			p.Protocol = strings.TrimSpace(v)
		}
		if v := headerValue(line, "originalcontent"); v != "" {
			for _, f := range strings.Split(v, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(f), "=")
				if ok && strings.EqualFold(k, "length") {
					n, err := strconv.Atoi(strings.TrimSpace(val))
					if err != nil || n < 0 {
						return fmt.Errorf("%w: bad OriginalContent length %q", ErrMalformed, val)
					}
					limit := bodyLen
					if maxLength > 0 {
						limit = min(limit+64, maxLength)
					} else {
						limit += 64
					}
					if n > limit {
						return fmt.Errorf("%w: OriginalContent length %d is larger than allowed", ErrMalformed, n)
					}
					p.Length, lengthSeen = n, true
				}
			}
		}
	}
	if p.Protocol == "" || !lengthSeen {
		return fmt.Errorf("%w: a part lacks its Content-Type or OriginalContent length", ErrMalformed)
	}
	return nil
}

// skipBoundary consumes "--" [" "] boundary and the CRLF (or nothing at the
// end) that follows it; a closing "--" stays for the caller to see.
func skipBoundary(b []byte, boundary string) ([]byte, bool) {
	if !bytes.HasPrefix(b, []byte("--")) {
		return b, false
	}
	b = b[2:]
	b = bytes.TrimLeft(b, " ")
	if !bytes.HasPrefix(b, []byte(boundary)) {
		return b, false
	}
	b = b[len(boundary):]
	switch {
	case bytes.HasPrefix(b, []byte("\r\n")):
		return b[2:], true
	case bytes.HasPrefix(b, []byte("\n")):
		return b[1:], true
	case bytes.HasPrefix(b, []byte("--")), len(b) == 0:
		return b, true
	}
	return b, false
}

// indexBoundary finds the next "--[ ]boundary" in b.
func indexBoundary(b []byte, boundary string) int {
	off := 0
	for {
		i := bytes.Index(b[off:], []byte("--"))
		if i < 0 {
			return -1
		}
		j := off + i
		rest := bytes.TrimLeft(b[j+2:], " ")
		if bytes.HasPrefix(rest, []byte(boundary)) {
			return j
		}
		off = j + 1
	}
}

// cutLine splits b after its first line ending (CRLF or LF).
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil, false
	}
	return bytes.TrimRight(b[:i], "\r"), b[i+1:], true
}

// headerValue returns the value of a "Name: value" line (leading
// whitespace allowed) if its name is name, case-insensitively.
func headerValue(line []byte, name string) string {
	k, v, ok := strings.Cut(strings.TrimLeft(string(line), " \t"), ":")
	if !ok || !strings.EqualFold(strings.TrimSpace(k), name) {
		return ""
	}
	return strings.TrimSpace(v)
}
