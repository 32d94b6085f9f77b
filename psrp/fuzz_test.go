package psrp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// fuzzSeeds collects seed inputs once per fuzz target: the vectors and the
// PSRP blobs and messages of every capture (decoding them takes a few
// tens of milliseconds).
type fuzzSeeds struct {
	blobs    [][]byte // runs of whole fragments, as carried by one element
	streams  [][]byte // everything one sender sent to one shell, concatenated
	messages [][]byte // reassembled messages
}

func loadFuzzSeeds(f *testing.F) fuzzSeeds {
	f.Helper()
	var s fuzzSeeds
	for _, name := range []string{"creationXml_no_profile.b64", "receive1_stream1_session_capability.b64",
		"receive1_stream2_application_private_data.b64", "command_create_pipeline.b64",
		"multifrag_create_pipeline_part1.b64", "multifrag_create_pipeline_part2.b64"} {
		s.blobs = append(s.blobs, LoadVector(f, name))
	}
	s.messages = append(s.messages, LoadVector(f, "multifrag_create_pipeline_message.bin"))
	for _, c := range LoadCaptures(f) {
		blobs, err := c.PSRPBlobs()
		if err != nil {
			f.Fatal(err)
		}
		streams := map[streamKey][]byte{}
		defrags := map[streamKey]*Defragmenter{}
		for _, b := range blobs {
			s.blobs = append(s.blobs, b.Data)
			k := streamKey{b.FromClient, b.ShellID}
			streams[k] = append(streams[k], b.Data...)
			if defrags[k] == nil {
				defrags[k] = &Defragmenter{}
			}
			if err := defrags[k].Write(b.Data); err != nil {
				f.Fatal(err)
			}
			for m, ok := defrags[k].Next(); ok; m, ok = defrags[k].Next() {
				s.messages = append(s.messages, m)
			}
		}
		for _, st := range streams {
			s.streams = append(s.streams, st)
		}
	}
	return s
}

func FuzzDecodeFragment(f *testing.F) {
	seeds := loadFuzzSeeds(f)
	for _, b := range seeds.blobs {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := DecodeFragment(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("n = %d with error", n)
			}
			return
		}
		if n != FragmentHeaderSize+len(fr.Data) || n > len(b) {
			t.Fatalf("n = %d, data %d, input %d", n, len(fr.Data), len(b))
		}
		if got := fr.Append(nil); !bytes.Equal(got, b[:n]) {
			t.Fatalf("Append does not reproduce the input")
		}
	})
}

// FuzzDefragmenter: input cut at any point reassembles exactly as the
// whole input does, no message exceeds the limit, and nothing panics.
func FuzzDefragmenter(f *testing.F) {
	seeds := loadFuzzSeeds(f)
	for i, s := range seeds.streams {
		f.Add(s, uint(i*7919), uint16(0))
	}
	for i, b := range seeds.blobs {
		f.Add(b, uint(i), uint16(4096))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint, limit uint16) {
		// run writes the parts, going on after confined errors as a
		// receiver does, and reports whether a fatal error occurred.
		run := func(parts ...[]byte) ([][]byte, bool) {
			d := Defragmenter{MaxMessageSize: int(limit)}
			fatal := false
			for _, p := range parts {
				err := d.Write(bytes.Clone(p))
				if err == nil {
					continue
				}
				if errors.Is(err, ErrStreamCorrupt) == errors.Is(err, ErrMessageDropped) && !errors.Is(err, ErrStreamCorrupt) {
					t.Fatalf("error of neither kind: %v", err)
				}
				if errors.Is(err, ErrStreamCorrupt) {
					fatal = true
					if again := d.Write([]byte{0}); again == nil {
						t.Fatal("a fatal error did not stick")
					}
					break
				}
			}
			held := 0
			for _, m := range d.objects {
				held += len(m.data)
			}
			if held != d.held {
				t.Fatalf("held %d, objects hold %d", d.held, held)
			}
			var msgs [][]byte
			for m, ok := d.Next(); ok; m, ok = d.Next() {
				if limit != 0 && len(m) > int(limit) {
					t.Fatalf("message of %d bytes over limit %d", len(m), limit)
				}
				msgs = append(msgs, bytes.Clone(m))
			}
			return msgs, fatal
		}
		whole, fatalWhole := run(data)
		c := int(cut % uint(len(data)+1))
		split, fatalSplit := run(data[:c], data[c:])
		if fatalWhole != fatalSplit {
			t.Fatalf("whole fatal: %v, split at %d fatal: %v", fatalWhole, c, fatalSplit)
		}
		if len(whole) != len(split) {
			t.Fatalf("whole gave %d messages, split %d", len(whole), len(split))
		}
		for i := range whole {
			if !bytes.Equal(whole[i], split[i]) {
				t.Fatalf("message %d differs", i)
			}
		}
	})
}

// FuzzDecodeMessage decodes a header and then the body for its own type
// and, to reach every body decoder, for the type the first byte selects.
func FuzzDecodeMessage(f *testing.F) {
	seeds := loadFuzzSeeds(f)
	for _, m := range seeds.messages {
		f.Add(m, byte(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, pick byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			return
		}
		if got := m.Append(nil); !bytes.Equal(got[:MessageHeaderSize], b[:MessageHeaderSize]) {
			t.Fatalf("header does not round trip")
		}
		types := []MessageType{m.Type, allMessageTypes[int(pick)%len(allMessageTypes)]}
		for _, typ := range types {
			body, err := DecodeBody(typ, m.Data, clixml.UnmarshalOptions{})
			if err != nil {
				continue
			}
			enc, err := EncodeBody(body, clixml.MarshalOptions{})
			if err != nil {
				continue
			}
			if _, err := DecodeBody(typ, enc, clixml.UnmarshalOptions{}); err != nil {
				t.Fatalf("%s: re-encoded body does not decode: %v\n%s", typ, err, enc)
			}
		}
	})
}

// allMessageTypes lists every MessageType constant.
var allMessageTypes = []MessageType{
	MessageSessionCapability, MessageInitRunspacePool, MessagePublicKey, MessageEncryptedSessionKey,
	MessagePublicKeyRequest, MessageConnectRunspacePool, MessageSetMaxRunspaces, MessageSetMinRunspaces,
	MessageRunspaceAvailability, MessageRunspacePoolState, MessageCreatePipeline, MessageGetAvailableRunspaces,
	MessageUserEvent, MessageApplicationPrivateData, MessageGetCommandMetadata, MessageRunspacePoolInitData,
	MessageResetRunspaceState, MessageRunspacePoolHostCall, MessageRunspacePoolHostResponse, MessagePipelineInput,
	MessageEndOfPipelineInput, MessagePipelineOutput, MessageErrorRecord, MessagePipelineState,
	MessageDebugRecord, MessageVerboseRecord, MessageWarningRecord, MessageProgressRecord,
	MessageInformationRecord, MessagePipelineHostCall, MessagePipelineHostResponse,
}
