package node

import (
	"log/slog"
	"testing"

	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/registry/registrytest"
	"github.com/airanode/airanode/tasks"
	"github.com/airanode/airanode/tasks/taskstest"
)

// testRouter is a router whose counted cores are counted (ordinal → class), started of them when
// the node started, with no Supervisor (the tests call givenUp and ready as its callbacks would).
func testRouter(started int, counted map[int]string) *router {
	return &router{started: started, counted: counted, log: slog.New(slog.DiscardHandler)}
}

// checkRouter requires m's workers and classes, and r's advertised classes, to be workers and class.
func checkRouter(t *testing.T, m *tasks.Manager, r *router, what string, workers int, class string) {
	t.Helper()
	if s := m.Stats(); s.Workers != workers || s.Class != class || r.advertised() != class {
		t.Fatalf("%s: workers %d, class %q, router %q; want %d, %q", what, s.Workers, s.Class, r.advertised(), workers, class)
	}
}

// The router's give-ups, one at a time and in a fixed order: a core given up before the Manager
// exists is applied when it does (counted − started), a core given up twice or never counted
// changes nothing, and each give-up takes one worker and the classes no core left declares.
func TestRouterGiveUp(t *testing.T) {
	m := routerManager(t, 3, cpu.Class+" cuda-a cuda-b")
	r := testRouter(3, map[int]string{0: "cuda-a", 1: "cuda-b", 2: "cuda-a"})
	r.givenUp(1) // before the Manager
	if got := r.advertised(); got != cpu.Class+" cuda-a" {
		t.Fatalf("before the Manager, after giving up core 1: router advertises %q", got)
	}
	if s := m.Stats(); s.Workers != 3 || s.Class != cpu.Class+" cuda-a cuda-b" {
		t.Fatalf("a give-up before setManager changed the Manager: %d workers, class %q", s.Workers, s.Class)
	}
	r.setManager(m)
	checkRouter(t, m, r, "the Manager set", 2, cpu.Class+" cuda-a")
	r.givenUp(1)
	r.givenUp(7)
	checkRouter(t, m, r, "core 1 again, and core 7 never counted", 2, cpu.Class+" cuda-a")
	r.givenUp(0)
	checkRouter(t, m, r, "core 0 (core 2 still declares cuda-a)", 1, cpu.Class+" cuda-a")
	r.givenUp(2)
	checkRouter(t, m, r, "core 2 (one worker at least)", 1, cpu.Class)
}

// The router's late cores, one at a time: a core that comes up after the node started brings one
// worker and its class, applied when the Manager exists if it came before; a restart of a counted
// core changes nothing.
func TestRouterLateCore(t *testing.T) {
	m := routerManager(t, 2, cpu.Class+" cuda-a")
	r := testRouter(1, map[int]string{0: "cuda-a"})
	r.ready(1, "cuda-b") // before the Manager
	if s := m.Stats(); s.Workers != 2 || s.Class != cpu.Class+" cuda-a" {
		t.Fatalf("a late core before setManager changed the Manager: %d workers, class %q", s.Workers, s.Class)
	}
	r.setManager(m)
	checkRouter(t, m, r, "the Manager set", 3, cpu.Class+" cuda-a cuda-b")
	r.ready(0, "cuda-a")
	r.ready(1, "cuda-b")
	checkRouter(t, m, r, "cores 0 and 1 restarted", 3, cpu.Class+" cuda-a cuda-b")
	r.ready(3, "cuda-a")
	checkRouter(t, m, r, "core 3 up late", 4, cpu.Class+" cuda-a cuda-b")
	r.givenUp(1)
	checkRouter(t, m, r, "core 1 given up", 3, cpu.Class+" cuda-a")

	// Before the Manager exists, a counted core is given up and another comes up: the workers are
	// as they were, the classes are not.
	m = routerManager(t, 2, cpu.Class+" cuda-a")
	r = testRouter(1, map[int]string{0: "cuda-a"})
	r.givenUp(0)
	r.ready(1, "cuda-b")
	r.setManager(m)
	checkRouter(t, m, r, "core 0 given up and core 1 up before the Manager", 2, cpu.Class+" cuda-b")
}

// routerManager is a tasks.Manager on an in-memory network for the router tests (its timings do
// not matter: the tests read only its workers and classes).
func routerManager(t *testing.T, workers int, class string) *tasks.Manager {
	t.Helper()
	p := registrytest.NewPeer(t)
	ep := taskstest.NewNetwork().Join(p.ID)
	t.Cleanup(ep.Leave)
	m, err := tasks.New(tasks.Config{
		Workers: workers, Class: class, Key: p.Key, Store: registrytest.Store(t), Bus: ep, Executor: &taskstest.CounterExecutor{Steps: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
