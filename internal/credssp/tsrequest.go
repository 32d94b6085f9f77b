package credssp

import (
	"fmt"
)

// Limits on what a peer may send.
const (
	// maxMessage bounds a TSRequest or TSCredentials, and the plaintext of
	// one authentication token.
	maxMessage = 64 << 10
	// maxNegoTokens bounds the entries of negoTokens.
	maxNegoTokens = 8
)

// tsRequest is the TSRequest of MS-CSSP 2.2.1:
//
//	TSRequest ::= SEQUENCE {
//	        version     [0] INTEGER,
//	        negoTokens  [1] NegoData OPTIONAL,
//	        authInfo    [2] OCTET STRING OPTIONAL,
//	        pubKeyAuth  [3] OCTET STRING OPTIONAL,
//	        errorCode   [4] INTEGER OPTIONAL,
//	        clientNonce [5] OCTET STRING OPTIONAL
//	}
//	NegoData ::= SEQUENCE OF SEQUENCE { negoToken [0] OCTET STRING }
//
// A nil slice is an absent field; hasErrorCode says whether errorCode is
// present.
type tsRequest struct {
	Version      int
	NegoTokens   [][]byte
	AuthInfo     []byte
	PubKeyAuth   []byte
	HasErrorCode bool
	ErrorCode    uint32
	ClientNonce  []byte
}

// marshal returns the DER encoding of r.
func (r *tsRequest) marshal() []byte {
	var body []byte
	body = appendExplicit(body, 0, appendInteger(nil, int64(r.Version)))
	if r.NegoTokens != nil {
		var seq []byte
		for _, tok := range r.NegoTokens {
			item := appendExplicit(nil, 0, appendTLV(nil, tagOctetString, tok))
			seq = appendTLV(seq, tagSequence, item)
		}
		body = appendExplicit(body, 1, appendTLV(nil, tagSequence, seq))
	}
	if r.AuthInfo != nil {
		body = appendExplicit(body, 2, appendTLV(nil, tagOctetString, r.AuthInfo))
	}
	if r.PubKeyAuth != nil {
		body = appendExplicit(body, 3, appendTLV(nil, tagOctetString, r.PubKeyAuth))
	}
	if r.HasErrorCode {
		// NTSTATUS is a signed 32-bit value: failures are negative.
		body = appendExplicit(body, 4, appendInteger(nil, int64(int32(r.ErrorCode))))
	}
	if r.ClientNonce != nil {
		body = appendExplicit(body, 5, appendTLV(nil, tagOctetString, r.ClientNonce))
	}
	return appendTLV(make([]byte, 0, len(body)+6), tagSequence, body)
}

// parseTSRequest decodes a TSRequest. The returned slices alias b. Fields
// must come in ascending tag order; unknown higher tags are skipped, as
// later versions may add some.
func parseTSRequest(b []byte) (*tsRequest, error) {
	if len(b) > maxMessage {
		return nil, derError(fmt.Sprintf("TSRequest of %d bytes exceeds the limit", len(b)))
	}
	seq, rest, err := expectTLV(b, tagSequence, "TSRequest")
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, derError("TSRequest: trailing data")
	}
	r := &tsRequest{}
	last := -1
	for len(seq) > 0 {
		tag, c, next, err := readTLV(seq)
		if err != nil {
			return nil, err
		}
		seq = next
		if tag&0xe0 != 0xa0 {
			return nil, derError(fmt.Sprintf("TSRequest: unexpected tag 0x%02x", tag))
		}
		n := int(tag & 0x1f)
		if n <= last {
			return nil, derError("TSRequest: fields out of order")
		}
		last = n
		switch n {
		case 0:
			v, err := explicitValue(c, tagInteger, "TSRequest.version")
			if err != nil {
				return nil, err
			}
			ver, err := parseInteger(v, "TSRequest.version")
			if err != nil {
				return nil, err
			}
			if ver < 1 || ver > 0xffff {
				return nil, derError(fmt.Sprintf("TSRequest: version %d out of range", ver))
			}
			r.Version = int(ver)
		case 1:
			toks, err := parseNegoData(c)
			if err != nil {
				return nil, err
			}
			r.NegoTokens = toks
		case 2:
			if r.AuthInfo, err = explicitValue(c, tagOctetString, "TSRequest.authInfo"); err != nil {
				return nil, err
			}
		case 3:
			if r.PubKeyAuth, err = explicitValue(c, tagOctetString, "TSRequest.pubKeyAuth"); err != nil {
				return nil, err
			}
		case 4:
			v, err := explicitValue(c, tagInteger, "TSRequest.errorCode")
			if err != nil {
				return nil, err
			}
			code, err := parseInteger(v, "TSRequest.errorCode")
			if err != nil {
				return nil, err
			}
			r.HasErrorCode, r.ErrorCode = true, uint32(code)
		case 5:
			if r.ClientNonce, err = explicitValue(c, tagOctetString, "TSRequest.clientNonce"); err != nil {
				return nil, err
			}
		}
	}
	if last < 0 || r.Version == 0 {
		return nil, derError("TSRequest: missing version")
	}
	return r, nil
}

// parseNegoData decodes the content of the [1] tag: a NegoData SEQUENCE OF.
func parseNegoData(c []byte) ([][]byte, error) {
	seq, rest, err := expectTLV(c, tagSequence, "NegoData")
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, derError("NegoData: trailing data")
	}
	toks := [][]byte{}
	for len(seq) > 0 {
		if len(toks) == maxNegoTokens {
			return nil, derError("NegoData: too many tokens")
		}
		item, next, err := expectTLV(seq, tagSequence, "NegoData item")
		if err != nil {
			return nil, err
		}
		seq = next
		inner, after, err := expectTLV(item, tagContext(0), "NegoData.negoToken")
		if err != nil {
			return nil, err
		}
		if len(after) != 0 {
			return nil, derError("NegoData item: trailing data")
		}
		tok, err := explicitValue(inner, tagOctetString, "NegoData.negoToken")
		if err != nil {
			return nil, err
		}
		toks = append(toks, tok)
	}
	return toks, nil
}

// firstToken returns the first negoToken, or nil when there is none.
func (r *tsRequest) firstToken() []byte {
	if len(r.NegoTokens) == 0 {
		return nil
	}
	return r.NegoTokens[0]
}
