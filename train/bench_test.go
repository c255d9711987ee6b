package train

import (
	"fmt"
	"testing"

	"github.com/airanode/airanode/gpu/cpu"
)

// Benchmark configurations: the shapes of shared/perf's PyTorch reference (byte vocabulary, learned
// positions, tied embeddings, LayerNorm + GELU).
var benchConfigs = []struct {
	name, spec string
	B, T       int
}{
	{"A", "width=128 vocab=256 norm=layer pos=learned context=256: (A(heads=4) G)x4", 16, 256},
	{"C", "width=64 vocab=256 norm=layer pos=learned context=128: (A(heads=2) G)x2", 32, 128},
}

// BenchmarkTrainStep measures one full training step (forward, backward, clipping, AdamW) and
// reports tokens per second. Run it with -benchtime=5x: each step takes tens of milliseconds.
func BenchmarkTrainStep(b *testing.B) {
	for _, c := range benchConfigs {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", c.name, threads), func(b *testing.B) {
				dev, err := cpu.New(threads)
				if err != nil {
					b.Fatal(err)
				}
				defer dev.Close()
				m := mustModel(b, dev, c.spec, c.B, c.T)
				tr, err := NewTrainer(m, DefaultHyper(1<<20))
				if err != nil {
					b.Fatal(err)
				}
				data := copyTask{B: c.B, T: c.T, V: 256, seed: 1}
				if _, err := tr.trainStep(data); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for b.Loop() {
					if _, err := tr.trainStep(data); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(c.B*c.T)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
			})
		}
	}
}
