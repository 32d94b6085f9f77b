package ntlm

import (
	"encoding/binary"
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// AV_PAIR identifiers (MS-NLMP 2.2.2.1).
const (
	avEOL             uint16 = 0
	avNbComputerName  uint16 = 1
	avNbDomainName    uint16 = 2
	avDNSComputerName uint16 = 3
	avDNSDomainName   uint16 = 4
	avDNSTreeName     uint16 = 5
	avFlags           uint16 = 6
	avTimestamp       uint16 = 7
	avSingleHost      uint16 = 8
	avTargetName      uint16 = 9
	avChannelBindings uint16 = 10
)

// avFlagMICPresent in MsvAvFlags says the AUTHENTICATE message carries a
// MIC.
const avFlagMICPresent uint32 = 0x2

// avPair is one AV_PAIR of a TargetInfo list; value aliases the message.
type avPair struct {
	id    uint16
	value []byte
}

// parseAVPairs splits a TargetInfo list up to MsvAvEOL. A list that ends
// without MsvAvEOL is accepted (some peers omit it); a pair running past
// the end is not.
func parseAVPairs(b []byte) ([]avPair, error) {
	var pairs []avPair
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("ntlm: target info: truncated AV pair: %w", gss.ErrBadToken)
		}
		id := binary.LittleEndian.Uint16(b)
		n := int(binary.LittleEndian.Uint16(b[2:]))
		if id == avEOL {
			break
		}
		if len(b) < 4+n {
			return nil, fmt.Errorf("ntlm: target info: AV pair %d runs past the end: %w", id, gss.ErrBadToken)
		}
		pairs = append(pairs, avPair{id: id, value: b[4 : 4+n : 4+n]})
		b = b[4+n:]
	}
	return pairs, nil
}

// findAV returns the value of the first pair with id.
func findAV(pairs []avPair, id uint16) ([]byte, bool) {
	for _, p := range pairs {
		if p.id == id {
			return p.value, true
		}
	}
	return nil, false
}

// appendAVPairs encodes pairs followed by MsvAvEOL.
func appendAVPairs(dst []byte, pairs []avPair) []byte {
	for _, p := range pairs {
		dst = binary.LittleEndian.AppendUint16(dst, p.id)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(p.value)))
		dst = append(dst, p.value...)
	}
	return append(dst, 0, 0, 0, 0)
}
