package psrp

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// ClientPoolConfig configures a ClientPool. The zero value opens a pool of
// one runspace with no host, as pypsrp and the captures do.
type ClientPoolConfig struct {
	// ID is the runspace pool ID (also the WS-Man ShellId); zero means a
	// random one.
	ID uuid.UUID
	// MinRunspaces and MaxRunspaces bound the pool; zero means 1.
	MinRunspaces, MaxRunspaces int32
	// ThreadOptions is sent in INIT_RUNSPACEPOOL; zero is Default.
	ThreadOptions PSThreadOptions
	// ApartmentState is sent in INIT_RUNSPACEPOOL; nil means
	// ApartmentUnknown, as Windows clients and pypsrp send.
	ApartmentState *ApartmentState
	// HostInfo describes the client's host; nil means "no host" (every
	// _isHost*Null flag true and _useRunspaceHost true).
	HostInfo *clixml.HostInfo
	// ApplicationArguments become $PSSenderInfo.ApplicationArguments on the
	// server; nil sends none.
	ApplicationArguments map[string]any
	// ProtocolVersion is advertised in SESSION_CAPABILITY; zero means
	// DefaultProtocolVersion (2.3).
	ProtocolVersion clixml.Version
	// MaxMessageSize bounds a reassembled incoming message; zero means
	// DefaultMaxMessageSize.
	MaxMessageSize int
	// Rand is the randomness for the pool ID and the RSA exchange key; nil
	// means crypto/rand. (Since Go 1.26 crypto/rsa ignores it; see
	// GenerateExchangeKey.)
	Rand io.Reader
}

// ClientPool is the client side of a runspace pool (MS-PSRP 3.1): a state
// machine that queues messages for the server (DataToSend), takes what the
// server sent (Receive) and reports it (NextEvent). It does no I/O and is
// not safe for concurrent use: the caller serialises all calls.
type ClientPool struct {
	cfg       ClientPoolConfig
	id        uuid.UUID
	state     RunspacePoolState
	min, max  int32
	ourCap    SessionCapability
	serverCap *SessionCapability

	out    outbox
	defrag Defragmenter
	events clientEvents

	pipelines map[uuid.UUID]*ClientPipeline
	// closed remembers the IDs of recently closed pipelines, so that what
	// the server still sends for them is dropped instead of being an error.
	closed   recentIDs
	lastSeq  uint64
	lastCall int64
	// calls holds the outstanding runspace requests by call ID.
	calls map[int64]runspaceCall
	// hostCalls holds the outstanding pool host calls.
	hostCalls map[int64]HostMethodID

	exchangeKey *rsa.PrivateKey
	keyPending  bool // PUBLIC_KEY sent, ENCRYPTED_SESSION_KEY not yet received
	cipher      clixml.Cipher
	// hold keeps back the pool's host responses while the key is exchanged.
	hold keyHold
}

// NewClientPool returns a pool in state BeforeOpen.
func NewClientPool(cfg ClientPoolConfig) *ClientPool {
	p := &ClientPool{
		cfg:       cfg,
		id:        cfg.ID,
		state:     RunspacePoolBeforeOpen,
		min:       cfg.MinRunspaces,
		max:       cfg.MaxRunspaces,
		pipelines: make(map[uuid.UUID]*ClientPipeline),
		calls:     make(map[int64]runspaceCall),
		hostCalls: make(map[int64]HostMethodID),
	}
	if p.id == uuid.Nil {
		if cfg.Rand != nil {
			if id, err := uuid.NewRandomFromReader(cfg.Rand); err == nil {
				p.id = id
			}
		}
		if p.id == uuid.Nil {
			p.id = uuid.New()
		}
	}
	if p.min == 0 {
		p.min = 1
	}
	if p.max == 0 {
		p.max = 1
	}
	v := cfg.ProtocolVersion
	if v == (clixml.Version{}) {
		v = DefaultProtocolVersion()
	}
	p.ourCap = SessionCapability{ProtocolVersion: v, PSVersion: defaultPSVersion(), SerializationVersion: defaultSerializationVersion()}
	p.defrag.MaxMessageSize = cfg.MaxMessageSize
	return p
}

// ID returns the runspace pool ID (the WS-Man ShellId).
func (p *ClientPool) ID() uuid.UUID { return p.id }

// State returns the pool's current state.
func (p *ClientPool) State() RunspacePoolState { return p.state }

// MinRunspaces returns the pool's minimum runspace count as last agreed.
func (p *ClientPool) MinRunspaces() int32 { return p.min }

// MaxRunspaces returns the pool's maximum runspace count as last agreed.
func (p *ClientPool) MaxRunspaces() int32 { return p.max }

// ServerCapability returns the server's SESSION_CAPABILITY, or nil before it
// arrived. A transport raises its envelope size when the server is at 2.2 or
// later (VersionSupportsConnect).
func (p *ClientPool) ServerCapability() *SessionCapability { return p.serverCap }

// ProtocolVersion returns the negotiated protocol version: the server's
// once known, else the one the pool advertises.
func (p *ClientPool) ProtocolVersion() clixml.Version {
	if p.serverCap != nil {
		return p.serverCap.ProtocolVersion
	}
	return p.ourCap.ProtocolVersion
}

// Pipeline returns the pipeline with the given ID, or nil.
func (p *ClientPool) Pipeline(id uuid.UUID) *ClientPipeline { return p.pipelines[id] }

func (p *ClientPool) stateError(op string, want ...RunspacePoolState) error {
	w := make([]fmt.Stringer, len(want))
	for i, s := range want {
		w[i] = s
	}
	return &StateError{Op: op, State: p.state, Want: w}
}

func (p *ClientPool) setState(s RunspacePoolState, rec *clixml.ErrorRecord, cause error) {
	if p.state == s {
		return
	}
	prev := p.state
	p.state = s
	p.events.push(PoolStateChanged{State: s, Previous: prev, Err: rec, Cause: cause})
}

func (p *ClientPool) marshalOptions() clixml.MarshalOptions {
	return clixml.MarshalOptions{Cipher: p.cipher}
}

func (p *ClientPool) unmarshalOptions() clixml.UnmarshalOptions {
	return clixml.UnmarshalOptions{Cipher: p.cipher, MaxBytes: p.cfg.MaxMessageSize}
}

// maxOutstandingHostCalls bounds the host calls a peer may leave
// unanswered, so that a misbehaving server cannot grow the table forever.
const maxOutstandingHostCalls = 4096

// queue encodes b for the target pipelineID (zero = the pool) and queues it.
func (p *ClientPool) queue(b Body, pipelineID uuid.UUID, stream StreamType) error {
	data, err := EncodeBody(b, p.marshalOptions())
	if err != nil {
		return fmt.Errorf("psrp: encode %v: %w", b.MessageType(), err)
	}
	m := Message{Destination: DestinationServer, Type: b.MessageType(), RunspacePoolID: p.id, PipelineID: pipelineID, Data: data}
	p.out.add(pipelineID, stream, m.Append(nil))
	return nil
}

// queueAll encodes every body first so that a failure queues nothing.
func (p *ClientPool) queueAll(pipelineID uuid.UUID, bodies ...Body) error {
	msgs := make([][]byte, 0, len(bodies))
	for _, b := range bodies {
		data, err := EncodeBody(b, p.marshalOptions())
		if err != nil {
			return fmt.Errorf("psrp: encode %v: %w", b.MessageType(), err)
		}
		m := Message{Destination: DestinationServer, Type: b.MessageType(), RunspacePoolID: p.id, PipelineID: pipelineID, Data: data}
		msgs = append(msgs, m.Append(nil))
	}
	for _, m := range msgs {
		p.out.add(pipelineID, StreamDefault, m)
	}
	return nil
}

func (p *ClientPool) hostInfo() clixml.HostInfo {
	if p.cfg.HostInfo != nil {
		return *p.cfg.HostInfo
	}
	return noHostInfo()
}

// noHostInfo is the HostInfo of a client without a host (MS-PSRP 2.2.3.14).
func noHostInfo() clixml.HostInfo {
	return clixml.HostInfo{IsHostNull: true, IsHostUINull: true, IsHostRawUINull: true, UseRunspaceHost: true}
}

// Open queues SESSION_CAPABILITY and INIT_RUNSPACEPOOL (the WS-Man Create's
// creationXml) and moves the pool to Opening. The pool is Opened when the
// server's RUNSPACEPOOL_STATE says so.
func (p *ClientPool) Open() error {
	if p.state != RunspacePoolBeforeOpen {
		return p.stateError("open the runspace pool", RunspacePoolBeforeOpen)
	}
	init := &InitRunspacePool{
		MinRunspaces:         p.min,
		MaxRunspaces:         p.max,
		ThreadOptions:        p.cfg.ThreadOptions,
		ApartmentState:       apartmentOr(p.cfg.ApartmentState),
		HostInfo:             p.hostInfo(),
		ApplicationArguments: p.cfg.ApplicationArguments,
	}
	cp := p.ourCap
	if err := p.queueAll(uuid.Nil, &cp, init); err != nil {
		return err
	}
	p.setState(RunspacePoolOpening, nil, nil)
	return nil
}

// Connect queues SESSION_CAPABILITY and CONNECT_RUNSPACEPOOL (the WS-Man
// Connect's connectXml) to attach to an existing, disconnected pool whose ID
// was given in the config. The pool is Opened when RUNSPACEPOOL_INIT_DATA
// arrives. The server must be at protocol 2.2 or later.
func (p *ClientPool) Connect() error {
	if p.state != RunspacePoolBeforeOpen {
		return p.stateError("connect to the runspace pool", RunspacePoolBeforeOpen)
	}
	req := &ConnectRunspacePool{}
	if p.cfg.MinRunspaces != 0 || p.cfg.MaxRunspaces != 0 {
		req.MinRunspaces, req.MaxRunspaces = p.min, p.max
	}
	cp := p.ourCap
	if err := p.queueAll(uuid.Nil, &cp, req); err != nil {
		return err
	}
	p.setState(RunspacePoolConnecting, nil, nil)
	return nil
}

// DataToSend returns the next payload of at most max bytes: whole fragments
// for one target and stream. The pool's messages come first, then each
// pipeline's in creation order. It returns false when nothing is queued or
// max is below FragmentHeaderSize+1.
//
// Payloads for the pool after Open (or Connect) hold SESSION_CAPABILITY
// and INIT_RUNSPACEPOOL (CONNECT_RUNSPACEPOOL): the creationXml
// (connectXml) of the WS-Man Create (Connect); give max enough for both.
// A payload with Create set holds only the CREATE_PIPELINE (or
// GET_COMMAND_METADATA) of Payload.PipelineID and goes in the Arguments of
// the WS-Man Command that creates it; every other payload goes in a WS-Man
// Send on Payload.Stream to Payload.PipelineID (the pool when zero).
func (p *ClientPool) DataToSend(max int) (Payload, bool) { return p.out.next(max) }

// NextEvent returns the next event, or false when there is none. Events
// queue up until taken: drain them after every Receive.
func (p *ClientPool) NextEvent() (Event, bool) { return p.events.pop() }

// AppendEvents takes every queued event, in order, and appends them to dst:
// the batch form of NextEvent for a loop that drains the pool after each
// Receive. It costs no allocation per output object when dst has room, so
// a transport that reuses dst handles a large pipeline's objects without
// boxing each into an Event.
func (p *ClientPool) AppendEvents(dst []QueuedEvent) []QueuedEvent { return p.events.appendTo(dst) }

// nextCallID returns a fresh call ID for a runspace request.
func (p *ClientPool) nextCallID() int64 {
	p.lastCall++
	return p.lastCall
}

func (p *ClientPool) requireOpened(op string) error {
	if p.state != RunspacePoolOpened {
		return p.stateError(op, RunspacePoolOpened)
	}
	return nil
}

// runspaceCall is an outstanding runspace request.
type runspaceCall struct {
	kind  AvailabilityRequest
	count int32 // the requested count of a set request
}

func (p *ClientPool) runspaceRequest(op string, kind AvailabilityRequest, count int32, build func(ci int64) Body) (int64, error) {
	if err := p.requireOpened(op); err != nil {
		return 0, err
	}
	ci := p.nextCallID()
	if err := p.queue(build(ci), uuid.Nil, StreamDefault); err != nil {
		return 0, err
	}
	p.calls[ci] = runspaceCall{kind: kind, count: count}
	return ci, nil
}

// SetMaxRunspaces asks the server to change the pool's maximum; the answer
// is a RunspaceAvailabilityEvent with the returned call ID.
func (p *ClientPool) SetMaxRunspaces(n int32) (int64, error) {
	return p.runspaceRequest("set the maximum runspaces", RequestSetMaxRunspaces, n, func(ci int64) Body {
		return &SetMaxRunspaces{Count: n, CallID: ci}
	})
}

// SetMinRunspaces asks the server to change the pool's minimum; the answer
// is a RunspaceAvailabilityEvent with the returned call ID.
func (p *ClientPool) SetMinRunspaces(n int32) (int64, error) {
	return p.runspaceRequest("set the minimum runspaces", RequestSetMinRunspaces, n, func(ci int64) Body {
		return &SetMinRunspaces{Count: n, CallID: ci}
	})
}

// GetAvailableRunspaces asks how many runspaces are free; the answer is a
// RunspaceAvailabilityEvent with the returned call ID.
func (p *ClientPool) GetAvailableRunspaces() (int64, error) {
	return p.runspaceRequest("get the available runspaces", RequestGetAvailableRunspaces, 0, func(ci int64) Body {
		return &GetAvailableRunspaces{CallID: ci}
	})
}

// ResetRunspaceState asks the server to reset the runspace's variables and
// state; it needs protocol 2.3 (ErrProtocolVersion otherwise).
func (p *ClientPool) ResetRunspaceState() (int64, error) {
	if err := p.requireOpened("reset the runspace state"); err != nil {
		return 0, err
	}
	if v := p.ProtocolVersion(); !VersionSupportsInformation(v) {
		return 0, fmt.Errorf("%w: ResetRunspaceState needs protocol 2.3, server has %s", ErrProtocolVersion, versionString(v))
	}
	return p.runspaceRequest("reset the runspace state", RequestResetRunspaceState, 0, func(ci int64) Body {
		return &ResetRunspaceState{CallID: ci}
	})
}

// needsKeyExchange reports whether SecureStrings need a session key that is
// not known yet.
func (p *ClientPool) needsKeyExchange() bool {
	if p.cipher != nil {
		return false
	}
	return !keyExchangeObsolete(p.ourCap.ProtocolVersion, p.ProtocolVersion())
}

// ExchangeKey starts the session-key exchange by queueing PUBLIC_KEY, unless
// the key is already known or being exchanged, or both peers are at
// protocol 2.4 or later. A SessionKeyReceived event follows. Invoke does
// this by itself when a pipeline's arguments hold a SecureString.
func (p *ClientPool) ExchangeKey() error {
	if err := p.requireOpened("exchange the session key"); err != nil {
		return err
	}
	if !p.needsKeyExchange() {
		if p.cipher == nil {
			// Both peers at 2.4+: SecureStrings travel under the
			// transport's protection only.
			p.cipher = plainSecureStringCipher{}
		}
		return nil
	}
	return p.sendPublicKey()
}

func (p *ClientPool) sendPublicKey() error {
	if p.keyPending {
		return nil
	}
	if p.exchangeKey == nil {
		k, err := GenerateExchangeKey(p.cfg.Rand)
		if err != nil {
			return err
		}
		p.exchangeKey = k
	}
	blob, err := EncodePublicKeyBlob(&p.exchangeKey.PublicKey)
	if err != nil {
		return err
	}
	if err := p.queue(&PublicKey{Key: blob}, uuid.Nil, StreamDefault); err != nil {
		return err
	}
	p.keyPending = true
	return nil
}

// HostResponse answers the pool host call callID with result, or with errRec
// when the host method failed. It is sent as RUNSPACEPOOL_HOST_RESPONSE on
// the prompt-response stream. Methods without a return value need no
// response.
//
// When result holds a clixml.SecureString or clixml.PSCredential (Read-Host
// -AsSecureString, Get-Credential) and no session key is known yet, the
// key exchange is started (PUBLIC_KEY is queued) and the response, with
// every later one of the pool, is held until ENCRYPTED_SESSION_KEY arrives,
// then queued in order.
func (p *ClientPool) HostResponse(callID int64, result any, errRec *clixml.ErrorRecord) error {
	if err := p.requireOpened("answer a host call"); err != nil {
		return err
	}
	m, ok := p.hostCalls[callID]
	if !ok {
		return fmt.Errorf("%w %d for the runspace pool", ErrUnknownCallID, callID)
	}
	b := &RunspacePoolHostResponse{CallID: callID, Method: m, Result: result, Error: errRec}
	if err := p.send(&p.hold, uuid.Nil, b, StreamPromptResponse, hasSecureString(result, 0)); err != nil {
		return err
	}
	delete(p.hostCalls, callID)
	return nil
}

// keyHold keeps back the outgoing messages of one target (the pool or one
// pipeline) from the first one that needs the session key until the key
// arrives, so that they still reach the server in the order they were
// sent. The pool and its pipelines each have one; ClientPool.send fills
// them and ClientPool.release empties them.
type keyHold struct {
	waiting bool
	msgs    []heldMessage
}

type heldMessage struct {
	body   Body
	stream StreamType
}

// send queues b for target (zero = the pool), or holds it in h. secret
// says the body holds a SecureString (hasSecureString): without a session
// key, the exchange is started and b and everything after it for the
// target wait in h. A SecureString the walk cannot see (inside a Go struct
// or a Marshaler) is caught by the encoder's ErrNoCipher and takes the same
// path.
func (p *ClientPool) send(h *keyHold, target uuid.UUID, b Body, stream StreamType, secret bool) error {
	if h.waiting {
		h.msgs = append(h.msgs, heldMessage{body: b, stream: stream})
		return nil
	}
	if secret && p.cipher == nil {
		if err := p.ExchangeKey(); err != nil {
			return err
		}
		if p.cipher == nil { // the key is on its way
			h.waiting = true
			h.msgs = append(h.msgs, heldMessage{body: b, stream: stream})
			return nil
		}
	}
	err := p.queue(b, target, stream)
	if !secret && p.cipher == nil && errors.Is(err, clixml.ErrNoCipher) && p.state == RunspacePoolOpened {
		return p.send(h, target, b, stream, true)
	}
	return err
}

// release queues what h held for target, in order, once the key is known.
// A message that still fails to encode is dropped and reported; the others
// go out.
func (p *ClientPool) release(h *keyHold, target uuid.UUID) error {
	if !h.waiting {
		return nil
	}
	msgs := h.msgs
	h.waiting, h.msgs = false, nil
	var errs []error
	for _, m := range msgs {
		if err := p.queue(m.body, target, m.stream); err != nil {
			errs = append(errs, fmt.Errorf("psrp: send %v held for the session key: %w", m.body.MessageType(), err))
		}
	}
	return errors.Join(errs...)
}

// maxClosedPipelines is how many closed pipeline IDs a pool remembers to
// drop late messages for: enough for the messages in flight of abandoned
// pipelines, bounded so that a long-lived pool does not grow.
const maxClosedPipelines = 1024

// recentIDs is a set of the last maxClosedPipelines IDs added.
type recentIDs struct {
	ring []uuid.UUID
	next int // the slot to overwrite once ring is full
	set  map[uuid.UUID]struct{}
}

func (r *recentIDs) add(id uuid.UUID) {
	if _, ok := r.set[id]; ok {
		return
	}
	if r.set == nil {
		r.set = make(map[uuid.UUID]struct{})
	}
	if len(r.ring) < maxClosedPipelines {
		r.ring = append(r.ring, id)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = id
		r.next = (r.next + 1) % maxClosedPipelines
	}
	r.set[id] = struct{}{}
}

func (r *recentIDs) has(id uuid.UUID) bool {
	_, ok := r.set[id]
	return ok
}

// Close marks the pool Closing. The transport then deletes the shell
// (WS-Man Delete) and calls Closed.
func (p *ClientPool) Close() error {
	switch p.state {
	case RunspacePoolClosed, RunspacePoolClosing:
		return nil
	case RunspacePoolBroken:
		return p.stateError("close the runspace pool", RunspacePoolOpened, RunspacePoolDisconnected)
	}
	p.setState(RunspacePoolClosing, nil, nil)
	return nil
}

// Closed marks the pool Closed once the transport deleted the shell. Running
// pipelines are reported Stopped.
func (p *ClientPool) Closed() {
	p.finishPipelines(PipelineStopped, nil)
	p.setState(RunspacePoolClosed, nil, nil)
}

// Disconnected marks an Opened pool Disconnected after the transport
// disconnected the shell (WS-Man Disconnect); its running pipelines become
// Disconnected too.
func (p *ClientPool) Disconnected() error {
	if p.state != RunspacePoolOpened {
		return p.stateError("disconnect the runspace pool", RunspacePoolOpened)
	}
	if !VersionSupportsConnect(p.ProtocolVersion()) {
		return fmt.Errorf("%w: disconnect needs protocol 2.2", ErrProtocolVersion)
	}
	for _, pl := range p.pipelines {
		if pl.state == PipelineRunning || pl.state == PipelineStopping {
			pl.setState(PipelineDisconnected, nil, nil)
		}
	}
	p.setState(RunspacePoolDisconnected, nil, nil)
	return nil
}

// Reconnected marks a Disconnected pool Opened again after the transport
// reconnected the shell (WS-Man Reconnect); disconnected pipelines resume
// Running.
func (p *ClientPool) Reconnected() error {
	if p.state != RunspacePoolDisconnected {
		return p.stateError("reconnect the runspace pool", RunspacePoolDisconnected)
	}
	p.setState(RunspacePoolOpened, nil, nil)
	for _, pl := range p.pipelines {
		if pl.state == PipelineDisconnected {
			pl.setState(PipelineRunning, nil, nil)
		}
	}
	return nil
}

// Broken marks the pool Broken after a transport failure; every pipeline
// that has not finished is reported Failed with the same cause.
func (p *ClientPool) Broken(cause error) {
	if p.state == RunspacePoolClosed || p.state == RunspacePoolBroken {
		return
	}
	p.finishPipelines(PipelineFailed, cause)
	p.setState(RunspacePoolBroken, nil, cause)
}

func (p *ClientPool) finishPipelines(s PSInvocationState, cause error) {
	for _, pl := range p.orderedPipelines() {
		if pl.state != PipelineNotStarted && !pl.state.Terminal() {
			pl.setState(s, nil, cause)
		}
	}
}

// orderedPipelines lists the pipelines in creation order so that events
// come out deterministically.
func (p *ClientPool) orderedPipelines() []*ClientPipeline {
	out := make([]*ClientPipeline, 0, len(p.pipelines))
	for _, pl := range p.pipelines {
		out = append(out, pl)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].seq < out[j-1].seq; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Receive takes the bytes of one received stdout stream (the pool's or any
// pipeline's: messages are routed by their pipeline ID), reassembles and
// decodes the messages in it, updates the state and queues events.
//
// Bad data has one of three effects, each reported in the returned error
// as a *ProtocolError whose Effect says which (all of them joined with
// errors.Join; the first few in full, the rest counted):
//
//   - EffectDropped: the message is ignored and nothing else changes (the
//     error matches ErrMessageDropped).
//   - EffectPipelineFailed: the message was for a pipeline and its loss
//     makes the pipeline's result unreliable; the pipeline is Failed with
//     the error as the Cause of its PipelineStateChanged event.
//   - EffectPoolBroken: the pool cannot go on (the stream is unreadable,
//     the server's protocol version is refused, a pool message was lost);
//     it is Broken with the error as the Cause of its PoolStateChanged
//     event, and its unfinished pipelines are Failed with the same cause.
//
// A transport therefore decides from the events, or from State after
// Receive, not from the error: a non-nil error with the pool still usable
// is only a report. The section "What the client tolerates" of the package
// documentation lists each case. Once the pool is Broken or Closed,
// Receive ignores its input and returns nil.
func (p *ClientPool) Receive(data []byte) error {
	if p.state == RunspacePoolBroken || p.state == RunspacePoolClosed {
		return nil
	}
	var errs errorList
	werr := p.defrag.Write(data)
	// Messages completed before a bad fragment are processed first.
	for {
		raw, ok := p.defrag.Next()
		if !ok {
			break
		}
		if p.state == RunspacePoolBroken {
			continue // drained, not processed
		}
		if err := p.processMessage(raw); err != nil {
			errs.add(err, isFatal(err))
		}
	}
	for _, err := range flattenErrors(werr) {
		if p.state == RunspacePoolBroken {
			break
		}
		perr := p.fragmentFailure(err)
		errs.add(perr, perr.Fatal())
	}
	return errs.err()
}

func isFatal(err error) bool {
	var pe *ProtocolError
	return errors.As(err, &pe) && pe.Fatal()
}

// flattenErrors lists the errors joined in err.
func flattenErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// fragmentFailure applies one defragmenter error: a fatal one breaks the
// pool; a message discarded by a confined one is treated like a message
// that did not decode, when its header tells what it was for.
func (p *ClientPool) fragmentFailure(err error) *ProtocolError {
	pe := &ProtocolError{Msg: "bad fragment from the server", Err: err}
	var fe *FragmentError
	if !errors.As(err, &fe) {
		return pe // a count of further errors
	}
	if fe.Fatal() {
		return p.breakPool(pe)
	}
	m, derr := DecodeMessage(fe.MessageHeader())
	if derr != nil {
		return pe // not even its header arrived: nothing to route
	}
	pe.PipelineID = m.PipelineID
	return p.messageLost(m, pe)
}

// messageLost decides what losing message m (which could not be
// reassembled or decoded) costs: its pipeline for a pipeline message, the
// pool for a pool message, except USER_EVENT, which no state depends on.
func (p *ClientPool) messageLost(m Message, pe *ProtocolError) *ProtocolError {
	if m.PipelineID != uuid.Nil {
		pl := p.pipelines[m.PipelineID]
		if pl == nil {
			return pe
		}
		return p.failPipeline(pl, pe)
	}
	if m.Type == MessageUserEvent {
		return pe
	}
	if m.Type == MessageSessionCapability {
		pe.Err = &VersionError{Err: pe.Err}
	}
	return p.breakPool(pe)
}

// breakPool moves the pool to Broken with pe as the cause.
func (p *ClientPool) breakPool(pe *ProtocolError) *ProtocolError {
	pe.Effect = EffectPoolBroken
	p.Broken(pe)
	return pe
}

// failPipeline moves pl to Failed with pe as the cause, unless it is not
// running (then the message is only dropped).
func (p *ClientPool) failPipeline(pl *ClientPipeline, pe *ProtocolError) *ProtocolError {
	pe.PipelineID = pl.id
	if pl.state == PipelineNotStarted || pl.state.Terminal() {
		pe.Effect = EffectDropped
		return pe
	}
	pe.Effect = EffectPipelineFailed
	pl.setState(PipelineFailed, nil, pe)
	return pe
}

// sessionMessage reports whether t belongs to the session layer
// (SESSION_CAPABILITY, the key exchange), whose messages Windows sends with
// a zero RunspacePoolId.
func sessionMessage(t MessageType) bool { return t&0xFFFF0000 == 0x00010000 }

func (p *ClientPool) processMessage(raw []byte) error {
	m, err := DecodeMessage(raw)
	if err != nil {
		return &ProtocolError{Msg: "bad message from the server", Err: err}
	}
	if m.Destination != DestinationClient {
		return &ProtocolError{Msg: fmt.Sprintf("%v message with destination %v", m.Type, m.Destination), Err: ErrUnexpectedMessage, PipelineID: m.PipelineID}
	}
	if m.RunspacePoolID != p.id && (m.RunspacePoolID != uuid.Nil || !sessionMessage(m.Type)) {
		return &ProtocolError{Msg: fmt.Sprintf("%v for runspace pool %v", m.Type, m.RunspacePoolID), Err: ErrForeignRunspacePool, PipelineID: m.PipelineID}
	}
	var pl *ClientPipeline
	if m.PipelineID != uuid.Nil {
		var ok bool
		if pl, ok = p.pipelines[m.PipelineID]; !ok {
			if p.closed.has(m.PipelineID) {
				// Late data for a pipeline the caller closed (abandoned):
				// dropped, not even decoded.
				return nil
			}
			return &ProtocolError{Msg: fmt.Sprintf("%v for unknown pipeline %v", m.Type, m.PipelineID), Err: ErrUnknownPipeline, PipelineID: m.PipelineID}
		}
	}
	if !m.Type.Known() {
		// PowerShell ignores message types it does not know; a newer
		// server may add some.
		return &ProtocolError{Msg: "message ignored", Err: &UnknownMessageError{Type: m.Type}, PipelineID: m.PipelineID}
	}
	body, err := DecodeBody(m.Type, m.Data, p.unmarshalOptions())
	if err != nil {
		return p.messageLost(m, &ProtocolError{Msg: fmt.Sprintf("cannot decode %v", m.Type), Err: err, PipelineID: m.PipelineID})
	}
	if pl != nil {
		return pl.process(body)
	}
	return p.processPoolBody(body)
}

func (p *ClientPool) processPoolBody(body Body) error {
	switch b := body.(type) {
	case *SessionCapability:
		if !SupportedServerVersion(b.ProtocolVersion) {
			return p.breakPool(&ProtocolError{Err: &VersionError{Version: b.ProtocolVersion}})
		}
		c := *b
		p.serverCap = &c
	case *ApplicationPrivateData:
		p.events.push(ApplicationPrivateDataReceived{Data: b})
	case *RunspacePoolStateMessage:
		if !b.State.defined() {
			return p.breakPool(&ProtocolError{Err: &UnknownStateError{Message: MessageRunspacePoolState, Value: int32(b.State)}})
		}
		if b.State == RunspacePoolBroken || b.State == RunspacePoolClosed {
			p.finishPipelines(PipelineFailed, nil)
		}
		p.setState(b.State, b.Error, nil)
	case *RunspacePoolInitData:
		p.min, p.max = b.MinRunspaces, b.MaxRunspaces
		if p.state == RunspacePoolConnecting || p.state == RunspacePoolOpening {
			p.setState(RunspacePoolOpened, nil, nil)
		}
	case *RunspaceAvailability:
		return p.processAvailability(b)
	case *UserEvent:
		p.events.push(UserEventReceived{Event: b})
	case *PublicKeyRequest:
		return p.processPublicKeyRequest()
	case *EncryptedSessionKey:
		return p.processSessionKey(b)
	case *RunspacePoolHostCall:
		if len(p.hostCalls) >= maxOutstandingHostCalls {
			// The server would wait for ever for an answer to a dropped
			// call: the pool cannot go on.
			return p.breakPool(&ProtocolError{Msg: fmt.Sprintf("more than %d unanswered host calls", maxOutstandingHostCalls), Err: ErrTooManyHostCalls})
		}
		if !b.Method.IsVoid() { // void calls get no response
			p.hostCalls[b.CallID] = b.Method
		}
		p.events.push(PoolHostCallEvent{CallID: b.CallID, Method: b.Method, Params: b.Params})
	default:
		return &ProtocolError{Msg: fmt.Sprintf("unexpected %v message for the runspace pool", body.MessageType()), Err: ErrUnexpectedMessage}
	}
	return nil
}

// processPublicKeyRequest answers PUBLIC_KEY_REQUEST at once: PUBLIC_KEY is
// queued and PublicKeyRequested tells the transport to send it. While one
// answer is outstanding (queued or sent, ENCRYPTED_SESSION_KEY not yet
// received) further requests are ignored, as PowerShell's client sends its
// key once per exchange: a flood of requests costs nothing.
func (p *ClientPool) processPublicKeyRequest() error {
	if p.cipher != nil || p.keyPending {
		return nil
	}
	if err := p.sendPublicKey(); err != nil {
		return err
	}
	p.events.push(PublicKeyRequested{})
	return nil
}

func (p *ClientPool) processAvailability(b *RunspaceAvailability) error {
	call, ok := p.calls[b.CallID]
	if !ok {
		return &ProtocolError{Msg: fmt.Sprintf("RUNSPACE_AVAILABILITY for unknown call %d", b.CallID), Err: ErrUnexpectedMessage}
	}
	delete(p.calls, b.CallID)
	ev := RunspaceAvailabilityEvent{CallID: b.CallID, Request: call.kind}
	switch call.kind {
	case RequestGetAvailableRunspaces:
		ev.Available = b.Available
	case RequestSetMaxRunspaces:
		ev.Success = b.SetMinMaxResponse
		if ev.Success {
			p.max = call.count
		}
	case RequestSetMinRunspaces:
		ev.Success = b.SetMinMaxResponse
		if ev.Success {
			p.min = call.count
		}
	default:
		ev.Success = b.SetMinMaxResponse
	}
	p.events.push(ev)
	return nil
}

func (p *ClientPool) processSessionKey(b *EncryptedSessionKey) error {
	if p.exchangeKey == nil || !p.keyPending {
		return &ProtocolError{Msg: "ENCRYPTED_SESSION_KEY without a PUBLIC_KEY", Err: ErrUnexpectedMessage}
	}
	// What waits for the key (held host responses and pipelines) would wait
	// for ever without it: a key that cannot be used breaks the pool.
	key, err := DecryptSessionKey(p.exchangeKey, b.Key)
	if err != nil {
		return p.breakPool(&ProtocolError{Msg: "cannot use the server's session key", Err: err})
	}
	c, err := NewSecureStringCipher(key)
	clear(key)
	if err != nil {
		return p.breakPool(&ProtocolError{Msg: "cannot use the server's session key", Err: err})
	}
	p.cipher = c
	p.keyPending = false
	p.events.push(SessionKeyReceived{})
	// Release what waited for the key: the pool's, then the pipelines' in
	// creation order.
	errs := []error{p.release(&p.hold, uuid.Nil)}
	for _, pl := range p.orderedPipelines() {
		errs = append(errs, p.release(&pl.hold, pl.id))
	}
	return errors.Join(errs...)
}

// plainSecureStringCipher is used when both peers are at protocol 2.4 or
// later and no session key exists. ASSUMPTION (not checked against a 2.4
// capture): the SecureString then carries its UTF-16LE text unencrypted.
type plainSecureStringCipher struct{}

// Encrypt implements clixml.Cipher: the UTF-16LE text as it is.
func (plainSecureStringCipher) Encrypt(p []byte) ([]byte, error) { return bytes.Clone(p), nil }

// Decrypt implements clixml.Cipher.
func (plainSecureStringCipher) Decrypt(c []byte) ([]byte, error) {
	if len(c)%2 != 0 {
		return nil, fmt.Errorf("%w: odd UTF-16 length", ErrSecureStringCiphertext)
	}
	return bytes.Clone(c), nil
}

func apartmentOr(a *ApartmentState) ApartmentState {
	if a == nil {
		return ApartmentUnknown
	}
	return *a
}
