package registry

import (
	"strconv"
	"sync"
	"testing"
)

// TestCache: a cache returns what was put; when full, the next put empties it first; it is safe
// for concurrent use (run with -race).
func TestCache(t *testing.T) {
	var c cache[int]
	if _, ok := c.get("a"); ok {
		t.Fatal("zero cache holds a value")
	}
	for i := 0; i < maxCache; i++ {
		c.put(strconv.Itoa(i), i)
	}
	if v, ok := c.get("0"); !ok || v != 0 {
		t.Fatalf("get(0) = %d, %v", v, ok)
	}
	c.put("0", 7) // an existing key in a full cache: still emptied first
	c.put("new", 1)
	if v, ok := c.get("new"); !ok || v != 1 || len(c.m) != 2 {
		t.Fatalf("after overflow: get(new) = %d, %v, %d entries", v, ok, len(c.m))
	}
	if _, ok := c.get("1"); ok {
		t.Fatal("a full cache was not emptied")
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				c.put(strconv.Itoa(g*100+i), i)
				c.get(strconv.Itoa(i))
			}
		}()
	}
	wg.Wait()
}
