package unitledger

import (
	"math/rand/v2"
	"sync"
	"time"
)

// offlineBuffer is the bounded FIFO of reports waiting for the server.
type offlineBuffer struct {
	mu      sync.Mutex
	reports []*reportRequest
	limit   int
	// signal wakes the replay loop: a report arrived or the connection is back.
	signal chan struct{}
}

func newOfflineBuffer(limit int) *offlineBuffer {
	return &offlineBuffer{limit: limit, signal: make(chan struct{}, 1)}
}

// push appends r, or reports false when the buffer is full.
func (b *offlineBuffer) push(r *reportRequest) bool {
	b.mu.Lock()
	if len(b.reports) >= b.limit {
		b.mu.Unlock()
		return false
	}
	b.reports = append(b.reports, r)
	b.mu.Unlock()
	b.wake()
	return true
}

func (b *offlineBuffer) peek() (*reportRequest, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reports) == 0 {
		return nil, false
	}
	return b.reports[0], true
}

func (b *offlineBuffer) pop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reports) > 0 {
		b.reports[0] = nil
		b.reports = b.reports[1:]
	}
}

func (b *offlineBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.reports)
}

func (b *offlineBuffer) wake() {
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

// backoff is 0.1 s doubling to 5 s, with ±20 % jitter (docs/protocol.md §4).
type backoff struct{ delay time.Duration }

const (
	backoffFirst = 100 * time.Millisecond
	backoffMax   = 5 * time.Second
)

func newBackoff() *backoff { return &backoff{delay: backoffFirst} }

func (b *backoff) reset() { b.delay = backoffFirst }

func (b *backoff) next() time.Duration {
	d := b.delay
	b.delay = min(2*b.delay, backoffMax)
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}
