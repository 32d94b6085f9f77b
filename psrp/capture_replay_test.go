package psrp_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// The IDs of test_psrp_no_profile.yml, one of the captures with .NET GUID
// byte order.
var (
	noProfileRPID = uuid.MustParse("4A8013C9-7387-4239-842A-B290AC4DA47B")
	noProfilePID  = uuid.MustParse("FC8CF863-1D41-4202-AFD7-A82484D8F6D1")
)

func smVector(tb testing.TB, name string) []byte {
	tb.Helper()
	dir, err := psrp.VectorsDir()
	require.NoError(tb, err)
	raw, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(tb, err, "vector")
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	require.NoError(tb, err)
	return b
}

// TestClientReplaysNoProfile drives a ClientPool through the recorded
// conversation: what it sends must equal what pypsrp sent (vectors V1 and
// V4, which checks that ObjectIds start at 1 and run across the pool and
// its pipelines), and Windows' answers must take it to Opened and then
// deliver the pipeline's output and Completed.
func TestClientReplaysNoProfile(t *testing.T) {
	t.Parallel()
	capf := smLoadCapture(t, "test_psrp_no_profile.yml")
	require.GreaterOrEqual(t, len(capf.Messages), 5)

	c := psrp.NewClientPool(psrp.ClientPoolConfig{ID: noProfileRPID})
	require.NoError(t, c.Open())
	pl, ok := c.DataToSend(150 * 1024)
	require.True(t, ok)
	require.Equal(t, uuid.Nil, pl.PipelineID)
	require.False(t, pl.Create)
	smRequireSameBytes(t, smVector(t, "creationXml_no_profile.b64"), pl.Data, "creationXml (V1)")
	smRequireSameBytes(t, smBlobs(t, capf.Messages[0].Request)[0], pl.Data, "creationXml of the capture")
	_, ok = c.DataToSend(150 * 1024)
	require.False(t, ok)

	for _, i := range []int{1, 2} {
		for _, blob := range smBlobs(t, capf.Messages[i].Response) {
			require.NoError(t, c.Receive(blob))
		}
	}
	require.Equal(t, psrp.RunspacePoolOpened, c.State())
	sv := c.ServerCapability().ProtocolVersion
	require.Equal(t, [2]int32{2, 3}, [2]int32{sv.Major, sv.Minor})
	var apd *psrp.ApplicationPrivateData
	for {
		ev, ok := c.NextEvent()
		if !ok {
			break
		}
		if a, ok := ev.(psrp.ApplicationPrivateDataReceived); ok {
			apd = a.Data
		}
	}
	require.NotNil(t, apd)
	vt, ok := apd.PSVersionTable()
	require.True(t, ok)
	require.Contains(t, vt, "PSRemotingProtocolVersion")

	cp, err := c.NewPipeline(psrp.Script("$env:USERPROFILE.ToUpperInvariant()"), psrp.PipelineOptions{ID: noProfilePID, NoInput: true})
	require.NoError(t, err)
	require.NoError(t, cp.Invoke())
	pl, ok = c.DataToSend(150 * 1024)
	require.True(t, ok)
	require.Equal(t, noProfilePID, pl.PipelineID)
	require.True(t, pl.Create)
	smRequireSameBytes(t, smVector(t, "command_create_pipeline.b64"), pl.Data, "CREATE_PIPELINE (V4)")

	for _, blob := range smBlobs(t, capf.Messages[4].Response) {
		require.NoError(t, c.Receive(blob))
	}
	var evs []psrp.Event
	for {
		ev, ok := c.NextEvent()
		if !ok {
			break
		}
		evs = append(evs, ev)
	}
	require.Equal(t, []psrp.Event{
		psrp.PipelineStateChanged{PipelineID: noProfilePID, State: psrp.PipelineRunning, Previous: psrp.PipelineNotStarted},
		psrp.PipelineOutputEvent{PipelineID: noProfilePID, Value: `C:\WINDOWS\SYSTEM32\CONFIG\SYSTEMPROFILE`},
		psrp.PipelineStateChanged{PipelineID: noProfilePID, State: psrp.PipelineCompleted, Previous: psrp.PipelineRunning},
	}, evs)
}

// TestServerAnswersLikeWindows feeds the recorded client data to a
// ServerPool and checks that it answers with the message types, order and
// targets Windows used.
func TestServerAnswersLikeWindows(t *testing.T) {
	t.Parallel()
	capf := smLoadCapture(t, "test_psrp_no_profile.yml")
	s := psrp.NewServerPool(psrp.ServerPoolConfig{})
	require.NoError(t, s.Receive(smBlobs(t, capf.Messages[0].Request)[0], psrp.StreamDefault, uuid.Nil))
	require.Equal(t, noProfileRPID, s.ID())
	got := smDrainServer(t, s)
	require.Equal(t, []smMsg{
		{psrp.MessageSessionCapability, uuid.Nil, uuid.Nil},
		{psrp.MessageApplicationPrivateData, noProfileRPID, uuid.Nil},
		{psrp.MessageRunspacePoolState, noProfileRPID, uuid.Nil},
	}, got)
	want := smMessagesOf(t, capf.Messages[1].Response, capf.Messages[2].Response)
	require.Equal(t, want, got)

	require.NoError(t, s.Receive(smBlobs(t, capf.Messages[3].Request)[0], psrp.StreamDefault, noProfilePID))
	ev, ok := s.NextEvent()
	require.True(t, ok)
	_, ok = ev.(psrp.PoolOpened)
	require.True(t, ok)
	ev, ok = s.NextEvent()
	require.True(t, ok)
	pc := ev.(psrp.PipelineCreated)
	require.Equal(t, noProfilePID, pc.Pipeline.ID())
	require.Equal(t, "$env:USERPROFILE.ToUpperInvariant()", pc.Pipeline.Commands()[0][0].Cmd)
	require.True(t, pc.Pipeline.NoInput())
	require.NoError(t, pc.Pipeline.WriteOutput(`C:\WINDOWS\SYSTEM32\CONFIG\SYSTEMPROFILE`))
	require.NoError(t, pc.Pipeline.Complete())
	got = smDrainServer(t, s)
	require.Equal(t, smMessagesOf(t, capf.Messages[4].Response), got)
}

type smMsg struct {
	Type      psrp.MessageType
	RPID, PID uuid.UUID
}

func smMessagesIn(t *testing.T, data []byte) []smMsg {
	t.Helper()
	var out []smMsg
	var d psrp.Defragmenter
	require.NoError(t, d.Write(data))
	for {
		raw, ok := d.Next()
		if !ok {
			return out
		}
		m, err := psrp.DecodeMessage(raw)
		require.NoError(t, err)
		out = append(out, smMsg{m.Type, m.RunspacePoolID, m.PipelineID})
	}
}

func smMessagesOf(t *testing.T, envelopes ...string) []smMsg {
	t.Helper()
	var out []smMsg
	for _, e := range envelopes {
		for _, b := range smBlobs(t, e) {
			out = append(out, smMessagesIn(t, b)...)
		}
	}
	return out
}

func smDrainServer(t *testing.T, s *psrp.ServerPool) []smMsg {
	t.Helper()
	var out []smMsg
	for {
		pl, ok := s.DataToSend(150 * 1024)
		if !ok {
			return out
		}
		msgs := smMessagesIn(t, pl.Data)
		for _, m := range msgs {
			require.Equal(t, pl.PipelineID, m.PID, "payload routed to the wrong Receive")
		}
		out = append(out, msgs...)
	}
}

// smRequireSameBytes compares two blobs and reports the first difference
// with some context, which is more readable than a full dump.
func smRequireSameBytes(t *testing.T, want, got []byte, what string) {
	t.Helper()
	if string(want) == string(got) {
		return
	}
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	lo := max(0, i-40)
	t.Fatalf("%s: %d bytes, want %d; first difference at offset %d:\n want %q\n got  %q", what, len(got), len(want), i,
		want[lo:min(len(want), i+40)], got[lo:min(len(got), i+40)])
}

// TestServerAnswersCapturedPublicKey feeds the PUBLIC_KEY pypsrp sent to
// Windows (test_psrp_key_exchange_timeout.yml #3) to a ServerPool, which must
// answer with an ENCRYPTED_SESSION_KEY whose RPID is zero (MS-PSRP
// 3.2.5.4.4).
func TestServerAnswersCapturedPublicKey(t *testing.T) {
	t.Parallel()
	capf := smLoadCapture(t, "test_psrp_key_exchange_timeout.yml")
	s := psrp.NewServerPool(psrp.ServerPoolConfig{})
	require.NoError(t, s.Receive(smBlobs(t, capf.Messages[0].Request)[0], psrp.StreamDefault, uuid.Nil))
	smDrainServer(t, s)
	require.NoError(t, s.Receive(smBlobs(t, capf.Messages[3].Request)[0], psrp.StreamDefault, uuid.Nil))
	var kinds []string
	for {
		ev, ok := s.NextEvent()
		if !ok {
			break
		}
		kinds = append(kinds, fmt.Sprintf("%T", ev))
	}
	require.Equal(t, []string{"psrp.PoolOpened", "psrp.SessionKeyExchanged"}, kinds)
	pl, ok := s.DataToSend(150 * 1024)
	require.True(t, ok)
	var d psrp.Defragmenter
	require.NoError(t, d.Write(pl.Data))
	raw, ok := d.Next()
	require.True(t, ok)
	m, err := psrp.DecodeMessage(raw)
	require.NoError(t, err)
	require.Equal(t, psrp.MessageEncryptedSessionKey, m.Type)
	require.Equal(t, uuid.Nil, m.RunspacePoolID)
	body, err := psrp.DecodeBody(m.Type, m.Data, clixml.UnmarshalOptions{})
	require.NoError(t, err)
	require.Len(t, body.(*psrp.EncryptedSessionKey).Key, psrp.EncryptedSessionKeyBlobSize)
}

// TestClientReplaysGeneric replays every LE-GUID capture with pipelines:
// the client rebuilds each recorded CREATE_PIPELINE from its decoded form
// (the bytes must match what pypsrp sent, so ObjectIds run on across
// pipelines), takes the recorded answers, and must end each pipeline in the
// recorded state with one output event per recorded PIPELINE_OUTPUT.
func TestClientReplaysGeneric(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"test_psrp_no_profile.yml", "test_psrp_multiple_invocations.yml"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			capf := smLoadCapture(t, name)
			var c *psrp.ClientPool
			wantOutputs := map[uuid.UUID]int{}
			wantState := map[uuid.UUID]psrp.PSInvocationState{}
			for i, m := range capf.Messages {
				reqBlobs := smBlobs(t, m.Request)
				switch {
				case strings.Contains(m.Request, "<creationXml"):
					msgs := smDecodeAll(t, reqBlobs[0])
					c = psrp.NewClientPool(psrp.ClientPoolConfig{ID: msgs[0].RunspacePoolID})
					require.NoError(t, c.Open())
					pl, ok := c.DataToSend(512000)
					require.True(t, ok)
					smRequireSameBytes(t, reqBlobs[0], pl.Data, fmt.Sprintf("message %d creationXml", i))
				case strings.Contains(m.Request, "shell/Command<") && len(reqBlobs) == 1:
					msgs := smDecodeAll(t, reqBlobs[0])
					require.Len(t, msgs, 1)
					body, err := psrp.DecodeBody(msgs[0].Type, msgs[0].Data, clixml.UnmarshalOptions{})
					require.NoError(t, err)
					cpb := body.(*psrp.CreatePipeline)
					rso, apt, hi := cpb.RemoteStreamOptions, cpb.ApartmentState, cpb.HostInfo
					cp := c.Pipeline(msgs[0].PipelineID)
					if cp == nil { // pypsrp invokes the same pipeline again
						cp, err = c.NewPipeline(&cpb.PowerShell, psrp.PipelineOptions{
							ID: msgs[0].PipelineID, NoInput: cpb.NoInput, AddToHistory: cpb.AddToHistory,
							RemoteStreamOptions: &rso, ApartmentState: &apt, HostInfo: &hi, IsNested: cpb.IsNested,
						})
						require.NoError(t, err)
					}
					require.NoError(t, cp.Invoke())
					pl, ok := c.DataToSend(512000)
					require.True(t, ok)
					require.True(t, pl.Create)
					smRequireSameBytes(t, reqBlobs[0], pl.Data, fmt.Sprintf("message %d CREATE_PIPELINE", i))
				}
				for _, blob := range smBlobs(t, m.Response) {
					for _, msg := range smDecodeAll(t, blob) {
						switch msg.Type {
						case psrp.MessagePipelineOutput:
							wantOutputs[msg.PipelineID]++
						case psrp.MessagePipelineState:
							b, err := psrp.DecodeBody(msg.Type, msg.Data, clixml.UnmarshalOptions{})
							require.NoError(t, err)
							wantState[msg.PipelineID] = b.(*psrp.PipelineState).State
						}
					}
					require.NoError(t, c.Receive(blob), "message %d", i)
				}
			}
			require.NotNil(t, c)
			require.Equal(t, psrp.RunspacePoolOpened, c.State())
			gotOutputs := map[uuid.UUID]int{}
			for {
				ev, ok := c.NextEvent()
				if !ok {
					break
				}
				if o, ok := ev.(psrp.PipelineOutputEvent); ok {
					gotOutputs[o.PipelineID]++
				}
			}
			require.NotEmpty(t, wantState)
			require.Equal(t, wantOutputs, gotOutputs)
			for id, st := range wantState {
				require.Equal(t, st, c.Pipeline(id).State(), "pipeline %v", id)
			}
		})
	}
}

// smDecodeAll reassembles and decodes the messages of one blob.
func smDecodeAll(t *testing.T, blob []byte) []psrp.Message {
	t.Helper()
	var d psrp.Defragmenter
	require.NoError(t, d.Write(blob))
	var out []psrp.Message
	for {
		raw, ok := d.Next()
		if !ok {
			return out
		}
		m, err := psrp.DecodeMessage(raw)
		require.NoError(t, err)
		out = append(out, m)
	}
}
