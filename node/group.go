package node

import "sync"

// group runs goroutines and waits for them; once Wait has begun it starts no more, so that a
// goroutine started from a callback during Close cannot outlive it. It is safe for concurrent use.
type group struct {
	mu      sync.Mutex
	wg      sync.WaitGroup
	stopped bool
}

// Go runs fn in a new goroutine, unless Wait has begun; it reports whether fn was started.
func (g *group) Go(fn func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn()
	}()
	return true
}

// Wait refuses new goroutines and waits for the running ones.
func (g *group) Wait() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.wg.Wait()
}
