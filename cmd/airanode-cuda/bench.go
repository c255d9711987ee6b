//go:build cuda || cudaemu

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/gpu/cuda"
	"github.com/airanode/airanode/train"
)

// perfConfigs are the model shapes of shared/perf/torch_lm_bench.py (the engine's reference): a
// byte-level pre-norm transformer with learned positions, tied embeddings, LayerNorm and a 4d GELU MLP.
var perfConfigs = map[string]struct{ d, layers, heads, seq, batch int }{
	"A": {128, 4, 4, 256, 16},
	"B": {256, 6, 8, 256, 16},
	"C": {64, 2, 2, 128, 32},
}

type benchLine struct {
	Impl        string  `json:"impl"`
	Device      string  `json:"device"`
	Config      string  `json:"config"`
	Params      int64   `json:"params"`
	MsStep      float64 `json:"ms_step"`
	TokensPerS  float64 `json:"tokens_per_s"`
	GFLOPs      float64 `json:"gflops"`
	DigestFinal string  `json:"digest_final"`
}

// randomTokens is the benchmark's data: bytes from a splitmix64 stream, a new batch every step.
type randomTokens struct{ seq int }

func (r randomTokens) Batch(step int, tokens, targets []int32) error {
	s := uint64(step)*0x9E3779B97F4A7C15 + 1
	next := func() int32 {
		s += 0x9E3779B97F4A7C15
		z := s
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		return int32((z ^ (z >> 31)) & 255)
	}
	for i := range tokens {
		tokens[i] = next()
	}
	for i := range targets {
		if (i+1)%r.seq == 0 {
			targets[i] = next()
		} else {
			targets[i] = tokens[i+1]
		}
	}
	return nil
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	configs := fs.String("configs", "A,B", "configs of shared/perf (A, B, C), comma-separated")
	steps := fs.Int("steps", 30, "timed steps")
	warmup := fs.Int("warmup", 10, "untimed warm-up steps")
	reference := fs.Bool("reference-kernels", false, "run the first, untiled kernels (same bits; to measure the tuned ones' gain)")
	profile := fs.Int("profile", 0, "after the timed steps, train this many more with per-kernel timing and print where the time goes")
	onCPU := fs.Bool("cpu", false, "train each config on the CPU device too (all cores) and compare the final digests: the kernels compute the CPU device's bits")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	if *steps < 1 || *warmup < 0 || *profile < 0 {
		return fmt.Errorf("bench: want --steps >= 1, --warmup >= 0, --profile >= 0")
	}
	dev, err := cuda.New(0)
	if err != nil {
		return err
	}
	defer dev.Close()
	dev.SetReferenceKernels(*reference)
	for _, name := range strings.Split(*configs, ",") {
		c, ok := perfConfigs[name]
		if !ok {
			return fmt.Errorf("unknown config %q (want A, B or C)", name)
		}
		spec := fmt.Sprintf("width=%d norm=layer pos=learned context=%d vocab=256 : (A(heads=%d) G)x%d", c.d, c.seq, c.heads, c.layers)
		a, err := arch.Parse(spec)
		if err == nil {
			a, err = arch.Normalize(a)
		}
		if err != nil {
			return err
		}
		m, tr, el, err := trainConfig(dev, a, c.batch, c.seq, *warmup, *steps)
		if err != nil {
			return err
		}
		params, err := arch.Params(a)
		if err != nil {
			return err
		}
		flopParams := params - int64(c.seq*c.d)
		fpt := 6*flopParams + int64(12*c.layers*c.seq*c.d)
		tok := float64(*steps * c.batch * c.seq)
		chain := tr.Chain()
		impl := "airanode-cuda"
		if *reference {
			impl += " (reference kernels)"
		}
		line := benchLine{
			Impl: impl, Device: dev.Name(), Config: name, Params: params,
			MsStep:     float64(el.Microseconds()) / 1e3 / float64(*steps),
			TokensPerS: tok / el.Seconds(), GFLOPs: float64(fpt) * tok / el.Seconds() / 1e9,
		}
		if len(chain) > 0 {
			line.DigestFinal = fmt.Sprintf("%x", chain[len(chain)-1].Digest[:8])
		}
		if err := json.NewEncoder(os.Stdout).Encode(line); err != nil {
			return err
		}
		if *profile > 0 {
			// A trainer of its own, so that the timed run's schedule and final digest do not
			// depend on --profile (the digest is what the tuned and reference runs compare).
			ptr, err := train.NewTrainer(m, train.DefaultHyper(*profile))
			if err != nil {
				return err
			}
			if err := profileSteps(context.Background(), dev, ptr, randomTokens{seq: c.seq}, name, *profile); err != nil {
				return err
			}
		}
		m.Close()
		if *onCPU {
			if len(chain) == 0 {
				return fmt.Errorf("config %s: no digest to compare", name)
			}
			if err := compareCPU(a, name, c.batch, c.seq, *warmup, *steps, chain[len(chain)-1].Digest); err != nil {
				return err
			}
		}
	}
	return nil
}

// trainConfig trains a on dev for warmup untimed steps, then steps timed ones, on the benchmark's
// data, and returns the model, its trainer and the time of the timed steps.
func trainConfig(dev gpu.Device, a arch.Arch, batch, seq, warmup, steps int) (*train.Model, *train.Trainer, time.Duration, error) {
	m, err := train.NewModel(dev, a, train.Shape{Batch: batch, Seq: seq})
	if err != nil {
		return nil, nil, 0, err
	}
	h := train.DefaultHyper(warmup + steps)
	h.Segments = 1
	tr, err := train.NewTrainer(m, h)
	if err == nil {
		err = tr.RunUntil(context.Background(), randomTokens{seq: seq}, warmup)
	}
	if err == nil {
		err = dev.Sync()
	}
	if err != nil {
		m.Close()
		return nil, nil, 0, err
	}
	t0 := time.Now()
	err = tr.RunUntil(context.Background(), randomTokens{seq: seq}, warmup+steps)
	if err == nil {
		err = dev.Sync()
	}
	if err != nil {
		m.Close()
		return nil, nil, 0, err
	}
	return m, tr, time.Since(t0), nil
}

// compareCPU trains config name on the CPU device exactly as on the GPU, prints its line, and
// returns an error unless its final digest is want, the GPU run's.
func compareCPU(a arch.Arch, name string, batch, seq, warmup, steps int, want train.Digest) error {
	dev, err := cpu.New(runtime.NumCPU())
	if err != nil {
		return err
	}
	defer dev.Close()
	m, tr, el, err := trainConfig(dev, a, batch, seq, warmup, steps)
	if err != nil {
		return fmt.Errorf("cpu: %w", err)
	}
	defer m.Close()
	chain := tr.Chain()
	if len(chain) == 0 {
		return fmt.Errorf("cpu: config %s: no digest", name)
	}
	got := chain[len(chain)-1].Digest
	line := benchLine{Impl: "airanode cpu", Device: dev.Name(), Config: name, MsStep: float64(el.Microseconds()) / 1e3 / float64(steps),
		TokensPerS: float64(steps*batch*seq) / el.Seconds(), DigestFinal: fmt.Sprintf("%x", got[:8])}
	if err := json.NewEncoder(os.Stdout).Encode(line); err != nil {
		return err
	}
	if got != want {
		fmt.Printf("config %s: cpu and cuda digests DIFFER after %d steps (%x vs %x)\n", name, warmup+steps, got, want)
		return fmt.Errorf("config %s: the CPU device's digest differs from the GPU's", name)
	}
	fmt.Printf("config %s: cpu and cuda digests identical after %d steps, bit for bit (%x)\n", name, warmup+steps, got)
	return nil
}

// profileSteps trains tr's first n steps with per-kernel timing on and prints the kernels by total
// time.
func profileSteps(ctx context.Context, dev *cuda.Device, tr *train.Trainer, data randomTokens, config string, n int) error {
	dev.SetProfile(true)
	defer dev.SetProfile(false)
	t0 := time.Now()
	if err := tr.RunUntil(ctx, data, n); err != nil {
		return err
	}
	if err := dev.Sync(); err != nil {
		return err
	}
	wall := time.Since(t0).Seconds()
	prof := dev.Profile()
	var total float64
	for _, k := range prof {
		total += k.Seconds
	}
	fmt.Printf("profile of config %s: %d steps, %.2f ms/step with a sync after every launch, %.2f ms/step in kernels\n",
		config, n, wall*1e3/float64(n), total*1e3/float64(n))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "kernel\tcalls/step\tms/step\tshare\t")
	for _, k := range prof {
		fmt.Fprintf(w, "%s\t%.1f\t%.3f\t%.1f%%\t\n", k.Name, float64(k.Calls)/float64(n), k.Seconds*1e3/float64(n), 100*k.Seconds/total)
	}
	return w.Flush()
}
