package kerberos

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// RFC 4121 4.2.2 token flags.
const (
	flagSentByAcceptor = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04
)

// RFC 4121 2 key usages.
const (
	usageAcceptorSeal  = 22
	usageAcceptorSign  = 23
	usageInitiatorSeal = 24
	usageInitiatorSign = 25
)

const (
	tokenHeaderLen = 16
	confounderLen  = 16 // one AES block
	aesMACLen      = 12 // HMAC-SHA1-96
	// windowsEC is the extra count Windows puts in its wrap tokens
	// (MS-KILE 3.4.5.4.1).
	windowsEC = 16
)

// direction is the cipher state of one direction of a context.
type direction struct {
	mu      sync.Mutex
	seq     uint64
	sealUse uint32
	signUse uint32
	ke      cipher.Block
	ki      hash.Hash // HMAC-SHA1 with Ki, reset per message
}

// sealer implements RFC 4121 wrap tokens with confidentiality and MIC
// tokens for the AES-SHA1 encryption types, in the layout WinRM uses.
type sealer struct {
	et             etype.EType
	key            types.EncryptionKey
	acceptor       bool // this side is the acceptor
	acceptorSubkey bool
	// ec and rrc shape outgoing wrap tokens; the default (0, 28) is
	// MIT's IOV layout, a 60-byte header.
	ec, rrc uint16
	send    direction
	recv    direction
}

// newSealer derives the per-direction keys from the context key.
// sendSeq and recvSeq are the first sequence numbers of each direction.
func newSealer(key types.EncryptionKey, acceptor, acceptorSubkey bool, sendSeq, recvSeq uint64) (*sealer, error) {
	switch key.KeyType {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96:
	default:
		return nil, fmt.Errorf("kerberos: encryption type %d cannot seal messages: %w", key.KeyType, gss.ErrUnsupported)
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("kerberos: encryption type %d: %w", key.KeyType, gss.ErrUnsupported)
	}
	if len(key.KeyValue) != et.GetKeyByteSize() {
		return nil, fmt.Errorf("kerberos: context key has %d bytes, want %d: %w", len(key.KeyValue), et.GetKeyByteSize(), gss.ErrBadToken)
	}
	s := &sealer{et: et, key: key, acceptor: acceptor, acceptorSubkey: acceptorSubkey, rrc: tokenHeaderLen + aesMACLen}
	sendSeal, sendSign, recvSeal, recvSign := uint32(usageInitiatorSeal), uint32(usageInitiatorSign), uint32(usageAcceptorSeal), uint32(usageAcceptorSign)
	if acceptor {
		sendSeal, sendSign, recvSeal, recvSign = recvSeal, recvSign, sendSeal, sendSign
	}
	if err := s.send.init(et, key.KeyValue, sendSeal, sendSign, sendSeq); err != nil {
		return nil, err
	}
	if err := s.recv.init(et, key.KeyValue, recvSeal, recvSign, recvSeq); err != nil {
		return nil, err
	}
	return s, nil
}

func (d *direction) init(et etype.EType, key []byte, seal, sign uint32, seq uint64) error {
	ke, err := et.DeriveKey(key, common.GetUsageKe(seal))
	if err != nil {
		return fmt.Errorf("kerberos: derive encryption key: %w", gss.ErrUnsupported)
	}
	ki, err := et.DeriveKey(key, common.GetUsageKi(seal))
	if err != nil {
		return fmt.Errorf("kerberos: derive integrity key: %w", gss.ErrUnsupported)
	}
	d.ke, err = aes.NewCipher(ke)
	if err != nil {
		return fmt.Errorf("kerberos: encryption key: %w", gss.ErrUnsupported)
	}
	d.ki = hmac.New(sha1.New, ki)
	d.sealUse, d.signUse, d.seq = seal, sign, seq
	return nil
}

// flags returns the token flags a token sent by this side carries.
func (s *sealer) flags() byte {
	var f byte
	if s.acceptor {
		f |= flagSentByAcceptor
	}
	if s.acceptorSubkey {
		f |= flagAcceptorSubkey
	}
	return f
}

// Wrap seals msg into an RFC 4121 wrap token and splits it as WinRM sends
// it: header is the token header followed by the rotated trailer (the
// encrypted EC filler, the encrypted token-header copy and the checksum)
// and the encrypted confounder; data is the ciphertext of msg, as long as
// msg.
func (s *sealer) Wrap(msg []byte) (header, data []byte, err error) {
	d := &s.send
	d.mu.Lock()
	defer d.mu.Unlock()
	ec := int(s.ec)
	encLen := confounderLen + len(msg) + ec + tokenHeaderLen
	tok := make([]byte, tokenHeaderLen+encLen+aesMACLen)
	h := tok[:tokenHeaderLen]
	h[0], h[1], h[2], h[3] = 0x05, 0x04, s.flags()|flagSealed, 0xff
	binary.BigEndian.PutUint16(h[4:], s.ec)
	// RRC is 0 in the encrypted copy (RFC 4121 4.2.5).
	binary.BigEndian.PutUint64(h[8:], d.seq)
	plain := tok[tokenHeaderLen : tokenHeaderLen+encLen]
	if _, err := rand.Read(plain[:confounderLen]); err != nil {
		return nil, nil, fmt.Errorf("kerberos: wrap: confounder: %w", err)
	}
	copy(plain[confounderLen:], msg)
	// The EC filler stays zero.
	copy(plain[encLen-tokenHeaderLen:], h)
	binary.BigEndian.PutUint16(h[6:], s.rrc)

	d.ki.Reset()
	d.ki.Write(plain)
	var sum [sha1.Size]byte
	mac := d.ki.Sum(sum[:0])[:aesMACLen]
	ctsEncrypt(d.ke, plain)
	copy(tok[tokenHeaderLen+encLen:], mac)

	// Rotate right by RRC+EC, as Windows and MIT (DCE style) do, so that
	// the trailer comes first and the data's ciphertext last.
	rotateRight(tok[tokenHeaderLen:], int(s.rrc)+ec)
	d.seq++
	split := len(tok) - len(msg)
	return tok[:split:split], tok[split:], nil
}

// rotateRight rotates b right by n bytes in place.
func rotateRight(b []byte, n int) {
	if len(b) == 0 {
		return
	}
	n %= len(b)
	if n == 0 {
		return
	}
	var small [64]byte
	var tmp []byte
	if n <= len(small) {
		tmp = small[:n]
	} else {
		tmp = make([]byte, n)
	}
	copy(tmp, b[len(b)-n:])
	copy(b[n:], b[:len(b)-n])
	copy(b, tmp)
}

// Unwrap verifies and opens a wrap token sent by the peer, given as the
// WinRM header and data (any split of the token works, header and data are
// simply concatenated). It honours the token's EC and RRC.
func (s *sealer) Unwrap(header, data []byte) ([]byte, error) {
	d := &s.recv
	d.mu.Lock()
	defer d.mu.Unlock()
	total := len(header) + len(data)
	if total < tokenHeaderLen {
		return nil, fmt.Errorf("kerberos: unwrap: %d-byte token: %w", total, gss.ErrBadToken)
	}
	var h [tokenHeaderLen]byte
	n := copy(h[:], header)
	copy(h[n:], data)
	if h[0] != 0x05 || h[1] != 0x04 || h[3] != 0xff {
		return nil, fmt.Errorf("kerberos: unwrap: not a wrap token: %w", gss.ErrBadToken)
	}
	flags := h[2]
	if flags&^(flagSentByAcceptor|flagSealed|flagAcceptorSubkey) != 0 {
		return nil, fmt.Errorf("kerberos: unwrap: unknown token flags %#02x: %w", flags, gss.ErrBadToken)
	}
	if (flags&flagSentByAcceptor != 0) == s.acceptor {
		return nil, fmt.Errorf("kerberos: unwrap: token sent by the wrong side (a reflected message): %w", gss.ErrIntegrity)
	}
	if flags&flagSealed == 0 {
		return nil, fmt.Errorf("kerberos: unwrap: token is not sealed: %w", gss.ErrUnsupported)
	}
	if (flags&flagAcceptorSubkey != 0) != s.acceptorSubkey {
		return nil, fmt.Errorf("kerberos: unwrap: acceptor-subkey flag does not match the context: %w", gss.ErrIntegrity)
	}
	ec := int(binary.BigEndian.Uint16(h[4:]))
	rrc := int(binary.BigEndian.Uint16(h[6:]))
	seq := binary.BigEndian.Uint64(h[8:])
	body := total - tokenHeaderLen
	if body < confounderLen+ec+tokenHeaderLen+aesMACLen {
		return nil, fmt.Errorf("kerberos: unwrap: %d-byte token too short for EC %d: %w", total, ec, gss.ErrBadToken)
	}
	buf := make([]byte, body)
	// Windows rotates by RRC+EC (MS-KILE 3.4.5.4.1), RFC 4121 by RRC
	// alone; they differ only when EC is not zero, and the checksum tells
	// which one the peer used.
	plain, err := s.open(d, buf, header, data, h[:], (rrc+ec)%body, ec)
	if err != nil && ec != 0 && (rrc+ec)%body != rrc%body {
		plain, err = s.open(d, buf, header, data, h[:], rrc%body, ec)
	}
	if err != nil {
		return nil, err
	}
	if seq != d.seq {
		return nil, fmt.Errorf("kerberos: unwrap: sequence number %d, want %d: %w", seq, d.seq, gss.ErrSequence)
	}
	d.seq++
	return plain, nil
}

// open un-rotates the token body (header[16:] followed by data) by rot into
// buf, decrypts it in place and verifies the checksum and the header copy.
func (s *sealer) open(d *direction, buf, header, data, h []byte, rot, ec int) ([]byte, error) {
	// buf = body[rot:] + body[:rot], where body = header[16:] + data.
	var bodyHead []byte
	if len(header) >= tokenHeaderLen {
		bodyHead = header[tokenHeaderLen:]
	} else {
		data = data[tokenHeaderLen-len(header):]
	}
	n := copyFrom(buf, bodyHead, data, rot)
	copyFrom(buf[n:], bodyHead, data, 0)

	enc := buf[:len(buf)-aesMACLen]
	mac := buf[len(buf)-aesMACLen:]
	ctsDecrypt(d.ke, enc)
	d.ki.Reset()
	d.ki.Write(enc)
	var sum [sha1.Size]byte
	if !hmac.Equal(d.ki.Sum(sum[:0])[:aesMACLen], mac) {
		return nil, fmt.Errorf("kerberos: unwrap: checksum does not verify: %w", gss.ErrIntegrity)
	}
	cp := enc[len(enc)-tokenHeaderLen:]
	if cp[0] != h[0] || cp[1] != h[1] || cp[2] != h[2] || cp[3] != h[3] ||
		cp[4] != h[4] || cp[5] != h[5] || string(cp[8:]) != string(h[8:16]) {
		return nil, fmt.Errorf("kerberos: unwrap: token header differs from its encrypted copy: %w", gss.ErrIntegrity)
	}
	return enc[confounderLen : len(enc)-tokenHeaderLen-ec : len(enc)-tokenHeaderLen-ec], nil
}

// copyFrom copies into dst the bytes of a+b starting at offset off, and
// returns how many it copied.
func copyFrom(dst, a, b []byte, off int) int {
	n := 0
	if off < len(a) {
		n = copy(dst, a[off:])
		off = 0
	} else {
		off -= len(a)
	}
	if off < len(b) {
		n += copy(dst[n:], b[off:])
	}
	return n
}

// MIC returns an RFC 4121 MIC token for msg (GSS_GetMIC).
func (s *sealer) MIC(msg []byte) ([]byte, error) {
	d := &s.send
	d.mu.Lock()
	defer d.mu.Unlock()
	tok := make([]byte, tokenHeaderLen, tokenHeaderLen+aesMACLen)
	tok[0], tok[1], tok[2] = 0x04, 0x04, s.flags()
	for i := 3; i < 8; i++ {
		tok[i] = 0xff
	}
	binary.BigEndian.PutUint64(tok[8:], d.seq)
	sum, err := s.et.GetChecksumHash(s.key.KeyValue, append(append(make([]byte, 0, len(msg)+tokenHeaderLen), msg...), tok...), d.signUse)
	if err != nil {
		return nil, fmt.Errorf("kerberos: mic: %w", gss.ErrUnsupported)
	}
	d.seq++
	return append(tok, sum[:aesMACLen]...), nil
}

// VerifyMIC checks an RFC 4121 MIC token the peer made for msg
// (GSS_VerifyMIC).
func (s *sealer) VerifyMIC(msg, mic []byte) error {
	d := &s.recv
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(mic) != tokenHeaderLen+aesMACLen || mic[0] != 0x04 || mic[1] != 0x04 ||
		string(mic[3:8]) != "\xff\xff\xff\xff\xff" {
		return fmt.Errorf("kerberos: verify mic: not a MIC token: %w", gss.ErrBadToken)
	}
	flags := mic[2]
	if (flags&flagSentByAcceptor != 0) == s.acceptor || (flags&flagAcceptorSubkey != 0) != s.acceptorSubkey || flags&flagSealed != 0 {
		return fmt.Errorf("kerberos: verify mic: flags %#02x do not match the context: %w", flags, gss.ErrIntegrity)
	}
	data := append(append(make([]byte, 0, len(msg)+tokenHeaderLen), msg...), mic[:tokenHeaderLen]...)
	sum, err := s.et.GetChecksumHash(s.key.KeyValue, data, d.signUse)
	if err != nil || !hmac.Equal(sum[:aesMACLen], mic[tokenHeaderLen:]) {
		return fmt.Errorf("kerberos: verify mic: checksum does not verify: %w", gss.ErrIntegrity)
	}
	if seq := binary.BigEndian.Uint64(mic[8:]); seq != d.seq {
		return fmt.Errorf("kerberos: verify mic: sequence number %d, want %d: %w", seq, d.seq, gss.ErrSequence)
	}
	d.seq++
	return nil
}
