package psrp

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recoverInput interleaves two objects; object 1 gets an out-of-order
// fragment, after which its remaining fragments must be skipped silently
// while object 2 completes, and a new message with ObjectId 1 works again.
func recoverInput() []byte {
	var in []byte
	add := func(f Fragment) { in = f.Append(in) }
	long := bytes.Repeat([]byte("h"), MessageHeaderSize) // a message header's worth
	add(Fragment{ObjectID: 1, Start: true, Data: long})
	add(Fragment{ObjectID: 2, Start: true, Data: []byte("b1")})
	add(Fragment{ObjectID: 1, FragmentID: 2, Data: []byte("skipped id")}) // out of order
	add(Fragment{ObjectID: 1, FragmentID: 3, Data: []byte("rest")})       // skipped silently
	add(Fragment{ObjectID: 2, FragmentID: 1, End: true, Data: []byte("b2")})
	add(Fragment{ObjectID: 1, FragmentID: 4, End: true, Data: []byte("end")}) // skipped silently
	add(Fragment{ObjectID: 1, Start: true, End: true, Data: []byte("fresh")})
	add(Fragment{ObjectID: 3, FragmentID: 7, End: true, Data: []byte("orphan")}) // unknown object
	add(Fragment{ObjectID: 4, Start: true, End: true, Data: []byte("last")})
	return in
}

func drain(d *Defragmenter) []string {
	var got []string
	for m, ok := d.Next(); ok; m, ok = d.Next() {
		got = append(got, string(m))
	}
	return got
}

func TestDefragmenterRecoversFromConfinedErrors(t *testing.T) {
	t.Parallel()
	want := []string{"b1b2", "fresh", "last"}
	check := func(t *testing.T, errs []error, got []string, d *Defragmenter) {
		t.Helper()
		assert.Equal(t, want, got)
		require.Len(t, errs, 2, "one error per bad fragment, none for the skipped ones: %v", errs)
		var fe *FragmentError
		require.ErrorAs(t, errs[0], &fe)
		assert.ErrorIs(t, fe, ErrFragmentOutOfOrder)
		assert.Equal(t, uint64(1), fe.ObjectID)
		assert.False(t, fe.Fatal())
		assert.ErrorIs(t, fe, ErrMessageDropped)
		assert.Equal(t, strings.Repeat("h", MessageHeaderSize), string(fe.MessageHeader()), "the dropped message's header")
		require.ErrorAs(t, errs[1], &fe)
		assert.ErrorIs(t, fe, ErrUnknownObject)
		assert.Nil(t, fe.MessageHeader())
		assert.Empty(t, d.objects)
		assert.Empty(t, d.dropped, "the skipped object ended")
		assert.Zero(t, d.held)
		assert.Zero(t, d.skip)
	}
	t.Run("whole", func(t *testing.T) {
		t.Parallel()
		var d Defragmenter
		err := d.Write(recoverInput())
		check(t, flattenErrors(err), drain(&d), &d)
	})
	t.Run("byte by byte", func(t *testing.T) {
		t.Parallel()
		var d Defragmenter
		var errs []error
		var got []string
		for _, b := range recoverInput() {
			if err := d.Write([]byte{b}); err != nil {
				errs = append(errs, flattenErrors(err)...)
			}
			got = append(got, drain(&d)...)
		}
		check(t, errs, got, &d)
	})
}

// A refused fragment whose data spans several Writes is skipped to its end,
// not misread as fragment headers.
func TestDefragmenterSkipsAcrossWrites(t *testing.T) {
	t.Parallel()
	d := Defragmenter{MaxMessageSize: 100}
	in := Fragment{ObjectID: 1, Start: true, Data: bytes.Repeat([]byte{0xFF}, 60)}.Append(nil)
	in = Fragment{ObjectID: 2, Start: true, Data: bytes.Repeat([]byte{0xFF}, 60)}.Append(in) // held total over 100
	in = Fragment{ObjectID: 1, FragmentID: 1, End: true, Data: []byte("x")}.Append(in)
	in = Fragment{ObjectID: 2, FragmentID: 1, End: true, Data: []byte("y")}.Append(in) // skipped
	in = Fragment{ObjectID: 5, Start: true, End: true, Data: []byte("ok")}.Append(in)
	var errs []error
	for len(in) > 0 {
		n := min(7, len(in)) // 0xFF bytes would be reserved flags if parsed as a header
		if err := d.Write(in[:n]); err != nil {
			errs = append(errs, err)
		}
		in = in[n:]
	}
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], ErrMessageTooLarge)
	require.ErrorIs(t, errs[0], ErrMessageDropped)
	got := drain(&d)
	require.Len(t, got, 2)
	assert.Equal(t, "ok", got[1])
	assert.Len(t, got[0], 61)
}

// A flood of bad fragments in one Write gives a bounded error.
func TestDefragmenterErrorsBounded(t *testing.T) {
	t.Parallel()
	var in []byte
	for i := range 100000 {
		in = Fragment{ObjectID: uint64(i + 1), FragmentID: 1, End: true, Data: []byte("x")}.Append(in)
	}
	var d Defragmenter
	err := d.Write(in)
	require.ErrorIs(t, err, ErrUnknownObject)
	errs := flattenErrors(err)
	assert.Len(t, errs, maxReportedErrors+1)
	assert.Contains(t, errs[maxReportedErrors].Error(), "99992 more errors")
	assert.Less(t, len(err.Error()), 2048)
	// Still usable.
	require.NoError(t, d.Write(Fragment{ObjectID: 1, Start: true, End: true, Data: []byte("z")}.Append(nil)))
	assert.Equal(t, []string{"z"}, drain(&d))
}

// Garbage after good data is fatal: the good message is kept, the error
// sticks and nothing more is read.
func TestDefragmenterTrailingGarbageFatal(t *testing.T) {
	t.Parallel()
	in := Fragment{ObjectID: 1, Start: true, End: true, Data: []byte("ok")}.Append(nil)
	in = append(in, bytes.Repeat([]byte{0xAB}, 40)...)
	var d Defragmenter
	err := d.Write(in)
	require.ErrorIs(t, err, ErrStreamCorrupt)
	require.ErrorIs(t, err, ErrBadFragment)
	var fe *FragmentError
	require.True(t, errors.As(err, &fe))
	assert.True(t, fe.Fatal())
	assert.Equal(t, []string{"ok"}, drain(&d))
	assert.Equal(t, err, d.Write(Fragment{ObjectID: 2, Start: true, End: true, Data: []byte("z")}.Append(nil)))
	assert.Empty(t, drain(&d))
}
