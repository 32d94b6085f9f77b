package session

import (
	"context"
	"strconv"
	"sync"
)

// State is the state of a session's runspace pool.
type State int32

// Session states.
const (
	// StateBeforeOpen: New has not started opening the pool yet.
	StateBeforeOpen State = iota
	// StateOpening: the shell is being created and the pool negotiated.
	StateOpening
	// StateOpened: the pool is usable.
	StateOpened
	// StateDisconnected: the pool is disconnected from this client.
	StateDisconnected
	// StateBroken: the pool failed (the server dropped it, or the transport
	// failed); it cannot be used any more. Close it to release resources.
	StateBroken
	// StateClosed: Close has completed.
	StateClosed
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StateBeforeOpen:
		return "BeforeOpen"
	case StateOpening:
		return "Opening"
	case StateOpened:
		return "Opened"
	case StateDisconnected:
		return "Disconnected"
	case StateBroken:
		return "Broken"
	case StateClosed:
		return "Closed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Availability says whether a new pipeline can start right away.
type Availability int32

// Availability values.
const (
	// AvailabilityNone: the pool is not Opened.
	AvailabilityNone Availability = iota
	// Available: at least one runspace is free.
	Available
	// Busy: every runspace runs a pipeline; Start waits for one to finish.
	Busy
)

// String returns the availability's name.
func (a Availability) String() string {
	switch a {
	case AvailabilityNone:
		return "None"
	case Available:
		return "Available"
	case Busy:
		return "Busy"
	}
	return "Availability(" + strconv.Itoa(int(a)) + ")"
}

// StateChange is one change of a session's state or availability, as
// delivered by Watch.
type StateChange struct {
	// From and To are the states before and after; equal when only the
	// availability changed.
	From, To State
	// Availability is the availability after the change.
	Availability Availability
	// Err is the cause of a change to StateBroken, or of a change to
	// StateDisconnected that the network forced (see WithReconnectWindow);
	// else nil.
	Err error
}

// maxWatchQueue bounds what a slow watcher can accumulate. State changes are
// never dropped (a session has only a handful); availability-only changes
// are coalesced when the watcher falls behind.
const maxWatchQueue = 64

// watcher forwards changes to one Watch channel through an unbounded (but
// coalescing) queue, so that the session never blocks on a slow reader.
type watcher struct {
	mu     sync.Mutex
	queue  []StateChange
	wake   chan struct{}
	closed bool
}

func (w *watcher) push(c StateChange) {
	w.mu.Lock()
	if !w.closed {
		n := len(w.queue)
		if n > 0 && c.From == c.To && w.queue[n-1].From == w.queue[n-1].To {
			w.queue[n-1] = c // coalesce consecutive availability-only changes
		} else if n < maxWatchQueue || c.From != c.To {
			w.queue = append(w.queue, c)
		}
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// finish marks the end of the stream: the forwarder delivers what is queued
// and closes the channel.
func (w *watcher) finish() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run forwards queued changes to out until finish or ctx is done.
func (w *watcher) run(ctx context.Context, out chan<- StateChange) {
	defer close(out)
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			closed := w.closed
			w.mu.Unlock()
			if closed {
				return
			}
			select {
			case <-w.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		c := w.queue[0]
		w.queue = w.queue[1:]
		w.mu.Unlock()
		select {
		case out <- c:
		case <-ctx.Done():
			return
		}
	}
}
