package psrp

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// IDs of test_psrp_no_profile.yml, the capture the vectors come from.
var (
	noProfileRPID = uuid.MustParse("4A8013C9-7387-4239-842A-B290AC4DA47B")
	noProfilePID  = uuid.MustParse("FC8CF863-1D41-4202-AFD7-A82484D8F6D1")
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	require.NoError(t, err)
	return b
}

// decodeAll splits a blob into fragments, checking each is whole.
func decodeAll(t testing.TB, b []byte) []Fragment {
	t.Helper()
	var out []Fragment
	for len(b) > 0 {
		f, n, err := DecodeFragment(b)
		require.NoError(t, err)
		out = append(out, f)
		b = b[n:]
	}
	return out
}

// frameMessage builds fragment(s) + message bytes the way a sender does.
func frameMessage(objectID uint64, m Message) []byte {
	return Fragment{ObjectID: objectID, Start: true, End: true, Data: m.Append(nil)}.Append(nil)
}

const (
	capabilityXML = `<Obj RefId="0"><MS><Version N="protocolversion">2.3</Version><Version N="PSVersion">2.0</Version><Version N="SerializationVersion">1.1.0.1</Version></MS></Obj>`
	initPoolXML   = `<Obj RefId="0"><MS><I32 N="MinRunspaces">1</I32><I32 N="MaxRunspaces">1</I32><Obj RefId="1" N="PSThreadOptions"><TN RefId="0"><T>System.Management.Automation.Runspaces.PSThreadOptions</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>Default</ToString><I32>0</I32></Obj><Obj RefId="2" N="ApartmentState"><TN RefId="1"><T>System.Management.Automation.Runspaces.ApartmentState</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>UNKNOWN</ToString><I32>2</I32></Obj><Obj RefId="3" N="HostInfo"><MS><B N="_isHostNull">true</B><B N="_isHostUINull">true</B><B N="_isHostRawUINull">true</B><B N="_useRunspaceHost">true</B></MS></Obj><Nil N="ApplicationArguments" /></MS></Obj>`
)

func v23() SessionCapability {
	return SessionCapability{
		ProtocolVersion:      clixml.Version{Major: 2, Minor: 3, Build: -1, Revision: -1},
		PSVersion:            clixml.Version{Major: 2, Minor: 0, Build: -1, Revision: -1},
		SerializationVersion: clixml.Version{Major: 1, Minor: 1, Build: 0, Revision: 1},
	}
}

func noHost() clixml.HostInfo {
	return clixml.HostInfo{IsHostNull: true, IsHostUINull: true, IsHostRawUINull: true, UseRunspaceHost: true}
}

// TestVectorV1CreationXML: SESSION_CAPABILITY + INIT_RUNSPACEPOOL as
// pypsrp sent them in creationXml, decoded and re-encoded byte for byte.
func TestVectorV1CreationXML(t *testing.T) {
	t.Parallel()
	blob := LoadVector(t, "creationXml_no_profile.b64")
	require.Len(t, blob, 1006)
	frags := decodeAll(t, blob)
	require.Len(t, frags, 2)

	assert.Equal(t, mustHex(t, `0000000000000001000000000000000003000000c70200000002000100c913804a87733942842ab290ac4da47b000000000000000000000000000000003c4f626a2052656649643d2230223e3c4d533e3c56657273696f6e204e3d2270726f746f636f6c76657273696f6e223e322e333c2f56657273696f6e3e3c56657273696f6e204e3d22505356657273696f6e223e322e303c2f56657273696f6e3e3c56657273696f6e204e3d2253657269616c697a6174696f6e56657273696f6e223e312e312e302e313c2f56657273696f6e3e3c2f4d533e3c2f4f626a3e`), blob[:220])
	for i, f := range frags {
		assert.Equal(t, uint64(i+1), f.ObjectID)
		assert.Equal(t, uint64(0), f.FragmentID)
		assert.True(t, f.Start && f.End)
	}
	assert.Len(t, frags[0].Data, 199)
	assert.Len(t, frags[1].Data, 765)

	m1, err := DecodeMessage(frags[0].Data)
	require.NoError(t, err)
	assert.Equal(t, DestinationServer, m1.Destination)
	assert.Equal(t, MessageSessionCapability, m1.Type)
	assert.Equal(t, noProfileRPID, m1.RunspacePoolID)
	assert.Equal(t, uuid.Nil, m1.PipelineID)
	assert.Equal(t, capabilityXML, string(m1.Data))

	m2, err := DecodeMessage(frags[1].Data)
	require.NoError(t, err)
	assert.Equal(t, MessageInitRunspacePool, m2.Type)
	assert.Equal(t, noProfileRPID, m2.RunspacePoolID)
	assert.Equal(t, initPoolXML, string(m2.Data))
	assert.Len(t, m2.Data, 725)

	b1, err := DecodeBody(m1.Type, m1.Data, clixml.UnmarshalOptions{})
	require.NoError(t, err)
	assert.Equal(t, &SessionCapability{
		ProtocolVersion:      clixml.Version{Major: 2, Minor: 3, Build: -1, Revision: -1},
		PSVersion:            clixml.Version{Major: 2, Minor: 0, Build: -1, Revision: -1},
		SerializationVersion: clixml.Version{Major: 1, Minor: 1, Build: 0, Revision: 1},
	}, b1)
	b2, err := DecodeBody(m2.Type, m2.Data, clixml.UnmarshalOptions{})
	require.NoError(t, err)
	init := InitRunspacePool{MinRunspaces: 1, MaxRunspaces: 1, ThreadOptions: ThreadOptionsDefault,
		ApartmentState: ApartmentUnknown, HostInfo: noHost()}
	assert.Equal(t, &init, b2)

	// Encode the same values: identical bytes, fragment headers included.
	var out []byte
	for i, body := range []Body{v23(), init} {
		data, err := EncodeBody(body, clixml.MarshalOptions{})
		require.NoError(t, err)
		out = append(out, frameMessage(uint64(i+1), Message{Destination: DestinationServer,
			Type: body.MessageType(), RunspacePoolID: noProfileRPID, Data: data})...)
	}
	assert.Equal(t, string(blob), string(out))

	// The same two messages through the Fragmenter: one payload, as sent.
	var fr Fragmenter
	fr.Add(1, frags[0].Data)
	fr.Add(2, frags[1].Data)
	assert.Equal(t, blob, fr.Pack(nil, 153600))
	assert.False(t, fr.Pending())
}

// TestVectorV2V3V5ServerMessages: server messages carry a BOM, which
// DecodeMessage strips.
func TestVectorV2V3V5ServerMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		blob     []byte
		oid      uint64
		typ      MessageType
		rpid     uuid.UUID
		pid      uuid.UUID
		body     string
		want     Body
		dataSize int
	}{
		{
			name: "V2 session capability", blob: LoadVector(t, "receive1_stream1_session_capability.b64"),
			oid: 1, typ: MessageSessionCapability, body: capabilityXML, want: ptr(v23()), dataSize: 202,
		},
		{
			name: "V3 runspace pool state",
			blob: mustHex(t, `0000000000000003000000000000000003000000670100000005100200c913804a87733942842ab290ac4da47b00000000000000000000000000000000efbbbf3c4f626a2052656649643d2230223e3c4d533e3c493332204e3d2252756e73706163655374617465223e323c2f4933323e3c2f4d533e3c2f4f626a3e`),
			oid:  3, typ: MessageRunspacePoolState, rpid: noProfileRPID,
			body: `<Obj RefId="0"><MS><I32 N="RunspaceState">2</I32></MS></Obj>`,
			want: &RunspacePoolStateMessage{State: RunspacePoolOpened}, dataSize: 103,
		},
		{
			name: "V5 pipeline output",
			blob: mustHex(t, `00000000000000040000000000000000030000005a0100000004100400c913804a87733942842ab290ac4da47b63f88cfc411d0242afd7a82484d8f6d1efbbbf3c533e433a5c57494e444f57535c53595354454d33325c434f4e4649475c53595354454d50524f46494c453c2f533e`),
			oid:  4, typ: MessagePipelineOutput, rpid: noProfileRPID, pid: noProfilePID,
			body: `<S>C:\WINDOWS\SYSTEM32\CONFIG\SYSTEMPROFILE</S>`,
			want: &PipelineOutput{Value: `C:\WINDOWS\SYSTEM32\CONFIG\SYSTEMPROFILE`}, dataSize: 90,
		},
		{
			name: "V5 pipeline state completed",
			blob: mustHex(t, `0000000000000005000000000000000003000000670100000006100400c913804a87733942842ab290ac4da47b63f88cfc411d0242afd7a82484d8f6d1efbbbf3c4f626a2052656649643d2230223e3c4d533e3c493332204e3d22506970656c696e655374617465223e343c2f4933323e3c2f4d533e3c2f4f626a3e`),
			oid:  5, typ: MessagePipelineState, rpid: noProfileRPID, pid: noProfilePID,
			body: `<Obj RefId="0"><MS><I32 N="PipelineState">4</I32></MS></Obj>`,
			want: &PipelineState{State: PipelineCompleted}, dataSize: 103,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			frags := decodeAll(t, tc.blob)
			require.Len(t, frags, 1)
			f := frags[0]
			assert.Equal(t, tc.oid, f.ObjectID)
			assert.True(t, f.Start && f.End)
			assert.Len(t, f.Data, tc.dataSize)
			m, err := DecodeMessage(f.Data)
			require.NoError(t, err)
			assert.Equal(t, DestinationClient, m.Destination)
			assert.Equal(t, tc.typ, m.Type)
			assert.Equal(t, tc.rpid, m.RunspacePoolID)
			assert.Equal(t, tc.pid, m.PipelineID)
			assert.Equal(t, tc.body, string(m.Data))
			body, err := DecodeBody(m.Type, m.Data, clixml.UnmarshalOptions{})
			require.NoError(t, err)
			assert.Equal(t, tc.want, body)

			// Encoding the body gives the captured CLIXML; with the BOM
			// the server adds, the whole blob.
			data, err := EncodeBody(body, clixml.MarshalOptions{})
			require.NoError(t, err)
			assert.Equal(t, tc.body, string(data))
			m.Data = append([]byte(utf8BOM), data...)
			assert.Equal(t, tc.blob, frameMessage(tc.oid, m))
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestVectorV2ApplicationPrivateData decodes the server's PSVersionTable.
func TestVectorV2ApplicationPrivateData(t *testing.T) {
	t.Parallel()
	frags := decodeAll(t, LoadVector(t, "receive1_stream2_application_private_data.b64"))
	require.Len(t, frags, 1)
	assert.Equal(t, uint64(2), frags[0].ObjectID)
	assert.Len(t, frags[0].Data, 1197)
	m, err := DecodeMessage(frags[0].Data)
	require.NoError(t, err)
	assert.Equal(t, MessageApplicationPrivateData, m.Type)
	assert.Equal(t, noProfileRPID, m.RunspacePoolID)
	body, err := DecodeBody(m.Type, m.Data, clixml.UnmarshalOptions{})
	require.NoError(t, err)
	apd := body.(*ApplicationPrivateData)
	vt, ok := apd.PSVersionTable()
	require.True(t, ok)
	assert.Equal(t, clixml.Version{Major: 2, Minor: 3, Build: -1, Revision: -1}, vt["PSRemotingProtocolVersion"])
	assert.Equal(t, clixml.Version{Major: 1, Minor: 1, Build: 0, Revision: 1}, vt["SerializationVersion"])
	assert.Equal(t, clixml.Version{Major: 3, Minor: 0, Build: -1, Revision: -1}, vt["WSManStackVersion"])
	assert.Equal(t, clixml.Version{Major: 5, Minor: 1, Build: 26236, Revision: 5000}, vt["PSVersion"])

	// Lossless: re-encoding and decoding gives the same body.
	data, err := EncodeBody(body, clixml.MarshalOptions{})
	require.NoError(t, err)
	again, err := DecodeBody(m.Type, data, clixml.UnmarshalOptions{})
	require.NoError(t, err)
	assert.Equal(t, body, again)
}

// noProfilePipeline is the CREATE_PIPELINE of vector V4, built in Go.
func noProfilePipeline() CreatePipeline {
	return CreatePipeline{
		NoInput:             true,
		ApartmentState:      ApartmentUnknown,
		RemoteStreamOptions: RemoteStreamAddInvocationInfo,
		HostInfo:            noHost(),
		PowerShell: PowerShell{
			Statements: [][]Command{{{Cmd: "$env:USERPROFILE.ToUpperInvariant()", IsScript: true}}},
		},
	}
}

// TestVectorV4CreatePipeline: the whole CREATE_PIPELINE message of
// rsp:Arguments, built from Go values, byte for byte.
func TestVectorV4CreatePipeline(t *testing.T) {
	t.Parallel()
	blob := LoadVector(t, "command_create_pipeline.b64")
	require.Len(t, blob, 2284)
	frags := decodeAll(t, blob)
	require.Len(t, frags, 1)
	assert.Equal(t, uint64(3), frags[0].ObjectID)
	assert.Len(t, frags[0].Data, 2263)
	m, err := DecodeMessage(frags[0].Data)
	require.NoError(t, err)
	assert.Equal(t, DestinationServer, m.Destination)
	assert.Equal(t, MessageCreatePipeline, m.Type)
	assert.Equal(t, noProfileRPID, m.RunspacePoolID)
	assert.Equal(t, noProfilePID, m.PipelineID)

	body, err := DecodeBody(m.Type, m.Data, clixml.UnmarshalOptions{})
	require.NoError(t, err)
	want := noProfilePipeline()
	assert.Equal(t, &want, body)

	data, err := EncodeBody(want, clixml.MarshalOptions{})
	require.NoError(t, err)
	got := frameMessage(3, Message{Destination: DestinationServer, Type: MessageCreatePipeline,
		RunspacePoolID: noProfileRPID, PipelineID: noProfilePID, Data: data})
	assert.Equal(t, string(blob), string(got))
}

// TestVectorV6MultiFragment: a 32397-byte CREATE_PIPELINE in two fragments
// (Arguments, then the command's stdin) reassembles to the message file,
// and the Fragmenter cuts the message the same way.
func TestVectorV6MultiFragment(t *testing.T) {
	t.Parallel()
	part1 := LoadVector(t, "multifrag_create_pipeline_part1.b64")
	part2 := LoadVector(t, "multifrag_create_pipeline_part2.b64")
	want := LoadVector(t, "multifrag_create_pipeline_message.bin")
	require.Len(t, want, 32397)
	assert.Equal(t, mustHex(t, "000000000000000300000000000000000100005b09"), part1[:FragmentHeaderSize])
	assert.Equal(t, mustHex(t, "000000000000000300000000000000010200002384"), part2[:FragmentHeaderSize])

	var d Defragmenter
	require.NoError(t, d.Write(part1))
	_, ok := d.Next()
	assert.False(t, ok, "message complete after the first fragment")
	require.NoError(t, d.Write(part2))
	msg, ok := d.Next()
	require.True(t, ok)
	assert.Equal(t, want, msg)

	m, err := DecodeMessage(msg)
	require.NoError(t, err)
	assert.Equal(t, MessageCreatePipeline, m.Type)
	body, err := DecodeBody(m.Type, m.Data, clixml.UnmarshalOptions{})
	require.NoError(t, err)
	assert.NotEmpty(t, body.(*CreatePipeline).PowerShell.Statements)

	// Same split from the Fragmenter: the first envelope had room for
	// 21+23305 bytes of fragments.
	var f Fragmenter
	f.Add(3, want)
	assert.Equal(t, part1, f.Pack(nil, len(part1)))
	assert.Equal(t, part2, f.Pack(nil, 1<<20))
	assert.False(t, f.Pending())
}

// TestVectorV7EndOfInput: END_OF_PIPELINE_INPUT is a bare 40-byte message.
func TestVectorV7EndOfInput(t *testing.T) {
	t.Parallel()
	data, err := EncodeBody(EndOfPipelineInput{}, clixml.MarshalOptions{})
	require.NoError(t, err)
	assert.Empty(t, data)
	msg := Message{Destination: DestinationServer, Type: MessageEndOfPipelineInput,
		RunspacePoolID: noProfileRPID, PipelineID: noProfilePID, Data: data}.Append(nil)
	frag := Fragment{ObjectID: 8, Start: true, End: true, Data: msg}.Append(nil)
	assert.Equal(t, mustHex(t, "000000000000000800000000000000000300000028"), frag[:FragmentHeaderSize])
	assert.Len(t, frag, FragmentHeaderSize+MessageHeaderSize)

	// pypsrp's PUBLIC_KEY_REQUEST pack vector.
	data, err = EncodeBody(PublicKeyRequest{}, clixml.MarshalOptions{})
	require.NoError(t, err)
	got := Message{Destination: DestinationServer, Type: MessagePublicKeyRequest, Data: data}.Append(nil)
	assert.Equal(t, append(mustHex(t, "0200000007000100"+strings.Repeat("00", 32)), "<S />"...), got)
}

// streamKey identifies the fragments of one sender to one shell: a
// sender's ObjectIds are unique across the pool and its pipelines, and a
// message may start in one element and continue in another (V6: Arguments
// then the command's stdin).
type streamKey struct {
	fromClient bool
	shell      string
}

// TestCaptures decodes every PSRP message of every capture file: fragments,
// header, body; and checks that the CLIXML of each body survives
// decode → encode → decode, and each body DecodeBody → EncodeBody →
// DecodeBody.
func TestCaptures(t *testing.T) {
	t.Parallel()
	caps := LoadCaptures(t)
	for _, c := range caps {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			blobs, err := c.PSRPBlobs()
			require.NoError(t, err)
			defrags := map[streamKey]*Defragmenter{}
			counts := map[MessageType]int{}
			for _, b := range blobs {
				key := streamKey{b.FromClient, b.ShellID}
				d := defrags[key]
				if d == nil {
					d = &Defragmenter{}
					defrags[key] = d
				}
				where := fmt.Sprintf("exchange %d %s", b.Exchange, b.Element)
				require.NoError(t, d.Write(b.Data), where)
				for {
					raw, ok := d.Next()
					if !ok {
						break
					}
					m, err := DecodeMessage(raw)
					require.NoError(t, err, where)
					wantDest := DestinationClient
					if b.FromClient {
						wantDest = DestinationServer
					}
					assert.Equal(t, wantDest, m.Destination, where)
					counts[m.Type]++
					checkCapturedMessage(t, where, m)
				}
			}
			for k, d := range defrags {
				assert.Empty(t, d.objects, "unfinished messages from client=%v shell %s", k.fromClient, k.shell)
			}
			var parts []string
			for typ, n := range counts {
				parts = append(parts, fmt.Sprintf("%s=%d", typ, n))
			}
			sort.Strings(parts)
			t.Logf("%d PSRP messages: %s", sum(counts), strings.Join(parts, " "))
		})
	}
}

func sum(m map[MessageType]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func checkCapturedMessage(t *testing.T, where string, m Message) {
	t.Helper()
	where = fmt.Sprintf("%s %s", where, m.Type)
	body, err := DecodeBody(m.Type, m.Data, clixml.UnmarshalOptions{})
	require.NoError(t, err, where)
	require.Equal(t, m.Type, body.MessageType(), where)

	if len(m.Data) > 0 && !bytes.Equal(m.Data, []byte(sEmpty)) {
		// The generic model is lossless: decode → marshal → decode.
		v, err := clixml.UnmarshalOptions{}.Decode(m.Data)
		require.NoError(t, err, where)
		enc, err := clixml.MarshalOptions{}.Marshal(v)
		require.NoError(t, err, where)
		v2, err := clixml.UnmarshalOptions{}.Decode(enc)
		require.NoError(t, err, where)
		assert.Equal(t, v, v2, where)
	}

	// The body round-trips through its own encoder: exactly for bodies
	// made of this package's fields; for bodies holding clixml records,
	// whose Raw objects keep what the server sent, encoding is a fixpoint
	// after one round.
	enc, err := EncodeBody(body, clixml.MarshalOptions{})
	require.NoError(t, err, where)
	again, err := DecodeBody(m.Type, enc, clixml.UnmarshalOptions{})
	require.NoError(t, err, where)
	if !holdsRecord(body) {
		assert.Equal(t, body, again, where)
	}
	enc2, err := EncodeBody(again, clixml.MarshalOptions{})
	require.NoError(t, err, where)
	assert.Equal(t, string(enc), string(enc2), where)
}

// holdsRecord reports whether b carries a clixml record.
func holdsRecord(b Body) bool {
	switch x := b.(type) {
	case *ErrorRecord, *DebugRecord, *VerboseRecord, *WarningRecord, *ProgressRecord, *InformationRecord:
		return true
	case *PipelineState:
		return x.Error != nil
	case *RunspacePoolStateMessage:
		return x.Error != nil
	case *PipelineHostResponse:
		return x.Error != nil
	case *RunspacePoolHostResponse:
		return x.Error != nil
	}
	return false
}
