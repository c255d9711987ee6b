package p2p

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// lifecycle tracks a service's goroutines and stream handlers so that Close can refuse new work,
// cancel what runs and wait for it. Its methods are safe for concurrent use.
type lifecycle struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

func newLifecycle() *lifecycle {
	ctx, cancel := context.WithCancel(context.Background())
	return &lifecycle{ctx: ctx, cancel: cancel}
}

// enter registers one unit of work; it returns false once the service is closing.
func (l *lifecycle) enter() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Add(1)
	return true
}

func (l *lifecycle) exit() { l.wg.Done() }

// goFunc runs f in a tracked goroutine; it returns false (and does not run f) once closing.
func (l *lifecycle) goFunc(f func(ctx context.Context)) bool {
	if !l.enter() {
		return false
	}
	go func() {
		defer l.exit()
		f(l.ctx)
	}()
	return true
}

// close cancels the service context and waits for all work. Only the first call returns true.
func (l *lifecycle) close() bool {
	l.mu.Lock()
	first := !l.closed
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
	return first
}

func (l *lifecycle) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// peerLimiter keeps one pair of token buckets per remote peer (events and bytes). Idle peers are
// forgotten, so the map stays bounded by the number of recently active peers.
type peerLimiter struct {
	mu         sync.Mutex
	events     rate.Limit
	eventBurst int
	bytes      rate.Limit
	byteBurst  int
	peers      map[peer.ID]*peerBuckets
	lastSweep  time.Time
}

type peerBuckets struct {
	events *rate.Limiter
	bytes  *rate.Limiter
	last   time.Time
}

const (
	limiterSweepEvery = time.Minute
	limiterIdle       = 5 * time.Minute
)

func newPeerLimiter(eventsPerSec float64, eventBurst int, bytesPerSec float64, byteBurst int) *peerLimiter {
	return &peerLimiter{
		events:     rate.Limit(eventsPerSec),
		eventBurst: eventBurst,
		bytes:      rate.Limit(bytesPerSec),
		byteBurst:  byteBurst,
		peers:      make(map[peer.ID]*peerBuckets),
		lastSweep:  time.Now(),
	}
}

// get returns p's buckets, creating them full.
func (l *peerLimiter) get(p peer.ID) *peerBuckets {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > limiterSweepEvery {
		for id, b := range l.peers {
			if now.Sub(b.last) > limiterIdle {
				delete(l.peers, id)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.peers[p]
	if !ok {
		b = &peerBuckets{
			events: rate.NewLimiter(l.events, l.eventBurst),
			bytes:  rate.NewLimiter(l.bytes, l.byteBurst),
		}
		l.peers[p] = b
	}
	b.last = now
	return b
}
