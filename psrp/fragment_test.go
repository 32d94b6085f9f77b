package psrp

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFragmentAppendDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    Fragment
		hex  string
	}{
		{"whole", Fragment{ObjectID: 1, FragmentID: 0, Start: true, End: true, Data: []byte("abc")},
			"0000000000000001 0000000000000000 03 00000003 616263"},
		{"start", Fragment{ObjectID: 3, Start: true, Data: []byte{0xff}},
			"0000000000000003 0000000000000000 01 00000001 ff"},
		{"middle", Fragment{ObjectID: 0x0102030405060708, FragmentID: 7, Data: []byte{1, 2}},
			"0102030405060708 0000000000000007 00 00000002 0102"},
		{"end, empty", Fragment{ObjectID: 3, FragmentID: 1, End: true, Data: []byte{}},
			"0000000000000003 0000000000000001 02 00000000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := mustHex(t, tc.hex)
			got := tc.f.Append([]byte("x"))
			assert.Equal(t, append([]byte("x"), want...), got)
			// Trailing bytes are not consumed.
			f, n, err := DecodeFragment(append(want, 0xAA, 0xBB))
			require.NoError(t, err)
			assert.Equal(t, len(want), n)
			assert.Equal(t, tc.f.ObjectID, f.ObjectID)
			assert.Equal(t, tc.f.FragmentID, f.FragmentID)
			assert.Equal(t, tc.f.Start, f.Start)
			assert.Equal(t, tc.f.End, f.End)
			assert.Equal(t, string(tc.f.Data), string(f.Data))
			assert.Equal(t, len(f.Data), cap(f.Data), "Data must not expose the bytes after it")
		})
	}
}

func TestDecodeFragmentErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", ErrShortBuffer},
		{"short header", "0000000000000001000000000000000003000000", ErrShortBuffer},
		{"short data", "0000000000000001 0000000000000000 03 00000003 6162", ErrShortBuffer},
		{"huge length", "0000000000000001 0000000000000000 03 ffffffff 61", ErrShortBuffer},
		{"reserved flag", "0000000000000001 0000000000000000 07 00000001 61", ErrBadFragment},
		{"reserved high bit", "0000000000000001 0000000000000000 83 00000001 61", ErrBadFragment},
		{"start with id 1", "0000000000000001 0000000000000001 01 00000001 61", ErrBadFragment},
		{"id 0 without start", "0000000000000001 0000000000000000 02 00000001 61", ErrBadFragment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, n, err := DecodeFragment(mustHex(t, tc.hex))
			require.ErrorIs(t, err, tc.want)
			assert.Zero(t, n)
			assert.Contains(t, err.Error(), "psrp: ")
			if tc.want == ErrBadFragment {
				var fe *FragmentError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, uint64(1), fe.ObjectID)
			}
		})
	}
}

// packAll drains f with payloads of at most max bytes.
func packAll(t *testing.T, f *Fragmenter, max int) [][]byte {
	t.Helper()
	var out [][]byte
	for f.Pending() {
		p := f.Pack(nil, max)
		require.NotEmpty(t, p, "Pack made no progress with max %d", max)
		require.LessOrEqual(t, len(p), max)
		out = append(out, p)
	}
	return out
}

func randomMessages(r *rand.Rand, n, maxLen int) [][]byte {
	msgs := make([][]byte, n)
	for i := range msgs {
		m := make([]byte, MessageHeaderSize+r.IntN(maxLen))
		for j := range m {
			m[j] = byte(r.Uint32())
		}
		msgs[i] = m
	}
	return msgs
}

// TestFragmenterRoundTrip: messages of random sizes, packed at many
// payload sizes, reassemble to the same messages in order; every payload
// respects the limit and fragment ids and flags follow MS-PSRP 3.1.5.1.1.
func TestFragmenterRoundTrip(t *testing.T) {
	t.Parallel()
	for _, max := range []int{22, 23, 30, 61, 62, 100, 255, 1000, 4096, 32768, 153600, 512000} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(uint64(max), 42))
			msgs := randomMessages(r, 20, 3000)
			var f Fragmenter
			for i, m := range msgs {
				f.Add(uint64(i+1), m)
			}
			var d Defragmenter
			nextID := map[uint64]uint64{}
			for _, p := range packAll(t, &f, max) {
				// Check each fragment's header.
				for rest := p; len(rest) > 0; {
					fr, n, err := DecodeFragment(rest)
					require.NoError(t, err)
					require.NotEmpty(t, fr.Data)
					assert.Equal(t, nextID[fr.ObjectID], fr.FragmentID)
					assert.Equal(t, fr.FragmentID == 0, fr.Start)
					nextID[fr.ObjectID]++
					rest = rest[n:]
				}
				require.NoError(t, d.Write(p))
			}
			for i, want := range msgs {
				got, ok := d.Next()
				require.True(t, ok, "message %d missing", i)
				assert.Equal(t, want, got)
			}
			_, ok := d.Next()
			assert.False(t, ok)
			assert.Zero(t, f.Len())
		})
	}
}

// TestFragmenterFillsExactly: with room left, Pack splits the next message
// into the remaining space, so each payload but the last is exactly max.
func TestFragmenterFillsExactly(t *testing.T) {
	t.Parallel()
	var f Fragmenter
	f.Add(1, bytes.Repeat([]byte{1}, 100))
	f.Add(2, bytes.Repeat([]byte{2}, 100))
	f.Add(3, bytes.Repeat([]byte{3}, 100))
	total := 3*FragmentHeaderSize + 300
	max := 150
	ps := packAll(t, &f, max)
	sum := 0
	for i, p := range ps {
		sum += len(p)
		if i < len(ps)-1 {
			// A payload may stop short only when less than a header and one
			// byte is left.
			assert.Greater(t, len(p), max-(FragmentHeaderSize+1), "payload %d", i)
		}
	}
	assert.GreaterOrEqual(t, sum, total)
	// First payload: message 1 whole (121 bytes), then 8 bytes of message 2.
	fr, n, err := DecodeFragment(ps[0])
	require.NoError(t, err)
	assert.True(t, fr.Start && fr.End)
	fr2, _, err := DecodeFragment(ps[0][n:])
	require.NoError(t, err)
	assert.Equal(t, uint64(2), fr2.ObjectID)
	assert.True(t, fr2.Start)
	assert.False(t, fr2.End)
	assert.Len(t, fr2.Data, max-n-FragmentHeaderSize)
}

func TestFragmenterSmallMax(t *testing.T) {
	t.Parallel()
	var f Fragmenter
	dst := []byte("keep")
	assert.Equal(t, dst, f.Pack(dst, 1000), "nothing pending")
	f.Add(1, []byte("hello"))
	for _, max := range []int{-1, 0, FragmentHeaderSize, FragmentHeaderSize} {
		assert.Equal(t, dst, f.Pack(dst, max))
	}
	assert.True(t, f.Pending())
	assert.Equal(t, 5, f.Len())
	p := f.Pack(nil, FragmentHeaderSize+1)
	assert.Equal(t, mustHex(t, "0000000000000001 0000000000000000 01 00000001 68"), p)
	// Limits honoured exactly: a message fits whole in header+len bytes,
	// and one byte less splits it.
	var h Fragmenter
	h.Add(2, []byte("0123456789"))
	p = h.Pack(nil, FragmentHeaderSize+10)
	assert.Len(t, p, FragmentHeaderSize+10)
	assert.Equal(t, byte(0x03), p[16])
	h.Add(3, []byte("0123456789"))
	p = h.Pack(nil, FragmentHeaderSize+9)
	assert.Len(t, p, FragmentHeaderSize+9)
	assert.Equal(t, byte(0x01), p[16])
	p = h.Pack(nil, 1000)
	assert.Equal(t, mustHex(t, "0000000000000003 0000000000000001 02 00000001 39"), p)
	// An empty message is one empty whole fragment.
	var g Fragmenter
	g.Add(9, nil)
	assert.Equal(t, mustHex(t, "0000000000000009 0000000000000000 03 00000000"), g.Pack(nil, 100))
	assert.False(t, g.Pending())
}

// TestDefragmenterResumeEverywhere feeds a multi-fragment stream cut at
// every possible point (and byte by byte): the same messages come out.
func TestDefragmenterResumeEverywhere(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	msgs := randomMessages(r, 4, 120)
	var f Fragmenter
	for i, m := range msgs {
		f.Add(uint64(i+10), m)
	}
	var stream []byte
	for f.Pending() {
		stream = f.Pack(stream, 70)
	}
	check := func(t *testing.T, d *Defragmenter) {
		t.Helper()
		for i, want := range msgs {
			got, ok := d.Next()
			require.True(t, ok, "message %d", i)
			require.Equal(t, want, got)
		}
		_, ok := d.Next()
		require.False(t, ok)
		require.Empty(t, d.objects)
		require.Empty(t, d.partial)
	}
	for cut := 0; cut <= len(stream); cut++ {
		var d Defragmenter
		// Copy the pieces so that aliasing of the input would show.
		a := bytes.Clone(stream[:cut])
		b := bytes.Clone(stream[cut:])
		require.NoError(t, d.Write(a), "cut %d", cut)
		require.NoError(t, d.Write(b), "cut %d", cut)
		check(t, &d)
	}
	var d Defragmenter
	for i := range stream {
		require.NoError(t, d.Write([]byte{stream[i]}))
	}
	check(t, &d)
}

// TestDefragmenterInterleaved: fragments of several objects interleaved
// reassemble per object.
func TestDefragmenterInterleaved(t *testing.T) {
	t.Parallel()
	var in []byte
	in = Fragment{ObjectID: 1, FragmentID: 0, Start: true, Data: []byte("a1")}.Append(in)
	in = Fragment{ObjectID: 2, FragmentID: 0, Start: true, Data: []byte("b1")}.Append(in)
	in = Fragment{ObjectID: 3, FragmentID: 0, Start: true, End: true, Data: []byte("c")}.Append(in)
	in = Fragment{ObjectID: 2, FragmentID: 1, Data: []byte("b2")}.Append(in)
	in = Fragment{ObjectID: 1, FragmentID: 1, End: true, Data: []byte("a2")}.Append(in)
	in = Fragment{ObjectID: 2, FragmentID: 2, End: true, Data: []byte("b3")}.Append(in)
	var d Defragmenter
	require.NoError(t, d.Write(in))
	var got []string
	for m, ok := d.Next(); ok; m, ok = d.Next() {
		got = append(got, string(m))
	}
	assert.Equal(t, []string{"c", "a1a2", "b1b2b3"}, got)
	assert.Zero(t, d.held)
}

func TestDefragmenterErrors(t *testing.T) {
	t.Parallel()
	start := func(oid uint64, data string) Fragment {
		return Fragment{ObjectID: oid, Start: true, Data: []byte(data)}
	}
	tests := []struct {
		name  string
		max   int
		frags []Fragment
		raw   string // hex, instead of frags
		want  error
		oid   uint64
		fid   uint64
		fatal bool // the stream is unreadable after it
	}{
		{name: "duplicate fragment", frags: []Fragment{start(1, "a"), {ObjectID: 1, FragmentID: 1, Data: []byte("b")}, {ObjectID: 1, FragmentID: 1, Data: []byte("b")}},
			want: ErrFragmentOutOfOrder, oid: 1, fid: 1},
		{name: "skipped fragment", frags: []Fragment{start(1, "a"), {ObjectID: 1, FragmentID: 2, End: true, Data: []byte("b")}},
			want: ErrFragmentOutOfOrder, oid: 1, fid: 2},
		{name: "restart in progress", frags: []Fragment{start(4, "a"), start(4, "b")},
			want: ErrFragmentOutOfOrder, oid: 4},
		{name: "unknown object", frags: []Fragment{{ObjectID: 5, FragmentID: 1, End: true, Data: []byte("x")}},
			want: ErrUnknownObject, oid: 5, fid: 1},
		{name: "finished object", frags: []Fragment{{ObjectID: 6, Start: true, End: true, Data: []byte("x")}, {ObjectID: 6, FragmentID: 1, End: true, Data: []byte("y")}},
			want: ErrUnknownObject, oid: 6, fid: 1},
		{name: "declared length over limit", max: 10,
			raw:  "0000000000000007 0000000000000000 03 0000000b", // no data needed: checked first
			want: ErrMessageTooLarge, oid: 7, fatal: true},
		{name: "running total over limit", max: 10, frags: []Fragment{start(8, "123456"), {ObjectID: 8, FragmentID: 1, End: true, Data: []byte("12345")}},
			want: ErrMessageTooLarge, oid: 8, fid: 1},
		{name: "held total over limit", max: 10, frags: []Fragment{start(1, "123456"), start(2, "12345")},
			want: ErrMessageTooLarge, oid: 2},
		{name: "reserved flags", raw: "0000000000000009 0000000000000000 13 00000001 61",
			want: ErrBadFragment, oid: 9, fatal: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var in []byte
			for _, f := range tc.frags {
				in = f.Append(in)
			}
			if tc.raw != "" {
				in = mustHex(t, tc.raw)
			}
			d := Defragmenter{MaxMessageSize: tc.max}
			err := d.Write(in)
			require.ErrorIs(t, err, tc.want)
			var fe *FragmentError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.oid, fe.ObjectID)
			assert.Equal(t, tc.fid, fe.FragmentID)
			assert.Equal(t, tc.fatal, fe.Fatal())
			next := Fragment{ObjectID: 99, Start: true, End: true, Data: []byte("z")}.Append(nil)
			if tc.fatal {
				// Sticky: the framing cannot be trusted any more.
				require.ErrorIs(t, err, ErrStreamCorrupt)
				require.NotErrorIs(t, err, ErrMessageDropped)
				assert.Equal(t, err, d.Write(next))
				_, ok := d.Next()
				assert.False(t, ok)
				return
			}
			// Confined to its object: the stream goes on, nothing of the
			// dropped object is held.
			require.ErrorIs(t, err, ErrMessageDropped)
			require.NotErrorIs(t, err, ErrStreamCorrupt)
			require.NoError(t, d.Write(next))
			var got []string
			for m, ok := d.Next(); ok; m, ok = d.Next() {
				got = append(got, string(m))
			}
			assert.Equal(t, "z", got[len(got)-1])
			assert.NotContains(t, d.objects, tc.oid, "the object's partial message is dropped")
			held := 0
			for _, m := range d.objects {
				held += len(m.data)
			}
			assert.Equal(t, held, d.held)
		})
	}
}

// TestDefragmenterOversizeNotBuffered: a header announcing more than the
// limit fails at once, before its data arrives, and nothing is allocated
// for it.
func TestDefragmenterOversizeNotBuffered(t *testing.T) {
	t.Parallel()
	d := Defragmenter{MaxMessageSize: 1 << 20}
	hdr := mustHex(t, "0000000000000001 0000000000000000 01 7fffffff")
	require.NoError(t, d.Write(hdr[:10]), "a partial header is fine")
	err := d.Write(hdr[10:])
	require.ErrorIs(t, err, ErrMessageTooLarge)
	assert.Nil(t, d.partial)

	// Default limit: 50 MiB.
	var d2 Defragmenter
	assert.ErrorIs(t, d2.Write(mustHex(t, "0000000000000001 0000000000000000 01 03200001")), ErrMessageTooLarge)
	var d3 Defragmenter
	assert.NoError(t, d3.Write(mustHex(t, "0000000000000001 0000000000000000 01 03200000")))
}

// TestDefragmenterMessagesBeforeError: messages completed before an error
// stay readable.
func TestDefragmenterMessagesBeforeError(t *testing.T) {
	t.Parallel()
	in := Fragment{ObjectID: 1, Start: true, End: true, Data: []byte("ok")}.Append(nil)
	in = append(in, mustHex(t, "0000000000000002 0000000000000005 00 00000001 61")...)
	var d Defragmenter
	require.ErrorIs(t, d.Write(in), ErrUnknownObject)
	m, ok := d.Next()
	require.True(t, ok)
	assert.Equal(t, "ok", string(m))
}

// TestDefragmenterSingleFragmentNotCopied documents the aliasing of whole
// single-fragment messages.
func TestDefragmenterSingleFragmentNotCopied(t *testing.T) {
	t.Parallel()
	in := Fragment{ObjectID: 1, Start: true, End: true, Data: []byte("hello")}.Append(nil)
	var d Defragmenter
	require.NoError(t, d.Write(in))
	m, ok := d.Next()
	require.True(t, ok)
	assert.Same(t, &in[FragmentHeaderSize], &m[0])
	assert.Equal(t, len(m), cap(m))
}

func TestFragmentErrorMessage(t *testing.T) {
	t.Parallel()
	err := error(&FragmentError{ObjectID: 3, FragmentID: 2, Err: ErrFragmentOutOfOrder})
	assert.Equal(t, "psrp: fragment out of order (object 3, fragment 2)", err.Error())
	assert.True(t, errors.Is(err, ErrFragmentOutOfOrder))
}
