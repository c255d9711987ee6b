package p2p

import (
	"sync"
	"time"
)

// seenCache remembers keys for a TTL, holding at most max keys (the oldest are forgotten first).
// It is safe for concurrent use.
type seenCache struct {
	mu   sync.Mutex
	ttl  time.Duration
	max  int
	keys map[string]time.Time // key → when it was added
	fifo []seenEntry          // insertion order; fifo[head:] are live
	head int
	now  func() time.Time
}

type seenEntry struct {
	key string
	at  time.Time
}

func newSeenCache(ttl time.Duration, max int) *seenCache {
	return &seenCache{ttl: ttl, max: max, keys: make(map[string]time.Time), now: time.Now}
}

// add records every key and reports whether none of them was already present (unexpired).
// Either all keys are recorded or, when one was present, none is.
func (s *seenCache) add(keys ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expire(now)
	for _, k := range keys {
		if _, ok := s.keys[k]; ok {
			return false
		}
	}
	for _, k := range keys {
		s.keys[k] = now
		s.fifo = append(s.fifo, seenEntry{k, now})
	}
	for len(s.keys) > s.max {
		s.pop()
	}
	return true
}

// has reports whether key is present and unexpired.
func (s *seenCache) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(s.now())
	_, ok := s.keys[key]
	return ok
}

func (s *seenCache) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

func (s *seenCache) expire(now time.Time) {
	for s.head < len(s.fifo) && now.Sub(s.fifo[s.head].at) >= s.ttl {
		s.pop()
	}
}

// pop forgets the oldest entry and compacts the queue when half of it is dead.
func (s *seenCache) pop() {
	e := s.fifo[s.head]
	s.fifo[s.head] = seenEntry{}
	s.head++
	if at, ok := s.keys[e.key]; ok && at.Equal(e.at) {
		delete(s.keys, e.key)
	}
	if s.head > 1024 && s.head*2 > len(s.fifo) {
		s.fifo = append([]seenEntry(nil), s.fifo[s.head:]...)
		s.head = 0
	}
}
