package tasks_test

import (
	"testing"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/tasks"
)

// BenchmarkHandleClaim measures taking one heartbeat from the network: signature check, strict
// decoding, validation and the lease update.
func BenchmarkHandleClaim(b *testing.B) {
	f := newEdgeFixture(b)
	envs := make([][]byte, b.N)
	c := f.claim
	for i := range envs {
		c.Seq = int64(100 + i)
		envs[i] = seal(b, f.xKey, object.KindClaim, c)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := f.n.m.HandleEnvelope(f.x, envs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScore measures one rendezvous score.
func BenchmarkScore(b *testing.B) {
	task := object.ObjectCID([]byte("task"))
	_, p := newKey(b)
	b.ReportAllocs()
	for b.Loop() {
		tasks.Score(task, p)
	}
}
