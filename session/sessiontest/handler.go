package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"time"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// HandlerFunc serves one command of a pipeline: it reads the call's
// arguments and input and writes its streams. It runs in its own
// goroutine. ctx is cancelled when the client stops the pipeline (Signal
// powershell/signal/crtl_c) or terminates the command, when the shell is
// deleted, when the server closes, and when a later command of its
// pipeline has returned (nothing would read its output); a handler must
// return soon after, since Server.Close waits for it. A handler that
// panics fails its pipeline.
//
// The return value decides how the pipeline ends:
//   - nil: Completed (errors written with Call.WriteError are non-terminating,
//     as in PowerShell);
//   - ctx.Err() after the client stopped the pipeline: Stopped;
//   - ctx.Err() after a later command of the pipeline returned: as nil;
//   - a *TerminatingError: Failed, with its ErrorRecord;
//   - any other error: Failed, with an ErrorRecord built from its message.
type HandlerFunc func(ctx context.Context, c *Call) error

// TerminatingError fails the pipeline with a specific ErrorRecord, as a
// PowerShell `throw` or ThrowTerminatingError does.
type TerminatingError struct {
	Record *clixml.ErrorRecord
}

func (e *TerminatingError) Error() string {
	if e.Record == nil {
		return "sessiontest: terminating error"
	}
	return "sessiontest: terminating error: " + e.Record.Exception.Message
}

// ErrorCategory values of System.Management.Automation.ErrorCategory used by
// the endpoint.
const (
	CategoryNotSpecified        clixml.ErrorCategory = 0
	CategoryInvalidArgument     clixml.ErrorCategory = 5
	CategoryInvalidOperation    clixml.ErrorCategory = 7
	CategoryObjectNotFound      clixml.ErrorCategory = 13
	CategoryOperationStopped    clixml.ErrorCategory = 14
	CategoryResourceUnavailable clixml.ErrorCategory = 21
)

// NewErrorRecord builds an ErrorRecord the way PowerShell builds one for a
// Write-Error: a Microsoft.PowerShell.Commands.WriteErrorException with
// message, the given FullyQualifiedErrorId and category.
func NewErrorRecord(message, errorID string, category clixml.ErrorCategory) *clixml.ErrorRecord {
	if errorID == "" {
		errorID = "Microsoft.PowerShell.Commands.WriteErrorException"
	}
	return &clixml.ErrorRecord{
		Exception: clixml.ExceptionInfo{
			TypeNames: []string{"Microsoft.PowerShell.Commands.WriteErrorException", "System.SystemException", "System.Exception", "System.Object"},
			Message:   message,
		},
		FullyQualifiedErrorID: errorID,
		CategoryInfo:          clixml.ErrorCategoryInfo{Category: category, Reason: "WriteErrorException"},
	}
}

// CommandNotFoundRecord is the ErrorRecord PowerShell gives for a command
// name it cannot resolve.
func CommandNotFoundRecord(name string) *clixml.ErrorRecord {
	return &clixml.ErrorRecord{
		Exception: clixml.ExceptionInfo{
			TypeNames: []string{"System.Management.Automation.CommandNotFoundException", "System.Management.Automation.RuntimeException", "System.SystemException", "System.Exception", "System.Object"},
			Message:   "The term '" + name + "' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.",
		},
		TargetObject:          name,
		FullyQualifiedErrorID: "CommandNotFoundException",
		CategoryInfo: clixml.ErrorCategoryInfo{
			Category: CategoryObjectNotFound, Reason: "CommandNotFoundException",
			TargetName: name, TargetType: "String",
		},
	}
}

// recordFromError turns a handler's error into the ErrorRecord a failed
// pipeline reports.
func recordFromError(err error) *clixml.ErrorRecord {
	var te *TerminatingError
	if errors.As(err, &te) && te.Record != nil {
		return te.Record
	}
	return &clixml.ErrorRecord{
		Exception: clixml.ExceptionInfo{
			TypeNames: []string{"System.Management.Automation.RuntimeException", "System.SystemException", "System.Exception", "System.Object"},
			Message:   err.Error(),
		},
		FullyQualifiedErrorID: "RuntimeException",
		CategoryInfo:          clixml.ErrorCategoryInfo{Category: CategoryOperationStopped, Reason: "RuntimeException"},
	}
}

// Arg is one argument of a command: a named parameter (Name set, Value the
// value or nil for a switch) or a positional argument (Name empty).
// SecureString values arrive decrypted as clixml.SecureString.
type Arg struct {
	Name  string
	Value any
}

// sink is where a Call's writes go: the PSRP server pipeline in the real
// endpoint, a recorder in tests. Methods are safe for concurrent use.
type sink interface {
	output(v any) error
	errorRecord(rec *clixml.ErrorRecord) error
	// informational writes a debug, verbose or warning record.
	informational(kind recordKind, msg string) error
	progress(rec clixml.ProgressRecord) error
	information(rec clixml.InformationRecord) error
	// hostCall makes a host call; void methods return at once with nil.
	hostCall(ctx context.Context, method psrp.HostMethodID, params []any) (any, error)
}

type recordKind int

const (
	kindDebug recordKind = iota
	kindVerbose
	kindWarning
)

// Command is one command of a pipeline: as the client sent it, or one
// part of a script the endpoint split at its pipes and statement breaks.
type Command struct {
	// Name is the command name its handler is chosen by: the command text
	// for a command, the first word of the script for a script.
	Name string
	// Text is the command name, or the script text when IsScript.
	Text string
	// IsScript reports whether the command is script text.
	IsScript bool
	// Args are the command's arguments, in wire order.
	Args []Arg
}

// Call is one invocation of a command handler: the command as the client
// sent it, its arguments and input, and the streams to write to. Its
// methods are safe for concurrent use.
type Call struct {
	// Name is the command name the handler was chosen by: the command text
	// for a command, the first word of the script for a script.
	Name string
	// Script is the full text of the command: the script (or the part of
	// it between pipes that chose this handler) when IsScript, else the
	// command name.
	Script string
	// IsScript reports whether the client sent the command as a script.
	IsScript bool
	// Args are the arguments of the command, in wire order.
	Args []Arg
	// Pipeline is the pipeline the command is part of, in order, and
	// Position is its index there: Get-Thing | Where-Thing runs the
	// Get-Thing handler at Position 0 and the Where-Thing handler at
	// Position 1, whose input is Get-Thing's output.
	Pipeline []Command
	Position int
	// NoInput reports that the command gets no input: the client sends
	// none to the first command, or the command starts a later statement.
	NoInput bool
	// ApplicationArguments are the arguments the client gave when it opened
	// the runspace pool ($PSSenderInfo.ApplicationArguments), or nil.
	ApplicationArguments map[string]any

	sink  sink
	input *inputQueue
}

// Arg returns the value of the named parameter (case-insensitive, without
// the leading dash) and whether it was given.
func (c *Call) Arg(name string) (any, bool) {
	name = strings.TrimPrefix(name, "-")
	for _, a := range c.Args {
		if strings.EqualFold(strings.TrimPrefix(a.Name, "-"), name) {
			return a.Value, true
		}
	}
	return nil, false
}

// Positional returns the positional arguments, in order.
func (c *Call) Positional() []any {
	var out []any
	for _, a := range c.Args {
		if a.Name == "" {
			out = append(out, a.Value)
		}
	}
	return out
}

// NextInput waits for the next pipeline input object: the client's input
// for the first command, the previous command's output for a later one. ok
// is false when the input has ended (or there is none); err is ctx's error
// if ctx ends first.
func (c *Call) NextInput(ctx context.Context) (v any, ok bool, err error) {
	if c.input == nil {
		return nil, false, nil
	}
	return c.input.next(ctx)
}

// Input returns the pipeline input objects as they arrive. The sequence
// ends without an error when the input has ended; when ctx ends first its
// last pair is (nil, ctx.Err()), so a handler tells the two apart:
//
//	for v, err := range c.Input(ctx) {
//		if err != nil {
//			return err // stopped: the input did not end
//		}
//		...
//	}
func (c *Call) Input(ctx context.Context) iter.Seq2[any, error] {
	return func(yield func(any, error) bool) {
		for {
			v, ok, err := c.NextInput(ctx)
			if err != nil {
				yield(nil, err)
				return
			}
			if !ok || !yield(v, nil) {
				return
			}
		}
	}
}

// WriteOutput writes objects to the output stream.
func (c *Call) WriteOutput(vs ...any) error {
	for _, v := range vs {
		if err := c.sink.output(v); err != nil {
			return err
		}
	}
	return nil
}

// WriteError writes a non-terminating error record.
func (c *Call) WriteError(rec *clixml.ErrorRecord) error { return c.sink.errorRecord(rec) }

// WriteWarning writes to the warning stream.
func (c *Call) WriteWarning(msg string) error { return c.sink.informational(kindWarning, msg) }

// WriteVerbose writes to the verbose stream.
func (c *Call) WriteVerbose(msg string) error { return c.sink.informational(kindVerbose, msg) }

// WriteDebug writes to the debug stream.
func (c *Call) WriteDebug(msg string) error { return c.sink.informational(kindDebug, msg) }

// WriteProgress writes a progress record.
func (c *Call) WriteProgress(rec clixml.ProgressRecord) error { return c.sink.progress(rec) }

// WriteInformation writes an information record with data and tags, as
// Write-Information does.
func (c *Call) WriteInformation(data any, tags ...string) error {
	return c.sink.information(clixml.InformationRecord{
		MessageData: data, Source: c.Name, TimeGenerated: clixml.DateTime{Time: time.Now(), Kind: clixml.Local},
		Tags: tags, User: "sessiontest\\user", Computer: "localhost", ProcessID: 4242,
	})
}

// WriteHost writes text as Write-Host does on protocol 2.3: an information
// record tagged PSHOST.
func (c *Call) WriteHost(msg string) error { return c.WriteInformation(msg, "PSHOST") }

// HostCall calls a method of the client's host (PIPELINE_HOST_CALL) and
// waits for its answer; an answer carrying an error record is a *HostError.
// Void methods (the Write* family, SetShouldExit...) return nil at once, as
// the client sends no answer to them.
func (c *Call) HostCall(ctx context.Context, method psrp.HostMethodID, params ...any) (any, error) {
	return c.sink.hostCall(ctx, method, params)
}

// ReadLine shows prompt (when not empty) and reads a line from the client's
// host, as Read-Host does.
func (c *Call) ReadLine(ctx context.Context, prompt string) (string, error) {
	if prompt != "" {
		if _, err := c.HostCall(ctx, psrp.HostWrite1, prompt+": "); err != nil {
			return "", err
		}
	}
	v, err := c.HostCall(ctx, psrp.HostReadLine)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok && v != nil {
		return "", fmt.Errorf("sessiontest: ReadLine returned %T, not a string", v)
	}
	return s, nil
}

// PromptForChoice asks the client's host to choose among choices (labels
// such as "&Yes"); it returns the chosen index.
func (c *Call) PromptForChoice(ctx context.Context, caption, message string, choices []string, defaultChoice int) (int, error) {
	items := make([]any, len(choices))
	for i, ch := range choices {
		items[i] = &clixml.Object{
			TypeNames: []string{"System.Management.Automation.Host.ChoiceDescription", "System.Object"},
			Members: []clixml.Property{
				{Name: "helpMessage", Value: ""},
				{Name: "label", Value: ch},
			},
		}
	}
	list := &clixml.Object{TypeNames: []string{"System.Collections.ObjectModel.Collection`1[[System.Management.Automation.Host.ChoiceDescription, System.Management.Automation, Version=3.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]", "System.Object"}, Kind: clixml.List, Items: items}
	v, err := c.HostCall(ctx, psrp.HostPromptForChoice, caption, message, list, int32(defaultChoice))
	if err != nil {
		return 0, err
	}
	switch n := v.(type) {
	case int32:
		return int(n), nil
	case int64:
		return int(n), nil
	case int:
		return n, nil
	}
	return 0, fmt.Errorf("sessiontest: PromptForChoice returned %T, not an integer", v)
}

// Prompt asks the client's host to fill in the named fields (each a
// string field, as Read-Host -Prompt or a mandatory parameter would) and
// returns the answers by field name.
func (c *Call) Prompt(ctx context.Context, caption, message string, fields ...string) (map[string]any, error) {
	descs := make([]any, len(fields))
	for i, f := range fields {
		descs[i] = &clixml.Object{
			TypeNames: []string{"System.Management.Automation.Host.FieldDescription", "System.Object"},
			Members: []clixml.Property{
				{Name: "name", Value: f}, {Name: "label", Value: ""},
				{Name: "parameterTypeName", Value: "String"}, {Name: "parameterTypeFullName", Value: "System.String"},
				{Name: "parameterAssemblyFullName", Value: "System.String"}, {Name: "helpMessage", Value: ""},
				{Name: "isMandatory", Value: true}, {Name: "modifiedByRemotingProtocol", Value: false},
				{Name: "isFromRemoteHost", Value: false}, {Name: "attributes", Value: nil}, {Name: "defaultValue", Value: nil},
			},
		}
	}
	list := &clixml.Object{TypeNames: []string{"System.Collections.ObjectModel.Collection`1[[System.Management.Automation.Host.FieldDescription, System.Management.Automation, Version=3.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]", "System.Object"}, Kind: clixml.List, Items: descs}
	v, err := c.HostCall(ctx, psrp.HostPrompt, caption, message, list)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	switch d := v.(type) {
	case map[string]any:
		return d, nil
	case *clixml.Object:
		if d.Kind != clixml.Dictionary {
			return nil, fmt.Errorf("sessiontest: Prompt returned a %v object, not a dictionary", d.Kind)
		}
		for _, e := range d.Entries {
			out[text(e.Key)] = e.Value
		}
		return out, nil
	case nil:
		return out, nil
	}
	return nil, fmt.Errorf("sessiontest: Prompt returned %T, not a dictionary", v)
}

// PromptForCredential asks the client's host for a credential.
func (c *Call) PromptForCredential(ctx context.Context, caption, message, userName, targetName string) (*clixml.PSCredential, error) {
	v, err := c.HostCall(ctx, psrp.HostPromptForCredential1, caption, message, userName, targetName)
	if err != nil {
		return nil, err
	}
	var cred clixml.PSCredential
	if err := cred.UnmarshalCLIXML(v); err != nil {
		return nil, fmt.Errorf("sessiontest: PromptForCredential answer: %w", err)
	}
	return &cred, nil
}

// inputQueue carries pipeline input to a handler: from the PSRP side for
// a pipeline's first command, from the previous command for a later one.
type inputQueue struct {
	mu    sync.Mutex
	items []any
	ended bool // no more input will come
	gone  bool // the reader returned: input is discarded
	limit int
	// wake is closed (and replaced) on every change, to wake both a
	// waiting reader and writers waiting for room.
	wake chan struct{}
}

func newInputQueue() *inputQueue { return newBoundedQueue(maxQueuedInput) }

func newBoundedQueue(limit int) *inputQueue {
	return &inputQueue{wake: make(chan struct{}), limit: limit}
}

// maxQueuedInput bounds the input objects a pipeline holds that its
// handler has not read yet, so a client cannot grow the queue without end.
const maxQueuedInput = 1 << 16

// broadcast wakes every waiter. Called with mu held.
func (q *inputQueue) broadcast() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// push queues v; it reports false when the queue is full.
func (q *inputQueue) push(v any) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= q.limit {
		return false
	}
	if !q.ended && !q.gone {
		q.items = append(q.items, v)
	}
	q.broadcast()
	return true
}

// send queues v, waiting for room while the queue is full, as a command
// writing to the next one of its pipeline does. Once the reader has
// returned, v is discarded.
func (q *inputQueue) send(ctx context.Context, v any) error {
	for {
		q.mu.Lock()
		if q.ended || q.gone {
			q.mu.Unlock()
			return ctx.Err()
		}
		if len(q.items) < q.limit {
			q.items = append(q.items, v)
			q.broadcast()
			q.mu.Unlock()
			return nil
		}
		w := q.wake
		q.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (q *inputQueue) end() {
	q.mu.Lock()
	q.ended = true
	q.broadcast()
	q.mu.Unlock()
}

// readerGone drops what is queued and makes later writes no-ops: the
// command that reads the queue has returned.
func (q *inputQueue) readerGone() {
	q.mu.Lock()
	q.gone = true
	clear(q.items)
	q.items = nil
	q.broadcast()
	q.mu.Unlock()
}

func (q *inputQueue) next(ctx context.Context) (any, bool, error) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			if len(q.items) == q.limit {
				q.broadcast() // a writer may be waiting for room
			}
			v := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.mu.Unlock()
			return v, true, nil
		}
		if q.ended || q.gone {
			q.mu.Unlock()
			return nil, false, nil
		}
		w := q.wake
		q.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// Handle registers h for the command name (case-insensitive). It replaces
// any handler for that name, including a built-in one.
func (s *Server) Handle(name string, h HandlerFunc) {
	s.hmu.Lock()
	s.handlers[strings.ToLower(name)] = h
	s.nameCommandLocked(name)
	s.hmu.Unlock()
}

// HandleScript registers h for a script of exactly this text (leading and
// trailing space ignored). Script handlers win over command handlers.
func (s *Server) HandleScript(script string, h HandlerFunc) {
	s.hmu.Lock()
	s.scripts[strings.TrimSpace(script)] = h
	s.hmu.Unlock()
}

// handler returns the handler of a command name, or nil.
func (s *Server) handler(name string) HandlerFunc {
	s.hmu.RLock()
	defer s.hmu.RUnlock()
	return s.handlers[strings.ToLower(name)]
}

// scriptHandler returns the exact-text handler of a script, if any.
func (s *Server) scriptHandler(script string) (HandlerFunc, bool) {
	s.hmu.RLock()
	defer s.hmu.RUnlock()
	h, ok := s.scripts[strings.TrimSpace(script)]
	return h, ok
}

// firstWord returns the command word a script starts with: "Get-Date" of
// "Get-Date -Format o", "$PSVersionTable" of "$PSVersionTable.PSVersion".
func firstWord(script string) string {
	script = strings.TrimSpace(script)
	end := strings.IndexFunc(script, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\r' || r == '\n' || r == ';' || r == '|' || r == '(' || r == '.' && !strings.HasPrefix(script, ".")
	})
	if end < 0 {
		return script
	}
	return script[:end]
}

// scriptArgs splits the arguments after the first word of a simple script
// ("Get-Date -Format o", "Start-Sleep 5", "Write-Output 'a b'") so that a
// command handler chosen by that word sees them as it would for a command.
// It stops at the first |, ; or newline: this is not a PowerShell parser.
func scriptArgs(script string) []Arg {
	type token struct {
		text   string
		quoted bool // a quoted '-x' is a value, not a parameter name
	}
	var toks []token
	var cur strings.Builder
	var quote rune
	inTok, quoted := false, false
	rest := strings.TrimSpace(script)
	rest = rest[len(firstWord(rest)):]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return nil // member access such as $PSVersionTable.PSVersion
	}
scan:
	for _, r := range rest {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
				continue
			}
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inTok = r, true
			quoted = quoted || cur.Len() == 0
		case r == '|' || r == ';' || r == '\n' || r == '\r':
			break scan
		case r == ' ' || r == '\t':
			if inTok {
				toks = append(toks, token{cur.String(), quoted})
				cur.Reset()
				inTok, quoted = false, false
			}
		default:
			cur.WriteRune(r)
			inTok = true
		}
	}
	if inTok {
		toks = append(toks, token{cur.String(), quoted})
	}
	isName := func(t token) bool {
		return !t.quoted && len(t.text) > 1 && t.text[0] == '-' && (t.text[1] < '0' || t.text[1] > '9')
	}
	var args []Arg
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if isName(t) {
			name := strings.TrimSuffix(t.text[1:], ":")
			if i+1 < len(toks) && !isName(toks[i+1]) {
				args = append(args, Arg{Name: name, Value: toks[i+1].text})
				i++
			} else {
				args = append(args, Arg{Name: name, Value: true})
			}
			continue
		}
		args = append(args, Arg{Value: t.text})
	}
	return args
}
