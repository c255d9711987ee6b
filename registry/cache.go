package registry

import "sync"

// cache is a bounded map from a key to an immutable value (an object read from the store, or a
// verdict with its fingerprint). A full cache is emptied rather than evicting one entry: the
// entries are cheap to recompute and the bound only keeps memory finite. It is safe for concurrent
// use; the zero value is ready.
type cache[V any] struct {
	mu sync.Mutex
	m  map[string]V
}

// get returns the value cached under k.
func (c *cache[V]) get(k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

// put caches v under k, emptying the cache first when it holds maxCache entries.
func (c *cache[V]) put(k string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCache {
		c.m = make(map[string]V)
	}
	c.m[k] = v
}
