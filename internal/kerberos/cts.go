package kerberos

import (
	"crypto/cipher"
	"crypto/subtle"
)

// AES in CBC mode with ciphertext stealing and a zero IV, as RFC 3962 uses
// it (CBC-CS3: the last two blocks are always swapped). gokrb5 has the same
// primitive, but through a package that copies every message; the wrap of
// a 512 KB body should not.

const aesBlock = 16

// ctsEncrypt encrypts buf in place; len(buf) must be at least one block.
func ctsEncrypt(b cipher.Block, buf []byte) {
	n := len(buf)
	if n == aesBlock {
		b.Encrypt(buf, buf)
		return
	}
	// m blocks, the last one holding d bytes (1..16).
	m := (n + aesBlock - 1) / aesBlock
	d := n - (m-1)*aesBlock
	var iv [aesBlock]byte
	head := (m - 2) * aesBlock
	if head > 0 {
		cipher.NewCBCEncrypter(b, iv[:]).CryptBlocks(buf[:head], buf[:head])
		copy(iv[:], buf[head-aesBlock:head])
	}
	// E(P[m-1] xor C[m-2]), then E(pad(P[m]) xor that); emit them swapped.
	var penult, last [aesBlock]byte
	subtle.XORBytes(penult[:], buf[head:head+aesBlock], iv[:])
	b.Encrypt(penult[:], penult[:])
	copy(last[:], buf[head+aesBlock:])
	clear(last[d:])
	subtle.XORBytes(last[:], last[:], penult[:])
	b.Encrypt(last[:], last[:])
	copy(buf[head:], last[:])
	copy(buf[head+aesBlock:], penult[:d])
}

// ctsDecrypt decrypts buf in place; len(buf) must be at least one block.
func ctsDecrypt(b cipher.Block, buf []byte) {
	n := len(buf)
	if n == aesBlock {
		b.Decrypt(buf, buf)
		return
	}
	m := (n + aesBlock - 1) / aesBlock
	d := n - (m-1)*aesBlock
	var iv [aesBlock]byte
	head := (m - 2) * aesBlock
	if head > 0 {
		var prev [aesBlock]byte
		copy(prev[:], buf[head-aesBlock:head])
		cipher.NewCBCDecrypter(b, iv[:]).CryptBlocks(buf[:head], buf[:head])
		iv = prev
	}
	// buf[head:head+16] is E(pad(P[m]) xor C'[m-1]); the d bytes after it
	// are the head of C'[m-1], whose tail the padding's zeros reveal.
	var x, cPenult [aesBlock]byte
	b.Decrypt(x[:], buf[head:head+aesBlock])
	copy(cPenult[:], buf[head+aesBlock:])
	copy(cPenult[d:], x[d:])
	var lastPlain [aesBlock]byte
	subtle.XORBytes(lastPlain[:d], x[:d], cPenult[:d])
	b.Decrypt(x[:], cPenult[:])
	subtle.XORBytes(buf[head:head+aesBlock], x[:], iv[:])
	copy(buf[head+aesBlock:], lastPlain[:d])
}
