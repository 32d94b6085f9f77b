package ntlm

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// signatureSize is the NTLMSSP_MESSAGE_SIGNATURE with extended session
// security (MS-NLMP 2.2.2.9.2): version 1, an 8-byte checksum and the
// sequence number.
const signatureSize = 16

// direction is the signing and sealing state of one direction of an
// established context (MS-NLMP 3.4.4): a persistent RC4 handle, the HMAC
// of the signing key and the sequence number.
type direction struct {
	sealKey []byte
	rc4     rc4.Cipher
	mac     hash.Hash // HMAC_MD5(SigningKey, ·), reset per message
	seq     uint32
	scratch [md5.Size]byte // the HMAC output, kept here so it does not escape
	seqBuf  [4]byte        // the sequence number written to the HMAC
}

func newDirection(signKey, sealKey []byte) *direction {
	d := &direction{sealKey: sealKey, mac: hmac.New(md5.New, signKey)}
	d.resetCipher()
	return d
}

// resetCipher restarts the RC4 stream from the sealing key.
func (d *direction) resetCipher() {
	c, err := rc4.NewCipher(d.sealKey)
	if err != nil { // sealing keys are 16 bytes
		panic("ntlm: rc4: " + err.Error())
	}
	d.rc4 = *c
}

// checksum writes the signature of msg at sequence number seq into sig,
// RC4-sealing the checksum when keyExch (MS-NLMP 3.4.4.2, MAC with
// extended session security).
func (d *direction) checksum(sig []byte, seq uint32, msg []byte, keyExch bool) {
	binary.LittleEndian.PutUint32(d.seqBuf[:], seq)
	d.mac.Reset()
	d.mac.Write(d.seqBuf[:])
	d.mac.Write(msg)
	sum := d.mac.Sum(d.scratch[:0])
	binary.LittleEndian.PutUint32(sig, 1)
	if keyExch {
		d.rc4.XORKeyStream(sig[4:12], sum[:8])
	} else {
		copy(sig[4:12], sum[:8])
	}
	binary.LittleEndian.PutUint32(sig[12:], seq)
}

// security holds both directions of an established context. The
// exported methods of Client and Server delegate to it.
type security struct {
	established bool
	flags       uint32
	out, in     *direction
}

// init derives the four keys from the exported session key
// (MS-NLMP 3.4.5); initiator is true on the client side.
func (s *security) init(flags uint32, exportedSessionKey []byte, initiator bool) {
	s.flags = flags
	clientDir := newDirection(signKey(exportedSessionKey, true), sealKey(flags, exportedSessionKey, true))
	serverDir := newDirection(signKey(exportedSessionKey, false), sealKey(flags, exportedSessionKey, false))
	if initiator {
		s.out, s.in = clientDir, serverDir
	} else {
		s.out, s.in = serverDir, clientDir
	}
	s.established = true
}

func (s *security) keyExch() bool { return s.flags&flagKeyExch != 0 }

// wrap seals msg: RC4 of the message, then the signature whose checksum
// continues the same RC4 stream (GSS_WrapEx, MS-NLMP 3.4.3). Header and
// data share one allocation.
func (s *security) wrap(msg []byte) (header, data []byte, err error) {
	if !s.established {
		return nil, nil, fmt.Errorf("ntlm: wrap: %w", gss.ErrNotEstablished)
	}
	if s.flags&flagSeal == 0 {
		return nil, nil, fmt.Errorf("ntlm: wrap: sealing was not negotiated: %w", gss.ErrUnsupported)
	}
	d := s.out
	buf := make([]byte, signatureSize+len(msg))
	header, data = buf[:signatureSize:signatureSize], buf[signatureSize:]
	d.rc4.XORKeyStream(data, msg)
	d.checksum(header, d.seq, msg, s.keyExch())
	d.seq++
	return header, data, nil
}

// unwrap opens a message sealed by the peer, decrypting data in place
// and returning it. On any failure data, the RC4 stream and the sequence
// number are left as they were, so a forged or replayed message does not
// break the context.
func (s *security) unwrap(header, data []byte) ([]byte, error) {
	if !s.established {
		return nil, fmt.Errorf("ntlm: unwrap: %w", gss.ErrNotEstablished)
	}
	if s.flags&flagSeal == 0 {
		return nil, fmt.Errorf("ntlm: unwrap: sealing was not negotiated: %w", gss.ErrUnsupported)
	}
	if err := s.checkSignature(header, "unwrap"); err != nil {
		return nil, err
	}
	// RC4 decrypts data in place: the plaintext is as long as the sealed
	// data, so opening a message costs no allocation.
	d := s.in
	saved := d.rc4
	d.rc4.XORKeyStream(data, data)
	if !s.verify(d, header, data) {
		// XOR with the same key stream puts data back as it came.
		restore := saved
		restore.XORKeyStream(data, data)
		d.rc4 = saved
		return nil, fmt.Errorf("ntlm: unwrap: signature does not match: %w", gss.ErrIntegrity)
	}
	d.seq++
	return data, nil
}

// checkSignature checks the shape and sequence number of a signature.
func (s *security) checkSignature(sig []byte, op string) error {
	if len(sig) != signatureSize {
		return fmt.Errorf("ntlm: %s: signature of %d bytes, want %d: %w", op, len(sig), signatureSize, gss.ErrBadToken)
	}
	if v := binary.LittleEndian.Uint32(sig); v != 1 {
		return fmt.Errorf("ntlm: %s: signature version %d: %w", op, v, gss.ErrBadToken)
	}
	if seq := binary.LittleEndian.Uint32(sig[12:]); seq != s.in.seq {
		return fmt.Errorf("ntlm: %s: sequence number %d, want %d: %w", op, seq, s.in.seq, gss.ErrSequence)
	}
	return nil
}

// verify recomputes the signature of msg in direction d and compares it
// with sig in constant time.
func (s *security) verify(d *direction, sig, msg []byte) bool {
	var want [signatureSize]byte
	d.checksum(want[:], d.seq, msg, s.keyExch())
	return subtle.ConstantTimeCompare(want[:], sig) == 1
}

// mic is GSS_GetMIC: the signature of msg, consuming a sequence number.
func (s *security) mic(msg []byte) ([]byte, error) {
	if !s.established {
		return nil, fmt.Errorf("ntlm: mic: %w", gss.ErrNotEstablished)
	}
	sig := make([]byte, signatureSize)
	s.out.checksum(sig, s.out.seq, msg, s.keyExch())
	s.out.seq++
	return sig, nil
}

// verifyMIC is GSS_VerifyMIC; like unwrap it changes nothing on failure.
func (s *security) verifyMIC(msg, sig []byte) error {
	if !s.established {
		return fmt.Errorf("ntlm: verify mic: %w", gss.ErrNotEstablished)
	}
	if err := s.checkSignature(sig, "verify mic"); err != nil {
		return err
	}
	d := s.in
	saved := d.rc4
	if !s.verify(d, sig, msg) {
		d.rc4 = saved
		return fmt.Errorf("ntlm: verify mic: signature does not match: %w", gss.ErrIntegrity)
	}
	d.seq++
	return nil
}

// resetCipher restarts one direction's RC4 stream, keeping its sequence
// number (MS-SPNG 3.3.5.1, after the mechListMIC).
func (s *security) resetCipher(outgoing bool) {
	if !s.established {
		return
	}
	if outgoing {
		s.out.resetCipher()
	} else {
		s.in.resetCipher()
	}
}
