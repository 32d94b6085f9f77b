package replay

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/google/uuid"
)

// Vectors from PROTOCOL.md §2 (test_psrp_no_profile.yml).
const (
	v3PoolStateHex = "0000000000000003000000000000000003000000670100000005100200c913804a87733942842ab290ac4da47b00000000000000000000000000000000efbbbf3c4f626a2052656649643d2230223e3c4d533e3c493332204e3d2252756e73706163655374617465223e323c2f4933323e3c2f4d533e3c2f4f626a3e"
	v5OutputHex    = "00000000000000040000000000000000030000005a0100000004100400c913804a87733942842ab290ac4da47b63f88cfc411d0242afd7a82484d8f6d1efbbbf3c533e433a5c57494e444f57535c53595354454d33325c434f4e4649475c53595354454d50524f46494c453c2f533e"
	v5StateHex     = "0000000000000005000000000000000003000000670100000006100400c913804a87733942842ab290ac4da47b63f88cfc411d0242afd7a82484d8f6d1efbbbf3c4f626a2052656649643d2230223e3c4d533e3c493332204e3d22506970656c696e655374617465223e343c2f4933323e3c2f4d533e3c2f4f626a3e"
	noProfileShell = "4A8013C9-7387-4239-842A-B290AC4DA47B"
	noProfileCmd   = "FC8CF863-1D41-4202-AFD7-A82484D8F6D1"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGUIDBytesLE(t *testing.T) {
	t.Parallel()
	tests := []struct{ guid, le string }{
		{noProfileCmd, "63f88cfc411d0242afd7a82484d8f6d1"},
		{noProfileShell, "c913804a87733942842ab290ac4da47b"},
		{"00000000-0000-0000-0000-000000000000", "00000000000000000000000000000000"},
	}
	for _, tt := range tests {
		u := uuid.MustParse(tt.guid)
		le := GUIDBytesLE(u)
		if got := hex.EncodeToString(le[:]); got != tt.le {
			t.Errorf("GUIDBytesLE(%s) = %s, want %s", tt.guid, got, tt.le)
		}
		if back := GUIDFromLE(le); back != u {
			t.Errorf("GUIDFromLE round trip = %s, want %s", back, u)
		}
	}
}

func TestAssemblerVectors(t *testing.T) {
	t.Parallel()
	blob := append(append(mustHex(t, v3PoolStateHex), mustHex(t, v5OutputHex)...), mustHex(t, v5StateHex)...)
	var a Assembler
	msgs, err := a.Add(blob)
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []uint32{MsgRunspacePoolState, MsgPipelineOutput, MsgPipelineState}
	if len(msgs) != len(wantTypes) {
		t.Fatalf("got %d messages, want %d", len(msgs), len(wantTypes))
	}
	rpid := GUIDBytesLE(uuid.MustParse(noProfileShell))
	pid := GUIDBytesLE(uuid.MustParse(noProfileCmd))
	for i, m := range msgs {
		if m.Type != wantTypes[i] || m.Destination != 1 || m.RPID != rpid {
			t.Errorf("message %d: type %#x dest %d rpid %x", i, m.Type, m.Destination, m.RPID)
		}
	}
	if msgs[0].PID != ([16]byte{}) || msgs[1].PID != pid {
		t.Errorf("PIDs = %x, %x", msgs[0].PID, msgs[1].PID)
	}
	if want := "\ufeff<S>C:\\WINDOWS\\SYSTEM32\\CONFIG\\SYSTEMPROFILE</S>"; string(msgs[1].Data) != want {
		t.Errorf("output body = %q", msgs[1].Data)
	}
	if a.Pending() != 0 {
		t.Errorf("Pending = %d", a.Pending())
	}
}

// TestAssemblerMultiFragment splits one message over three fragments fed in
// two calls, as a CREATE_PIPELINE split between Command and Send arrives.
func TestAssemblerMultiFragment(t *testing.T) {
	t.Parallel()
	msg := append(make([]byte, 40), []byte("<S>hello</S>")...)
	msg[0], msg[4], msg[5], msg[6] = 2, 0x06, 0x10, 0x02
	f0 := frag(9, 0, 1, msg[:10])
	f1 := frag(9, 1, 0, msg[10:30])
	f2 := frag(9, 2, 2, msg[30:])
	var a Assembler
	if got, err := a.Add(append(f0, f1...)); err != nil || len(got) != 0 || a.Pending() != 1 {
		t.Fatalf("first part: %d messages, %v, pending %d", len(got), err, a.Pending())
	}
	got, err := a.Add(f2)
	if err != nil || len(got) != 1 {
		t.Fatalf("second part: %d messages, %v", len(got), err)
	}
	if got[0].Type != MsgCreatePipeline || string(got[0].Data) != "<S>hello</S>" {
		t.Errorf("message = %#x %q", got[0].Type, got[0].Data)
	}
}

func frag(oid, fid uint64, flags byte, data []byte) []byte {
	b := make([]byte, 21, 21+len(data))
	for i := 0; i < 8; i++ {
		b[7-i] = byte(oid >> (8 * i))
		b[15-i] = byte(fid >> (8 * i))
	}
	b[16] = flags
	n := len(data)
	b[17], b[18], b[19], b[20] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return append(b, data...)
}

func TestAssemblerErrors(t *testing.T) {
	t.Parallel()
	body := make([]byte, 40)
	tests := []struct {
		name  string
		parts [][]byte
	}{
		{"short header", [][]byte{make([]byte, 20)}},
		{"length past end", [][]byte{frag(1, 0, 3, body)[:50]}},
		{"reserved flags", [][]byte{frag(1, 0, 7, body)}},
		{"continuation without start", [][]byte{frag(1, 1, 2, body)}},
		{"start not at zero", [][]byte{frag(1, 3, 3, body)}},
		{"out of order", [][]byte{frag(1, 0, 1, body), frag(1, 2, 2, body)}},
		{"restart", [][]byte{frag(1, 0, 1, body), frag(1, 0, 1, body)}},
		{"message too short", [][]byte{frag(1, 0, 3, body[:39])}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var a Assembler
			var err error
			for _, p := range tt.parts {
				if _, err = a.Add(p); err != nil {
					break
				}
			}
			if !errors.Is(err, ErrFraming) {
				t.Fatalf("err = %v, want ErrFraming", err)
			}
		})
	}
}

func TestRewriteHeaders(t *testing.T) {
	t.Parallel()
	recShell, recCmd := uuid.MustParse(noProfileShell), uuid.MustParse(noProfileCmd)
	cliShell, cliCmd := uuid.New(), uuid.New()
	gm := guidMap{}
	gm.add(recShell, cliShell)
	gm.add(recCmd, cliCmd)

	le := mustHex(t, v5OutputHex)
	// The same fragment as an old pypsrp capture writes it: big-endian IDs.
	be := bytes.Clone(le)
	copy(be[21+8:], recShell[:])
	copy(be[21+24:], recCmd[:])
	zero := mustHex(t, v3PoolStateHex)
	copy(zero[21+8:21+24], make([]byte, 16))
	// A continuation fragment whose bytes happen to look like a header.
	cont := frag(7, 1, 2, append(make([]byte, 8), append(recShell[:], recCmd[:]...)...))

	tests := []struct {
		name      string
		in        []byte
		rpid, pid [16]byte
	}{
		{"little-endian", le, GUIDBytesLE(cliShell), GUIDBytesLE(cliCmd)},
		{"big-endian", be, GUIDBytesLE(cliShell), GUIDBytesLE(cliCmd)},
		{"zero stays zero", zero, [16]byte{}, [16]byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := rewriteHeaders(tt.in, gm, forcedIDs{})
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(tt.in) || !bytes.Equal(out[:29], tt.in[:29]) || !bytes.Equal(out[61:], tt.in[61:]) {
				t.Errorf("framing or body changed")
			}
			if !bytes.Equal(out[29:45], tt.rpid[:]) || !bytes.Equal(out[45:61], tt.pid[:]) {
				t.Errorf("ids = %x %x, want %x %x", out[29:45], out[45:61], tt.rpid, tt.pid)
			}
		})
	}
	// Forced IDs replace any non-zero recorded ID, even a foreign one.
	foreign := bytes.Clone(le)
	copy(foreign[21+8:], bytes.Repeat([]byte{0xAB}, 32))
	f := forcedIDs{rpid: GUIDBytesLE(cliShell), pid: GUIDBytesLE(cliCmd), setRPID: true, setPID: true}
	if out, err := rewriteHeaders(foreign, gm, f); err != nil || !bytes.Equal(out[29:45], f.rpid[:]) || !bytes.Equal(out[45:61], f.pid[:]) {
		t.Errorf("forced ids: %x %x, %v", out[29:45], out[45:61], err)
	}
	if out, err := rewriteHeaders(zero, gm, f); err != nil || !bytes.Equal(out, zero) {
		t.Errorf("forced ids changed a zero ID: %v", err)
	}
	out, err := rewriteHeaders(cont, gm, forcedIDs{})
	if err != nil || !bytes.Equal(out, cont) {
		t.Errorf("continuation fragment rewritten: %v", err)
	}
	if _, err := rewriteHeaders([]byte("not a fragment at all"), gm, forcedIDs{}); !errors.Is(err, ErrFraming) {
		t.Errorf("garbage: err = %v", err)
	}
}

func fuzzSeeds(f *testing.F) {
	for _, h := range []string{v3PoolStateHex, v5OutputHex, v5StateHex} {
		f.Add(mustHex(f, h))
	}
	f.Add(append(mustHex(f, v5OutputHex), mustHex(f, v5StateHex)...))
	c := mustLoad(f, "test_psrp_no_profile.yml")
	for _, e := range c.Entries {
		for _, b := range append(e.Req.Blobs, e.Resp.Blobs...) {
			f.Add(b.Data)
		}
	}
}

func FuzzAssembler(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Assembler
		msgs, err := a.Add(b)
		if err != nil {
			return
		}
		total := 0
		for _, m := range msgs {
			total += 40 + len(m.Data)
		}
		if total > len(b) {
			t.Fatalf("assembled %d bytes from %d", total, len(b))
		}
	})
}

func FuzzRewriteHeaders(f *testing.F) {
	fuzzSeeds(f)
	gm := guidMap{}
	gm.add(uuid.MustParse(noProfileShell), uuid.New())
	gm.add(uuid.MustParse(noProfileCmd), uuid.New())
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := rewriteHeaders(b, gm, forcedIDs{rpid: [16]byte{1}, setRPID: true})
		if err != nil {
			return
		}
		if len(out) != len(b) {
			t.Fatalf("length changed: %d → %d", len(b), len(out))
		}
		// Framing is untouched: the same fragments with the same lengths.
		f1, _ := ReadFragments(b)
		f2, err := ReadFragments(out)
		if err != nil || len(f1) != len(f2) {
			t.Fatalf("framing changed: %v", err)
		}
	})
}
