package ntlm

import (
	"encoding/binary"
	"time"
)

// ntlmv2ClientChallengeHeader is the fixed part of NTLMv2_CLIENT_CHALLENGE
// (MS-NLMP 2.2.2.7) before the AV pairs: RespType, HiRespType, 6 reserved
// bytes, the timestamp, the client challenge and 4 reserved bytes.
const ntlmv2ClientChallengeHeader = 28

// ntlmv2Temp builds "temp" of MS-NLMP 3.3.2: the NTLMv2_CLIENT_CHALLENGE
// that follows NTProofStr in the NT response. targetInfo ends with
// MsvAvEOL.
func ntlmv2Temp(timestamp, clientChallenge [8]byte, targetInfo []byte) []byte {
	b := make([]byte, ntlmv2ClientChallengeHeader, ntlmv2ClientChallengeHeader+len(targetInfo)+4)
	b[0], b[1] = 1, 1
	copy(b[8:], timestamp[:])
	copy(b[16:], clientChallenge[:])
	b = append(b, targetInfo...)
	return append(b, 0, 0, 0, 0)
}

// ntlmv2Response computes the NT response (NTProofStr || temp), the LMv2
// response and the session base key of MS-NLMP 3.3.2 from NTOWFv2.
func ntlmv2Response(responseKey []byte, serverChallenge, clientChallenge [8]byte, temp []byte) (nt, lm, sessionBaseKey []byte) {
	proof := hmacMD5(responseKey, serverChallenge[:], temp)
	nt = append(proof, temp...)
	lm = append(hmacMD5(responseKey, serverChallenge[:], clientChallenge[:]), clientChallenge[:]...)
	sessionBaseKey = hmacMD5(responseKey, proof)
	return nt, lm, sessionBaseKey
}

// fileTime encodes t as a Windows FILETIME: 100 ns intervals since
// 1601-01-01 UTC, little-endian.
func fileTime(t time.Time) [8]byte {
	const epochDelta = 116444736000000000 // 1601 to 1970 in 100 ns
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(t.UnixNano()/100+epochDelta))
	return b
}
