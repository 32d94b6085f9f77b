package psrp

import (
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// ServerPoolConfig configures a ServerPool. The zero value behaves like
// Windows PowerShell 5.1.
type ServerPoolConfig struct {
	// ProtocolVersion is reported in SESSION_CAPABILITY; zero means
	// DefaultProtocolVersion (2.3).
	ProtocolVersion clixml.Version
	// ApplicationPrivateData is sent while the pool opens; nil means
	// DefaultApplicationPrivateData for ProtocolVersion.
	ApplicationPrivateData map[string]any
	// Rand is the randomness for session keys; nil means crypto/rand.
	Rand io.Reader
	// MaxMessageSize bounds a reassembled incoming message; zero means
	// DefaultMaxMessageSize.
	MaxMessageSize int
}

// DefaultApplicationPrivateData returns a PSVersionTable like the one
// Windows PowerShell 5.1 sends (PSVersion 5.1.26236.5000, CLR 4.0.30319.42000,
// WSManStackVersion 3.0), reporting protocol v.
func DefaultApplicationPrivateData(v clixml.Version) map[string]any {
	return map[string]any{
		"PSVersionTable": map[string]any{
			"PSVersion":                 clixml.Version{Major: 5, Minor: 1, Build: 26236, Revision: 5000},
			"PSEdition":                 "Desktop",
			"PSCompatibleVersions":      []any{protoVersion(1, 0), protoVersion(2, 0), protoVersion(3, 0), protoVersion(4, 0), protoVersion(5, 0), clixml.Version{Major: 5, Minor: 1, Build: 26236, Revision: 5000}},
			"BuildVersion":              clixml.Version{Major: 10, Minor: 0, Build: 26236, Revision: 5000},
			"CLRVersion":                clixml.Version{Major: 4, Minor: 0, Build: 30319, Revision: 42000},
			"WSManStackVersion":         protoVersion(3, 0),
			"PSRemotingProtocolVersion": v,
			"SerializationVersion":      defaultSerializationVersion(),
		},
	}
}

// ServerPool is the server side of a runspace pool: what a WS-Man endpoint
// (such as session/sessiontest) drives. It takes the client's data with
// Receive, reports requests with NextEvent and queues the answers for
// DataToSend. Runspace-count requests and the key exchange are answered by
// the pool itself. It does no I/O and is not safe for concurrent use.
type ServerPool struct {
	cfg       ServerPoolConfig
	id        uuid.UUID
	state     RunspacePoolState
	min, max  int32
	ourCap    SessionCapability
	clientCap *SessionCapability
	init      *InitRunspacePool

	out outbox
	// connectOut holds the answer to CONNECT_RUNSPACEPOOL, which travels in
	// the WS-Man ConnectResponse rather than a Receive.
	connectOut Fragmenter
	defrag     Defragmenter
	events     eventQueue[ServerEvent]

	pipelines map[uuid.UUID]*ServerPipeline
	lastSeq   uint64
	lastCall  int64
	// hostCalls holds the outstanding pool host calls.
	hostCalls map[int64]HostMethodID

	cipher clixml.Cipher
}

// NewServerPool returns a pool waiting for the client's SESSION_CAPABILITY
// and INIT_RUNSPACEPOOL (or CONNECT_RUNSPACEPOOL).
func NewServerPool(cfg ServerPoolConfig) *ServerPool {
	v := cfg.ProtocolVersion
	if v == (clixml.Version{}) {
		v = DefaultProtocolVersion()
	}
	s := &ServerPool{
		cfg:       cfg,
		state:     RunspacePoolBeforeOpen,
		ourCap:    SessionCapability{ProtocolVersion: v, PSVersion: defaultPSVersion(), SerializationVersion: defaultSerializationVersion()},
		pipelines: make(map[uuid.UUID]*ServerPipeline),
		hostCalls: make(map[int64]HostMethodID),
	}
	s.defrag.MaxMessageSize = cfg.MaxMessageSize
	return s
}

// ID returns the runspace pool ID the client chose (zero before its first
// message).
func (s *ServerPool) ID() uuid.UUID { return s.id }

// State returns the pool's state.
func (s *ServerPool) State() RunspacePoolState { return s.state }

// MinRunspaces returns the pool's minimum runspace count.
func (s *ServerPool) MinRunspaces() int32 { return s.min }

// MaxRunspaces returns the pool's maximum runspace count.
func (s *ServerPool) MaxRunspaces() int32 { return s.max }

// ClientCapability returns the client's SESSION_CAPABILITY, or nil.
func (s *ServerPool) ClientCapability() *SessionCapability { return s.clientCap }

// InitData returns the client's INIT_RUNSPACEPOOL (host info, application
// arguments...), or nil before the pool opened.
func (s *ServerPool) InitData() *InitRunspacePool { return s.init }

// ProtocolVersion returns the protocol version this pool reports.
func (s *ServerPool) ProtocolVersion() clixml.Version { return s.ourCap.ProtocolVersion }

// Pipeline returns the pipeline with the given ID, or nil.
func (s *ServerPool) Pipeline(id uuid.UUID) *ServerPipeline { return s.pipelines[id] }

// NextEvent returns the next event, or false when there is none. Events
// queue up until taken: drain them after every Receive.
func (s *ServerPool) NextEvent() (ServerEvent, bool) { return s.events.pop() }

// DataToSend returns the next payload of at most max bytes for the client.
// Payload.PipelineID says which WS-Man Receive carries it: zero for the
// pool's, else the command's. Stream is always StreamDefault ("stdout").
func (s *ServerPool) DataToSend(max int) (Payload, bool) { return s.out.next(max) }

// DataToSendTo is DataToSend for the Receive of one target, pipelineID (zero
// = the pool): what is queued for other targets stays queued, so that a
// server can hold each pipeline's output back (see QueuedBytes) until its
// own Receive comes.
func (s *ServerPool) DataToSendTo(pipelineID uuid.UUID, max int) (Payload, bool) {
	return s.out.nextFor(&pipelineID, max)
}

// HasDataToSend reports whether anything is queued for the target
// pipelineID (zero = the pool).
func (s *ServerPool) HasDataToSend(pipelineID uuid.UUID) bool { return s.out.pending(pipelineID) }

// QueuedBytes returns how many bytes of messages for pipelineID (the zero
// UUID: the pool) wait for DataToSend. A server that writes output faster
// than its client receives it waits while this is high, so that its memory
// stays flat however much a pipeline writes.
func (s *ServerPool) QueuedBytes(pipelineID uuid.UUID) int { return s.out.queuedBytes(pipelineID) }

// ConnectResponse returns up to max bytes of the answer to a
// CONNECT_RUNSPACEPOOL (SESSION_CAPABILITY and RUNSPACEPOOL_INIT_DATA), for
// the connectResponseXml of the WS-Man ConnectResponse. It returns false
// when no such answer is pending.
func (s *ServerPool) ConnectResponse(max int) ([]byte, bool) {
	if !s.connectOut.Pending() || max < FragmentHeaderSize+1 {
		return nil, false
	}
	return s.connectOut.Pack(nil, max), true
}

func (s *ServerPool) encode(b Body, pipelineID, rpid uuid.UUID) ([]byte, error) {
	data, err := EncodeBody(b, clixml.MarshalOptions{Cipher: s.cipher})
	if err != nil {
		return nil, fmt.Errorf("psrp: encode %v: %w", b.MessageType(), err)
	}
	m := Message{Destination: DestinationClient, Type: b.MessageType(), RunspacePoolID: rpid, PipelineID: pipelineID, Data: data}
	return m.Append(nil), nil
}

// queue encodes b and queues it for the target pipelineID.
func (s *ServerPool) queue(b Body, pipelineID uuid.UUID) error {
	msg, err := s.encode(b, pipelineID, s.id)
	if err != nil {
		return err
	}
	s.out.add(pipelineID, StreamDefault, msg)
	return nil
}

// queueZeroRPID queues a pool message whose RPID MUST be zero (the
// SESSION_CAPABILITY reply, ENCRYPTED_SESSION_KEY; MS-PSRP 3.2.5.4.4 and
// the captures).
func (s *ServerPool) queueZeroRPID(b Body) error {
	msg, err := s.encode(b, uuid.Nil, uuid.Nil)
	if err != nil {
		return err
	}
	s.out.add(uuid.Nil, StreamDefault, msg)
	return nil
}

func (s *ServerPool) setState(st RunspacePoolState, rec *clixml.ErrorRecord) error {
	s.state = st
	return s.queue(&RunspacePoolStateMessage{State: st, Error: rec}, uuid.Nil)
}

// Close reports the pool Closed to the client (RUNSPACEPOOL_STATE), as the
// endpoint does when the shell is deleted.
func (s *ServerPool) Close() error {
	if s.state == RunspacePoolClosed {
		return nil
	}
	return s.setState(RunspacePoolClosed, nil)
}

// Broken reports the pool Broken with an error record.
func (s *ServerPool) Broken(rec *clixml.ErrorRecord) error {
	return s.setState(RunspacePoolBroken, rec)
}

// Disconnected marks the pool Disconnected (WS-Man Disconnect); a client
// may later Connect to it.
func (s *ServerPool) Disconnected() error {
	if s.state != RunspacePoolOpened {
		return &StateError{Op: "disconnect the runspace pool", State: s.state, Want: []fmt.Stringer{RunspacePoolOpened}}
	}
	s.state = RunspacePoolDisconnected
	return nil
}

// Reconnected marks a Disconnected pool Opened again (WS-Man Reconnect by
// the same client).
func (s *ServerPool) Reconnected() error {
	if s.state != RunspacePoolDisconnected {
		return &StateError{Op: "reconnect the runspace pool", State: s.state, Want: []fmt.Stringer{RunspacePoolDisconnected}}
	}
	s.state = RunspacePoolOpened
	return nil
}

// HostCall calls a host method on the pool's host (RUNSPACEPOOL_HOST_CALL);
// the client's answer comes as a HostResponseReceived event with a nil
// Pipeline and the returned call ID.
func (s *ServerPool) HostCall(method HostMethodID, params ...any) (int64, error) {
	if s.state != RunspacePoolOpened {
		return 0, &StateError{Op: "make a host call", State: s.state, Want: []fmt.Stringer{RunspacePoolOpened}}
	}
	ci := s.nextCallID(method)
	if err := s.queue(&RunspacePoolHostCall{CallID: ci, Method: method, Params: params}, uuid.Nil); err != nil {
		return 0, err
	}
	if ci != VoidCallID {
		s.hostCalls[ci] = method
	}
	return ci, nil
}

// nextCallID numbers a host call; void methods all share VoidCallID.
func (s *ServerPool) nextCallID(method HostMethodID) int64 {
	if method.IsVoid() {
		return VoidCallID
	}
	s.lastCall++
	return s.lastCall
}

// SendUserEvent forwards a PowerShell event to the client (USER_EVENT).
func (s *ServerPool) SendUserEvent(ev UserEvent) error {
	return s.queue(&ev, uuid.Nil)
}

// Receive takes data the client sent: creationXml, connectXml, the
// Arguments of a Command, or a Send on stream for pipelineID (zero = the
// pool). The messages are routed by their own header; pipelineID is only
// checked against it. Errors are handled as in ClientPool.Receive: all
// processable messages are processed and the errors joined.
func (s *ServerPool) Receive(data []byte, stream StreamType, pipelineID uuid.UUID) error {
	var errs []error
	if err := s.defrag.Write(data); err != nil {
		errs = append(errs, &ProtocolError{Msg: "bad fragment from the client", Err: err})
	}
	for {
		raw, ok := s.defrag.Next()
		if !ok {
			break
		}
		if err := s.processMessage(raw, stream, pipelineID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *ServerPool) processMessage(raw []byte, stream StreamType, target uuid.UUID) error {
	m, err := DecodeMessage(raw)
	if err != nil {
		return &ProtocolError{Msg: "bad message from the client", Err: err}
	}
	if m.Destination != DestinationServer {
		return &ProtocolError{Msg: fmt.Sprintf("%v message with destination %v", m.Type, m.Destination), Err: ErrUnexpectedMessage}
	}
	if s.id == uuid.Nil {
		s.id = m.RunspacePoolID
	} else if m.RunspacePoolID != s.id && m.RunspacePoolID != uuid.Nil {
		return &ProtocolError{Msg: fmt.Sprintf("%v for runspace pool %v, this is %v", m.Type, m.RunspacePoolID, s.id), Err: ErrForeignRunspacePool}
	}
	if target != uuid.Nil && m.PipelineID != target {
		return &ProtocolError{Msg: fmt.Sprintf("%v for pipeline %v sent on the stream of %v", m.Type, m.PipelineID, target), Err: ErrUnexpectedMessage}
	}
	body, err := DecodeBody(m.Type, m.Data, clixml.UnmarshalOptions{Cipher: s.cipher, MaxBytes: s.cfg.MaxMessageSize})
	if err != nil {
		return &ProtocolError{Msg: fmt.Sprintf("cannot decode %v", m.Type), Err: err}
	}
	switch b := body.(type) {
	case *CreatePipeline:
		return s.createPipeline(m.PipelineID, b, nil)
	case *GetCommandMetadata:
		return s.createPipeline(m.PipelineID, nil, b)
	}
	if m.PipelineID != uuid.Nil {
		pl, ok := s.pipelines[m.PipelineID]
		if !ok {
			return &ProtocolError{Msg: fmt.Sprintf("%v for unknown pipeline %v", m.Type, m.PipelineID), Err: ErrUnknownPipeline}
		}
		return pl.process(body)
	}
	return s.processPoolBody(body)
}

func (s *ServerPool) requireOpened(t MessageType) error {
	if s.state != RunspacePoolOpened {
		return &ProtocolError{Msg: fmt.Sprintf("%v while the pool is %v", t, s.state), Err: ErrUnexpectedMessage}
	}
	return nil
}

func (s *ServerPool) processPoolBody(body Body) error {
	switch b := body.(type) {
	case *SessionCapability:
		if b.ProtocolVersion.Major != 2 {
			return &ProtocolError{Msg: "client speaks protocol " + versionString(b.ProtocolVersion) + ", want 2.x", Err: ErrUnsupportedProtocolVersion}
		}
		c := *b
		s.clientCap = &c
		if s.cipher == nil && keyExchangeObsolete(c.ProtocolVersion, s.ourCap.ProtocolVersion) {
			s.cipher = plainSecureStringCipher{}
		}
		cp := s.ourCap
		if s.state == RunspacePoolDisconnected {
			// The connect answer carries the real RPID (capture
			// disconnect_runspaces) and travels in the ConnectResponse.
			msg, err := s.encode(&cp, uuid.Nil, s.id)
			if err != nil {
				return err
			}
			s.out.lastObjectID++
			s.connectOut.Add(s.out.lastObjectID, msg)
			return nil
		}
		return s.queueZeroRPID(&cp)
	case *InitRunspacePool:
		if s.state != RunspacePoolBeforeOpen || s.clientCap == nil {
			return &ProtocolError{Msg: fmt.Sprintf("INIT_RUNSPACEPOOL while the pool is %v", s.state), Err: ErrUnexpectedMessage}
		}
		s.init = b
		s.min, s.max = b.MinRunspaces, b.MaxRunspaces
		apd := s.cfg.ApplicationPrivateData
		if apd == nil {
			apd = DefaultApplicationPrivateData(s.ourCap.ProtocolVersion)
		}
		if err := s.queue(&ApplicationPrivateData{Data: PrimitiveDictionary(apd)}, uuid.Nil); err != nil {
			return err
		}
		if err := s.setState(RunspacePoolOpened, nil); err != nil {
			return err
		}
		s.events.push(PoolOpened{Init: b})
	case *ConnectRunspacePool:
		if s.state != RunspacePoolDisconnected {
			return &ProtocolError{Msg: fmt.Sprintf("CONNECT_RUNSPACEPOOL while the pool is %v", s.state), Err: ErrUnexpectedMessage}
		}
		if b.MaxRunspaces != 0 {
			s.min, s.max = b.MinRunspaces, b.MaxRunspaces
		}
		msg, err := s.encode(&RunspacePoolInitData{MinRunspaces: s.min, MaxRunspaces: s.max}, uuid.Nil, s.id)
		if err != nil {
			return err
		}
		s.out.lastObjectID++
		s.connectOut.Add(s.out.lastObjectID, msg)
		// Windows follows the connectResponseXml with RUNSPACEPOOL_STATE
		// Opened on the pool's next Receive (test_psrp_disconnect_runspaces).
		if err := s.setState(RunspacePoolOpened, nil); err != nil {
			return err
		}
		s.events.push(PoolConnected{Request: b})
	case *SetMaxRunspaces:
		if err := s.requireOpened(b.MessageType()); err != nil {
			return err
		}
		ok := b.Count >= s.min && b.Count > 0
		if ok {
			s.max = b.Count
		}
		return s.answerRunspaceRequest(RunspaceRequestAnswered{CallID: b.CallID, Request: RequestSetMaxRunspaces, Value: b.Count, Success: ok})
	case *SetMinRunspaces:
		if err := s.requireOpened(b.MessageType()); err != nil {
			return err
		}
		ok := b.Count <= s.max && b.Count > 0
		if ok {
			s.min = b.Count
		}
		return s.answerRunspaceRequest(RunspaceRequestAnswered{CallID: b.CallID, Request: RequestSetMinRunspaces, Value: b.Count, Success: ok})
	case *GetAvailableRunspaces:
		if err := s.requireOpened(b.MessageType()); err != nil {
			return err
		}
		avail := int64(s.max) - int64(s.runningPipelines())
		if avail < 0 {
			avail = 0
		}
		return s.answerRunspaceRequest(RunspaceRequestAnswered{CallID: b.CallID, Request: RequestGetAvailableRunspaces, Available: avail})
	case *ResetRunspaceState:
		if err := s.requireOpened(b.MessageType()); err != nil {
			return err
		}
		ok := VersionSupportsInformation(s.ourCap.ProtocolVersion)
		return s.answerRunspaceRequest(RunspaceRequestAnswered{CallID: b.CallID, Request: RequestResetRunspaceState, Success: ok})
	case *PublicKey:
		return s.exchangeKey(b)
	case *RunspacePoolHostResponse:
		m, ok := s.hostCalls[b.CallID]
		if !ok {
			return &ProtocolError{Msg: fmt.Sprintf("RUNSPACEPOOL_HOST_RESPONSE for unknown call %d", b.CallID), Err: ErrUnknownCallID}
		}
		delete(s.hostCalls, b.CallID)
		s.events.push(HostResponseReceived{CallID: b.CallID, Method: m, Result: b.Result, Err: b.Error})
	default:
		return &ProtocolError{Msg: fmt.Sprintf("unexpected %v message for the runspace pool", body.MessageType()), Err: ErrUnexpectedMessage}
	}
	return nil
}

func (s *ServerPool) runningPipelines() int {
	n := 0
	for _, pl := range s.pipelines {
		if pl.state == PipelineRunning || pl.state == PipelineStopping {
			n++
		}
	}
	return n
}

func (s *ServerPool) answerRunspaceRequest(ev RunspaceRequestAnswered) error {
	ra := &RunspaceAvailability{CallID: ev.CallID, SetMinMaxResponse: ev.Success}
	if ev.Request == RequestGetAvailableRunspaces {
		ra = &RunspaceAvailability{CallID: ev.CallID, IsCount: true, Available: ev.Available}
	}
	if err := s.queue(ra, uuid.Nil); err != nil {
		return err
	}
	s.events.push(ev)
	return nil
}

func (s *ServerPool) exchangeKey(b *PublicKey) error {
	pub, err := DecodePublicKeyBlob(b.Key)
	if err != nil {
		return &ProtocolError{Msg: "unusable PUBLIC_KEY", Err: err}
	}
	key, err := NewSessionKey(s.cfg.Rand)
	if err != nil {
		return err
	}
	defer clear(key)
	blob, err := EncryptSessionKey(pub, key)
	if err != nil {
		return err
	}
	c, err := NewSecureStringCipher(key)
	if err != nil {
		return err
	}
	if err := s.queueZeroRPID(&EncryptedSessionKey{Key: blob}); err != nil {
		return err
	}
	s.cipher = c
	s.events.push(SessionKeyExchanged{})
	return nil
}

// maxServerPipelines bounds the pipelines a client may keep open at once
// (finished ones count until ServerPipeline.Close).
const maxServerPipelines = 4096

func (s *ServerPool) createPipeline(id uuid.UUID, cp *CreatePipeline, md *GetCommandMetadata) error {
	t := MessageCreatePipeline
	if md != nil {
		t = MessageGetCommandMetadata
	}
	if err := s.requireOpened(t); err != nil {
		return err
	}
	if id == uuid.Nil {
		return &ProtocolError{Msg: fmt.Sprintf("%v without a pipeline ID", t), Err: ErrUnexpectedMessage}
	}
	if old, dup := s.pipelines[id]; dup {
		if !old.state.Terminal() {
			return &ProtocolError{Msg: fmt.Sprintf("%v for running pipeline %v", t, id), Err: ErrUnexpectedMessage}
		}
		// A finished pipeline invoked again with the same ID; data still
		// queued for the old run goes out first.
		delete(s.pipelines, id)
	}
	if len(s.pipelines) >= maxServerPipelines {
		return &ProtocolError{Msg: fmt.Sprintf("%v: more than %d pipelines", t, maxServerPipelines), Err: ErrUnexpectedMessage}
	}
	s.lastSeq++
	pl := &ServerPipeline{pool: s, id: id, seq: s.lastSeq, state: PipelineRunning, create: cp, metadata: md, hostCalls: make(map[int64]HostMethodID)}
	s.pipelines[id] = pl
	if md != nil {
		s.events.push(CommandMetadataRequested{Pipeline: pl, Request: md})
	} else {
		s.events.push(PipelineCreated{Pipeline: pl})
	}
	return nil
}

// RequestPublicKey asks the client for its public key (PUBLIC_KEY_REQUEST),
// as PowerShell 2.0 servers do before sending a SecureString. The client
// answers with PUBLIC_KEY and the pool completes the exchange by itself
// (SessionKeyExchanged).
func (s *ServerPool) RequestPublicKey() error {
	if s.state != RunspacePoolOpened {
		return &StateError{Op: "request the public key", State: s.state, Want: []fmt.Stringer{RunspacePoolOpened}}
	}
	return s.queue(&PublicKeyRequest{}, uuid.Nil)
}
