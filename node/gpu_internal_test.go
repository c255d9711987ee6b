package node

import (
	"crypto/rand"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/store"
	"github.com/airanode/airanode/tasks"
	"github.com/airanode/airanode/tasks/taskstest"
)

// The router's give-ups, one at a time and in a fixed order: a core given up before the Manager
// exists is applied when it does (started − counted), a core given up twice or never counted
// changes nothing, and each give-up takes one worker and the classes no core left declares.
func TestRouterGiveUp(t *testing.T) {
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open("", store.Options{InMemory: true, MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ep := taskstest.NewNetwork().Join(id)
	defer ep.Leave()
	m, err := tasks.New(tasks.Config{
		Workers: 3, Class: cpu.Class + " cuda-a cuda-b", Key: sk, Store: st, Bus: ep,
		Executor: &taskstest.CounterExecutor{Steps: 1},
		Lease:    1500 * time.Millisecond, Heartbeat: 200 * time.Millisecond, RankDelay: 200 * time.Millisecond,
		Tick: 20 * time.Millisecond, CapabilityInterval: 300 * time.Millisecond, Warmup: 300 * time.Millisecond,
		PublishTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := &router{started: 3, counted: map[int]string{0: "cuda-a", 1: "cuda-b", 2: "cuda-a"},
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	check := func(what string, workers int, class string) {
		t.Helper()
		if s := m.Stats(); s.Workers != workers || s.Class != class || r.advertised() != class {
			t.Fatalf("%s: workers %d, class %q, router %q; want %d, %q", what, s.Workers, s.Class, r.advertised(), workers, class)
		}
	}
	r.givenUp(1) // before the Manager
	if got := r.advertised(); got != cpu.Class+" cuda-a" {
		t.Fatalf("before the Manager, after giving up core 1: router advertises %q", got)
	}
	if s := m.Stats(); s.Workers != 3 || s.Class != cpu.Class+" cuda-a cuda-b" {
		t.Fatalf("a give-up before setManager changed the Manager: %d workers, class %q", s.Workers, s.Class)
	}
	r.setManager(m)
	check("the Manager set", 2, cpu.Class+" cuda-a")
	r.givenUp(1)
	r.givenUp(7)
	check("core 1 again, and core 7 never counted", 2, cpu.Class+" cuda-a")
	r.givenUp(0)
	check("core 0 (core 2 still declares cuda-a)", 1, cpu.Class+" cuda-a")
	r.givenUp(2)
	check("core 2 (one worker at least)", 1, cpu.Class)
}
