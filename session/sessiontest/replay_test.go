package sessiontest

import (
	"bytes"
	"testing"

	"github.com/google/uuid"
	"github.com/gopsrp/gopsrp/psrp"
)

func frags(fs ...psrp.Fragment) []byte {
	var b []byte
	for _, f := range fs {
		b = f.Append(b)
	}
	return b
}

// TestDropRepeatedInput checks that a Send repeated after a lost answer
// reaches the backend once, and that new fragments after repeated ones in
// the same Send still do.
func TestDropRepeatedInput(t *testing.T) {
	sh := &shell{}
	id := uuid.New()
	a := psrp.Fragment{ObjectID: 1, Start: true, End: true, Data: []byte("a")}
	b1 := psrp.Fragment{ObjectID: 2, Start: true, Data: []byte("b1")}
	b2 := psrp.Fragment{ObjectID: 2, FragmentID: 1, End: true, Data: []byte("b2")}
	c := psrp.Fragment{ObjectID: 3, Start: true, End: true, Data: []byte("c")}
	if got := sh.dropRepeatedLocked(id, "stdin", frags(a, b1)); !bytes.Equal(got, frags(a, b1)) {
		t.Fatalf("first Send changed: %x", got)
	}
	if got := sh.dropRepeatedLocked(id, "stdin", frags(a, b1)); len(got) != 0 {
		t.Fatalf("repeated Send kept %x", got)
	}
	if got := sh.dropRepeatedLocked(id, "stdin", frags(b1, b2, c)); !bytes.Equal(got, frags(b2, c)) {
		t.Fatalf("overlapping Send gave %x, want the new fragments", got)
	}
	if got := sh.dropRepeatedLocked(id, "pr", frags(a)); !bytes.Equal(got, frags(a)) {
		t.Fatal("another stream is numbered on its own")
	}
	if got := sh.dropRepeatedLocked(uuid.Nil, "stdin", frags(a)); !bytes.Equal(got, frags(a)) {
		t.Fatal("another target is numbered on its own")
	}
	junk := []byte("not fragments")
	if got := sh.dropRepeatedLocked(id, "stdin", junk); !bytes.Equal(got, junk) {
		t.Fatal("data that is not fragments must reach the backend whole")
	}
}

// TestReplayReceive checks the SequenceId bookkeeping: a repeat gets the
// kept answer, the next number acknowledges it, a stale one takes nothing.
func TestReplayReceive(t *testing.T) {
	sh := &shell{}
	id := uuid.New()
	if _, replay, stale := sh.replayLocked(id, 1); replay || stale {
		t.Fatal("first Receive replayed or stale")
	}
	sh.rememberLocked(id, 1, "<one/>")
	if body, replay, _ := sh.replayLocked(id, 1); !replay || body != "<one/>" {
		t.Fatalf("repeat got %q, %v", body, replay)
	}
	if _, replay, stale := sh.replayLocked(id, 2); replay || stale {
		t.Fatal("next Receive replayed or stale")
	}
	if _, _, stale := sh.replayLocked(id, 1); !stale {
		t.Fatal("a Receive below the latest is not stale")
	}
	if _, replay, stale := sh.replayLocked(id, 0); replay || stale {
		t.Fatal("an unnumbered Receive is not part of the bookkeeping")
	}
}

// FuzzDropRepeatedInput feeds arbitrary Send data through the repeat
// filter: it never panics, and what it keeps is a sequence of whole
// fragments from the input.
func FuzzDropRepeatedInput(f *testing.F) {
	f.Add(frags(psrp.Fragment{ObjectID: 1, Start: true, End: true, Data: []byte("a")}), frags(psrp.Fragment{ObjectID: 1, Start: true, End: true, Data: []byte("a")}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1}, []byte("x"))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		sh := &shell{}
		for _, in := range [][]byte{first, second} {
			out := sh.dropRepeatedLocked(uuid.Nil, "stdin", in)
			if bytes.Equal(out, in) {
				continue
			}
			for rest := out; len(rest) > 0; {
				_, n, err := psrp.DecodeFragment(rest)
				if err != nil {
					t.Fatalf("kept bytes that are not whole fragments: %v", err)
				}
				rest = rest[n:]
			}
			if len(out) > len(in) {
				t.Fatal("kept more than it got")
			}
		}
	})
}
