package session_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopsrp/gopsrp/internal/captures"
	"github.com/gopsrp/gopsrp/internal/replay"
	"github.com/gopsrp/gopsrp/internal/replay/winrsreplay"
	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
	"github.com/gopsrp/gopsrp/session"
	"github.com/gopsrp/gopsrp/wsman"
)

// TestReplayWindowsCaptures replays every recorded pypsrp conversation with
// a real Windows host (test_psrp_*.yml and test_client_*.yml in
// $GOPSRP_CAPTURES_DIR, default ../shared/conformance/pypsrp-windows-captures
// beside the module) to our client through the session API. What to run
// comes from the recording itself (the recorded INIT_RUNSPACEPOOL,
// CREATE_PIPELINE and PIPELINE_INPUT); what the client must surface comes
// from the recorded server messages, decoded here as the oracle. How a
// scenario is driven (the generic runner, replayLifecycle, replayWSMan)
// and any reason not to run part of it are derived from the recording too,
// never from its name; TestReplaySkipReasonsMatchRecordings checks the
// reasons (see internal/replay/SCENARIOS.md).
func TestReplayWindowsCaptures(t *testing.T) {
	t.Parallel()
	dir, err := replay.CapturesDir()
	require.NoError(t, err)
	var files []string
	for _, pat := range []string{"test_psrp_*.yml", "test_client_*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		require.NoError(t, err)
		files = append(files, m...)
	}
	sort.Strings(files)
	require.NotEmpty(t, files, "no captures in %s (set %s)", dir, replay.EnvCapturesDir)
	var (
		mu   sync.Mutex
		full []string // the scenarios replayed in full
	)
	t.Cleanup(func() { // after every scenario's subtest
		sort.Strings(full)
		t.Logf("%d of %d recorded scenarios replayed in full: %s", len(full), len(files), strings.Join(full, ", "))
	})
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if !t.Failed() && !t.Skipped() {
					t.Logf("%s: replayed in full", name)
					mu.Lock()
					full = append(full, name)
					mu.Unlock()
				}
			}()
			conv, err := replay.Load(f)
			require.NoError(t, err)
			// The same conversation as an older WinRM would have had it
			// (the server gives each shell its own id), made before the
			// run rewrites the recording's call IDs.
			older, err := conv.WithServerShellIDs()
			require.NoError(t, err)
			sc := replayAnalyze(t, conv)
			switch sc.reason {
			case reasonUnknownCommand:
				// The session API cannot name a command it never
				// created; the wsman layer can, and must surface the
				// recorded fault typed.
				replayWSMan(t, conv)
				return
			case reasonLifecycle:
				replayLifecycle(t, conv)
				return
			}
			if sc.skip != "" {
				if len(sc.shells) > 0 {
					// What comes first still runs: the client must open
					// and close the recorded pool.
					replayOpenClose(t, conv, sc, sc.shells[0])
					t.Skipf("%s: pool open and close replayed; not replayed: %s", name, sc.skip)
				}
				t.Skipf("%s: %s", name, sc.skip)
			}
			replayRun(t, conv, sc)
			t.Run("server-assigned ShellIds", func(t *testing.T) {
				replayRun(t, older, sc)
			})
		})
	}
}

// replayScenario is what a recording asks of the client and what it must
// surface.
type replayScenario struct {
	// skip says why the scenario cannot run at all, reason what kind of
	// cause it is and evidence the recorded entry that shows it
	// (TestReplaySkipReasonsMatchRecordings checks them).
	skip     string
	reason   replayReason
	evidence int
	shells   []*replayShell
	// winrs holds the shell positions of WinRS cmd shells, which
	// winrsreplay drives.
	winrs map[int]bool
	// order is every shell's position (PowerShell and WinRS) in recorded
	// Create order, the order the runner drives them in, each to its end.
	order []int
	// exchangeKey is the recorded client's RSA key when the recording was
	// made with pypsrp's fixed key (the key-exchange vector), so that our
	// client can send the same PUBLIC_KEY and read the recorded answer.
	exchangeKey *rsa.PrivateKey
}

type replayShell struct {
	pos        int // the shell's position (its place in Create order)
	init       *psrp.InitRunspacePool
	noProfile  bool
	configName string
	poolStates []psrp.RunspacePoolState
	// openedAt is the index of the recorded Receive that reported the
	// pool Opened.
	openedAt  int
	pipelines []*replayPipeline
	// steps are the pipelines and pool requests in recorded order.
	steps []*replayStep
	// hostCalls are the recorded pipeline host calls that expect an
	// answer, and hostAnswers the answers the recorded client (pypsrp's
	// scripted host) sent, both in recorded order. The replay host is
	// scripted with these answers.
	hostCalls   []*psrp.PipelineHostCall
	hostCallAt  []int // the recorded Receive of each host call
	hostAnswers []*psrp.PipelineHostResponse
	// keyRequested: the server sent PUBLIC_KEY_REQUEST, so a PUBLIC_KEY
	// that follows is the client's automatic answer, not a step.
	keyRequested bool
	// publicKeys are the PUBLIC_KEY blobs the recorded client sent.
	publicKeys [][]byte
}

// replayStep is one thing the recorded client did on an open pool: run a
// pipeline, or a pool request (op) and the answer the server gave.
type replayStep struct {
	pipeline *replayPipeline

	// op is "SetMaxRunspaces", "SetMinRunspaces", "GetAvailableRunspaces",
	// "ResetRunspaceState", "Get" (the is-alive check) or "ExchangeKeys"
	// (a key exchange the client started before any SecureString, as
	// pypsrp's exchange_keys does).
	op        string
	callID    int64
	count     int
	answered  bool
	success   bool  // the RUNSPACE_AVAILABILITY answer of a set or reset
	available int64 // the answer of GetAvailableRunspaces
	// The answer of Get: the shell's state, or a fault, or a transport
	// failure.
	getState     string
	getFault     *replay.Fault
	getTransport bool
	// The key exchange: the PUBLIC_KEY blob sent and the
	// ENCRYPTED_SESSION_KEY blob answered (nil: never answered).
	publicKey, sessionKey []byte
	sentAt                int // the recorded entry that sent the request
}

// isRunspaceCall reports whether the step is a runspace request, answered
// by RUNSPACE_AVAILABILITY with its call ID.
func (st *replayStep) isRunspaceCall() bool {
	switch st.op {
	case "SetMaxRunspaces", "SetMinRunspaces", "GetAvailableRunspaces", "ResetRunspaceState":
		return true
	}
	return false
}

// replayStepFor returns the pool request step with callID.
func (sh *replayShell) replayStepFor(callID int64) *replayStep {
	for _, st := range sh.steps {
		if st.isRunspaceCall() && st.callID == callID {
			return st
		}
	}
	return nil
}

type replayPipeline struct {
	create    *psrp.CreatePipeline
	createdAt int // the recorded Command
	cmd       int // its command position (commands of every shell count)
	// leftRunning: a later nested pipeline runs in this one, which the
	// recording leaves running (no final state); stopAt is the recorded
	// ctrl_c Signal that stops it, 0 if none.
	leftRunning bool
	stopAt      int
	input       []any
	endInput    bool

	// hostWrites are the texts of the UI write host calls (void methods the
	// client services without answering); hostProgress counts WriteProgress.
	hostWrites   []string
	hostProgress int

	output      []any
	errors      []*clixml.ErrorRecord
	warnings    []session.Warning
	verbose     []session.Verbose
	debug       []session.Debug
	progress    []session.Progress
	information []session.Information
	final       *psrp.PipelineState
}

// replayReason is the kind of cause that keeps a scenario from running
// through the generic runner, each with evidence in the recording.
type replayReason int

const (
	reasonNone replayReason = iota
	// reasonLifecycle: the recording disconnects, reconnects, lists or
	// connects to pools (replayLifecycle drives it). Evidence: that request.
	reasonLifecycle
	// reasonUnknownCommand: a request names a command no Command created
	// (replayWSMan drives it). Evidence: that request.
	reasonUnknownCommand
	// reasonNested: a recorded CREATE_PIPELINE is nested but no pipeline
	// of its pool is left running for it to nest in, which the session API
	// refuses (ErrNoOuterPipeline). Evidence: its Command.
	reasonNested
	// reasonInterleaved: the recorded shells interleave: a Command of a
	// shell follows a Command of a shell created after it. The runner
	// drives each shell to its end in Create order, and the replay server
	// numbers commands in creation order, so it cannot reproduce that.
	// Evidence: the Command of the earlier shell.
	reasonInterleaved
	// reasonHostUnscripted: the recorded host answered a call the replay
	// host cannot be scripted for. Evidence: the Send of the answer.
	reasonHostUnscripted
	// reasonTransportReceive: a Receive fails at the transport. Evidence:
	// that Receive.
	reasonTransportReceive
	// reasonHostUnanswered: a host call expecting an answer got none.
	reasonHostUnanswered
	// reasonUnanswered: a runspace request was never answered.
	reasonUnanswered
	// reasonForeignKey: a key exchange was answered for an RSA key whose
	// private half is not in the vector. Evidence: the PUBLIC_KEY's Send.
	reasonForeignKey
)

// replaySkip records the first reason a scenario cannot run, of kind r,
// shown by the recorded entry evidence.
func (sc *replayScenario) replaySkip(r replayReason, evidence int, format string, args ...any) {
	if sc.skip == "" {
		sc.skip = fmt.Sprintf(format, args...)
		sc.reason, sc.evidence = r, evidence
	}
}

// replayMessages decodes the PSRP messages of blobs through asm.
func replayMessages(t *testing.T, e *replay.Entry, asm *replay.Assembler, blobs []replay.Blob) []replay.Message {
	t.Helper()
	var out []replay.Message
	for _, b := range blobs {
		if b.Data == nil {
			continue
		}
		m, err := asm.Add(b.Data)
		require.NoError(t, err, "entry %d (%s): %s", e.Index, e.Action(), b.Element)
		out = append(out, m...)
	}
	return out
}

// replayBody decodes a recorded message body with the psrp package; a body
// that does not decode fails the test.
func replayBody(t *testing.T, e *replay.Entry, m replay.Message) psrp.Body {
	t.Helper()
	data := m.Data
	data = []byte(strings.TrimPrefix(string(data), "\ufeff"))
	b, err := psrp.DecodeBody(psrp.MessageType(m.Type), data, clixml.UnmarshalOptions{})
	require.NoError(t, err, "entry %d (%s): message %#x", e.Index, e.Action(), m.Type)
	return b
}

// replayAnalyze derives the scenario from the recording.
func replayAnalyze(t *testing.T, conv *replay.Conversation) *replayScenario {
	t.Helper()
	sc := &replayScenario{winrs: map[int]bool{}}
	lastCmdShell := -1 // the latest shell (by Create order) a Command went to
	shells := map[int]*replayShell{}
	pipes := map[int]*replayPipeline{}
	clientAsm := map[int]*replay.Assembler{} // per shell: client ObjectIds count across the pool
	serverAsm := map[int]*replay.Assembler{}
	asm := func(m map[int]*replay.Assembler, shell int) *replay.Assembler {
		if m[shell] == nil {
			m[shell] = &replay.Assembler{}
		}
		return m[shell]
	}
	for _, e := range conv.Entries {
		switch e.Action() {
		case "Create":
			sc.order = append(sc.order, e.Shell)
			if !strings.HasPrefix(e.Req.ResourceURI, "http://schemas.microsoft.com/powershell/") {
				sc.winrs[e.Shell] = true
				continue
			}
			sh := &replayShell{pos: e.Shell, noProfile: strings.Contains(e.Request, `Name="WINRS_NOPROFILE"`)}
			if cfg := strings.TrimPrefix(e.Req.ResourceURI, "http://schemas.microsoft.com/powershell/"); cfg != "Microsoft.PowerShell" {
				sh.configName = cfg
			}
			for _, m := range replayMessages(t, e, asm(clientAsm, e.Shell), e.Req.Blobs) {
				if b, ok := replayBody(t, e, m).(*psrp.InitRunspacePool); ok {
					sh.init = b
				}
			}
			shells[e.Shell] = sh
			sc.shells = append(sc.shells, sh)
		case "Signal":
			if p := pipes[e.Command]; p != nil && strings.HasSuffix(e.Req.SignalCode, "/ctrl_c") && p.stopAt == 0 {
				p.stopAt = e.Index
			}
		case "Connect", "Disconnect", "Reconnect", "Enumerate":
			sc.replaySkip(reasonLifecycle, e.Index, "%s: the pool lifecycle is driven by replayLifecycle", e.Action())
		case "Get":
			sh := shells[e.Shell]
			if sh == nil {
				continue // the config resource, or a WinRS shell
			}
			st := &replayStep{op: "Get", getFault: e.Resp.Fault, getTransport: e.HTTPError || (e.TransportError != nil && e.Resp.Fault == nil)}
			if m := replayStateRE.FindStringSubmatch(e.Response); m != nil {
				st.getState = m[1]
			}
			sh.steps = append(sh.steps, st)
		case "Command":
			if e.Shell < lastCmdShell {
				sc.replaySkip(reasonInterleaved, e.Index, "the recorded shells interleave (a Command of shell %d follows one of shell %d, created later); the runner drives each shell to its end in Create order", e.Shell, lastCmdShell)
			}
			lastCmdShell = max(lastCmdShell, e.Shell)
			sh := shells[e.Shell]
			if sh == nil {
				continue // a WinRS command: winrsreplay drives it
			}
			p := &replayPipeline{createdAt: e.Index, cmd: e.Command}
			pipes[e.Command] = p
			sh.pipelines = append(sh.pipelines, p)
			sh.steps = append(sh.steps, &replayStep{pipeline: p})
			for _, m := range replayMessages(t, e, asm(clientAsm, e.Shell), e.Req.Blobs) {
				if b, ok := replayBody(t, e, m).(*psrp.CreatePipeline); ok {
					p.create = b
				}
			}
		case "Send":
			if shells[e.Shell] == nil {
				continue
			}
			for _, m := range replayMessages(t, e, asm(clientAsm, e.Shell), e.Req.Blobs) {
				body := replayBody(t, e, m)
				switch b := body.(type) {
				case *psrp.CreatePipeline:
					if p := pipes[e.Command]; p != nil {
						p.create = b
					}
				case *psrp.PipelineInput:
					if p := pipes[e.Command]; p != nil {
						p.input = append(p.input, b.Value)
					}
				case *psrp.EndOfPipelineInput:
					if p := pipes[e.Command]; p != nil {
						p.endInput = true
					}
				}
				switch b := body.(type) {
				case *psrp.PipelineHostResponse:
					if !replayScripted(b.Method) {
						sc.replaySkip(reasonHostUnscripted, e.Index, "the recorded host answered a pipeline host call (%v); the replay host is scripted for ReadKey and ReadLine only", b.Method)
					}
					shells[e.Shell].hostAnswers = append(shells[e.Shell].hostAnswers, b)
				case *psrp.RunspacePoolHostResponse:
					sc.replaySkip(reasonHostUnscripted, e.Index, "the recorded host answered a pool host call (%v); replaying needs a host scripted with pypsrp's answers", b.Method)
				}
				sh := shells[e.Shell]
				switch b := body.(type) {
				case *psrp.SetMaxRunspaces:
					sh.steps = append(sh.steps, &replayStep{op: "SetMaxRunspaces", sentAt: e.Index, callID: b.CallID, count: int(b.Count)})
				case *psrp.SetMinRunspaces:
					sh.steps = append(sh.steps, &replayStep{op: "SetMinRunspaces", sentAt: e.Index, callID: b.CallID, count: int(b.Count)})
				case *psrp.GetAvailableRunspaces:
					sh.steps = append(sh.steps, &replayStep{op: "GetAvailableRunspaces", sentAt: e.Index, callID: b.CallID})
				case *psrp.ResetRunspaceState:
					sh.steps = append(sh.steps, &replayStep{op: "ResetRunspaceState", sentAt: e.Index, callID: b.CallID})
				}
				if b, ok := body.(*psrp.PublicKey); ok {
					sh.publicKeys = append(sh.publicKeys, b.Key)
					if !sh.keyRequested {
						sh.steps = append(sh.steps, &replayStep{op: "ExchangeKeys", publicKey: b.Key, sentAt: e.Index})
					}
				}
			}
		case "Receive":
			sh := shells[e.Shell]
			if sh == nil {
				continue
			}
			if e.Command >= 0 && pipes[e.Command] == nil {
				sc.replaySkip(reasonUnknownCommand, e.Index, "the recording asks for the output of a command that was never created (receive failure); the session API cannot produce that request")
				continue
			}
			if e.HTTPError || e.AuthError {
				sc.replaySkip(reasonTransportReceive, e.Index, "a Receive fails at the transport; the expected client reaction is not defined")
			}
			for _, m := range replayMessages(t, e, asm(serverAsm, e.Shell), e.Resp.Blobs) {
				body := replayBody(t, e, m)
				if e.Command < 0 {
					switch b := body.(type) {
					case *psrp.PublicKeyRequest:
						sh.keyRequested = true
					case *psrp.EncryptedSessionKey:
						for _, st := range sh.steps {
							if st.op == "ExchangeKeys" && st.sessionKey == nil {
								st.sessionKey = b.Key
								break
							}
						}
					}
					if b, ok := body.(*psrp.RunspaceAvailability); ok {
						st := sh.replayStepFor(b.CallID)
						if st == nil {
							t.Fatalf("entry %d: RUNSPACE_AVAILABILITY for call %d, which the recorded client never made", e.Index, b.CallID)
						}
						st.answered, st.success, st.available = true, b.SetMinMaxResponse, b.Available
					}
					if b, ok := body.(*psrp.RunspacePoolStateMessage); ok {
						sh.poolStates = append(sh.poolStates, b.State)
						if b.State == psrp.RunspacePoolOpened && sh.openedAt == 0 {
							sh.openedAt = e.Index
						}
					}
					continue
				}
				p := pipes[e.Command]
				switch b := body.(type) {
				case *psrp.PipelineOutput:
					p.output = append(p.output, b.Value)
				case *psrp.ErrorRecord:
					p.errors = append(p.errors, &b.Record)
				case *psrp.WarningRecord:
					p.warnings = append(p.warnings, session.Warning{InformationalRecord: b.Record})
				case *psrp.VerboseRecord:
					p.verbose = append(p.verbose, session.Verbose{InformationalRecord: b.Record})
				case *psrp.DebugRecord:
					p.debug = append(p.debug, session.Debug{InformationalRecord: b.Record})
				case *psrp.ProgressRecord:
					p.progress = append(p.progress, session.Progress{ProgressRecord: b.Record})
				case *psrp.InformationRecord:
					p.information = append(p.information, session.Information{InformationRecord: b.Record})
				case *psrp.PipelineState:
					p.final = b
				case *psrp.PipelineHostCall:
					switch b.Method {
					case psrp.HostWrite1, psrp.HostWrite2, psrp.HostWriteLine1, psrp.HostWriteLine2, psrp.HostWriteLine3,
						psrp.HostWriteErrorLine, psrp.HostWriteDebugLine, psrp.HostWriteVerboseLine, psrp.HostWriteWarningLine:
						text := ""
						if n := len(b.Params); n > 0 {
							text, _ = b.Params[n-1].(string)
						}
						p.hostWrites = append(p.hostWrites, text)
					case psrp.HostWriteProgress:
						p.hostProgress++
					default:
						if !b.Method.IsVoid() {
							sh.hostCalls = append(sh.hostCalls, b)
							sh.hostCallAt = append(sh.hostCallAt, e.Index)
						}
					}
				}
			}
		}
	}
	for pos := range len(conv.Entries) { // positions are below the entry count
		p := pipes[pos]
		if p == nil {
			continue
		}
		if p.create == nil {
			t.Fatalf("a recorded Command carries no complete CREATE_PIPELINE")
		}
	}
	for _, sh := range sc.shells {
		for k, p := range sh.pipelines {
			if !replayNested(p) {
				continue
			}
			// The outer pipeline: the latest earlier one the recording
			// never saw end.
			var outer *replayPipeline
			for j := k - 1; j >= 0 && outer == nil; j-- {
				if sh.pipelines[j].final == nil && !replayNested(sh.pipelines[j]) {
					outer = sh.pipelines[j]
				}
			}
			if outer == nil {
				sc.replaySkip(reasonNested, p.createdAt, "the recording runs a nested pipeline (IsNested) while no other pipeline of its pool runs; the session API refuses that (ErrNoOuterPipeline)")
				continue
			}
			outer.leftRunning = true
		}
	}
	replayExchangeKey(t, sc)
	for _, sh := range sc.shells {
		if sh.init == nil {
			t.Fatalf("a recorded Create carries no INIT_RUNSPACEPOOL")
		}
		if len(sh.hostCalls) != len(sh.hostAnswers) {
			sc.replaySkip(reasonHostUnanswered, sh.hostCallAt[len(sh.hostAnswers)], "%d recorded pipeline host calls expect an answer, the recorded client sent %d", len(sh.hostCalls), len(sh.hostAnswers))
		}
		for _, st := range sh.steps {
			if st.isRunspaceCall() && !st.answered {
				sc.replaySkip(reasonUnanswered, st.sentAt, "the server never answered the recorded %s", st.op)
			}
		}
	}
	return sc
}

// replayNested reports whether the recorded pipeline is nested.
func replayNested(p *replayPipeline) bool {
	return p.create.IsNested || p.create.PowerShell.IsNested
}

// replayExchangeKey decides how the recorded key exchanges can be
// reproduced: when the recorded client sent the PUBLIC_KEY of pypsrp's
// fixed key (the key-exchange vector), our client is given that key, so
// its PUBLIC_KEY must be the recorded one byte for byte and the recorded
// ENCRYPTED_SESSION_KEY decrypts for it. A server-answered exchange made
// with any other key cannot be reproduced: nobody holds its private half.
func replayExchangeKey(t *testing.T, sc *replayScenario) {
	t.Helper()
	for _, sh := range sc.shells {
		for _, pk := range sh.publicKeys {
			kx, err := captures.LoadKeyExchange()
			require.NoError(t, err)
			if bytes.Equal(pk, kx.PublicKeyBlob) {
				sc.exchangeKey = kx.Key
				continue
			}
			for _, st := range sh.steps {
				if st.op == "ExchangeKeys" && st.sessionKey != nil && bytes.Equal(st.publicKey, pk) {
					sc.replaySkip(reasonForeignKey, st.sentAt, "the recorded client's RSA exchange key is not the one of %s, so the server's ENCRYPTED_SESSION_KEY cannot be decrypted", captures.KeyExchangeVectorFile)
				}
			}
		}
	}
}

var replayStateRE = regexp.MustCompile(`<rsp:State>([^<]*)</rsp:State>`)

func replaySeq(values []any) iter.Seq[any] {
	return func(yield func(any) bool) {
		for _, v := range values {
			if !yield(v) {
				return
			}
		}
	}
}

// replayOptions returns the session options that ask what the recorded
// client asked when it opened the pool.
func replayOptions(srv *replay.Server, sc *replayScenario, sh *replayShell, host session.Host) []session.Option {
	opts := []session.Option{
		session.WithHTTPClient(srv.Client()),
		session.WithAllowUnencrypted(),
		session.WithRunspaces(int(sh.init.MinRunspaces), int(sh.init.MaxRunspaces)),
		session.WithHost(host),
	}
	if sc.exchangeKey != nil {
		opts = append(opts, session.WithExchangeKey(sc.exchangeKey))
	}
	if sh.init.ApplicationArguments != nil {
		opts = append(opts, session.WithApplicationArguments(sh.init.ApplicationArguments))
	}
	if sh.noProfile {
		opts = append(opts, session.WithNoProfile())
	}
	if sh.configName != "" {
		opts = append(opts, session.WithConfigurationName(sh.configName))
	}
	return opts
}

// replayOpenClose opens and closes the first recorded pool of a scenario
// that cannot run in full.
func replayOpenClose(t *testing.T, conv *replay.Conversation, sc *replayScenario, sh *replayShell) {
	t.Helper()
	srv := replay.NewServer(t, conv)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := session.New(ctx, srv.URL, replayOptions(srv, sc, sh, &replayHost{})...)
	require.NoError(t, err, "open")
	assert.Equal(t, session.StateOpened, s.State())
	require.NoError(t, s.Close(ctx), "close")
	for _, e := range srv.Unserved() {
		if e.Shell == sh.pos && e.Command < 0 && e.Action() == "Receive" && e.Index <= sh.openedAt {
			t.Errorf("recorded pool Receive #%d during the open was never requested", e.Index)
		}
	}
}

// replayRun drives the scenario through the session API against the
// replay server and checks what the client surfaced.
func replayRun(t *testing.T, conv *replay.Conversation, sc *replayScenario) {
	replayRewriteCallIDs(t, conv, sc)
	srv := replay.NewServer(t, conv)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pools := map[int]*replayShell{} // shell position → PowerShell pool
	for _, sh := range sc.shells {
		pools[sh.pos] = sh
	}
	var wsc *wsman.Client
	if len(sc.winrs) > 0 {
		// pypsrp's Client runs native commands in WinRS cmd shells on the
		// same connection, before or after its pools: driven through the
		// winrs client over the session Client's WS-Man client.
		c, err := session.NewClient(srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
		require.NoError(t, err)
		defer c.Close()
		wsc = c.WSMan()
	}
	// Each shell is driven to its end in recorded Create order, the order
	// the replay server numbers shells and commands in.
	i := -1 // the pool's place among the pools
	for _, pos := range sc.order {
		if sc.winrs[pos] {
			winrsreplay.Replay(ctx, t, conv, srv, wsc, winrsreplay.Shell(pos))
			continue
		}
		sh := pools[pos]
		i++
		host := replayScriptedHost(t, sh)
		s, err := session.New(ctx, srv.URL, replayOptions(srv, sc, sh, host)...)
		if len(sh.poolStates) == 0 || sh.poolStates[len(sh.poolStates)-1] != psrp.RunspacePoolOpened {
			require.Error(t, err, "shell %d: the recorded pool never opened", i)
			continue
		}
		require.NoError(t, err, "shell %d", i)
		assert.Equal(t, session.StateOpened, s.State(), "shell %d", i)
		j := 0
		var running []*replayRunning // pipelines left running for nested ones
		for k, st := range sh.steps {
			if st.pipeline == nil {
				replayPoolStep(ctx, t, s, fmt.Sprintf("shell %d step %d (%s)", i, k, st.op), st)
				continue
			}
			p := st.pipeline
			what := fmt.Sprintf("shell %d pipeline %d", i, j)
			j++
			if p.leftRunning {
				running = append(running, replayStartOuter(ctx, t, s, what, p))
				continue
			}
			replayInvoke(ctx, t, s, what, p)
			writes, progress := host.take()
			replayEqual(t, what+": host UI writes", p.hostWrites, writes)
			assert.Equal(t, p.hostProgress, progress, "%s: host WriteProgress calls", what)
		}
		for _, r := range running {
			replayStopOuter(ctx, t, r)
		}
		require.NoError(t, s.Close(ctx), "shell %d: Close", i)
		assert.Equal(t, session.StateClosed, s.State(), "shell %d", i)
		for _, r := range running {
			// Never seen ending on the server: closing the session ends
			// it on the client, not as Completed.
			_, err := r.pl.Wait()
			assert.Error(t, err, "%s: the outer pipeline ended without a final state", r.what)
		}
		replayCheckHostCalls(t, i, sh, host)
	}

	replayCheckSent(t, srv, sc)
	for _, r := range srv.Received() {
		if r.Shell == -2 {
			t.Errorf("our client sent %s to a shell the server never answered with (ShellId %s)", r.Env.Action, r.Env.ShellID)
		}
	}

	// Every recorded exchange that carries something the client needs must
	// have been asked for; the rest is reported.
	stops := map[int]bool{} // the recorded ctrl_c of outer pipelines
	for _, sh := range sc.shells {
		for _, p := range sh.pipelines {
			if p.leftRunning && p.stopAt > 0 {
				stops[p.stopAt] = true
			}
		}
	}
	for _, e := range srv.Unserved() {
		switch {
		case stops[e.Index]:
			t.Errorf("recorded ctrl_c Signal #%d of a pipeline left running was never sent", e.Index)
		case sc.winrs[e.Shell]:
			t.Errorf("recorded WinRS %s #%d (shell %d, command %d) was never requested", e.Action(), e.Index, e.Shell, e.Command)
		case e.Action() == "Create", e.Action() == "Command", e.Action() == "Delete",
			e.Action() == "Receive" && len(e.Resp.Blobs) > 0:
			t.Errorf("recorded %s #%d (shell %d, command %d) was never requested", e.Action(), e.Index, e.Shell, e.Command)
		default:
			t.Logf("recorded %s #%d (shell %d, command %d) not requested (code %q)", e.Action(), e.Index, e.Shell, e.Command, e.Req.SignalCode)
		}
	}
	counts := map[string]int{}
	for _, u := range srv.Unmatched() {
		if sc.winrs[u.Shell] {
			t.Errorf("our client sent %s to a WinRS cmd shell, which the recording has no counterpart for", u)
			continue
		}
		counts[u.Action]++
	}
	for a, n := range counts {
		t.Logf("%d %s request(s) had no recorded counterpart and got a generic answer", n, a)
	}
	if t.Failed() {
		for _, l := range srv.Transcript() {
			t.Log(l)
		}
	}
}

// replayStreamRE finds the base64 payload of a recorded rsp:Stream.
var replayStreamRE = regexp.MustCompile(`(<rsp:Stream\b[^>]*>)([A-Za-z0-9+/=\s]+)(</rsp:Stream>)`)

// replayCallIDRE finds the call ID of a RUNSPACE_AVAILABILITY message.
var replayCallIDRE = regexp.MustCompile(`<I64 N="ci">(-?[0-9]+)</I64>`)

// replayRewriteCallIDs makes the recorded RUNSPACE_AVAILABILITY answers
// carry the call IDs our client will use. Windows echoes the client's call
// ID; the recorded client (pypsrp) counted from 0 while ours counts from 1,
// in the same order of requests. The replay server rewrites shell and
// command IDs but not call IDs, so the test does it here.
func replayRewriteCallIDs(t *testing.T, conv *replay.Conversation, sc *replayScenario) {
	t.Helper()
	ours := map[int]map[int64]int64{} // shell → recorded → ours
	for _, sh := range sc.shells {
		m := map[int64]int64{}
		ours[sh.pos] = m // by position: WinRS shells count too
		n := int64(0)
		for _, st := range sh.steps {
			if st.isRunspaceCall() {
				n++
				m[st.callID] = n
			}
		}
	}
	for _, e := range conv.Entries {
		m := ours[e.Shell]
		if e.Action() != "Receive" || e.Command >= 0 || len(m) == 0 {
			continue
		}
		e.Response = replayStreamRE.ReplaceAllStringFunc(e.Response, func(el string) string {
			sub := replayStreamRE.FindStringSubmatch(el)
			raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(sub[2]), ""))
			require.NoError(t, err, "entry %d", e.Index)
			return sub[1] + base64.StdEncoding.EncodeToString(replayRewriteFragments(t, raw, m)) + sub[3]
		})
	}
}

// replayRewriteFragments rewrites the call ID of every whole
// RUNSPACE_AVAILABILITY fragment in raw (fragment header: ObjectId 8,
// FragmentId 8, flags 1, length 4, big-endian; message header:
// destination 4, type 4, RPID 16, PID 16, little-endian).
func replayRewriteFragments(t *testing.T, raw []byte, ids map[int64]int64) []byte {
	t.Helper()
	const fragHdr, msgHdr = 21, 40
	var out []byte
	for len(raw) > 0 {
		require.GreaterOrEqual(t, len(raw), fragHdr, "truncated fragment header")
		n := int(binary.BigEndian.Uint32(raw[17:21]))
		require.GreaterOrEqual(t, len(raw)-fragHdr, n, "truncated fragment")
		hdr, data := raw[:fragHdr], raw[fragHdr:fragHdr+n]
		raw = raw[fragHdr+n:]
		whole := hdr[16]&3 == 3
		if whole && len(data) >= msgHdr && psrp.MessageType(binary.LittleEndian.Uint32(data[4:8])) == psrp.MessageRunspaceAvailability {
			body := replayCallIDRE.ReplaceAllFunc(data[msgHdr:], func(m []byte) []byte {
				rec, err := strconv.ParseInt(string(replayCallIDRE.FindSubmatch(m)[1]), 10, 64)
				require.NoError(t, err)
				cli, ok := ids[rec]
				if !ok {
					return m
				}
				return []byte(`<I64 N="ci">` + strconv.FormatInt(cli, 10) + `</I64>`)
			})
			data = append(append([]byte{}, data[:msgHdr]...), body...)
			hdr = append([]byte{}, hdr...)
			binary.BigEndian.PutUint32(hdr[17:21], uint32(len(data)))
		}
		out = append(append(out, hdr...), data...)
	}
	return out
}

// replayPoolStep makes the recorded pool request through the session API
// and checks that the client surfaces the recorded answer.
func replayPoolStep(ctx context.Context, t *testing.T, s *session.Session, what string, st *replayStep) {
	t.Helper()
	var refused *session.RequestRefusedError
	checkSet := func(err error) {
		if st.success {
			assert.NoError(t, err, what)
		} else if assert.ErrorAs(t, err, &refused, what) {
			assert.Equal(t, st.op, refused.Op, what)
		}
	}
	switch st.op {
	case "SetMaxRunspaces":
		before := s.MaxRunspaces()
		checkSet(s.SetMaxRunspaces(ctx, st.count))
		want := before
		if st.success {
			want = st.count
		}
		assert.Equal(t, want, s.MaxRunspaces(), "%s: the throttle", what)
	case "SetMinRunspaces":
		checkSet(s.SetMinRunspaces(ctx, st.count))
	case "ResetRunspaceState":
		checkSet(s.ResetRunspaceState(ctx))
	case "ExchangeKeys":
		if st.sessionKey != nil {
			assert.NoError(t, s.ExchangeKeys(ctx), what)
			return
		}
		// The server never answered: the call ends with its context,
		// typed, and the session stays usable.
		kctx, cancel := context.WithTimeout(ctx, replayKeyWait)
		defer cancel()
		err := s.ExchangeKeys(kctx)
		assert.ErrorIs(t, err, session.ErrKeyExchange, what)
		assert.ErrorIs(t, err, context.DeadlineExceeded, what)
		assert.Equal(t, session.StateOpened, s.State(), what)
	case "GetAvailableRunspaces":
		n, err := s.AvailableRunspaces(ctx)
		if assert.NoError(t, err, what) {
			assert.Equal(t, int(st.available), n, what)
		}
	case "Get":
		err := s.Alive(ctx)
		switch {
		case st.getTransport:
			assert.Error(t, err, what)
			assert.NotErrorIs(t, err, session.ErrBroken, "%s: a transport failure says nothing of the shell", what)
			assert.Equal(t, session.StateOpened, s.State(), what)
		case st.getFault != nil && st.getFault.Code == "w:InvalidSelectors":
			assert.ErrorIs(t, err, session.ErrBroken, what)
			assert.ErrorIs(t, err, wsman.ErrShellNotFound, what)
			assert.Equal(t, session.StateBroken, s.State(), what)
		case st.getFault != nil:
			var f *wsman.Fault
			if assert.ErrorAs(t, err, &f, what) {
				assert.Equal(t, st.getFault.Code, f.Subcode, what)
			}
			assert.Equal(t, session.StateOpened, s.State(), what)
		case strings.EqualFold(st.getState, "Disconnected"):
			assert.ErrorIs(t, err, session.ErrDisconnected, what)
			assert.Equal(t, session.StateDisconnected, s.State(), what)
		default:
			assert.NoError(t, err, what)
			assert.Equal(t, session.StateOpened, s.State(), what)
		}
	default:
		t.Fatalf("%s: unknown step", what)
	}
}

// replayKeyWait is how long the replay waits for a session key the
// recording shows the server never sent.
const replayKeyWait = 500 * time.Millisecond

// replayHost records the host calls the client services without answering
// (UI writes), answers ReadKey and ReadLine with the recorded client's
// answers in recorded order, and the rest as DefaultHost does.
type replayHost struct {
	session.DefaultHost
	mu       sync.Mutex
	writes   []string
	progress int
	// keys and lines are the scripted answers still to give; keyOptions
	// the options of the ReadKey calls received.
	keys       []session.KeyInfo
	lines      []string
	keyOptions []session.ReadKeyOptions
}

// errReplayUnscripted is what the replay host answers when the recording
// holds no further answer: the client asked more than pypsrp was asked.
var errReplayUnscripted = errors.New("replay: no recorded answer left for this host call")

func (h *replayHost) ReadKey(_ context.Context, o session.ReadKeyOptions) (session.KeyInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keyOptions = append(h.keyOptions, o)
	if len(h.keys) == 0 {
		return session.KeyInfo{}, errReplayUnscripted
	}
	k := h.keys[0]
	h.keys = h.keys[1:]
	return k, nil
}

func (h *replayHost) ReadLine(context.Context) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.lines) == 0 {
		return "", errReplayUnscripted
	}
	l := h.lines[0]
	h.lines = h.lines[1:]
	return l, nil
}

// replayScripted reports whether the replay host can be scripted with the
// recorded answers to method.
func replayScripted(m psrp.HostMethodID) bool {
	return m == psrp.HostReadKey || m == psrp.HostReadLine
}

// replayScriptedHost returns a replay host that answers the host calls of
// sh as the recorded client did.
func replayScriptedHost(t *testing.T, sh *replayShell) *replayHost {
	t.Helper()
	h := &replayHost{}
	for i, a := range sh.hostAnswers {
		require.Nil(t, a.Error, "recorded host answer %d is an error; the replay host scripts values only", i)
		switch a.Method {
		case psrp.HostReadKey:
			h.keys = append(h.keys, replayKeyInfo(t, a.Result))
		case psrp.HostReadLine:
			line, ok := a.Result.(string)
			require.True(t, ok, "recorded ReadLine answer %d is %T", i, a.Result)
			h.lines = append(h.lines, line)
		}
	}
	return h
}

// replayKeyInfo reads a recorded KeyInfo answer (an object whose members
// are the .NET field names of System.Management.Automation.Host.KeyInfo).
func replayKeyInfo(t *testing.T, v any) session.KeyInfo {
	t.Helper()
	o, ok := v.(*clixml.Object)
	require.True(t, ok, "recorded ReadKey answer is %T", v)
	member := func(name string) any {
		m, ok := o.Member(name)
		require.True(t, ok, "recorded KeyInfo has no %s", name)
		return m
	}
	vk, ok1 := member("virtualKeyCode").(int32)
	ch, ok2 := member("character").(clixml.Char)
	cks, ok3 := member("controlKeyState").(int32)
	down, ok4 := member("keyDown").(bool)
	require.True(t, ok1 && ok2 && ok3 && ok4, "recorded KeyInfo members mistyped: %#v", o.Members)
	return session.KeyInfo{VirtualKeyCode: vk, Character: rune(ch), ControlKeyState: session.ControlKeyStates(cks), KeyDown: down}
}

// replayCheckHostCalls checks that every scripted answer was asked for, and
// that each ReadKey reached the host with the options of the recorded call.
func replayCheckHostCalls(t *testing.T, shell int, sh *replayShell, h *replayHost) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	assert.Empty(t, h.keys, "shell %d: recorded ReadKey answers never asked for", shell)
	assert.Empty(t, h.lines, "shell %d: recorded ReadLine answers never asked for", shell)
	var want []session.ReadKeyOptions
	for _, c := range sh.hostCalls {
		if c.Method == psrp.HostReadKey {
			require.NotEmpty(t, c.Params, "shell %d: recorded ReadKey call without options", shell)
			n, ok := c.Params[0].(int32)
			require.True(t, ok, "shell %d: recorded ReadKey options are %T", shell, c.Params[0])
			want = append(want, session.ReadKeyOptions(n))
		}
	}
	replayEqual(t, fmt.Sprintf("shell %d: ReadKey options", shell), want, h.keyOptions)
}

func (h *replayHost) Write(_ context.Context, w session.HostWrite) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes = append(h.writes, w.Text)
	return nil
}

func (h *replayHost) WriteProgress(context.Context, int64, clixml.ProgressRecord) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.progress++
	return nil
}

// take returns and resets what was recorded.
func (h *replayHost) take() ([]string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w, p := h.writes, h.progress
	h.writes, h.progress = nil, 0
	return w, p
}

// replayCheckSent checks that what our client sent asks the same of the
// server as the recording: the pool's runspace counts and application
// arguments, each pipeline's commands and arguments, and its input.
func replayCheckSent(t *testing.T, srv *replay.Server, sc *replayScenario) {
	t.Helper()
	var wantPipes []*replayPipeline
	for _, sh := range sc.shells {
		wantPipes = append(wantPipes, sh.pipelines...)
	}
	asms := map[int]*replay.Assembler{}
	inits := map[int]*psrp.InitRunspacePool{}
	creates := map[int]*psrp.CreatePipeline{}
	inputs := map[int][]any{}
	var answers []*psrp.PipelineHostResponse
	publicKeys := map[int][][]byte{}
	for _, r := range srv.Received() {
		if r.Shell < 0 {
			continue
		}
		if asms[r.Shell] == nil {
			asms[r.Shell] = &replay.Assembler{}
		}
		e := &replay.Entry{Index: -1, Req: r.Env}
		for _, m := range replayMessages(t, e, asms[r.Shell], r.Env.Blobs) {
			switch b := replayBody(t, e, m).(type) {
			case *psrp.InitRunspacePool:
				inits[r.Shell] = b
			case *psrp.CreatePipeline:
				creates[r.Command] = b
			case *psrp.PipelineInput:
				inputs[r.Command] = append(inputs[r.Command], b.Value)
			case *psrp.PipelineHostResponse:
				answers = append(answers, b)
			case *psrp.PublicKey:
				publicKeys[r.Shell] = append(publicKeys[r.Shell], b.Key)
			}
		}
	}
	// Our client's answers to the host calls must say what pypsrp's did:
	// same call IDs, methods and values, decoded from the CLIXML each sent.
	var wantAnswers []*psrp.PipelineHostResponse
	for _, sh := range sc.shells {
		wantAnswers = append(wantAnswers, sh.hostAnswers...)
	}
	replayEqual(t, "pipeline host responses", wantAnswers, answers)
	for i, sh := range sc.shells {
		if sc.exchangeKey != nil {
			// Same key: the same PUBLIC_KEY, byte for byte.
			replayEqual(t, fmt.Sprintf("shell %d: PUBLIC_KEY blobs", i), sh.publicKeys, publicKeys[sh.pos])
		} else {
			assert.Len(t, publicKeys[sh.pos], len(sh.publicKeys), "shell %d: PUBLIC_KEY messages", i)
		}
	}
	for i, sh := range sc.shells {
		got := inits[sh.pos] // positions count the WinRS shells too
		if !assert.NotNil(t, got, "shell %d: our client sent no INIT_RUNSPACEPOOL", i) {
			continue
		}
		assert.Equal(t, sh.init.MinRunspaces, got.MinRunspaces, "shell %d: MinRunspaces", i)
		assert.Equal(t, sh.init.MaxRunspaces, got.MaxRunspaces, "shell %d: MaxRunspaces", i)
		replayEqualMap(t, fmt.Sprintf("shell %d: ApplicationArguments", i), sh.init.ApplicationArguments, got.ApplicationArguments)
	}
	for i, p := range wantPipes {
		got := creates[p.cmd]
		if !assert.NotNil(t, got, "pipeline %d: our client sent no complete CREATE_PIPELINE", i) {
			continue
		}
		assert.Equal(t, p.create.PowerShell.Statements, got.PowerShell.Statements, "pipeline %d: commands", i)
		assert.Equal(t, p.create.AddToHistory, got.AddToHistory, "pipeline %d: AddToHistory", i)
		assert.Equal(t, p.create.NoInput, got.NoInput, "pipeline %d: NoInput", i)
		assert.Equal(t, p.create.IsNested, got.IsNested, "pipeline %d: IsNested", i)
		assert.Equal(t, p.create.PowerShell.IsNested, got.PowerShell.IsNested, "pipeline %d: PowerShell.IsNested", i)
		replayEqual(t, fmt.Sprintf("pipeline %d: input", i), p.input, inputs[p.cmd])
	}
}

func replayEqualMap(t *testing.T, what string, want, got map[string]any) {
	t.Helper()
	if len(want) == 0 && len(got) == 0 {
		return
	}
	assert.Equal(t, want, got, what)
}

func replayInvoke(ctx context.Context, t *testing.T, s *session.Session, what string, p *replayPipeline) {
	t.Helper()
	opts := replayStartOptions(p)
	res, err := s.Invoke(ctx, replayPowerShell(p), opts...)
	t.Logf("%s: %d outputs, %d errors, %d warnings, %d verbose, %d debug, %d progress, %d information, %d host writes %q, %d host progress; err %v",
		what, len(p.output), len(p.errors), len(p.warnings), len(p.verbose), len(p.debug), len(p.progress), len(p.information),
		len(p.hostWrites), p.hostWrites, p.hostProgress, err)
	require.NotNil(t, p.final, "%s: the recording has no final PIPELINE_STATE", what)
	switch p.final.State {
	case psrp.PipelineCompleted:
		require.NoError(t, err, what)
	case psrp.PipelineFailed, psrp.PipelineStopped:
		var pe *session.PipelineError
		require.ErrorAs(t, err, &pe, what)
		assert.Equal(t, p.final.State, pe.State, "%s: state", what)
		if p.final.Error != nil {
			require.NotNil(t, pe.Record, "%s: the terminating ErrorRecord", what)
			assert.Equal(t, p.final.Error.Exception.Message, pe.Record.Exception.Message, "%s: exception message", what)
			assert.Equal(t, p.final.Error.FullyQualifiedErrorID, pe.Record.FullyQualifiedErrorID, "%s: FullyQualifiedErrorId", what)
			assert.Equal(t, p.final.Error.CategoryInfo, pe.Record.CategoryInfo, "%s: CategoryInfo", what)
		}
	default:
		t.Fatalf("%s: recorded final state %v not handled", what, p.final.State)
	}
	require.NotNil(t, res, what)
	assert.Equal(t, p.final.State, res.State, "%s: Result.State", what)
	replayEqual(t, what+": output", p.output, res.Output)
	replayEqual(t, what+": errors", p.errors, res.Errors)
	replayEqual(t, what+": warnings", p.warnings, res.Warnings)
	replayEqual(t, what+": verbose", p.verbose, res.Verbose)
	replayEqual(t, what+": debug", p.debug, res.Debug)
	replayEqual(t, what+": progress", p.progress, res.Progress)
	replayEqual(t, what+": information", p.information, res.Information)
}

// replayStartOptions are the start options of a recorded pipeline.
func replayStartOptions(p *replayPipeline) []session.StartOption {
	var opts []session.StartOption
	if p.create.AddToHistory {
		opts = append(opts, session.WithAddToHistory())
	}
	if len(p.input) > 0 || p.endInput {
		opts = append(opts, session.WithInput(replaySeq(p.input)))
	}
	if replayNested(p) {
		opts = append(opts, session.WithNested())
	}
	return opts
}

// replayPowerShell is the recorded pipeline's commands, without its
// nesting flag: the replay asks for nesting only through WithNested, so
// that what the client sends shows what WithNested does.
func replayPowerShell(p *replayPipeline) *psrp.PowerShell {
	ps := p.create.PowerShell
	ps.IsNested = false
	return &ps
}

// replayRunning is a pipeline the recording leaves running while nested
// pipelines run in it.
type replayRunning struct {
	what string
	p    *replayPipeline
	pl   *session.Pipeline
}

// replayStartOuter starts a pipeline the recording leaves running.
func replayStartOuter(ctx context.Context, t *testing.T, s *session.Session, what string, p *replayPipeline) *replayRunning {
	t.Helper()
	pl, err := s.Start(ctx, replayPowerShell(p), replayStartOptions(p)...)
	require.NoError(t, err, "%s: start the outer pipeline", what)
	return &replayRunning{what: what, p: p, pl: pl}
}

// replayStopOuter stops a pipeline left running as the recorded client
// did (a ctrl_c Signal), if it did. The recording has no answer to wait
// for, so the stop is given a short deadline.
func replayStopOuter(ctx context.Context, t *testing.T, r *replayRunning) {
	t.Helper()
	assert.Equal(t, psrp.PipelineRunning, r.pl.State(), "%s: the outer pipeline still runs after its nested ones", r.what)
	if r.p.stopAt == 0 {
		return
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	err := r.pl.Stop(short)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "%s: Stop: the recording never confirms the stop", r.what)
}

// replayEqual compares two streams, treating nil and empty alike.
func replayEqual[T any](t *testing.T, what string, want, got []T) {
	t.Helper()
	if len(want) == 0 && len(got) == 0 {
		return
	}
	assert.Equal(t, want, got, what)
}

// TestReplayUnknownFileFails: a capture that does not parse is an error, not
// a silently skipped scenario.
func TestReplayUnknownFileFails(t *testing.T) {
	t.Parallel()
	_, err := replay.Parse("broken", []byte("messages:\n- request: <a><b></a>\n"))
	if !errors.Is(err, replay.ErrCapture) {
		t.Fatalf("err = %v, want replay.ErrCapture", err)
	}
}

// replayLoad loads one capture of the captures directory.
func replayLoad(t *testing.T, name string) *replay.Conversation {
	t.Helper()
	dir, err := replay.CapturesDir()
	require.NoError(t, err)
	c, err := replay.Load(filepath.Join(dir, name))
	require.NoError(t, err)
	return c
}

// TestReplayRecordedFaults injects faults Windows really sent (taken from
// other recordings) into a recorded conversation, and checks that the
// client surfaces them as typed errors and still closes cleanly.
func TestReplayRecordedFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		base        string
		index       int // entry of base whose answer is replaced
		donor       string
		donorIndex  int
		failsOpen   bool
		wantIs      error  // errors.Is target, if any
		wantWSMan   uint32 // WSManFault code, if a fault
		wantSubcode string
	}{
		{
			name: "pipeline receive: command not found", base: "test_psrp_no_profile.yml", index: 4,
			donor: "test_psrp_receive_failure.yml", donorIndex: 3,
			wantIs: wsman.ErrShellNotFound, wantWSMan: wsman.CodeUnexpectedSelectors, wantSubcode: "w:InvalidSelectors",
		},
		{
			name: "create: invalid header", base: "test_psrp_no_profile.yml", index: 0,
			donor: "test_psrp_is_alive_other_wsman_error.yml", donorIndex: 3, failsOpen: true,
			wantWSMan: wsman.CodeInvalidMessageHeader, wantSubcode: "a:InvalidMessageInformationHeader",
		},
		{
			name: "pool receive: connection dropped", base: "test_psrp_no_profile.yml", index: 1,
			donor: "test_psrp_is_alive_http_error.yml", donorIndex: 4, failsOpen: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := replayLoad(t, tt.base)
			donor := replayLoad(t, tt.donor).Entries[tt.donorIndex]
			conv, err := base.Splice(tt.index, donor)
			require.NoError(t, err)
			srv := replay.NewServer(t, conv)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted(), session.WithNoProfile())
			if !tt.failsOpen {
				require.NoError(t, err)
				sc := replayAnalyze(t, base)
				_, err = s.Invoke(ctx, &sc.shells[0].pipelines[0].create.PowerShell)
				defer func() { assert.NoError(t, s.Close(ctx)) }()
			}
			require.Error(t, err)
			t.Logf("error: %v", err)
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
			if tt.failsOpen && tt.index > 0 {
				// The shell was created before the failure: the client
				// must not leave it behind on the server.
				for _, e := range srv.Unserved() {
					assert.NotEqual(t, "Delete", e.Action(), "the shell created before the failure was not deleted")
				}
			}
			if tt.wantWSMan != 0 {
				var f *wsman.Fault
				if assert.ErrorAs(t, err, &f) {
					assert.Equal(t, tt.wantWSMan, f.WSManCode)
					assert.Equal(t, tt.wantSubcode, f.Subcode)
					assert.Equal(t, 500, f.HTTPStatus)
				}
			}
		})
	}
}

// BenchmarkReplayOpenInvokeClose measures a whole recorded conversation
// (open the pool, run one pipeline, close) against the replay server on
// loopback: the client's per-session cost on real Windows answers.
func BenchmarkReplayOpenInvokeClose(b *testing.B) {
	dir, err := replay.CapturesDir()
	require.NoError(b, err)
	conv, err := replay.Load(filepath.Join(dir, "test_psrp_no_profile.yml"))
	require.NoError(b, err)
	ps := psrp.Script("$env:USERPROFILE.ToUpperInvariant()")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		srv := replay.NewServer(nil, conv)
		s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted(), session.WithNoProfile())
		if err != nil {
			b.Fatal(err)
		}
		res, err := s.Invoke(ctx, ps)
		if err != nil || len(res.Output) != 1 {
			b.Fatalf("Invoke: %v, %d outputs", err, len(res.Output))
		}
		if err := s.Close(ctx); err != nil {
			b.Fatal(err)
		}
		srv.Close()
	}
}

// TestReplayKeyExchangeTimeout replays test_psrp_key_exchange_timeout, where
// Windows never answered the client's PUBLIC_KEY: a pipeline with a
// SecureString argument waits for the session key, so it must end with its
// context's error, must never reach the server, and the session must still
// close.
func TestReplayKeyExchangeTimeout(t *testing.T) {
	t.Parallel()
	conv := replayLoad(t, "test_psrp_key_exchange_timeout.yml")
	srv := replay.NewServer(t, conv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := session.New(ctx, srv.URL, session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted())
	require.NoError(t, err)
	ictx, icancel := context.WithTimeout(ctx, 2*time.Second)
	defer icancel()
	ps := psrp.Script("param($p) $p.Length").Param("p", clixml.NewSecureString("secret"))
	_, err = s.Invoke(ictx, ps)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, s.Close(ctx))

	var sentKey, sentCommand bool
	for _, r := range srv.Received() {
		switch {
		case r.Env.Action == "Command":
			sentCommand = true
		case r.Env.Action == "Send" && r.Command < 0:
			var a replay.Assembler
			for _, b := range r.Env.Blobs {
				msgs, err := a.Add(b.Data)
				require.NoError(t, err)
				for _, m := range msgs {
					if m.Type == replay.MsgPublicKey {
						sentKey = true
						if assert.NotNil(t, r.Entry, "PUBLIC_KEY got no recorded answer") {
							assert.Equal(t, 3, r.Entry.Index, "PUBLIC_KEY matched to recorded entry")
						}
					}
				}
			}
		}
	}
	assert.True(t, sentKey, "the client never sent its PUBLIC_KEY")
	assert.False(t, sentCommand, "the pipeline reached the server without a session key")
	for _, e := range srv.Unserved() {
		assert.NotEqual(t, "Delete", e.Action(), "the session was not deleted")
	}
}

// TestReplayDisconnectRunspaces replays test_psrp_disconnect_runspaces: a
// pool is disconnected, reconnected and disconnected again, a second pool
// is disconnected, then a new client lists both (Enumerate of the shells
// and of each one's commands) and connects to each from scratch (WS-Man
// Connect with connectXml), and closes them.
func TestReplayDisconnectRunspaces(t *testing.T) {
	t.Parallel()
	conv := replayLoad(t, "test_psrp_disconnect_runspaces.yml")
	srv := replay.NewServer(t, conv)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := []session.Option{session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted()}

	s1, err := session.New(ctx, srv.URL, opts...)
	require.NoError(t, err, "open pool 1")
	defer s1.Close(ctx)
	require.NoError(t, s1.Disconnect(ctx), "disconnect pool 1")
	assert.Equal(t, session.StateDisconnected, s1.State())
	require.NoError(t, s1.Reconnect(ctx), "reconnect pool 1")
	assert.Equal(t, session.StateOpened, s1.State())
	require.NoError(t, s1.Disconnect(ctx), "disconnect pool 1 again")

	s2, err := session.New(ctx, srv.URL, opts...)
	require.NoError(t, err, "open pool 2")
	defer s2.Close(ctx)
	require.NoError(t, s2.Disconnect(ctx), "disconnect pool 2")

	// A new client: what is there, and attach to each.
	client, sopts := clientFor(t, srv.URL, opts...)
	infos, err := client.List(ctx)
	require.NoError(t, err, "list")
	require.Len(t, infos, 2)
	for i, want := range []*session.Session{s1, s2} {
		in := infos[i]
		assert.Equal(t, want.ID(), in.ID, "session %d", i)
		assert.Equal(t, session.StateDisconnected, in.State, "session %d", i)
		assert.Equal(t, session.DefaultConfigurationName, in.ConfigurationName, "session %d", i)
		assert.Equal(t, `WIN-NNMU24VVKJ0\vagrant`, in.Owner, "session %d", i)
		assert.Equal(t, 2*time.Hour, in.IdleTimeout, "session %d", i)
		assert.Empty(t, in.Commands, "session %d", i)
	}
	for i, old := range []*session.Session{s1, s2} {
		c, err := client.Connect(ctx, old.ID(), sopts...)
		require.NoError(t, err, "connect to pool %d", i+1)
		assert.Equal(t, session.StateOpened, c.State(), "pool %d", i+1)
		assert.Equal(t, old.ID(), c.ID(), "pool %d", i+1)
		assert.Equal(t, 1, c.MaxRunspaces(), "pool %d: MaxRunspaces from RUNSPACEPOOL_INIT_DATA", i+1)
		require.NoError(t, c.Close(ctx), "close pool %d", i+1)
	}
	for _, e := range srv.Unserved() {
		switch e.Action() {
		case "Disconnect", "Reconnect", "Enumerate", "Connect", "Create", "Delete":
			t.Errorf("recorded %s #%d (shell %d) was never requested", e.Action(), e.Index, e.Shell)
		}
	}
	if t.Failed() {
		for _, l := range srv.Transcript() {
			t.Log(l)
		}
	}
}

// replayWSMan replays, at the wsman layer, a recording the session API
// cannot produce (a Receive for a command that was never created): each
// recorded Create, Receive and Delete is sent with our IDs, a command the
// recording never created gets a fresh CommandId, and every recorded
// fault must come back as a typed *wsman.Fault with the recorded subcode
// and code.
func replayWSMan(t *testing.T, conv *replay.Conversation) {
	t.Helper()
	srv := replay.NewServer(t, conv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wsc := &wsman.Client{URL: srv.URL, HTTPClient: srv.Client()}
	shells := map[int]wsman.ShellRef{}
	commands := map[int]string{}
	created := map[int]bool{}
	faults := 0
	for _, e := range conv.Entries {
		var err error
		switch e.Action() {
		case "Create":
			var creation []byte
			for _, b := range e.Req.Blobs {
				if b.Element == "creationXml" {
					creation = b.Data
				}
			}
			var sh *wsman.Shell
			sh, err = wsc.Create(ctx, wsman.ShellOptions{ResourceURI: e.Req.ResourceURI, ShellID: strings.ToUpper(uuid.NewString()), CreationXML: creation})
			if err == nil {
				shells[e.Shell] = wsman.ShellRef{ID: sh.ID, ResourceURI: e.Req.ResourceURI}
			}
		case "Command":
			created[e.Command] = true
			t.Fatalf("entry %d: replayWSMan drives Create, Receive and Delete only", e.Index)
		case "Receive":
			cmd := ""
			if e.Command >= 0 {
				if commands[e.Command] == "" {
					commands[e.Command] = strings.ToUpper(uuid.NewString())
				}
				cmd = commands[e.Command]
			}
			_, err = wsc.Receive(ctx, shells[e.Shell], cmd, wsman.ReceiveOptions{})
		case "Delete":
			err = wsc.Delete(ctx, shells[e.Shell])
		default:
			t.Fatalf("entry %d: replayWSMan drives Create, Receive and Delete only, not %s", e.Index, e.Action())
		}
		if e.Resp.Fault == nil {
			require.NoError(t, err, "entry %d (%s)", e.Index, e.Action())
			continue
		}
		faults++
		var f *wsman.Fault
		require.ErrorAs(t, err, &f, "entry %d (%s): the recorded fault, typed", e.Index, e.Action())
		assert.Equal(t, e.Resp.Fault.Code, f.Subcode, "entry %d: subcode", e.Index)
		assert.Equal(t, e.Resp.Fault.WSManCode, strconv.FormatUint(uint64(f.WSManCode), 10), "entry %d: WSManFault code", e.Index)
		if e.Resp.Fault.Code == "w:InvalidSelectors" {
			assert.ErrorIs(t, err, wsman.ErrShellNotFound, "entry %d", e.Index)
		}
		t.Logf("entry %d (%s): %v", e.Index, e.Action(), err)
	}
	require.NotZero(t, faults, "the recording holds no fault to check")
	assert.Empty(t, srv.Unserved(), "recorded exchanges never requested")
	assert.Empty(t, srv.Unmatched(), "requests without a recorded counterpart")
}

// replayLifecycle drives a recording that disconnects, reconnects, lists
// and connects to pools, in recorded order: Create opens a session,
// Disconnect and Reconnect act on it, a run of Enumerates is one List
// (checked against the recorded shells: count, owner, state), Connect
// attaches a new session to the shell, Delete closes whichever session
// holds it. The Receives and Sends in between are the sessions' own.
func replayLifecycle(t *testing.T, conv *replay.Conversation) {
	t.Helper()
	srv := replay.NewServer(t, conv)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := []session.Option{session.WithHTTPClient(srv.Client()), session.WithAllowUnencrypted()}
	holder := map[int]*session.Session{}
	ids := map[int]string{}
	var all []*session.Session // closed at the end: a session replaced by Connect still runs
	defer func() {
		for _, s := range all {
			_ = s.Close(ctx)
		}
	}()
	for i, e := range conv.Entries {
		what := fmt.Sprintf("entry %d (%s, shell %d)", e.Index, e.Action(), e.Shell)
		switch e.Action() {
		case "Create":
			s, err := session.New(ctx, srv.URL, opts...)
			require.NoError(t, err, what)
			holder[e.Shell], ids[e.Shell] = s, s.ID().String()
			all = append(all, s)
		case "Disconnect":
			require.NoError(t, holder[e.Shell].Disconnect(ctx), what)
			assert.Equal(t, session.StateDisconnected, holder[e.Shell].State(), what)
		case "Reconnect":
			if e.Command >= 0 {
				continue // a command's reconnect is part of the session's
			}
			require.NoError(t, holder[e.Shell].Reconnect(ctx), what)
			assert.Equal(t, session.StateOpened, holder[e.Shell].State(), what)
		case "Enumerate":
			if i > 0 && conv.Entries[i-1].Action() == "Enumerate" {
				continue // one List enumerates the shells, then their commands
			}
			client, _ := clientFor(t, srv.URL, opts...)
			infos, err := client.List(ctx)
			require.NoError(t, err, what)
			owners := replayOwnerRE.FindAllStringSubmatch(e.Response, -1)
			states := replayStateRE.FindAllStringSubmatch(e.Response, -1)
			require.Len(t, infos, len(owners), "%s: listed sessions", what)
			for j, in := range infos {
				assert.Equal(t, owners[j][1], in.Owner, "%s: session %d owner", what, j)
				if j < len(states) && strings.EqualFold(states[j][1], "Disconnected") {
					assert.Equal(t, session.StateDisconnected, in.State, "%s: session %d", what, j)
				}
			}
		case "Connect":
			if e.Command >= 0 {
				continue
			}
			id := ids[e.Shell]
			require.NotEmpty(t, id, "%s: a shell this replay never created", what)
			client, sopts := clientFor(t, srv.URL, opts...)
			c, err := client.Connect(ctx, uuid.MustParse(id), sopts...)
			require.NoError(t, err, what)
			assert.Equal(t, session.StateOpened, c.State(), what)
			holder[e.Shell] = c
			all = append(all, c)
		case "Delete":
			s := holder[e.Shell]
			require.NotNil(t, s, what)
			require.NoError(t, s.Close(ctx), what)
			delete(holder, e.Shell)
		}
	}
	for _, e := range srv.Unserved() {
		switch e.Action() {
		case "Disconnect", "Reconnect", "Enumerate", "Connect", "Create", "Delete":
			t.Errorf("recorded %s #%d (shell %d) was never requested", e.Action(), e.Index, e.Shell)
		}
	}
	if t.Failed() {
		for _, l := range srv.Transcript() {
			t.Log(l)
		}
	}
}

var replayOwnerRE = regexp.MustCompile(`<rsp:Owner>([^<]*)</rsp:Owner>`)

// TestReplaySkipReasonsMatchRecordings: every reason the generic runner
// gives for not running a scenario (or part of one) must be shown by the
// recording itself, checked here from the raw SOAP independently of
// replayAnalyze, so that no reason decided by a loose pattern can hide a
// scenario. The checker is also shown to refuse reasons a recording does
// not bear out.
func TestReplaySkipReasonsMatchRecordings(t *testing.T) {
	t.Parallel()
	dir, err := replay.CapturesDir()
	require.NoError(t, err)
	var files []string
	for _, pat := range []string{"test_psrp_*.yml", "test_client_*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.NotEmpty(t, files)
	for _, f := range files {
		conv, err := replay.Load(f)
		require.NoError(t, err)
		sc := replayAnalyze(t, conv)
		if sc.reason != reasonNone {
			assert.NoError(t, replayCheckReason(conv, sc.reason, sc.evidence), "%s: %q", conv.Name, sc.skip)
		}
	}

	// Reasons a recording does not bear out are refused.
	plain := replayLoad(t, "test_psrp_no_profile.yml")
	for r := reasonLifecycle; r <= reasonForeignKey; r++ {
		for i := range plain.Entries {
			assert.Error(t, replayCheckReason(plain, r, i), "reason %d at entry %d of a plain conversation", r, i)
		}
	}
}

var (
	replayCmdAttrRE = regexp.MustCompile(`CommandId="([^"]+)"`)
	replayCmdElemRE = regexp.MustCompile(`<rsp:CommandId>([^<]+)</rsp:CommandId>`)
	replayNestedRE  = regexp.MustCompile(`<B N="IsNested">true</B>`)
	replayPubKeyRE  = regexp.MustCompile(`<S N="PublicKey">([^<]+)</S>`)
)

// replayCheckReason says whether entry evidence of conv shows reason r.
func replayCheckReason(conv *replay.Conversation, r replayReason, evidence int) error {
	if evidence < 0 || evidence >= len(conv.Entries) {
		return fmt.Errorf("reason %d: no evidence entry (%d)", r, evidence)
	}
	e := conv.Entries[evidence]
	req, err := captures.ParseEnvelope(e.Request)
	if err != nil {
		return err
	}
	// The payload text of the request's blobs, fragment headers and all.
	var payload strings.Builder
	for _, b := range req.Blobs {
		if d, err := b.Decode(); err == nil {
			payload.Write(d)
		}
	}
	switch r {
	case reasonLifecycle:
		switch req.Action {
		case "Disconnect", "Reconnect", "Connect", "Enumerate":
			return nil
		}
	case reasonUnknownCommand:
		m := replayCmdAttrRE.FindStringSubmatch(e.Request)
		if req.Action == "Command" || m == nil {
			break
		}
		for _, o := range conv.Entries[:evidence] {
			if !strings.Contains(o.Request, "/Command</") && !strings.Contains(o.Request, "/Command<") {
				continue
			}
			for _, id := range append(replayCmdAttrRE.FindAllStringSubmatch(o.Request, -1), replayCmdElemRE.FindAllStringSubmatch(o.Response, -1)...) {
				if strings.EqualFold(id[1], m[1]) {
					return fmt.Errorf("entry %d: command %s was created by entry %d", evidence, m[1], o.Index)
				}
			}
		}
		return nil
	case reasonNested:
		if req.Action == "Command" && replayNestedRE.MatchString(payload.String()) {
			return nil
		}
	case reasonInterleaved:
		if req.Action != "Command" || req.ShellID == "" {
			break
		}
		// A shell is created where its ShellId first appears: in the
		// Create request (PowerShell) or its response (WinRS).
		created := map[string]int{}
		for _, o := range conv.Entries {
			q, _ := captures.ParseEnvelope(o.Request)
			a, _ := captures.ParseEnvelope(o.Response)
			for _, id := range []string{q.ShellID, a.ShellID} {
				if _, ok := created[id]; !ok && id != "" {
					created[id] = o.Index
				}
			}
		}
		for _, o := range conv.Entries[:evidence] {
			if q, _ := captures.ParseEnvelope(o.Request); q.Action == "Command" && created[q.ShellID] > created[req.ShellID] {
				return nil
			}
		}
		return fmt.Errorf("entry %d: no Command of a later-created shell precedes it", evidence)
	case reasonHostUnscripted:
		for _, b := range req.Blobs {
			if req.Action == "Send" && b.Stream == "pr" {
				return nil
			}
		}
	case reasonTransportReceive:
		if req.Action == "Receive" && (e.HTTPError || e.AuthError) {
			return nil
		}
	case reasonUnanswered, reasonHostUnanswered:
		// The request (a runspace request the client sent, or a host
		// call the server sent) carries a call ID that nothing later in
		// the other direction echoes.
		asked := e.Request
		if r == reasonHostUnanswered {
			asked = e.Response
		}
		ci := replayCallIDRE.FindStringSubmatch(replayPayloadText(asked))
		if ci == nil || (r == reasonUnanswered && req.Action != "Send") || (r == reasonHostUnanswered && req.Action != "Receive") {
			break
		}
		for _, o := range conv.Entries[evidence+1:] {
			answer := o.Response
			if r == reasonHostUnanswered {
				answer = o.Request
			}
			if strings.Contains(replayPayloadText(answer), ci[0]) {
				return fmt.Errorf("entry %d answers call %s", o.Index, ci[1])
			}
		}
		return nil
	case reasonForeignKey:
		kx, err := captures.LoadKeyExchange()
		if err != nil {
			return err
		}
		if m := replayPubKeyRE.FindStringSubmatch(payload.String()); m != nil && m[1] != base64.StdEncoding.EncodeToString(kx.PublicKeyBlob) {
			return nil
		}
	}
	return fmt.Errorf("entry %d (%s) does not show reason %d", evidence, req.Action, r)
}

// replayPayloadText returns the decoded blobs of a SOAP envelope as text.
func replayPayloadText(soap string) string {
	env, err := captures.ParseEnvelope(soap)
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, bl := range env.Blobs {
		if d, err := bl.Decode(); err == nil {
			b.Write(d)
		}
	}
	return b.String()
}

// replayRecordedMessages returns the recorded exchanges of a capture file
// as the loader's YAML list items ("- request: ...").
func replayRecordedMessages(t *testing.T, name string) []string {
	t.Helper()
	dir, err := replay.CapturesDir()
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	body, ok := strings.CutPrefix(string(data), "messages:\n")
	require.True(t, ok, "%s: not a list of messages", name)
	items := strings.Split(strings.TrimSuffix(body, "\n"), "\n- ")
	for k := 1; k < len(items); k++ {
		items[k] = "- " + items[k]
	}
	require.True(t, strings.HasPrefix(items[0], "- "), "%s: first message", name)
	return items
}

// replayJoin builds a conversation from recorded exchanges, in the
// loader's format.
func replayJoin(t *testing.T, name string, parts ...[]string) *replay.Conversation {
	t.Helper()
	var b strings.Builder
	b.WriteString("messages:\n")
	for _, p := range parts {
		for _, m := range p {
			b.WriteString(m + "\n")
		}
	}
	conv, err := replay.Parse(name, []byte(b.String()))
	require.NoError(t, err)
	return conv
}

// TestReplayCmdShellsBeforePool: a conversation that runs native commands
// in WinRS cmd shells before it opens a PowerShell pool (pypsrp's Client
// calling execute_cmd, then execute_ps, on one connection) replays in full,
// in recorded order: the shells are driven one by one in Create order.
// Built from two real recordings, each with its own ShellIds and
// MessageIDs. Shells whose Commands interleave cannot be driven that way,
// and the runner says so with a reason the recording bears out.
func TestReplayCmdShellsBeforePool(t *testing.T) {
	t.Parallel()
	cmd := replayRecordedMessages(t, "test_client_execute_cmd.yml")
	ps := replayRecordedMessages(t, "test_client_execute_ps.yml")

	t.Run("cmd then ps", func(t *testing.T) {
		conv := replayJoin(t, "execute_cmd+execute_ps", cmd, ps)
		older, err := conv.WithServerShellIDs()
		require.NoError(t, err)
		sc := replayAnalyze(t, conv)
		require.Empty(t, sc.skip)
		require.Equal(t, []int{0, 1, 2}, sc.order)
		require.True(t, sc.winrs[0] && sc.winrs[1] && !sc.winrs[2], "shells 0 and 1 are cmd shells, 2 the pool")
		require.Len(t, sc.shells, 1)
		for i := range conv.Entries {
			assert.Error(t, replayCheckReason(conv, reasonInterleaved, i), "entry %d", i)
		}
		replayRun(t, conv, sc)
		t.Run("server-assigned ShellIds", func(t *testing.T) {
			replayRun(t, older, sc)
		})
	})

	t.Run("interleaved", func(t *testing.T) {
		// The pool's first pipeline runs between the first cmd shell's
		// Create and its Command.
		k := slices.IndexFunc(ps, func(m string) bool { return strings.Contains(m, "/shell/Command</wsa:Action>") })
		require.Positive(t, k)
		conv := replayJoin(t, "interleaved", cmd[:1], ps[:k+1], cmd[1:], ps[k+1:])
		sc := replayAnalyze(t, conv)
		require.Equal(t, reasonInterleaved, sc.reason, sc.skip)
		e := conv.Entries[sc.evidence]
		assert.Equal(t, "Command", e.Action())
		assert.Equal(t, 0, e.Shell, "the first cmd shell's Command")
		assert.NoError(t, replayCheckReason(conv, sc.reason, sc.evidence))
	})
}
