package psrp

import "bytes"

// refIDFirst rewrites, in place, every `<Obj N="name" RefId="n">` of an
// encoded body to `<Obj RefId="n" N="name">`. Package clixml writes the
// attributes in PowerShell's order (N first, as Windows servers send);
// pypsrp writes RefId first, and the captured client messages (vectors V1
// and V4 of PROTOCOL.md) are reproduced byte for byte by client bodies.
// Windows accepts both. The two forms have the same length, so the
// rewrite is a rotation of the attribute text, with no allocation; text
// content cannot contain `<Obj` because clixml escapes '<'.
func refIDFirst(b []byte) []byte {
	const open = `<Obj N="`
	i := 0
	for {
		j := bytes.Index(b[i:], []byte(open))
		if j < 0 {
			return b
		}
		start := i + j + len("<Obj ") // first byte of `N="`
		// N's value has no raw quote: clixml escapes it in attributes.
		q := bytes.IndexByte(b[start+len(`N="`):], '"')
		if q < 0 {
			return b
		}
		nEnd := start + len(`N="`) + q + 1 // just past N's closing quote
		rest := b[nEnd:]
		if !bytes.HasPrefix(rest, []byte(` RefId="`)) {
			i = nEnd
			continue
		}
		r := bytes.IndexByte(rest[len(` RefId="`):], '"')
		if r < 0 {
			return b
		}
		end := nEnd + len(` RefId="`) + r + 1 // just past RefId's closing quote
		// seg is A+" "+B with A = `N="name"`, B = `RefId="n"`; reversing
		// the whole and then each part gives B+" "+A.
		seg := b[start:end]
		lenA := nEnd - start
		lenB := len(seg) - lenA - 1
		reverse(seg)
		reverse(seg[:lenB])
		reverse(seg[lenB+1:])
		i = end
	}
}

func reverse(b []byte) {
	for l, r := 0, len(b)-1; l < r; l, r = l+1, r-1 {
		b[l], b[r] = b[r], b[l]
	}
}
